"""The TDX core's bring-up functions, as in arch/x86/virt/vmx/tdx/tdx.c (tdx-facts §1.2, §2).

``tdx_functions(era)`` returns the kernel functions of one era:

* ``"6.8"``: the exported ``tdx_cpu_enable()`` and ``tdx_enable()`` of 6.8 to 7.0 (K-tdx.c-old), with
  ``lockdep_assert_irqs_disabled()``, the non-irqsave raw spinlock ``sysinit_lock``, the per-CPU
  ``tdx_lp_initialized`` flag, ``lockdep_assert_cpus_held()`` and ``tdx_module_lock`` (§1.2, §2.1, §2.2);
* ``"7.1"``: the same functions after "x86/virt/tdx: Drop the outdated requirement that TDX be enabled in
  IRQ context" (§2.2): no IRQ assertion, no ``tdx_module_lock``, no ``lockdep_assert_cpus_held()``.

Simplifications: ``get_tdx_sys_info()`` is one TDH.SYS.RD; the TDMR and PAMT construction between the
SEAMCALLs (memory hotplug lock, memblock walk, allocation) is not modelled; ``init_tdmrs()`` is one
TDH.SYS.TDMR.INIT; ``wbinvd_on_all_cpus()`` before KEY.CONFIG is not modelled.
"""
from __future__ import annotations

from tdxlab import module as M
from tdxlab.kernel.lang import (AssertCpusHeld, AssertIrqsDisabled, Call, Do, E, Goto, If, KFunc, Label, Lock,
                                Ret, SpawnOn, Unlock, WaitChild)
from tdxlab.designs.base import failed
from tdxlab.kernel.ops import Seamcall, lp_flag, set_lp_flag
from tdxlab.kernel.state import ERROR, INITIALIZED, TASK, UNINITIALIZED
from tdxlab.platform import IN_ONLINE_MASK


def try_init_module_global(irq_rule: bool) -> KFunc:
    """TDH.SYS.INIT once for the whole system, its result cached, success or failure (§2.1)."""
    return KFunc("try_init_module_global", "§2.1", ([AssertIrqsDisabled()] if irq_rule else []) + [
        Lock("sysinit_lock", fact="§2.1"),
        If(lambda x: x.kern.sysinit_done, "cached", "sysinit_done is set: reuse sysinit_ret"),
        Seamcall(M.SYS_INIT, "§1.1, §2.1",
                 then=lambda x, err: x.set_kern(sysinit_done=True, sysinit_ret=err)),
        Goto("unlock"),
        Label("cached"),
        Do("", lambda x: x.set_ret(x.kern.sysinit_ret), local=True),
        Label("unlock"),
        Unlock("sysinit_lock", fact="§2.1"),
        Ret(),
    ])


def tdx_cpu_enable(irq_rule: bool) -> KFunc:
    """Per-CPU bring-up (§2.1): skip if ``tdx_lp_initialized``; TDH.SYS.INIT once; TDH.SYS.LP.INIT; set the
    flag only on success. The flag's read-check-write and the non-irqsave ``sysinit_lock`` are why it had
    to run with IRQs off until 7.1 (§2.2)."""
    return KFunc("tdx_cpu_enable", "§2.1", ([AssertIrqsDisabled()] if irq_rule else []) + [
        If(lp_flag, "done", "tdx_lp_initialized is already set: return 0", local=False, fact="§2.1",
           check="__this_cpu_read(tdx_lp_initialized)", else_text="tdx_lp_initialized is clear: go on",
           percpu=True),
        Call("try_init_module_global"),
        If(failed, "out", "TDH.SYS.INIT failed"),
        Seamcall(M.LP_INIT, "§1.1, §5"),
        If(failed, "out", "TDH.SYS.LP.INIT failed"),
        Do("__this_cpu_write(tdx_lp_initialized, true)", set_lp_flag, "§2.1", percpu=True),
        Label("done"),
        Ret(0),
        Label("out"),
        Ret(),
    ])


