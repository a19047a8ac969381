"""The checker's reductions: which interleavings it may leave out, and why that keeps every verdict.

Reductions, all sound for the properties checked here:

* *statement merging* (always on, in the model): local instructions (control flow on a context's own
  registers, lockdep assertions) are merged into the neighbouring step (tdxlab.kernel.lang); so are
  per-CPU steps (VMXON/VMXOFF, the ``tdx_lp_initialized`` flag) of a context that owns its CPU (an IPI
  handler, or IRQs or preemption off), which no other context can observe; and an IPI's delivery is
  merged with its handler's first step (the delivery only concerns the CPU the handler then owns);
* *persistent events* (``reduce=True``, the default; ``--no-reduce`` on the command line): an enabled
  environment event that only creates a context with a fixed CPU (``online:N``, ``offline:N``,
  ``create-vm``, unqualified or ``@after``) and that no other step can disable is explored alone. Firing it
  commutes with every other step and changes nothing a property reads, so taking it first is an ample set
  (conditions C0 to C2; C3 holds because every path is finite and the state graph acyclic). It removes
  the "the administrator's request arrives before step 1, 2, 3, ..." multiplicity; the interleavings of
  the hotplug operation itself with everything else are all still explored.
* *owned-CPU steps* (``reduce=True`` too): a step of a context that holds its CPU with IRQs off (an IPI
  handler, or a context after ``local_irq_save()``) is explored alone when it is one of two kinds:
  ``raw_spin_unlock()``/``mutex_unlock()`` of a lock it holds (no other context can touch that lock before
  the unlock), or TDH.SYS.LP.INIT under the relaxed rule once TDH.SYS.INIT has run (the module's answer
  then depends only on that CPU's own LP.INIT bit, which only contexts on that CPU use, and none of them
  can run while this one holds it). Both commute with every step another context can take before them
  (C1); the second sets that CPU's LP.INIT bit, which ``online-cpus-ready`` reads, but that property does
  not look at a CPU an IRQs-off context holds (no TDX user can run there), so neither changes what a
  property sees (C2). Together with the local and per-CPU merging above, this is a partial-order
  reduction of independent IPI-handler steps: eight handlers of one ``on_each_cpu()`` no longer
  interleave their LP.INITs in every order;
* *spinning IPIs* (``reduce=True`` too): an IPI whose handler would be delivered only to start spinning
  (its first step ends blocked, typically on ``sysinit_lock``) is not delivered yet, when every other
  context on its CPU could not run before that handler anyway (none, or all of them held off until the
  IPI's sender is done waiting, see :func:`held_off`). Delivering it early would only hold off contexts
  that cannot run, so the graph kept is a subgraph of the full one with the same verdicts: the IPI is
  delivered, in the same step as its lock acquisition, once the lock is free, and at once if a context
  that could run shows up on that CPU (which a spinning handler would starve: the spinlock
  self-deadlock of k-tdx-c-618 is still found). lockdep still checks the attempt the handler would make, and a
  deadlock found with such IPIs left out is reported with them delivered.

* *sleep sets* (``reduce=True`` too; :mod:`tdxlab.check.sleep`): transitions into a state that another order
  of the same independent steps already reaches are not taken again. They pay only where independent
  steps abound (the old rule's LP.INITs, which the owned-CPU steps cannot take alone); elsewhere the search
  gives them up after a trial (:mod:`tdxlab.check.explore`).

No symmetry reduction is applied: the kernel's own orders (``cpuhp_setup_state()`` visits CPUs in
ascending order, ``config_global_keyid()`` takes the first online CPU of a package) make CPUs of a package
distinguishable, so interchanging them is not sound here.
"""
from __future__ import annotations

from tdxlab.kernel.lang import (Call, Lock, OnEachCpu, OnEachCpuLocalDone, OnEachCpuWait, Unlock, WaitChild,
                                WriteLockAcquire, WriteLockAnnounce, WriteUnlock)
from tdxlab.kernel.ops import Seamcall
from tdxlab.kernel.state import HARDIRQ, LOCK_INDEX
from tdxlab.module import LP_INIT, SYS_READY, SYSINIT_DONE
from tdxlab.platform import IN_ONLINE_MASK

REDUCTION = "persistent events, owned-CPU steps, spinning IPIs"  # (+ sleep sets: tdxlab.check.explore)


def persistent_event(key: str, st) -> bool:
    """An event step that may be explored alone (see the module docstring). Onlining a parked nosmt
    sibling is not one: ``smt-on`` changes what it does (-EPERM or a real online)."""
    if not key.startswith("event:"):
        return False
    ev, _, when = key[6:].partition("@")
    if when not in ("", "after"):
        return False
    if ev.startswith("online:"):
        return st.cpus[int(ev[7:])].hp == "offline"
    return ev.startswith("offline:") or ev == "create-vm"


def owned_step(m, st, t, main, s2) -> bool:
    """May the step of context ``t`` (its one non-local instruction ``main``, leading to ``s2``) be explored
    alone? ``t`` holds its CPU with IRQs off; see the module docstring for why these steps are safe."""
    if t[2] != HARDIRQ:
        # a task with IRQs off: only while it keeps running afterwards (its return would reach its parent)
        if main is None or s2.thread(t[0]) is None:
            return False
    elif main is None:  # an IPI handler's own registers and its CPU only
        return True
    cls = type(main)
    if cls is Unlock:
        return main.mode == "x" and main.kind != "percpu-rwsem"
    if cls is Seamcall:
        return (main.leaf == LP_INIT and main.then is None and m.rule == "relaxed"
                and SYSINIT_DONE <= st.module.sys <= SYS_READY)
    return False


