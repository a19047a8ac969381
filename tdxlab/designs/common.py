"""The TDX core's bring-up functions, as in arch/x86/virt/vmx/tdx/tdx.c (k-tdx-c-618).

``tdx_functions(era)`` returns the kernel functions of one era:

* ``"6.8"``: the exported ``tdx_cpu_enable()`` and ``tdx_enable()`` of 6.8 to 7.0 (k-tdx-c-618), with
  ``lockdep_assert_irqs_disabled()``, the non-irqsave raw spinlock ``sysinit_lock``, the per-CPU
  ``tdx_lp_initialized`` flag, ``lockdep_assert_cpus_held()`` and ``tdx_module_lock`` (k-tdx-c-618);
* ``"7.1"``: the same functions after "x86/virt/tdx: Drop the outdated requirement that TDX be enabled in
  IRQ context" (kc-0efe5dc16169): no IRQ assertion, no ``tdx_module_lock``, no ``lockdep_assert_cpus_held()``.

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
    """TDH.SYS.INIT once for the whole system, its result cached, success or failure (k-tdx-c-618)."""
    return KFunc("try_init_module_global", "k-tdx-c-618", ([AssertIrqsDisabled()] if irq_rule else []) + [
        Lock("sysinit_lock", fact="k-tdx-c-618"),
        If(lambda x: x.kern.sysinit_done, "cached", "sysinit_done is set: reuse sysinit_ret"),
        Seamcall(M.SYS_INIT, "m-sys-init, k-tdx-c-618",
                 then=lambda x, err: x.set_kern(sysinit_done=True, sysinit_ret=err)),
        Goto("unlock"),
        Label("cached"),
        Do("", lambda x: x.set_ret(x.kern.sysinit_ret), local=True),
        Label("unlock"),
        Unlock("sysinit_lock", fact="k-tdx-c-618"),
        Ret(),
    ])


def tdx_cpu_enable(irq_rule: bool) -> KFunc:
    """Per-CPU bring-up (k-tdx-c-618): skip if ``tdx_lp_initialized``; TDH.SYS.INIT once; TDH.SYS.LP.INIT; set the
    flag only on success. The flag's read-check-write and the non-irqsave ``sysinit_lock`` are why it had
    to run with IRQs off until 7.1 (kc-0efe5dc16169)."""
    return KFunc("tdx_cpu_enable", "k-tdx-c-618", ([AssertIrqsDisabled()] if irq_rule else []) + [
        If(lp_flag, "done", "tdx_lp_initialized is already set: return 0", local=False, fact="k-tdx-c-618",
           check="__this_cpu_read(tdx_lp_initialized)", else_text="tdx_lp_initialized is clear: go on",
           percpu=True),
        Call("try_init_module_global"),
        If(failed, "out", "TDH.SYS.INIT failed"),
        Seamcall(M.LP_INIT, "m-sys-lp-init, lore-tglx-2022-11-22b"),
        If(failed, "out", "TDH.SYS.LP.INIT failed"),
        Do("__this_cpu_write(tdx_lp_initialized, true)", set_lp_flag, "k-tdx-c-618", percpu=True),
        Label("done"),
        Ret(0),
        Label("out"),
        Ret(),
    ])


def _pick_cpu(x) -> None:
    """config_global_keyid(): the first online CPU of the next package, or none (k-tdx-c-618)."""
    pkgs = x.loc[0]
    p = pkgs[0]
    cpus = [c for c in x.m.topology.cpus_of_package(p) if x.cpus[c].hp in IN_ONLINE_MASK]
    x.set_loc((pkgs, cpus[0] if cpus else None))
    x.note(f"package {p}: " + (f"use CPU{cpus[0]}" if cpus else "no online CPU: skipped"))


def config_global_keyid() -> list[KFunc]:
    """TDH.SYS.KEY.CONFIG once per package, one package at a time, each through smp_call_on_cpu() on an
    online CPU of that package; stop at the first failure. A package with no online CPU is skipped, and
    TDMR initialization then fails (k-tdx-c-618)."""
    return [
        KFunc("config_global_keyid", "k-tdx-c-618", [
            Do("", lambda x: x.set_loc((tuple(range(x.m.topology.packages)), None)), local=True),
            Label("next"),
            If(lambda x: not x.loc[0], "done"),
            Do("for_each_online_cpu(): pick a CPU of the next package", _pick_cpu, "k-tdx-c-618"),
            If(lambda x: x.loc[1] is None, "skip"),
            SpawnOn("smp_call_on_cpu", TASK, lambda s, t: t.stack[-1].loc[1], "do_global_key_config",
                    "k-tdx-c-618", require_online=True),
            WaitChild("k-tdx-c-618"),
            If(failed, "out", "KEY.CONFIG failed: stop"),
            Label("skip"),
            Do("", lambda x: x.set_loc((x.loc[0][1:], None)), local=True),
            Goto("next"),
            Label("done"),
            Ret(0),
            Label("out"),
            Ret(),
        ]),
        KFunc("do_global_key_config", "k-tdx-c-618", [Seamcall(M.KEY_CONFIG, "m-sys-key-config"), Ret()]),
    ]


def init_tdx_module() -> KFunc:
    """k-tdx-c-618 steps 1, 7, 8, 9: TDH.SYS.RD, TDH.SYS.CONFIG, KEY.CONFIG per package, TDH.SYS.TDMR.INIT."""
    return KFunc("init_tdx_module", "k-tdx-c-618", [
        Seamcall(M.SYS_RD, "k-tdx-c-618 get_tdx_sys_info()"),
        If(failed, "out", "get_tdx_sys_info() failed"),
        Seamcall(M.SYS_CONFIG, "k-tdx-c-618 config_tdx_module()"),
        If(failed, "out", "config_tdx_module() failed"),
        Call("config_global_keyid"),
        If(failed, "out", "config_global_keyid() failed"),
        Seamcall(M.TDMR_INIT, "k-tdx-c-618 init_tdmrs()"),
        Label("out"),
        Ret(),
    ])


def _set_status(x) -> None:
    ok = x.retval == 0
    x.set_kern(tdx_module_status=INITIALIZED if ok else ERROR)
    x.note("module initialized" if ok else f"module initialization failed ({x.retval}): status ERROR")


def tdx_enable_68() -> KFunc:
    """6.8 to 7.0 (k-tdx-c-618): needs cpus_read_lock() held; serialized by tdx_module_lock; never retried."""
    return KFunc("tdx_enable", "k-tdx-c-618", [
        AssertCpusHeld("k-tdx-c-618"),
        Lock("tdx_module_lock", fact="k-tdx-c-618"),
        If(lambda x: x.kern.tdx_module_status == INITIALIZED, "ok", "already INITIALIZED: return 0"),
        If(lambda x: x.kern.tdx_module_status == ERROR, "einval", "status ERROR: -EINVAL, no retry"),
        Call("init_tdx_module"),
        Do("__tdx_enable(): record the result in tdx_module_status", _set_status, "k-tdx-c-618"),
        Goto("unlock"),
        Label("ok"),
        Do("", lambda x: x.set_ret(0), local=True),
        Goto("unlock"),
        Label("einval"),
        Do("", lambda x: x.set_ret(E("EINVAL")), local=True),
        Label("unlock"),
        Unlock("tdx_module_lock", fact="k-tdx-c-618"),
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
