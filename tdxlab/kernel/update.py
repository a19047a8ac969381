"""The kernel primitives of the runtime-update chapter (issue 17, item 3; tdxlab/designs/seamldr_72.py).

* ``stop_machine_cpuslocked(fn, data, cpu_online_mask)`` (k-stop-machine-c): the caller must hold
  ``cpu_hotplug_lock`` (``lockdep_assert_cpus_held()``). The stopper of every CPU in cpu_online_mask
  (``migration/N``) runs ``multi_cpu_stop()``, which brings every CPU to the same point with IRQs off
  before any of them calls ``fn``; the caller sleeps until every stopper is done and gets a non-zero
  return of one of them. The model takes the preparation as one step: it waits until no CPU in
  cpu_online_mask is held by a context with preemption or IRQs off ("stop_machine() does not interrupt
  preemption-disabled regions", k-seamldr-c-72), then starts a stopper on each of those CPUs, IRQs off,
  so no other context runs there and no IPI arrives there until it returns.
* ``while COND: cpu_relax()`` is a spin: the context keeps its CPU and waits while COND holds, then goes
  on in one step. Spinning only reads, so its iterations change nothing and need not be steps (as the
  wait for a raw spinlock is not); a state where every context spins forever is a deadlock.
* ``read_lock()``/``write_lock()`` and their unlocks on an ``rwlock_t`` (the what-if ``rwlock``), and
  ``per_cpu(var, cpu) = v`` as ``per_cpu_write(var, cpu, v)``. (``preempt_disable()``, which
  ``seamldr_lock_module_update()`` is, is the teardown chapter's primitive, tdxlab.kernel.teardown.)
* The facts a SEAMCALL records about the update (:func:`update_facts`), and the state check of the
  ``update-cpus-stable`` property (:func:`update_cpus_stable`).
"""
from __future__ import annotations

from tdxlab import module
from tdxlab.kernel.lang import Call, Instr, KFunc
from tdxlab.kernel.state import HARDIRQ, LOCK_INDEX, TASK, Frame, Thread
from tdxlab.platform import IN_ONLINE_MASK

STOPPER = "migration/"  # the stopper threads' names (kernel/stop_machine.c: "migration/%u")
UPDATE_CALLBACK = "do_seamldr_install_module"  # the update's per-CPU work (k-seamldr-c-72)
_new = tuple.__new__


def _online(cpus) -> list[int]:
    return [c for c, cs in enumerate(cpus) if cs.hp in IN_ONLINE_MASK]


class StopMachine(Instr):
    """``stop_machine_cpuslocked(fn, data, cpu_online_mask)``, first half: start the stoppers."""

    def __init__(self, callee: str, data=None, fact: str = "k-stop-machine-c"):
        self.callee, self.data, self.fact = callee, data, fact

    def text(self, st, t):
        return f"stop_machine_cpuslocked({self.callee})"

    def waits(self, m, st, t):
        cpus = st.cpus
        for u in st.threads:
            if u is not t and (u[2] == HARDIRQ or u[5] or u[6]) and cpus[u[1]].hp in IN_ONLINE_MASK:
                return True
        return False

    def blocked(self, m, st, t):
        held = sorted({u.cpu for u in st.threads if u is not t and (u.kind == HARDIRQ or u.irqs_off or
                                                                      u.preempt_off)
                       and st.cpus[u.cpu].hp in IN_ONLINE_MASK})
        if not held:
            return None
        return ("waits for the stoppers: " + ", ".join(f"CPU{c}" for c in held) +
                " runs a context with preemption or IRQs off (stop_machine() does not interrupt it)")

    def run(self, x):
        w, rs, _ = x.locks[LOCK_INDEX["cpu_hotplug_lock"]]
        if not (w == x.name or x.name in rs):
            x.fact("kernel-check", f"lockdep_assert_cpus_held() in stop_machine_cpuslocked(): {x.name} does "
                                   f"not hold cpu_hotplug_lock")
        online = _online(x.cpus)
        mask = sum(1 << c for c in online)
        data = self.data(x) if callable(self.data) else self.data
        th = x.threads
        for c in online:
            name = f"{STOPPER}{c}"
            th[name] = _new(Thread, (name, c, TASK, (Frame("multi_cpu_stop", 0, (self.callee, data, mask)),),
                                     0, 1, 0, x.name))
        x.set_ret(0)
        if not x.quiet:
            x.note(f"stop_machine_cpuslocked({self.callee}): the stoppers of "
                   + ", ".join(f"CPU{c}" for c in online) + " run it with IRQs off; the caller sleeps")
        x.pc += 1


