"""The ``second-user`` mutation: another in-kernel TDX user calls ``tdx_cpu_enable()`` from task context
with IRQs on (k-tdx-c-618: the v11 kernel-doc warns that it must not run from a per-CPU thread and from an SMP
call at the same time on the same CPU). Before 7.1 nobody shares VMX (k-tdx-c-71), so the user does its own
VMXON when CR4.VMXE is clear (dec-v19-pass-vmxon: a race into another path's VMXON then shows as a double VMXON)."""
from __future__ import annotations

from tdxlab.kernel.lang import Call, If, KFunc, Label, Ret
from tdxlab.kernel.ops import Vmxon

NAME = "second-user"


def functions() -> list[KFunc]:
    return [KFunc("second_tdx_user", "k-tdx-c-618", [
        If(lambda x: x.cpus[x.cpu].vmx > 0, "enable", "CR4.VMXE is already set: no VMXON needed",
           local=False, check="read CR4.VMXE", else_text="CR4.VMXE is clear: do VMXON", percpu=True),
        Vmxon("cpu_vmxon", fact="k-hw-c, dec-v19-pass-vmxon"),
        If(lambda x: x.retval != 0, "out"),
        Label("enable"),
        Call("tdx_cpu_enable"),
        Label("out"),
        Ret(),
    ])]