def _pick_cpu(x) -> None:
    """config_global_keyid(): the first online CPU of the next package, or none (§1.2)."""
    pkgs = x.loc[0]
    p = pkgs[0]
    cpus = [c for c in x.m.topology.cpus_of_package(p) if x.cpus[c].hp in IN_ONLINE_MASK]
    x.set_loc((pkgs, cpus[0] if cpus else None))
    x.note(f"package {p}: " + (f"use CPU{cpus[0]}" if cpus else "no online CPU: skipped"))


def config_global_keyid() -> list[KFunc]:
    """TDH.SYS.KEY.CONFIG once per package, one package at a time, each through smp_call_on_cpu() on an
    online CPU of that package; stop at the first failure. A package with no online CPU is skipped, and
    TDMR initialization then fails (§1.2, §3.1)."""
    return [
        KFunc("config_global_keyid", "§1.2", [
            Do("", lambda x: x.set_loc((tuple(range(x.m.topology.packages)), None)), local=True),
            Label("next"),
            If(lambda x: not x.loc[0], "done"),
            Do("for_each_online_cpu(): pick a CPU of the next package", _pick_cpu, "§1.2"),
            If(lambda x: x.loc[1] is None, "skip"),
            SpawnOn("smp_call_on_cpu", TASK, lambda s, t: t.stack[-1].loc[1], "do_global_key_config",
                    "§1.2", require_online=True),
            WaitChild("§1.2"),
            If(failed, "out", "KEY.CONFIG failed: stop"),
            Label("skip"),
            Do("", lambda x: x.set_loc((x.loc[0][1:], None)), local=True),
            Goto("next"),
            Label("done"),
            Ret(0),
            Label("out"),
            Ret(),
        ]),
        KFunc("do_global_key_config", "§1.2", [Seamcall(M.KEY_CONFIG, "§1.1"), Ret()]),
    ]


def init_tdx_module() -> KFunc:
    """§1.2 steps 1, 7, 8, 9: TDH.SYS.RD, TDH.SYS.CONFIG, KEY.CONFIG per package, TDH.SYS.TDMR.INIT."""
    return KFunc("init_tdx_module", "§1.2", [
        Seamcall(M.SYS_RD, "§1.2 get_tdx_sys_info()"),
        If(failed, "out", "get_tdx_sys_info() failed"),
        Seamcall(M.SYS_CONFIG, "§1.2 config_tdx_module()"),
        If(failed, "out", "config_tdx_module() failed"),
        Call("config_global_keyid"),
        If(failed, "out", "config_global_keyid() failed"),
        Seamcall(M.TDMR_INIT, "§1.2 init_tdmrs()"),
        Label("out"),
        Ret(),
    ])


def _set_status(x) -> None:
    ok = x.retval == 0
    x.set_kern(tdx_module_status=INITIALIZED if ok else ERROR)
    x.note("module initialized" if ok else f"module initialization failed ({x.retval}): status ERROR")


def tdx_enable_68() -> KFunc:
    """6.8 to 7.0 (§1.2): needs cpus_read_lock() held; serialized by tdx_module_lock; never retried."""
    return KFunc("tdx_enable", "§1.2", [
        AssertCpusHeld("§1.2, §3.1"),
        Lock("tdx_module_lock", fact="§3.1"),
        If(lambda x: x.kern.tdx_module_status == INITIALIZED, "ok", "already INITIALIZED: return 0"),
        If(lambda x: x.kern.tdx_module_status == ERROR, "einval", "status ERROR: -EINVAL, no retry"),
        Call("init_tdx_module"),
        Do("__tdx_enable(): record the result in tdx_module_status", _set_status, "§1.2"),
        Goto("unlock"),
        Label("ok"),
        Do("", lambda x: x.set_ret(0), local=True),
        Goto("unlock"),
        Label("einval"),
        Do("", lambda x: x.set_ret(E("EINVAL")), local=True),
        Label("unlock"),
        Unlock("tdx_module_lock", fact="§3.1"),
        Ret(),
    ])


def tdx_functions(era: str) -> list[KFunc]:
    irq_rule = era != "7.1"
    fns = [try_init_module_global(irq_rule), tdx_cpu_enable(irq_rule), init_tdx_module(),
           *config_global_keyid()]
    if era != "7.1":
        fns.append(tdx_enable_68())
    return fns


__all__ = ["tdx_functions", "UNINITIALIZED", "INITIALIZED", "ERROR"]