class CallWith(Call):
    """A call of a design function with arguments passed by value: they become its first locals."""

    def __init__(self, callee: str, vals: list, fact: str = ""):
        super().__init__(callee, fact)
        self.vals = vals
        self.pure = False  # (its arguments' expressions are not checked here)

    def text(self, st, t):
        return f"call {self.callee}(...)"

    def run(self, x):
        vals = tuple(v(x) for v in self.vals)
        n = getattr(x.m.funcs[self.callee], "n_slots", len(vals))
        x.call(self.callee, vals + (None,) * (n - len(vals)))


class _StopperCall(Instr):
    """multi_cpu_stop(): ``err = msdata->fn(msdata->data)`` on this CPU (IRQs off)."""

    local = True

    def text(self, st, t):
        return "multi_cpu_stop(): call the function"

    def run(self, x):
        callee, data, _ = x.loc
        kf = x.m.funcs[callee]
        n = getattr(kf, "n_slots", 0)
        src = getattr(kf, "source", None)
        loc = None
        if n and src is not None and src.params:  # its first parameter, by value (slot 0)
            loc = (data,) + (None,) * (n - 1)
        x.call(callee, loc)


class _StopperWaitAll(Instr):
    """multi_cpu_stop(): no stopper leaves before every stopper has run the function (MULTI_STOP_EXIT
    comes after every CPU acknowledged MULTI_STOP_RUN, k-stop-machine-c); it spins with IRQs off."""

    def text(self, st, t):
        return "multi_cpu_stop(): wait until every CPU has run the function"

    def waits(self, m, st, t):
        for u in st.threads:
            if u[0].startswith(STOPPER) and u[7] == t[7]:
                f = u[3][-1]
                if f[0] != "multi_cpu_stop" or f[1] != 1:
                    return True
        return False

    def blocked(self, m, st, t):
        return "spins until every CPU has run the function (MULTI_STOP_EXIT)" if self.waits(m, st, t) else None

    def run(self, x):
        if not x.quiet:
            x.note("every CPU has run the function: multi_cpu_stop() ends")
        x.pc += 1


class _StopperRet(Instr):
    """multi_cpu_stop() returns: IRQs back on; ``if (ret) done->ret = ret`` (cpu_stopper_thread())."""

    local = True

    def text(self, st, t):
        return "multi_cpu_stop(): IRQs back on, return"

    def run(self, x):
        x.adjust(irqs=-1)
        v = x.retval
        if not v:
            p = x.threads.get(x.parent)
            v = p.ret if p is not None else 0
        x.ret(v)


def multi_cpu_stop() -> KFunc:
    """The stopper's function: it calls the stop_machine() callback and hands back its return value."""
    return KFunc("multi_cpu_stop", "k-stop-machine-c", [_StopperCall(), _StopperWaitAll(), _StopperRet()])


class _View:
    """Enough of an Exec for a compiled condition to be evaluated on a state (a spin's wait)."""

    __slots__ = ("m", "kern", "cpus", "module", "loc", "cpu", "retval", "locks")

    def __init__(self, m, st, t):
        self.m, self.kern, self.cpus, self.module, self.locks = m, st.kern, st.cpus, st.module, st.locks
        self.loc, self.cpu, self.retval = t.stack[-1].loc, t.cpu, t.ret


class SpinWhile(Instr):
    """``while COND: cpu_relax()``: wait, keeping the CPU, while COND holds (one step once it does not)."""

    def __init__(self, cond, text: str, fact: str = ""):
        self.cond, self._text, self.fact = cond, text, fact

    def text(self, st, t):
        return f"spin while {self._text}"

    def waits(self, m, st, t):
        return bool(self.cond(_View(m, st, t)))

    def waits_mid_step(self, x):
        return bool(self.cond(x))

    def blocked(self, m, st, t):
        return f"spins (cpu_relax()) while {self._text}" if self.waits(m, st, t) else None

    def run(self, x):
        if not x.quiet:
            x.note(f"stops spinning: no longer {self._text}")
        x.pc += 1


class PerCpuWrite(Instr):
    """``per_cpu(tdx_lp_initialized, cpu) = false``: another CPU's copy (shared state: a step)."""

    def __init__(self, field: str | None, index: int | None, cpu, value, text: str, fact: str = ""):
        self.field, self.index, self.cpu, self.value, self._text, self.fact = field, index, cpu, value, text, fact

    def text(self, st, t):
        return self._text

    def run(self, x):
        c, v = self.cpu(x), self.value(x)
        x.set_percpu(c, self.field if self.field is not None else self.index, v)
        if not x.quiet:
            x.note(self._text.replace("(cpu)", f"(CPU{c})").replace(", cpu)", f", CPU{c})"))
        x.pc += 1


