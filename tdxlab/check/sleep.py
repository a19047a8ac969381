"""Sleep sets: the checker's reduction of *transitions*. What is left out is taking a step again where
another order of the same two independent steps already leads.

After exploring steps ``a`` then ``b`` from a state, where ``a`` and ``b`` are independent (neither writes
what the other reads or writes), ``b·a`` reaches the state that ``a·b`` reaches. So in the state after
``b``, step ``a`` is put to sleep; it stays asleep down that path while the steps taken are independent of
it (Godefroid, *Partial-Order Methods for the Verification of Concurrent Systems*, LNCS 1032, 1996,
chapter 5). A sleeping step is taken, with the same effect and the same events, on the other side of its
diamond. A state reached again with fewer sleeping steps than it was expanded with gets the newly awake
ones explored then (the state-caching rule of sleep sets).

On their own, sleep sets keep every reachable state. Combined with the owned-CPU steps of
:mod:`tdxlab.check.reduce` (Godefroid's persistent sets with sleep sets, chapter 6) they may skip a state
whose diamond is closed, on the other side, only after an owned-CPU step: such a state differs from one
that is visited only by steps no property sees, so the verdicts stay the same. A few manifest scenarios
lose states that way (data/expected.toml says which), and ``benchmarks/check_reductions.py`` still finds
every verdict and counterexample length equal to the search without reductions, on all its
configurations.

*The order steps are taken in* decides which of the equivalent interleavings the sleep sets keep, never
whether the search is sound: the child of a step gets asleep the independent steps taken before it. Under
state caching a state's sleep set is what is asleep on *every* way in, so an order that keeps the same
interleaving whatever way a state was reached wakes fewer steps. While sleep sets are on the search takes
IPI deliveries first, then tasks, IPI handlers and hotplug threads, then events
(:func:`tdxlab.check.explore._sleep_rank`): an interleaving is then kept with IPIs delivered as early as
they can be and the administrator's hotplug threads as late as they can be. It was chosen by measurement:
``v7-2022`` with hotplug takes markedly fewer transitions than in :meth:`Machine.scan`'s order (contexts by
name, IPIs, events), the manifest about as many (benchmarks/RESULTS.md has the numbers,
``tests/test_sleep.py`` checks the direction; data/expected.toml says which state counts it changed).

Independence is decided from *footprints*, bit masks of what a step reads and writes (:class:`Footprints`):

* **writes** are read off the step itself: the parts of the state it replaced (each lock, each CPU's
  per-CPU state, the module's system part, its LP.INIT bit of each CPU, the kernel globals, ``cpuhp_states``
  apart too, the phase, the events left, the IPIs pending per target CPU), the context that ran (and the CPU
  rules of its CPU when it starts or stops owning it, turns IRQs off or on there, or ends: it leaves the
  CPU), and every context it started, ended, moved or changed (with the CPU rules of their CPUs, both of a
  task moved off a CPU going down);
* **reads** come from the step's one non-local instruction (:meth:`Footprints.reads`): a lock instruction
  reads its lock; a SEAMCALL the module and its own CPU (TDH.SYS.LP.INIT the module's system part and its
  own CPU's LP.INIT bit only, so that LP.INITs on two CPUs are independent: each sets its own bit, under
  either rule); VMXON/VMXOFF their CPU; ``on_each_cpu()`` every CPU's online state and the IPIs pending.
  The hotplug core's own steps (``_cpu_up()``/``_cpu_down()`` of :mod:`tdxlab.kernel.cpuhp`, marked
  ``Instr.hotplug_core``: the CPU changing state, the tasks leaving it, the wait for its IPIs, the walk
  over the registered states, with the local instructions merged into them) read every CPU's state, the
  IPIs pending, the LP.INIT bits and the kernel global ``cpuhp_states`` (its own bit, written only when
  that global changes; every step that changes it runs a design's own Python, so reads everything).
  Every other instruction that runs the design's own Python (a non-local ``Do``, ``If`` or ``WaitUntil``, a
  SEAMCALL with a callback), waits for other contexts (``on_each_cpu()``'s wait, a child) or is of a kind
  not listed here reads *everything*. Local instructions read only the context's own registers (the
  contract of :mod:`tdxlab.kernel.lang` that statement merging relies on) and per-CPU ones their CPU;
* a step of local instructions only that stopped before an instruction that had to wait (statement
  merging ends a step there, tdxlab.kernel.machine) reads what that instruction's wait reads;
* every step also reads its own context and, unless it is a hotplug writer's ``cpus_write_lock()`` (which
  no owner of the target CPU holds off, :mod:`tdxlab.kernel.machine`), its CPU's rules and online state;
  an IPI's delivery reads the IPIs pending on its CPU too. A context that returns hands its value to its
  parent (the parent's context is written, and read off the step) or, as the root, to the design's hook:
  :meth:`Design.root_finished <tdxlab.designs.base.Design.root_finished>` writes kernel globals, the phase
  and facts, read off the step too, and reads only the context's registers; a design that overrides the
  hook makes a root's return read and write everything, and so does every environment event.

Two steps are independent when neither writes what the other reads or writes. A write is read off what
the step replaced (a part replaced by an equal value still counts as written), so a step is never
independent of one that changes what it reads. ``tests/test_sleep.py`` checks the diamond on every pair
of steps judged independent in every state of several scenarios, that the footprints cover what each step
changes, and that the search gives the same verdicts and counterexample lengths with and without sleep
sets.

Not used when the state graph is kept for drawing (a picture shows every transition), nor with
``--no-reduce``.
"""
from __future__ import annotations

