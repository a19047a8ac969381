"""``teardown-7.2``: TDH.SYS.DISABLE for kexec and kdump, and the cache flush (k-tdx-c-72, k-crash-c-72).

The five commits that tip ``x86/tdx`` took (April 2026, inferred from the push mail) and mainline merged in the 7.2 merge window
(``x86_tdx_for_7.2-rc1``; issue 17 said 7.1): kc-tdx-errno-move, kc-tdx-cache-flush, kc-tdx-sys-disable,
kc-tdx-kexec-disable, kc-tdx-kexec-docs. Posted as v1 (lore-rick-2026-03-07), v2 (lore-vishal-2026-03-23)
and v3 (lore-tdx-kexec-v3); the merged code is v3. They build on ``core-7.1``: the same bring-up, plus

* ``tdx_cpu_flush_cache()``: if this CPU's ``cache_state_incoherent`` is set, ``wbinvd()`` and clear it.
  Every SEAMCALL sets that mark first (``__seamcall_dirty_cache()``, kc-seamcall-dirty-cache; the model's
  SEAMCALL does it because the design declares the per-CPU variable). It starts with
  ``lockdep_assert_preemption_disabled()``.
* ``tdx_offline_cpu()``, the teardown of ``virt/tdx:online`` (CPUHP_AP_ONLINE_DYN): the 7.1 refusal, then
  on the ``done:`` path ``tdx_cpu_flush_cache()`` (added in v3) and the VMX reference dropped. It runs in
  the CPU's hotplug thread, preemptible: the open bug.
* ``tdx_sys_disable()``: TDH.SYS.DISABLE (leaf 69) retried while it returns TDX_INTERRUPTED_RESUMABLE or
  TDX_SYS_BUSY, with no bound ("So loop infinitely on either of these error codes"); module errors are
  printed, the kernel's own software codes are not. (v1 retried TDX_INTERRUPTED_RESUMABLE only,
  lore-rick-2026-03-07-3; Kai Huang raised TDX_SYS_BUSY for v2.)
* ``tdx_shutdown()``, the syscore ``.shutdown`` op registered once the module is initialized:
  ``tdx_sys_disable()`` then ``on_each_cpu(tdx_shutdown_cpu)``, which flushes and drops VMX on every CPU.
* kdump: ``native_machine_crash_shutdown()`` calls ``tdx_sys_disable()`` after ``crash_smp_send_stop()``;
  no flush (the crashing CPU's mark is honoured later by ``relocate_kernel``).

The environment adds two events, ``kexec`` (``kexec -e``: ``kernel_kexec()``, the syscore shutdown, then
``machine_kexec()``) and ``crash`` (a panic with a kdump kernel loaded). Both start from a quiet system, no
CPU hotplug operation in flight, and nothing else happens after them (dec-teardown-quiet). A hotplug
request of the same scenario is therefore handled before them: neither is enabled while a hotplug request
is pending or running, so a scenario with ``offline:1`` and ``kexec`` checks kexec after the offline, and
one with ``kexec`` alone checks it on the CPUs as they are.

What-ifs (``patches``): ``kai-fix`` is Kai Huang's fix, never merged (lore-kai-2026-04-08): the assertion
dropped, ``__this_cpu_*()`` instead. The others put the threads' arguments to the checker.
"""
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.designs import core_71
from tdxlab.designs.base import Design
from tdxlab.kernel.source import Global, Patch, kfunc
from tdxlab.kernel.state import TASK, HOTPLUG


@kfunc("k-tdx-c-72")
def tdx_cpu_flush_cache():
    lockdep_assert_preemption_disabled()            # kc-tdx-cache-flush
    if not this_cpu_read(cache_state_incoherent):   # kc-percpu-wbinvd
        return
    wbinvd()                                        # kc-tdx-cache-flush
    this_cpu_write(cache_state_incoherent, False)   # kc-tdx-cache-flush


@kfunc("k-tdx-c-72")
def tdx_offline_cpu(cpu):
    if ida_is_empty(tdx_guest_keyid_pool):          # No TD is running. Allow any cpu to be offline. k-tdx-c-72
        goto .done
    if other_online_cpu_in_package(cpu):            # another online cpu on the same package: allow k-tdx-c-72
        goto .done
    pr_warn_ratelimited("TDX requires all packages to have an online CPU")
    return -EBUSY
    label .done
    tdx_cpu_flush_cache()                           # kc-tdx-cache-flush, lore-tdx-kexec-v3
    x86_virt_put_ref(X86_FEATURE_VMX)               # k-hw-c
    return 0


