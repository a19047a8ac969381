"""The kernel primitives of the teardown chapter: preemption, WBINVD, kexec and the kdump stop.

* ``preempt_disable()`` / ``preempt_enable()``: the context's preemption depth (``Thread.preempt_off``);
  while it is above zero the context keeps its CPU, as with a raw spinlock held (tdxlab.kernel.machine).
* ``lockdep_assert_preemption_disabled()`` (kc-tdx-cache-flush): lockdep warns when ``preempt_count()``
  is zero *and* hard IRQs are on. So it holds in an IPI handler (hardirq), with IRQs off, and with
  preemption off; it fires in a preemptible task or in the per-CPU hotplug thread ``cpuhp/N``, which
  runs ONLINE-section callbacks "with interrupts and preemption enabled" (k-cpu-hotplug-rst), even
  though that thread is bound to its CPU (lore-kai-2026-04-08: "a false positive").
* ``wbinvd()``: write back and invalidate this CPU's caches. The requirement on the caller is that it
  stays on the CPU whose ``cache_state_incoherent`` it then clears (lore-kai-2026-03-02b: "must be done
  on the same CPU. It's OK that it can be preempted in the middle as long as it won't be rescheduled to
  another CPU"). The model records when a WBINVD runs in a context that could move: a task that is not
  bound to its CPU, with IRQs and preemption on (``check_preemption_disabled()`` passes for the others,
  lore-nikolay-reviewed). IPI handlers, ``cpuhp/N`` and the per-CPU ``kworker/N`` of
  ``smp_call_on_cpu()`` cannot move.
* ``machine_kexec()``: kexec stops the other CPUs (``native_stop_other_cpus()``) and boots the new
  kernel; the context never returns, and nothing of the old kernel runs after it. On the kexec path the model records which CPUs in cpu_online_mask
  still carry ``cache_state_incoherent`` at that moment: their flush was left to ``stop_this_cpu()``
  during kexec, the race the early flush avoids (kc-kvm-tdx-wbinvd). On the kdump path it records
  nothing: there the other CPUs are stopped by NMI without a flush and the sources do not discuss
  whether they need one (an open question; only the crashing CPU's mark is honoured, kc-percpu-wbinvd). CPUs already offline are left out: offlining always does WBINVD in
  ``hlt_play_dead()`` / ``mwait_play_dead()`` (lore-kai-2026-03-09), which the model does not step.
* ``crash_smp_send_stop()``: kdump stops the other CPUs by NMI before ``tdx_sys_disable()``
  (kc-tdx-kexec-disable). In the model kexec and kdump start from a quiet system (no hotplug operation
  in flight, dec-teardown-quiet), so there is nothing left to stop.
"""
from __future__ import annotations

from tdxlab.kernel.lang import AssertIrqsDisabled, Instr
from tdxlab.kernel.state import HARDIRQ, HOTPLUG
from tdxlab.platform import IN_ONLINE_MASK


def preemptible(x) -> bool:
    """``preempt_count() == 0 && hardirqs_enabled``: what lockdep_assert_preemption_disabled() tests."""
    return x.kind != HARDIRQ and not x.irq and not x.pre


def may_migrate(x) -> bool:
    """The context could be moved to another CPU now: a preemptible task not bound to its CPU."""
    return preemptible(x) and x.kind != HOTPLUG and not x.name.startswith("kworker/")


def _context_fact(x, detail: str) -> None:
    x.fact("kernel-check", detail)
    x.fact("context-assert", detail)


class AssertPreemptionDisabled(Instr):
    """lockdep_assert_preemption_disabled() (kc-tdx-cache-flush). Local: it reads only the context."""

    local = True

    def __init__(self, fact: str = "kc-tdx-cache-flush"):
        self.fact = fact

    def text(self, st, t):
        return "lockdep_assert_preemption_disabled()"

    def run(self, x):
        if preemptible(x):
            _context_fact(x, f"lockdep_assert_preemption_disabled() in {self.fn}() on CPU{x.cpu}: "
                             f"preemption and IRQs are on ({x.name}, {x.kind} context)")
        x.pc += 1


class AssertIrqsDisabledTeardown(AssertIrqsDisabled):
    """lockdep_assert_irqs_disabled() in a design of the teardown chapter: the same check, also recorded
    as a context assertion (the ``context-asserts`` property is scoped to these designs)."""

    def run(self, x):
        if not x.irqs_disabled():
            _context_fact(x, f"lockdep_assert_irqs_disabled() in {self.fn}() on CPU{x.cpu}: IRQs are on "
                             f"({x.kind} context)")
        x.pc += 1


class Preempt(Instr):
    """preempt_disable() (``delta=1``): from here the context keeps its CPU; preempt_enable() (``delta=-1``).
    A step, like an IRQ flip."""

    def __init__(self, delta: int, fact: str = "k-smp-c"):
        self.delta, self.fact = delta, fact

    def text(self, st, t):
        return "preempt_disable()" if self.delta > 0 else "preempt_enable()"

    def run(self, x):
        x.note(self.text(None, None) + (f": this context keeps CPU{x.cpu}" if self.delta > 0 else ""))
        x.adjust(preempt=self.delta)
        x.pc += 1


class Wbinvd(Instr):
    """wbinvd() on this CPU: a per-CPU step (local while the context owns its CPU)."""

    percpu = True

    def __init__(self, fact: str = "kc-tdx-cache-flush"):
        self.fact = fact

    def text(self, st, t):
        return "wbinvd()"

    def run(self, x):
        if may_migrate(x):
            x.fact("flush-may-migrate", f"wbinvd() in {self.fn}() on CPU{x.cpu} in {x.name}, a task that could "
                                        f"move to another CPU before it clears that CPU's cache_state_incoherent")
        if not x.quiet:
            x.note(f"wbinvd(): CPU{x.cpu}'s caches written back and invalidated")
        x.pc += 1


class MachineKexec(Instr):
    """machine_kexec(): stop the other CPUs and boot the new kernel (the end of the kexec path)."""

    def __init__(self, fact: str = "kc-kvm-tdx-wbinvd"):
        self.fact = fact

    def text(self, st, t):
        return "machine_kexec()"

    def run(self, x):
        mark = x.m.cache_mark
        if mark is not None and x.name == "kexec":  # kdump's other CPUs: not discussed (open), not recorded
            left = [c for c, cs in enumerate(x.cpus) if cs.hp in IN_ONLINE_MASK and cs.vars[mark]]
            if left:
                x.fact("kexec-dirty-cache", "kexec stops the CPUs while "
                       + ", ".join(f"CPU{c}" for c in left)
                       + " still carr" + ("ies" if len(left) == 1 else "y")
                       + " cache_state_incoherent: the flush is left to stop_this_cpu()")
        x.note("machine_kexec(): " + ("native_stop_other_cpus(), then " if x.name == "kexec" else "")
               + "the new kernel boots; this context never returns")
        x.pc += 1
        # the old kernel is gone: this context does not return (IRQs off or not), and no other context,
        # IPI or work of the old kernel runs any more
        x.stk, x.alive, x.finished = (), False, True
        x.threads.clear()
        x.ipis = ()


class CrashSmpSendStop(Instr):
    """crash_smp_send_stop(): kdump stops the other CPUs by NMI (nothing else runs in the model then)."""

    local = True

    def __init__(self, fact: str = "kc-tdx-kexec-disable"):
        self.fact = fact

    def text(self, st, t):
        return "crash_smp_send_stop()"

    def run(self, x):
        x.note("crash_smp_send_stop(): the other CPUs are stopped by NMI (none runs a context here, "
               "dec-teardown-quiet)")
        x.pc += 1