class RwLock(Instr):
    """``read_lock(l)`` / ``write_lock(l)`` on an rwlock_t: a reader waits for a writer, a writer for
    the writer and every reader; both spin with preemption off (k-kvm-locking-rst)."""

    def __init__(self, lock: str, write: bool, fact: str = ""):
        self.lock, self.write, self.fact = lock, write, fact
        self.i = LOCK_INDEX[lock]
        self.acq = (lock, "x" if write else "r")

    def text(self, st, t):
        return f"{'write' if self.write else 'read'}_lock(&{self.lock})"

    def waits(self, m, st, t):
        w, rs, _ = st.locks[self.i]
        return w is not None or (self.write and bool(rs))

    def waits_mid_step(self, x):
        w, rs, _ = x.locks[self.i]
        return w is not None or (self.write and bool(rs))

    def blocked(self, m, st, t):
        w, rs, _ = st.locks[self.i]
        if w is not None:
            return f"waits for {self.lock} (spinning): {w} holds it for write"
        if self.write and rs:
            return f"waits for {self.lock} (spinning): {', '.join(rs)} hold it for read"
        return None

    def run(self, x):
        x.acquired(self.lock, self.acq[1])
        w, rs, ww = x.locks[self.i]
        if self.write:
            x.set_lock(self.i, (x.name, rs, ww))
        else:
            x.set_lock(self.i, (w, tuple(sorted(rs + (x.name,))), ww))
        x.adjust(preempt=1)
        if not x.quiet:
            x.note(f"{self.text(None, None)}: acquired")
        x.pc += 1


class RwUnlock(Instr):
    def __init__(self, lock: str, write: bool, fact: str = ""):
        self.lock, self.write, self.fact = lock, write, fact
        self.i = LOCK_INDEX[lock]

    def text(self, st, t):
        return f"{'write' if self.write else 'read'}_unlock(&{self.lock})"

    def run(self, x):
        w, rs, ww = x.locks[self.i]
        if self.write:
            x.set_lock(self.i, (None, rs, ww))
        else:
            x.set_lock(self.i, (w, tuple(r for r in rs if r != x.name), ww))
        x.adjust(preempt=-1)
        if not x.quiet:
            x.note(self.text(None, None))
        x.pc += 1


# --- the facts a SEAMCALL records about the update -----------------------------------------------------------
def update_facts(x, leaf: str, before, status: str) -> None:
    """Called by the SEAMCALL instruction when an update is under way or the leaf is one of the update's.
    Records update-seamcall-mid-update, update-before-lp-init and update-step-after-failure, and the
    first failed step (:func:`tdxlab.module.note_update_failure`)."""
    c = x.cpu
    # the update's own work: in the update's callback (under stop_machine(), or the rwlock what-if's IPI)
    stopper = x.fn == UPDATE_CALLBACK or any(f[0] == UPDATE_CALLBACK for f in x.stk)
    step = module.UPDATE_STEP.get(leaf)
    if before.upd and (step is None or not stopper):
        where = "the update's callback" if stopper else f"{x.name}, outside the update's callback"
        state = "is shut down" if before.upd == module.UPD_SHUT_DOWN else "waits for TDH.SYS.UPDATE"
        x.fact("seamcall-mid-update", f"{leaf} on CPU{c} from {where} while the module {state}: {status}")
    if leaf == module.SYS_UPDATE:
        missing = [o for o in _online(x.cpus) if not before.lp_done(o)]
        if missing:
            x.fact("update-before-lp-init", "TDH.SYS.UPDATE while " + ", ".join(f"CPU{o}" for o in missing)
                   + " (in cpu_online_mask) has not done LP.INIT on the new module")
    if stopper and step is not None and before.upd_failed and step > before.upd_failed:
        x.fact("update-step-after-failure", f"{leaf} (step {step}) on CPU{c} after a leaf of step "
                                            f"{before.upd_failed} failed")
    x.module = module.note_update_failure(x.module, leaf, status)


# --- the update-cpus-stable property ---------------------------------------------------------------------------
def update_cpus_stable(sc, st) -> str | None:
    """While stop_machine() runs, cpu_online_mask is the set of CPUs it started stoppers on."""
    for t in st.threads:
        if t[0].startswith(STOPPER):
            mask = t[3][0][2][2]
            now = sum(1 << c for c in _online(st.cpus))
            if now != mask:
                came = [c for c in range(len(st.cpus)) if now >> c & 1 and not mask >> c & 1]
                went = [c for c in range(len(st.cpus)) if mask >> c & 1 and not now >> c & 1]
                bits = [f"CPU{c} came online" for c in came] + [f"CPU{c} went offline" for c in went]
                ran = ", ".join(f"CPU{c}" for c in range(len(st.cpus)) if mask >> c & 1)
                return ("while stop_machine() runs the update, " + " and ".join(bits) +
                        f" (num_online_cpus() is {now.bit_count()}; the stoppers run on {ran})")
            return None
    return None