@kfunc("k-tdx-c-72")
def tdx_sys_disable():
    label .retry
    ret = seamcall(TDH_SYS_DISABLE)                 # kc-tdx-sys-disable
    if ret == TDX_INTERRUPTED_RESUMABLE or ret == TDX_SYS_BUSY:   # no bound: kc-tdx-sys-disable
        goto .retry
    if ret and (ret & TDX_SW_ERROR) != TDX_SW_ERROR:
        pr_err("TDH.SYS.DISABLE failed")            # kc-tdx-sys-disable
    return


@kfunc("k-tdx-c-72")
def tdx_shutdown_cpu(ign):
    tdx_cpu_flush_cache()                           # kc-tdx-cache-flush, kc-kvm-tdx-wbinvd
    x86_virt_put_ref(X86_FEATURE_VMX)               # k-hw-c


@kfunc("k-tdx-c-72")
def tdx_shutdown(ign):
    tdx_sys_disable()                               # kc-tdx-kexec-disable
    on_each_cpu(tdx_shutdown_cpu, NULL, 1)          # kc-tdx-cache-flush


# --- the kernel around tdx.c: the paths that reach the teardown ----------------------------------------
@kfunc("kc-tdx-kexec-disable")
def syscore_shutdown():
    if tdx_syscore:                                 # the syscore ops registered: tdx_syscore_ops k-tdx-c-72
        tdx_shutdown(NULL)


@kfunc("kc-tdx-kexec-disable")
def kernel_kexec():
    syscore_shutdown()                              # "called in the syscore_shutdown path for kexec" kc-tdx-sys-disable
    machine_kexec()                                 # kc-percpu-wbinvd


@kfunc("k-crash-c-72")
def x86_virt_emergency_disable_virtualization_cpu():
    lockdep_assert_irqs_disabled()                  # k-hw-c
    cpu_vmxoff()                                    # k-hw-c


@kfunc("k-crash-c-72")
def native_machine_crash_shutdown():
    local_irq_disable()                             # k-crash-c-72
    crash_smp_send_stop()                           # k-crash-c-72
    tdx_sys_disable()                               # kc-tdx-kexec-disable
    x86_virt_emergency_disable_virtualization_cpu()


@kfunc("k-crash-c-72")
def __crash_kexec():
    native_machine_crash_shutdown()                 # machine_crash_shutdown() k-crash-c-72
    machine_kexec()                                 # the kdump kernel boots; the crashing CPU's mark is honoured there kc-percpu-wbinvd


# --- Kai Huang's fix, and the what-ifs of the threads ---------------------------------------------------
@kfunc("lore-kai-2025-08-14")
def tdx_flush_cpu(ign):
    tdx_cpu_flush_cache()                           # the KVM-era flush, before the last SEAMCALL lore-kai-2025-08-14


@kfunc("lore-kai-2025-08-14")
def tdx_put_vmx_cpu(ign):
    x86_virt_put_ref(X86_FEATURE_VMX)               # k-hw-c


@kfunc("lore-kai-2025-08-14")
def tdx_shutdown_flush_first(ign):
    on_each_cpu(tdx_flush_cpu, NULL, 1)             # lore-kai-2025-08-14
    tdx_sys_disable()                               # kc-tdx-cache-flush
    on_each_cpu(tdx_put_vmx_cpu, NULL, 1)           # k-hw-c


KAI_FIX = (Patch("kai-fix", "Kai Huang's fix (never merged): tdx_cpu_flush_cache() without "
                            "lockdep_assert_preemption_disabled(), __this_cpu_*() instead")
           .delete("tdx_cpu_flush_cache", "lockdep_assert_preemption_disabled()")
           .replace("tdx_cpu_flush_cache", "if not this_cpu_read(cache_state_incoherent): return",
                    "if not __this_cpu_read(cache_state_incoherent):\n    return")
           .replace("tdx_cpu_flush_cache", "this_cpu_write(cache_state_incoherent, False)",
                    "__this_cpu_write(cache_state_incoherent, False)"))

