"""The ``second-user`` mutation: another in-kernel TDX user calls ``tdx_cpu_enable()`` from task context
with IRQs on (k-tdx-c-618: the v11 kernel-doc warns that it must not run from a per-CPU thread and from an SMP
call at the same time on the same CPU). Before 7.1 nobody shares VMX (k-tdx-c-71), so the user does its own
VMXON when CR4.VMXE is clear (dec-v19-pass-vmxon: a race into another path's VMXON then shows as a double VMXON)."""
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.kernel.source import Patch, kfunc

NAME = "second-user"


@kfunc("k-tdx-c-618")
def second_tdx_user():
    if cr4_read_shadow() & X86_CR4_VMXE:            # CR4.VMXE is already set: no VMXON needed
        goto .enable
    ret = cpu_vmxon()                               # k-tdx-c-71, dec-v19-pass-vmxon
    if ret:
        return ret
    label .enable
    ret = tdx_cpu_enable()
    return ret


PATCH = Patch(NAME, "a second TDX user on the last CPU calls tdx_cpu_enable() in task context") \
    .function(second_tdx_user)
