"""``v7-2022``: "TDX host kernel support" v7 (Nov 2022), under the old rule's assumptions (lore-kai-2022-11-21, lore-tglx-2022-11-22a).

Module initialization does TDH.SYS.INIT, then TDH.SYS.LP.INIT on every online CPU through on_each_cpu(),
then the rest, inside cpus_read_lock(). There is no CPU-online callback: a CPU that comes online later
never gets LP.INIT (under the old rule it never could: LP.INIT is accepted only in SYSINIT_DONE).

Simplification: v7 read TDSYSINFO_STRUCT with TDH.SYS.INFO; the model issues TDH.SYS.RD, which has the
same gate (LP.INIT done on the calling LP, m-sys-lp-init). The caller (KVM) does VMXON on every online CPU first.
"""
from __future__ import annotations

from tdxlab import module as M
from tdxlab.designs.base import Design
from tdxlab.designs.common import _set_status, config_global_keyid, init_tdx_module
from tdxlab.kernel.lang import (on_each_cpu, Call, Do, Goto, If, KFunc, Label, Lock, Ret,
                                Unlock)
from tdxlab.kernel.ops import Seamcall, Vmxon
from tdxlab.kernel.state import ERROR, INITIALIZED


class V7_2022(Design):
    name = "v7-2022"
    era = "Nov 2022 (patch series v7)"
    summary = "TDH.SYS.INIT, then LP.INIT on every online CPU by IPI, then the rest; no hotplug callback"
    fact = "lore-kai-2022-11-21"
    loader_function = "tdx_enable"
    mutation_notes = {
        "no-hotplug-lock": "the caller does not take cpus_read_lock() around tdx_enable()",
        "no-vmxon": "the caller skips its on_each_cpu() VMXON pass",
    }

    def functions(self):
        locked = "no-hotplug-lock" not in self.mut
        vmxon = "no-vmxon" not in self.mut
        return [
            KFunc("tdx_enable", "lore-kai-2022-11-21", ([Lock("cpu_hotplug_lock", "r", "lore-kai-2022-11-21")] if locked else []) + (
                [*on_each_cpu("cpu_vmxon_ipi", "lore-kai-2022-11-21")] if vmxon else []) + [
                Lock("tdx_module_lock", fact="k-tdx-c-618"),
                If(lambda x: x.kern.tdx_module_status != "UNINITIALIZED", "unlock", "already tried"),
                Call("init_tdx_module_v7"),
                Do("record the result in tdx_module_status", _set_status, "k-tdx-c-618"),
                Label("unlock"),
                Unlock("tdx_module_lock", fact="k-tdx-c-618"),
            ] + ([Unlock("cpu_hotplug_lock", "r", "lore-kai-2022-11-21")] if locked else []) + [Ret()]),
            KFunc("cpu_vmxon_ipi", "lore-kai-2022-11-21", [Vmxon("cpu_vmxon"), Ret(0)]),
            KFunc("init_tdx_module_v7", "lore-kai-2022-11-21", [
                Seamcall(M.SYS_INIT, "lore-kai-2022-11-21"),
                If(lambda x: x.retval != 0, "out", "TDH.SYS.INIT failed"),
                *on_each_cpu("tdx_lp_init_ipi", "lore-kai-2022-11-21"),
                If(lambda x: x.kern.on_each_cpu_err != 0, "lp_err", "an LP.INIT failed"),
                Call("init_tdx_module"),
                Goto("out"),
                Label("lp_err"),
                Do("", lambda x: x.set_ret(x.kern.on_each_cpu_err), local=True),
                Label("out"),
                Ret(),
            ]),
            KFunc("tdx_lp_init_ipi", "lore-kai-2022-11-21", [
                Seamcall(M.LP_INIT, "lore-kai-2022-11-21"),
                If(lambda x: x.retval == 0, "ok"),
                Do("atomic_set(&err, ret)", lambda x: x.set_kern(on_each_cpu_err=x.retval), "lore-kai-2022-11-21"),
                Label("ok"),
                Ret(),
            ]),
            init_tdx_module(),
            *config_global_keyid(),
        ]


__all__ = ["V7_2022", "ERROR", "INITIALIZED"]