WHAT_IFS = {
    "kai-fix": KAI_FIX,
    "preempt-disable-offline": Patch("preempt-disable-offline", "the [BUG] report's fix: preempt_disable() "
                                     "around the flush in tdx_offline_cpu()")
    .insert_before("tdx_offline_cpu", "tdx_cpu_flush_cache()", "preempt_disable()")
    .insert_after("tdx_offline_cpu", "tdx_cpu_flush_cache()", "preempt_enable()"),
    "no-offline-flush": Patch("no-offline-flush", "v2: tdx_offline_cpu() does not flush (offline's own "
                              "WBINVD in play_dead is relied on)")
    .delete("tdx_offline_cpu", "tdx_cpu_flush_cache()"),
    "no-shutdown-flush": Patch("no-shutdown-flush", "no early flush in tdx_shutdown_cpu(): the flush is left "
                               "to stop_this_cpu() during kexec")
    .delete("tdx_shutdown_cpu", "tdx_cpu_flush_cache()"),
    "flush-before-disable": Patch("flush-before-disable", "the KVM-era order: every CPU flushes, then "
                                  "TDH.SYS.DISABLE, then VMX is dropped")
    .function(tdx_flush_cpu).function(tdx_put_vmx_cpu).function(tdx_shutdown_flush_first)
    .replace("syscore_shutdown", "tdx_shutdown(NULL)", "tdx_shutdown_flush_first(NULL)")
    .delete_function("tdx_shutdown"),
    "no-on-each-cpu": Patch("no-on-each-cpu", "tdx_shutdown() flushes only where it runs, from the task, "
                            "without on_each_cpu()")
    .replace("tdx_shutdown", "on_each_cpu(tdx_shutdown_cpu, NULL, 1)", "tdx_shutdown_cpu(NULL)"),
    # not patches: the module does not keep its side of the contract (tdxlab.module.sys_disable); the
    # kernel panics while kexec tears TDX down (TEARDOWN_72.event_enabled)
    "no-lockout": None,
    "panic-during-kexec": None,
}


# tdx_enable() is 7.1's with one line more, once the module is initialized: register_syscore(&tdx_syscore)
# (k-tdx-c-72); tdx_offline_cpu() is replaced above; the rest of bring-up is 7.1's as it is.
_SYSCORE = Patch("syscore", "tdx_enable() registers the syscore ops").insert_before(
    "tdx_enable", "tdx_module_initialized = True", "register_syscore(tdx_syscore)")
_SOURCES = [*_SYSCORE.apply({s.name: s for s in core_71.CORE_71.sources if s.name != "tdx_offline_cpu"}).values(),
            tdx_cpu_flush_cache, tdx_offline_cpu, tdx_sys_disable, tdx_shutdown_cpu, tdx_shutdown,
            syscore_shutdown, kernel_kexec, x86_virt_emergency_disable_virtualization_cpu,
            native_machine_crash_shutdown, __crash_kexec]