def owned_choice(m, st, en, take, steps: dict, asleep=()):
    """The first owned-CPU step (in context order) that may be explored alone, as ``[(key, label)]``, or
    None. Every step computed on the way is kept in ``steps`` (key -> (info, state, acquisitions, the
    machine's Exec, its non-local instruction)). Steps in ``asleep`` (sleep sets: not explored here
    anyway) are not considered: any one step that qualifies is a sound choice."""
    enabled = None
    for t in st.threads:
        if (t[2] == HARDIRQ or t[5]) and st.cpus[t[1]].hp in IN_ONLINE_MASK:
            if enabled is None:
                enabled = {key for key, _ in en}
            if t[0] not in enabled or t[0] in asleep:
                continue
            info, s2 = take(st, t[0], "")
            steps[t[0]] = (info, s2, m.last_acqs, m.last_x, m.last_main)
            if owned_step(m, st, t, m.last_main, s2):
                return [(t[0], "")]
    return None


def spinning_ipi(m, st, key: str, info, s2, offs: dict) -> bool:
    """Is the IPI delivery ``key`` (just taken: ``info``, ``s2``) one to leave out for now: its handler
    would only start spinning, and every other context on its CPU is held off anyway? ``offs`` caches
    :func:`held_off` per sender for this state."""
    if m.last_main is not None or s2.thread(info.context) is None:
        return False
    here = [t[0] for t in st.threads if t[1] == info.cpu]
    if not here:
        return True
    sender = key.split(":", 2)[2]
    if sender not in offs:
        offs[sender] = held_off(m, st, sender)
    return all(n in offs[sender] for n in here)


def held_off(m, st, sender: str) -> set[str]:
    """Contexts that cannot take a step before every IPI that ``sender`` sent has been handled, other than
    steps that no owner of their CPU holds off (a hotplug writer's ``cpus_write_lock()``).

    The sender itself, while it waits in on_each_cpu(); and, as a fixpoint, every context that waits for
    a lock whose holder keeps it that long (a held-off context, or the sender inside on_each_cpu()'s local
    call, when that call cannot release the lock), for a writer that is held off, or for a held-off child.
    """
    t = st.thread(sender)
    if t is None:
        return set()
    funcs = m.funcs
    out: set[str] = set()
    keeps = None  # the locks the sender keeps until its IPIs are handled (None: every lock it holds)
    if type(m.instr(t)) is OnEachCpuWait:
        out.add(sender)
    else:
        for k, f in enumerate(t[3]):  # inside the local call of on_each_cpu()?
            if type(funcs[f[0]].body[f[1]]) is OnEachCpuLocalDone:
                may = set()
                for g in t[3][k + 1:]:
                    may |= _may_unlock(m, g[0])
                keeps = frozenset(LOCK_INDEX) - may
                break
        else:
            return out
    def stuck(name, lock) -> bool:
        return name is not None and (name in out or (keeps is not None and name == sender and lock in keeps))

    changed = True
    while changed:
        changed = False
        for u in st.threads:
            if u[0] not in out and u[0] != sender and _stays_blocked(m.instr(u), st, u, out, stuck):
                out.add(u[0])
                changed = True
    # A hotplug writer still in cpus_write_lock() may announce itself, but cannot get the lock while a
    # reader keeps it; and the steps it can take meanwhile are not held off by the target CPU's owner.
    if any(stuck(r, "cpu_hotplug_lock") for r in st.locks[LOCK_INDEX["cpu_hotplug_lock"]][1]):
        out |= {u[0] for u in st.threads if type(m.instr(u)) in (WriteLockAnnounce, WriteLockAcquire)}
    return out


def _may_unlock(m, fn: str) -> frozenset:
    """Locks kernel function ``fn`` (with what it calls) may release; every lock when it calls through a
    pointer."""
    cache = m.__dict__.setdefault("_may_unlock", {})
    if fn in cache:
        return cache[fn]
    cache[fn] = frozenset()  # recursion guard
    out: set[str] = set()
    for ins in m.funcs[fn].body:
        cls = type(ins)
        if cls is Unlock:
            out.add(ins.lock)
        elif cls is WriteUnlock:
            out.add("cpu_hotplug_lock")
        elif cls is Call:
            if callable(ins.callee):
                out |= set(LOCK_INDEX)
            else:
                out |= _may_unlock(m, ins.callee)
        elif cls is OnEachCpu:
            out |= _may_unlock(m, ins.callee)
    cache[fn] = frozenset(out)
    return cache[fn]


def _stays_blocked(ins, st, u, out: set[str], stuck) -> bool:
    """Is ``u`` blocked by holds that last until the IPIs are handled (``stuck(holder, lock)``), or by a
    held-off child, so that it stays blocked that long?"""
    cls = type(ins)
    if cls is Lock:
        w, rs, ww = st.locks[ins.i]
        return stuck(w, ins.lock) or (ins.mode == "r" and stuck(ww, ins.lock))
    if cls is WriteLockAnnounce:
        w, rs, ww = st.locks[LOCK_INDEX["cpu_hotplug_lock"]]
        return (w != u[0] and stuck(w, "cpu_hotplug_lock")) or (ww != u[0] and stuck(ww, "cpu_hotplug_lock"))
    if cls is WriteLockAcquire:
        return any(stuck(r, "cpu_hotplug_lock") for r in st.locks[LOCK_INDEX["cpu_hotplug_lock"]][1])
    if cls is WaitChild:
        return any(k[7] == u[0] and k[2] != HARDIRQ and k[0] in out for k in st.threads)
    return False


def one_per_cpu(ipi_keys) -> list[str]:
    seen, out = set(), []
    for k in ipi_keys:
        c = k.split(":")[1]
        if c not in seen:
            seen.add(c)
            out.append(k)
    return out
