"""``v7-2022``: "TDX host kernel support" v7 (Nov 2022), under the old rule's assumptions (lore-kai-2022-11-21, lore-tglx-2022-11-22a).

Module initialization does TDH.SYS.INIT, then TDH.SYS.LP.INIT on every online CPU through on_each_cpu(),
then the rest, inside cpus_read_lock(). There is no CPU-online callback: a CPU that comes online later
never gets LP.INIT (under the old rule it never could: LP.INIT is accepted only in SYSINIT_DONE).

Simplification: v7 read TDSYSINFO_STRUCT with TDH.SYS.INFO; the model issues TDH.SYS.RD, which has the
same gate (LP.INIT done on the calling LP, m-sys-lp-init). The caller (KVM) does VMXON on every online CPU first;
the model writes that caller's part at the top of ``tdx_enable()``.
"""
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.designs import tdx_68
from tdxlab.designs.base import Design
from tdxlab.kernel.source import Patch, kfunc
from tdxlab.kernel.state import ERROR, INITIALIZED


@kfunc("lore-kai-2022-11-21")
def cpu_vmxon_ipi(info):
    cpu_vmxon()                                     # k-tdx-c-71


@kfunc("lore-kai-2022-11-21")
def tdx_lp_init_ipi(err):
    ret = seamcall_prerr(TDH_SYS_LP_INIT)           # lore-kai-2022-11-21
    if ret:
        atomic_set(err, ret)                        # lore-kai-2022-11-21


@kfunc("lore-kai-2022-11-21")
def init_tdx_module_v7():
    err = ATOMIC_INIT(0)
    ret = seamcall_prerr(TDH_SYS_INIT)              # lore-kai-2022-11-21
    if ret:
        return ret
    on_each_cpu(tdx_lp_init_ipi, err, 1)            # lore-kai-2022-11-21
    ret = atomic_read(err)
    if ret:
        return ret
    ret = init_tdx_module()
    return ret


@kfunc("lore-kai-2022-11-21")
def tdx_enable():
    cpus_read_lock()                                # lore-kai-2022-11-21
    on_each_cpu(cpu_vmxon_ipi, NULL, 1)             # lore-kai-2022-11-21
    mutex_lock(tdx_module_lock)                     # k-tdx-c-618
    if tdx_module_status != TDX_MODULE_UNINITIALIZED:
        ret = -EINVAL
        goto .unlock
    ret = init_tdx_module_v7()
    if ret:
        tdx_module_status = TDX_MODULE_ERROR        # k-tdx-c-618
    else:
        tdx_module_status = TDX_MODULE_INITIALIZED  # k-tdx-c-618
    label .unlock
    mutex_unlock(tdx_module_lock)                   # k-tdx-c-618
    cpus_read_unlock()                              # lore-kai-2022-11-21
    return ret


class V7_2022(Design):
    name = "v7-2022"
    era = "Nov 2022 (patch series v7)"
    summary = "TDH.SYS.INIT, then LP.INIT on every online CPU by IPI, then the rest; no hotplug callback"
    fact = "lore-kai-2022-11-21"
    loader_function = "tdx_enable"
    sources = [cpu_vmxon_ipi, tdx_lp_init_ipi, init_tdx_module_v7, tdx_enable,
               *[s for s in tdx_68.FUNCTIONS if s.name in ("init_tdx_module", "config_global_keyid",
                                                            "do_global_key_config")]]
    patches = {
        "no-hotplug-lock": Patch("no-hotplug-lock").delete("tdx_enable", "cpus_read_lock()")
                                                   .delete("tdx_enable", "cpus_read_unlock()"),
        "no-vmxon": Patch("no-vmxon").delete("tdx_enable", "on_each_cpu(cpu_vmxon_ipi, NULL, 1)"),
    }
    mutation_notes = {
        "no-hotplug-lock": "the caller does not take cpus_read_lock() around tdx_enable()",
        "no-vmxon": "the caller skips its on_each_cpu() VMXON pass",
    }


__all__ = ["V7_2022", "ERROR", "INITIALIZED"]