class TEARDOWN_72(Design):
    name = "teardown-7.2"
    era = "Linux 7.2 (2026)"
    summary = ("core-7.1 bring-up; syscore shutdown: TDH.SYS.DISABLE, then every CPU flushes its cache "
               "(WBINVD) and drops VMX; kdump: TDH.SYS.DISABLE; tdx_offline_cpu() flushes too")
    fact = "k-tdx-c-72"
    loader = "init"
    loader_function = "tdx_enable"
    boot_time = True
    offline_refusal = True
    chapters = ("bring-up", "teardown")             # core-7.1's bring-up, then this chapter
    percpu = {"cache_state_incoherent": False}      # DEFINE_PER_CPU(bool, cache_state_incoherent) kc-percpu-wbinvd
    globals = {"tdx_syscore": Global(False)}        # register_syscore(&tdx_syscore) happened
    sources = _SOURCES
    patches = {k: p for k, p in WHAT_IFS.items() if p is not None}
    mutation_notes = {
        "kai-fix": KAI_FIX.doc,
        "preempt-disable-offline": WHAT_IFS["preempt-disable-offline"].doc,
        "no-offline-flush": WHAT_IFS["no-offline-flush"].doc,
        "no-shutdown-flush": WHAT_IFS["no-shutdown-flush"].doc,
        "flush-before-disable": WHAT_IFS["flush-before-disable"].doc,
        "no-on-each-cpu": WHAT_IFS["no-on-each-cpu"].doc,
        "panic-during-kexec": "the kernel panics while kexec tears TDX down: kdump's "
                              "tdx_sys_disable() runs after (or during) the syscore shutdown's",
        "no-lockout": "the module answers TDH.SYS.DISABLE with TDX_SYS_BUSY forever: it does not lock "
                      "other TDH.SYS.* callers out (the contract is a draft, lore-rick-2026-03-07)",
    }
    extra_events = ("kexec", "crash")

    def not_applicable(self, mu):
        if mu in core_71.CORE_71.mutation_notes or mu in ("no-hotplug-lock", "irqs-on", "second-user",
                                                          "plain-setup-state", "no-kvm-lock", "kvm-lock-first"):
            return core_71.CORE_71().not_applicable(mu) + " (teardown-7.2 keeps core-7.1's bring-up)"
        return super().not_applicable(mu)

    def initial_phase(self):
        return "boot"

    # --- kexec and kdump (dec-teardown-quiet) ---
    def event_enabled(self, m, st, ev):
        name = ev.partition("@")[0]
        if st.phase == "down":  # kexec or kdump has begun: nothing else is requested (dec-teardown-quiet)
            return name == "crash" and "panic-during-kexec" in self.mut and st.thread("kexec") is not None
        if name in ("kexec", "crash"):
            # a quiet system (dec-teardown-quiet): no hotplug operation in flight, and none still to be
            # requested (so kexec never disables a pending request, and the checker's reduction, which takes
            # such a request first, keeps every verdict)
            return (st.phase == "user"
                    and not any(e.startswith(("online:", "offline:")) for e in st.events)
                    and not any(t.kind == HOTPLUG or t.name.startswith(("cpu_up/", "cpu_down/"))
                                for t in st.threads))
        return super().event_enabled(m, st, ev)

    def event_label(self, ev):
        name = ev.partition("@")[0]
        if name == "kexec":
            return "admin: kexec -e (kernel_kexec(): syscore shutdown, then machine_kexec())"
        if name == "crash":
            return "the kernel panics with a kdump kernel loaded: native_machine_crash_shutdown()"
        return super().event_label(ev)

    def fire_event(self, m, x, ev):
        name = ev.partition("@")[0]
        if name == "kexec":
            x.phase = "down"
            x.spawn("kexec", 0, TASK, "kernel_kexec")
            x.note("kexec -e: kernel_kexec() runs on CPU0; no CPU hotplug from here (dec-teardown-quiet)")
            return "kernel_kexec", "kc-tdx-kexec-disable, dec-teardown-quiet"
        if name == "crash":
            x.phase = "down"
            x.spawn("crash", 0, TASK, "__crash_kexec")
            x.note("panic: native_machine_crash_shutdown() runs on CPU0 (dec-teardown-quiet)")
            return "__crash_kexec", "k-crash-c-72, dec-teardown-quiet"
        return super().fire_event(m, x, ev)


# Kai Huang's fix as a design of its own, for ``tdxlab diff`` (not shipped: register it to use its name).
TEARDOWN_72_KAI_FIX = None


def kai_fix_design():
    """``teardown-7.2-kai-fix``: the merged design with :data:`KAI_FIX` applied (a design_over() class)."""
    global TEARDOWN_72_KAI_FIX
    if TEARDOWN_72_KAI_FIX is None:
        from tdxlab.designs import design_over
        TEARDOWN_72_KAI_FIX = design_over(TEARDOWN_72, "teardown-7.2-kai-fix", KAI_FIX)
    return TEARDOWN_72_KAI_FIX



# --- the chapter's properties (one observer entry each; tdxlab.kernel.teardown records the facts) --------
def _add_properties() -> None:
    from tdxlab.check.properties import PROPERTIES, add_property
    for name, summary, observes, fact in (
        ("no-seamcall-after-disable",
         "no SEAMCALL on any CPU after TDH.SYS.DISABLE (its own retries excepted): \"no other SEAMCALL can be "
         "run after this until a full reinitialization is done\"", "seamcall-after-disable",
         "kc-tdx-sys-disable, lore-rick-2026-03-07"),
        ("flushed-before-kexec",
         "every CPU in cpu_online_mask that made a SEAMCALL has flushed its cache (cache_state_incoherent "
         "clear) before kexec stops the CPUs; offline CPUs flushed when they went down (hlt_play_dead())",
         "kexec-dirty-cache", "kc-tdx-cache-flush, kc-kvm-tdx-wbinvd, lore-kai-2026-03-09"),
        ("flush-on-own-cpu",
         "the WBINVD of tdx_cpu_flush_cache() runs on the CPU whose cache_state_incoherent it then clears: "
         "in a context that cannot move to another CPU (an IPI handler, cpuhp/N, a bound kworker, or "
         "preemption or IRQs off)", "flush-may-migrate", "lore-kai-2026-03-02b, lore-nikolay-migration"),
        ("context-asserts",
         "lockdep_assert_preemption_disabled() and lockdep_assert_irqs_disabled() hold in every context of "
         "the teardown designs that reaches them", "context-assert",
         "kc-tdx-cache-flush, lore-kai-2026-04-08, k-cpu-hotplug-rst"),
    ):
        if name not in PROPERTIES:
            add_property(name, summary, observes=(observes,), fact=fact, chapter="teardown")