from tdxlab.kernel.lang import (AssertCpusHeld, AssertIrqsDisabled, Call, Goto, LocalIrqRestore, LocalIrqSave,
                                Lock, OnEachCpu, OnEachCpuLocalDone, Ret, Unlock, WarnVmxeClear, WriteLockAcquire,
                                WriteLockAnnounce, WriteUnlock)
from tdxlab.kernel.ops import Seamcall, Vmxoff, Vmxon
from tdxlab.kernel.state import HARDIRQ, LOCK_INDEX, LOCKS, Kern
from tdxlab.module import LP_INIT

ALL = -1  # every bit: reads (or writes) everything
ALL_FP = (ALL, ALL)
_HOTPLUG = 1 << LOCK_INDEX["cpu_hotplug_lock"]
_CPUHP_STATES = Kern._fields.index("cpuhp_states")
_WRITER = (WriteLockAnnounce, WriteLockAcquire)


class Footprints:
    """The footprint bits of one scenario's machine. Bits, low to high: one per lock; the module's system
    part (everything but the LP.INIT bits); the kernel globals; the phase; the events left; then per CPU
    (each group contiguous) its LP.INIT bit in the module, its per-CPU state, its CPU rules (who owns it,
    IRQs off) and the IPIs pending for it; then one bit per context name, as they appear."""

    def __init__(self, m):
        self.m = m
        n = self.ncpus = m.topology.ncpus
        self.LOCK = [1 << i for i in range(len(LOCKS))]
        base = len(LOCKS)
        # (CPUHP: the kernel global cpuhp_states, the registered hotplug states, which the hotplug core reads;
        # KERN: every kernel global, that one too)
        self.MODULE, self.KERN, self.PHASE, self.EVENTS, self.CPUHP = (1 << (base + k) for k in range(5))
        base += 5
        self.LP_SHIFT = base  # the module's lp_init bit mask, shifted here, gives its LP.INIT bits
        self.LP = [1 << (base + c) for c in range(n)]
        self.CPU_SHIFT, self.IPI_SHIFT = base + n, base + 3 * n
        self.CPU = [1 << (base + n + c) for c in range(n)]
        self.GATE = [1 << (base + 2 * n + c) for c in range(n)]
        self.IPI = [1 << (base + 3 * n + c) for c in range(n)]
        self.ALL_LP = sum(self.LP)
        self.ALL_CPUS = sum(self.CPU)
        self.ALL_IPIS = sum(self.IPI)
        # the hotplug core's steps (Instr.hotplug_core): every CPU's state (which CPU the tasks leaving one
        # go to), the IPIs pending (the offline waits for those of its CPU), the LP.INIT bits (a CPU that
        # goes offline may lose its own) and the registered hotplug states (the walk of kernel/cpu.c)
        self.CORE = self.ALL_CPUS | self.ALL_IPIS | self.ALL_LP | self.CPUHP
        self.HERE = [self.CPU[c] | self.GATE[c] for c in range(n)]  # what a step on CPU c reads of it
        self._next = base + 4 * n
        self._ctx: dict[str, int] = {}
        self._reads: dict = {}
        # a root context's return runs the design's hook: Design.root_finished writes kernel globals, the
        # phase and facts, and reads only the context's registers (its writes are read off the step like any
        # other); a design that overrides it may read anything
        from tdxlab.designs.base import Design
        self.own_hook = type(m.design).root_finished is not Design.root_finished


    def ctx(self, name: str) -> int:
        """The bit of the context called ``name``."""
        b = self._ctx.get(name)
        if b is None:
            b = self._ctx[name] = 1 << self._next
            self._next += 1
        return b

    def reads(self, ins) -> tuple[int, int]:
        """What instruction ``ins`` reads besides its context and its CPU: (mask, 1 when it also reads its
        own CPU's LP.INIT bit)."""
        r = self._reads.get(ins)
        if r is None:
            r = self._reads[ins] = self._classify(ins)
        return r

    def _classify(self, ins) -> tuple[int, int]:
        cls = type(ins)
        if ins.hotplug_core:
            return self.CORE, 0
        if cls in (Lock, Unlock):
            return self.LOCK[ins.i], 0
        if cls in (WriteLockAnnounce, WriteLockAcquire, WriteUnlock, AssertCpusHeld):
            return _HOTPLUG, 0
        if cls is Seamcall:
            if ins.then is not None:  # the design's callback
                return ALL, 0
            if ins.leaf == LP_INIT:  # the system state and this CPU's own LP.INIT bit (tdxlab.module.call)
                return self.MODULE, 1
            return self.MODULE | self.ALL_LP, 0
        if cls is OnEachCpu:  # which CPUs are online, and the IPIs it queues
            return self.ALL_CPUS | self.ALL_IPIS, 0
        if cls in (Vmxon, Vmxoff, WarnVmxeClear, LocalIrqSave, LocalIrqRestore, Call, Ret, Goto,
                   OnEachCpuLocalDone, AssertIrqsDisabled):
            return 0, 0  # the context's registers and its CPU, which every step reads
        if ins.local or ins.percpu:  # (the lang contract: its own registers, or its own CPU)
            return 0, 0
        return ALL, 0

    def of(self, st, x, main) -> tuple[int, int]:
        """(reads, writes) of the step just taken from ``st``: ``x`` is the machine's :class:`Exec` after
        it (None for an environment event), ``main`` its one non-local instruction (or None)."""
        if x is None:
            return ALL_FP
        kind = x.kind
        if x.finished and kind != HARDIRQ and x.parent is None and self.own_hook:
            return ALL_FP  # it returned as the root, to a design's own hook, which may read anything
        c = x.cpu
        me = self.ctx(x.name)
        w = me
        # the CPU rules of its CPU change when it starts or stops owning it, or turns IRQs off or on there
        hard = kind == HARDIRQ
        after = (hard or x.irq > 0 or x.pre > 0, hard or x.irq > 0) if x.alive else (False, False)
        if x._ti < 0:
            before = (False, False)
        else:
            u = st.threads[x._ti]
            before = (hard or u[5] > 0 or u[6] > 0, hard or u[5] > 0)
        if before != after or x.finished and kind != HARDIRQ:  # (a context that ends leaves its CPU)
            w |= self.GATE[c]
        if x._ti < 0:  # an IPI's delivery: the IPIs pending on its CPU, its rules and state
            r = me | self.HERE[c] | self.IPI[c]
        elif main is not None and type(main) in _WRITER and not (kind == HARDIRQ or x.irq or x.pre):
            r = me  # a hotplug writer's cpus_write_lock(): no owner of its CPU holds it off
        else:
            r = me | self.HERE[c]
        if main is None and x.alive:
            # the step stopped before an instruction that had to wait: whether it waits is read too
            main = self.m.funcs[x.fn].body[x.pc]
        if main is not None:
            mask, lp = self.reads(main)
            if mask == ALL:
                r = ALL
            else:
                r |= mask
                if lp:
                    r |= self.LP[c]
        # writes: what the step replaced (unchanged parts are shared, so identity tells)
        # (the Exec's own record of what it replaced when the tuples are the ones it built, else a comparison)
        a, b = st.cpus, x.cpus
        if a is not b:
            if b is x.cpus_t:
                w |= x.wcpu << self.CPU_SHIFT
            else:
                cpu = self.CPU
                for k in range(self.ncpus):
                    if a[k] is not b[k]:
                        w |= cpu[k]
        a, b = st.locks, x.locks
        if a is not b:
            if b is x.locks_t:
                w |= x.wlock  # (the lock bits come first)
            else:
                lock = self.LOCK
                for k in range(len(a)):
                    if a[k] is not b[k]:
                        w |= lock[k]
        a, b = st.module, x.module
        if a is not b:
            if a[0] != b[0] or a[1] != b[1] or a[2] != b[2] or a[4] != b[4] or a[5] != b[5] or a[6:] != b[6:]:
                w |= self.MODULE  # (sys, num_lps, num_pkgs, lp_init, pkg_keyed, tdmr_done, and the rest)
            w |= (a[3] ^ b[3]) << self.LP_SHIFT
        a, b = st.kern, x.kern
        if a is not b:
            w |= self.KERN
            if a[_CPUHP_STATES] != b[_CPUHP_STATES]:
                w |= self.CPUHP
        if st.phase != x.phase:
            w |= self.PHASE
        if st.events is not x.events_left:
            w |= self.EVENTS
        a, b = st.ipis, x.ipis
        if a is not b:
            if b is x.ipis_t:
                w |= x.wipi << self.IPI_SHIFT
            else:
                ipi = self.IPI
                for k, _, _ in set(a).symmetric_difference(b):
                    w |= ipi[k]
        th = x._th
        if th is not None:  # other contexts were started, ended or changed
            old = {u[0]: u for i, u in enumerate(st.threads) if i != x._ti}
            for name in old.keys() | th.keys():
                u, v = old.get(name), th.get(name)
                if u is not v:
                    w |= self.ctx(name) | self.GATE[(u or v)[1]] | self.GATE[(v or u)[1]]  # (a move: both CPUs)
        return r | w, w  # (a step reads what it writes: a write of an unchanged value still conflicts)


def independent(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Footprints (reads, writes) of two steps: may they be taken in either order with the same result?
    (Reads include writes, so this is: neither writes what the other reads.)"""
    return not (a[1] & b[0]) and not (b[1] & a[0])