_add_properties()


def kexec_completes(scenario, max_states: int = 20000) -> bool:
    """Does some run of ``scenario`` reach the end of kexec (the ``kexec`` context passes
    ``machine_kexec()``)? A liveness question no safety property asks: with the ``no-lockout`` module the
    answer is no, since every retry of TDH.SYS.DISABLE returns to the state it left. Breadth-first over
    the stepping API, bounded by ``max_states`` states (the teardown scenarios have a few hundred)."""
    start = scenario.initial()
    seen, todo = {start}, [start]
    while todo:
        st = todo.pop()
        for step in scenario.enabled(st):
            nxt = scenario.step(st, step.key)
            if st.thread("kexec") is not None and nxt.thread("kexec") is None:
                return True
            if nxt not in seen:
                if len(seen) >= max_states:
                    raise RuntimeError(f"kexec_completes(): more than {max_states} states")
                seen.add(nxt)
                todo.append(nxt)
    return False


def first_run(scenario, limit: int = 2000) -> list:
    """The run that always takes the first enabled step (what a stepper replays by default), as
    [(StepInfo, State)] after the start."""
    st = scenario.initial()
    out = []
    for _ in range(limit):
        en = scenario.enabled(st)
        if not en:
            break
        info, st = scenario.machine.step(st, en[0].key)
        out.append((info, st))
    return out


def cache_marks(scenario, steps, since_leaf: str | None = "TDH.SYS.DISABLE"):
    """A table of ``steps`` ([(StepInfo, State)]: a run or a counterexample) with each CPU's
    ``cache_state_incoherent`` after the step ("set" or blank), from the first step that issues
    ``since_leaf`` (None: from the start)."""
    import pandas as pd

    mark = scenario.machine.cache_mark
    start = 0
    if since_leaf is not None:
        start = next((i for i, (info, _) in enumerate(steps) if info.leaf == since_leaf), 0)
    rows = []
    for i, (info, st) in enumerate(steps[start:], start + 1):
        row = {"step": i, "context": info.context, "function": info.function,
               "SEAMCALL": f"{info.leaf} -> {info.result}" if info.leaf else ""}
        for c, cs in enumerate(st.cpus):
            row[f"CPU{c} mark"] = "set" if mark is not None and cs.vars[mark] else ""
        rows.append(row)
    return pd.DataFrame(rows)


#: The threads' arguments put to the checker (notebook 08): a scenario each, and what it changes.
WHAT_IFS = (
    ("teardown-flush-before-disable", "flush, then TDH.SYS.DISABLE (the order KVM had)"),
    ("teardown-no-shutdown-flush", "no early flush: leave it to kexec's stop_this_cpu()"),
    ("teardown-no-offline-flush", "v2: no flush in tdx_offline_cpu()"),
    ("teardown-offline-then-kexec", "7.2 with Kai's fix: offline, then kexec"),
    ("teardown-no-lockout", "a module that never stops answering TDX_SYS_BUSY"),
    ("teardown-panic-during-kexec", "a panic while kexec tears TDX down"),
)


def what_ifs() -> list[dict]:
    """One row per entry of :data:`WHAT_IFS`: the what-if, its scenario, whether kexec completes
    (:func:`kexec_completes`) and the properties the check finds violated ("nothing" when every one holds)."""
    from tdxlab.check.explore import explore
    from tdxlab.scenario import get_scenario

    rows = []
    for name, what in WHAT_IFS:
        r = explore(get_scenario(name))
        broken = [p for p, v in r.verdicts.items() if v.holds is False]
        rows.append({"what-if": what, "scenario": name, "kexec completes": kexec_completes(r.scenario),
                     "violated": ", ".join(broken) or "nothing"})
    return rows
