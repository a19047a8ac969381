"""The interpreter: which steps are enabled in a state, what a step does, and how a state describes itself.

Scheduling rules (k-cpu-hotplug-rst, k-smp-c; the kernel's preemption model):

* a CPU runs one context at a time; an IPI handler (hardirq) runs on a CPU only while every context there
  has IRQs on, and once started it runs to the end before anything else on that CPU;
* a context with IRQs off or preemption off (a raw spinlock held, inside on_each_cpu()) keeps its CPU:
  no other task or hotplug thread runs there until it lets go; a context spinning on a raw spinlock keeps
  its CPU too, which is how a spinlock taken from an IPI deadlocks against its own CPU (k-tdx-c-618);
* otherwise tasks on a CPU are preemptible and interleave freely;
* a hotplug operation's context for a CPU that is not in cpu_online_mask runs on the control CPU and
  interleaves freely (a simplification: the writer and the target's hotplug thread are one context);
  its ``cpus_write_lock()`` is the writer process's, on another CPU, so what runs on the target CPU does
  not hold that part off either (kernel/cpu.c: ``_cpu_down()`` takes the lock in the writer's context;
  only the callbacks run on the target).
"""
from __future__ import annotations

from functools import lru_cache

from tdxlab.errors import StepNotEnabled
from tdxlab.kernel.lang import KFunc, Ret, errno_name
from tdxlab.kernel.observe import events_of
from tdxlab.kernel.state import (HARDIRQ, LOCK_INDEX, LOCK_KIND, LOCKS, CpuState, Frame, Kern, State, StepInfo,
                                 Thread, locks_held)
from tdxlab.module import SYS_STATE_NAMES
from tdxlab.platform import IN_ONLINE_MASK


# how _run() merges an instruction: Instr.local, Instr.percpu, and for those that are Instr.pure too,
# _PURE (local; _PURE_RET for a return, pure only while there is a caller) and _PERCPU_PURE (per-CPU)
_NONLOCAL, _LOCAL, _PERCPU, _PURE, _PERCPU_PURE, _PURE_RET = 0, 1, 2, 3, 4, 5
_new = tuple.__new__  # build a NamedTuple from a tuple without _replace's overhead (hot path)
_KERN_FIELD = {f: i for i, f in enumerate(Kern._fields)}
_CPU_FIELD = {f: i for i, f in enumerate(CpuState._fields)}


@lru_cache(maxsize=None)
def _step_kind(key: str):
    """What a step key names: None for a context, the event's name for ``"event:NAME"``, and for an IPI's
    delivery (``"ipi:3:modprobe"``) its CPU, its sender and its handler's context: ``(3, "modprobe",
    "IPI/3")``."""
    if key.startswith("event:"):
        return key[6:]
    if key.startswith("ipi:"):
        _, c, sender = key.split(":", 2)
        return int(c), sender, f"IPI/{c}"
    return None


class Exec:
    """A state under construction during one step.

    The running context's registers (its top frame ``fn``/``pc``/``loc``, return value, IRQ and
    preemption depths) are plain attributes while the step runs; ``x.t`` builds the :class:`Thread` tuple
    each time something asks for it (once per step, in the search), and :meth:`freeze` puts it back into
    the state."""

    __slots__ = ("m", "st", "cpus", "module", "kern", "locks", "_th", "_ti", "ipis", "events_left", "phase",
                 "notes", "quiet", "evs", "leaf", "result", "errno", "finished", "acqs",
                 "alive", "name", "cpu", "kind", "parent", "stk", "fn", "pc", "loc", "retval", "irq", "pre",
                 "wcpu", "wlock", "wipi", "cpus_t", "locks_t", "ipis_t")

    def __init__(self, m: "Machine", st: State, tname: str | None):
        self.m, self.st = m, st
        self.cpus = st.cpus  # tuples, replaced (never changed) by set_cpu(), set_lock(), send_ipis()
        self.module = st.module
        self.kern = st.kern
        self.locks = st.locks
        self.ipis = st.ipis
        # what set_cpu(), set_lock() and send_ipis() replaced, as bit masks (CPU numbers, lock numbers, the
        # target CPUs of IPIs), with the tuples they built: the checker's sleep sets read a step's writes
        # off them (tdxlab.check.sleep) when the tuples are still those
        self.wcpu = self.wlock = self.wipi = 0
        self.cpus_t = self.locks_t = self.ipis_t = None
        self.events_left = st.events
        self.phase = st.phase
        self._th = None  # the other contexts by name, built only when a step spawns or ends one
        self._ti = -1  # the running context's index in st.threads
        self.alive = False  # a context is running (its registers below are loaded)
        if tname is not None:
            for i, u in enumerate(st.threads):
                if u[0] == tname:
                    self._ti = i
                    self._load(u)
                    break
            else:
                raise KeyError(tname)
        # the checker's search: no words for the steps (callers skip formatting them, note() drops them)
        self.quiet = quiet = m.quiet
        self.notes: list[str] | tuple = () if quiet else []
        self.evs: tuple[tuple[str, str], ...] = ()  # (fact, detail): what the step did (tdxlab.kernel.observe)
        self.leaf = self.result = self.errno = None
        self.finished = False
        self.acqs = None  # locks taken in this step, for lockdep: (context name, lock, mode, held, hardirq,
        # irqs_off)

    def _load(self, u: Thread) -> None:
        self.alive = True
        self.name, self.cpu, self.kind, stack, self.retval, self.irq, self.pre, self.parent = u
        self.stk = stack[:-1]
        self.fn, self.pc, self.loc = stack[-1]

    @property
    def t(self) -> Thread | None:
        """The running context as a :class:`Thread` (None once it has returned)."""
        if not self.alive:
            return None
        top = _new(Frame, (self.fn, self.pc, self.loc))
        return _new(Thread, (self.name, self.cpu, self.kind, self.stk + (top,), self.retval, self.irq, self.pre,
                             self.parent))

    @property
    def threads(self) -> dict[str, Thread]:
        """The other contexts by name (the running one is ``t``)."""
        th = self._th
        if th is None:
            ti = self._ti
            th = self._th = {u[0]: u for i, u in enumerate(self.st.threads) if i != ti}
        return th

    # --- the running context's frame and registers ---
    def set_loc(self, loc) -> None:
        self.loc = loc

    def advance(self) -> None:
        """Go on at the next instruction (the instructions write ``x.pc += 1`` themselves: one call less
        on the checker's hot path)."""
        self.pc += 1

    def goto(self, pc: int) -> None:
        """Continue at instruction ``pc`` of the running function (a label resolved by :class:`KFunc`)."""
        self.pc = pc

    def call(self, fn: str, loc=None) -> None:
        """Call ``fn``: a new frame; the caller goes on at its next instruction when ``fn`` returns."""
        if fn not in self.m.funcs:
            raise KeyError(f"design calls unknown kernel function {fn}")
        self.stk += (_new(Frame, (self.fn, self.pc + 1, self.loc)),)
        self.fn, self.pc, self.loc = fn, 0, loc

    def ret(self, v) -> None:
        self.retval = v
        stk = self.stk
        if stk:
            self.fn, self.pc, self.loc = stk[-1]
            self.stk = stk[:-1]
        else:
            self._finish(v, self.fn)

    def set_ret(self, v) -> None:
        self.retval = v

    def adjust(self, irqs: int = 0, preempt: int = 0) -> None:
        """Change the running context's local_irq_save() and preempt_disable() depths."""
        self.irq += irqs
        self.pre += preempt

    def irqs_disabled(self) -> bool:
        return self.kind == HARDIRQ or self.irq > 0

    def _finish(self, v, fn: str) -> None:
        self.stk = ()
        self.alive = False
        self.finished = True
        kind, parent = self.kind, self.parent
        if self.irq and kind != HARDIRQ or self.pre:
            self.fact("kernel-check", f"{self.name} returned with IRQs or preemption still disabled")
        if parent is not None and kind != HARDIRQ:
            p = self.threads.get(parent)
            if p is not None:
                self.threads[parent] = _new(Thread, (p[0], p[1], p[2], p[3], v, p[5], p[6], p[7]))  # ret=v
        elif parent is None:
            t = _new(Thread, (self.name, self.cpu, kind, (), v, self.irq, self.pre, parent))
            self.m.design.root_finished(self, t, v, fn)

    def spawn(self, name: str, cpu: int, kind: str, fn: str, parent: str | None = None, loc=None) -> None:
        self.threads[name] = Thread(name, cpu, kind, (Frame(fn, 0, loc),), 0,
                                    1 if kind == HARDIRQ else 0, 0, parent)

    def start(self, name: str, cpu: int, kind: str, fn: str, parent: str | None = None) -> None:
        """Create the context ``name`` and run it in this step (no context running yet): an IPI's
        handler."""
        self._ti = -1
        self.alive = True
        self.name, self.cpu, self.kind, self.parent = name, cpu, kind, parent
        self.stk, self.fn, self.pc, self.loc = (), fn, 0, None
        self.retval, self.irq, self.pre = 0, 1 if kind == HARDIRQ else 0, 0

    # --- what the step did ---
    def note(self, text: str) -> None:
        if text and not self.quiet:
            self.notes.append(text)

    def acquired(self, lock: str, mode: str) -> None:
        """Record that the running context takes ``lock`` now (lockdep checks every acquisition)."""
        if self.acqs is None:
            self.acqs = []
        hardirq = self.kind == HARDIRQ
        self.acqs.append((self.name, lock, mode, locks_held(self.locks, self.name), hardirq,
                          hardirq or self.irq > 0))

    def fact(self, kind: str, detail: str) -> None:
        """Record a neutral fact about this step (one of tdxlab.kernel.observe.FACTS); the properties that
        observe it turn it into the step's events."""
        self.evs += ((kind, detail),)

    def seamcall(self, leaf: str, status: str, errno: str) -> None:
        self.leaf, self.result, self.errno = leaf, status, errno

    # (A tuple assigned directly, not through these methods, makes the record say "everything": -1.)
    def set_cpu(self, c: int, cs) -> None:
        cpus = self.cpus
        self.wcpu |= 1 << c if cpus is self.cpus_t or cpus is self.st.cpus else -1
        self.cpus = self.cpus_t = cpus[:c] + (cs,) + cpus[c + 1:]

    def set_percpu(self, c: int, field: str | int, v) -> None:
        """CPU ``c``'s per-CPU ``field`` (a :class:`CpuState` field name) or, for an int, the design's own
        per-CPU variable number ``field`` (``CpuState.vars``) is now ``v``."""
        cs = self.cpus[c]
        if type(field) is int:
            vs = cs[3]
            self.set_cpu(c, _new(CpuState, (cs[0], cs[1], cs[2], vs[:field] + (v,) + vs[field + 1:])))
        else:
            i = _CPU_FIELD[field]
            self.set_cpu(c, _new(CpuState, cs[:i] + (v,) + cs[i + 1:]))  # (cs._replace(), without its cost)

    def set_lock(self, i: int, value) -> None:
        """Lock number ``i`` (LOCK_INDEX) is now ``(holder or writer, readers, waiting writer)``."""
        locks = self.locks
        self.wlock |= 1 << i if locks is self.locks_t or locks is self.st.locks else -1
        self.locks = self.locks_t = locks[:i] + (value,) + locks[i + 1:]

    def send_ipis(self, ipis) -> None:
        """Queue IPIs (target CPU, function, sender); pending IPIs stay sorted."""
        ipis = tuple(ipis)
        old = self.ipis
        if old is not self.ipis_t and old is not self.st.ipis:
            self.wipi = -1
        for ipi in ipis:
            self.wipi |= 1 << ipi[0]
        self.ipis = self.ipis_t = tuple(sorted(old + ipis))

    def take_ipi(self, i: int) -> None:
        """Take pending IPI number ``i`` off the queue (it is delivered)."""
        ipis = self.ipis
        self.wipi |= 1 << ipis[i][0] if ipis is self.ipis_t or ipis is self.st.ipis else -1
        self.ipis = self.ipis_t = ipis[:i] + ipis[i + 1:]

    def set_kern(self, **kw) -> None:
        """Write kernel globals: ``x.set_kern(kvm_usage_count=1)``."""
        k = self.kern
        if len(kw) == 1:  # (one global, the usual case: built directly, _replace costs more)
            (f, v), = kw.items()
            i = _KERN_FIELD[f]
            self.kern = _new(Kern, k[:i] + (v,) + k[i + 1:])
        else:
            self.kern = k._replace(**kw)

    def freeze(self) -> State:
        """The state the step has built so far (the Exec stays usable)."""
        t = self.t
        th = self._th
        if th is None:  # the same contexts as before: replace (or drop) the running one in place
            ts, i = self.st.threads, self._ti
            if i >= 0:
                ts = ts[:i] + (t,) + ts[i + 1:] if t is not None else ts[:i] + ts[i + 1:]
            elif t is not None:  # a context this step started: in its place by name
                name = t[0]
                k = 0
                for u in ts:
                    if u[0] > name:
                        break
                    k += 1
                ts = ts[:k] + (t,) + ts[k:]
        else:  # sorted by name (names are unique, so tuples sort by them)
            ts = tuple(sorted([*th.values(), t] if t is not None else th.values()))
        return _new(State, (self.phase, self.cpus, self.module, self.kern, self.locks, ts, self.ipis,
                            self.events_left))


class Machine:
    """Runs a design's kernel functions on a platform. Built by :class:`tdxlab.scenario.Scenario`."""

    def __init__(self, *, topology, platform, rule: str, funcs: dict[str, KFunc], design,
                 module_loaded: bool = True, offline_keeps_lp_init: bool = True,
                 parked_siblings_counted: bool = True):
        self.topology, self.platform, self.rule = topology, platform, rule
        self.funcs, self.design, self.module_loaded = funcs, design, module_loaded
        self.offline_keeps_lp_init = offline_keeps_lp_init
        # teardown (tdxlab.kernel.teardown): the index of the design's per-CPU cache_state_incoherent, which
        # every SEAMCALL sets (None: the design does not declare it), and whether the module locks other
        # callers out once TDH.SYS.DISABLE runs (the what-if "no-lockout" says it does not)
        from tdxlab.kernel.source import design_percpu
        self.cache_mark = design_percpu(design).get("cache_state_incoherent", (None,))[0]
        self.sys_disable_lockout = "no-lockout" not in getattr(design, "mut", ())
        self.last_main = self.last_acqs = self.last_x = None
        self.quiet = False  # set by the checker while it searches: steps then carry no words (action "")
        # what _run() needs of each instruction, looked up once: (instruction, its run method, how it merges:
        # _NONLOCAL, _LOCAL, or _PERCPU, local while the context owns its CPU; _PURE, _PURE_RET and
        # _PERCPU_PURE for the pure ones, which _pure_run() may take from its memo)
        self._code = {name: [(ins, ins.run, ((_PURE_RET if isinstance(ins, Ret) else _PURE) if ins.pure else _LOCAL)
                              if ins.local else
                              ((_PERCPU_PURE if ins.pure else _PERCPU) if ins.percpu else _NONLOCAL))
                             for ins in kf.body] for name, kf in funcs.items()}
        # what a run of pure instructions did, by the registers it started from (_pure_run): the quiet
        # search's shortcut; emptied whenever coverage starts, so that every instruction a search runs is
        # seen running at least once in it
        self._pure_memo: dict = {}
        self.memo = True  # (False: always run them one by one, the reference; for the tests that compare)
        # what scan() needs of each instruction: (held off by an owner of the CPU, the lock it takes for
        # lockdep, its waits() method or None when it never waits)
        self._scan = {name: [(ins.owner_holds_off, ins.acq, ins.waits if ins.can_block else None)
                             for ins in kf.body] for name, kf in funcs.items()}
        self._ipi_keys: dict[tuple, tuple[str, str]] = {}  # pending IPI -> its step, as scan() gives it
        # num_of_lps as MCHECK reports it: every BIOS-enabled LP; parked nosmt siblings too (dec-nosmt-lp-count)
        self.num_lps = sum(1 for c in topology.cpus()
                           if parked_siblings_counted or platform.boot_state(c) != "parked")

    # --- coverage: which instructions ran ---
    def start_coverage(self) -> None:
        """Record which instructions run from now on (:meth:`stop_coverage` gives them). Each one is
        probed once: its first run records it and puts the plain instruction back, so a search pays for
        coverage once per instruction, not once per step."""
        self.covered: set = set()
        self._pure_memo.clear()
        for name, entries in self._code.items():
            for pc, (ins, run, merge) in enumerate(entries):
                entries[pc] = (ins, self._probe(entries, pc, ins, run, merge), merge)

    def _probe(self, entries, pc, ins, run, merge):
        covered = self.covered

        def probe(x):
            covered.add(ins)
            entries[pc] = (ins, run, merge)
            run(x)
        return probe

    def stop_coverage(self) -> frozenset:
        """The instructions that ran since :meth:`start_coverage`; the probes left are removed."""
        self._pure_memo.clear()
        for name, entries in self._code.items():
            for pc, (ins, run, merge) in enumerate(entries):
                if ins not in self.covered:
                    entries[pc] = (ins, ins.run, merge)
        return frozenset(self.covered)

    # --- who may run ---
    def _cpu_gates(self, st: State, explain: bool = True) -> tuple[set[str], dict[str, str]]:
        """Contexts allowed to run by the CPU rules, and (``explain``) why the others may not."""
        allowed: set[str] = set()
        why: dict[str, str] = {}
        owners = self._owners(st)[0]
        cpus = st.cpus
        funcs = self.funcs
        for t in st.threads:
            o = owners.get(t[1])
            if o is None or o is t or cpus[t[1]].hp not in IN_ONLINE_MASK:
                allowed.add(t[0])
            elif not funcs[t[3][-1][0]].body[t[3][-1][1]].owner_holds_off:
                # cpus_write_lock() is the writer process's (the administrator's, on another CPU), not the
                # target CPU's: what runs on the target does not hold it off (the callbacks it does)
                allowed.add(t[0])
            elif explain:
                how = "in an IPI handler" if o.kind == HARDIRQ else \
                    ("with IRQs off" if o.irqs_off else "with preemption off")
                why[t[0]] = f"CPU{t[1]} is taken: {o.name} runs there {how}"
        return allowed, why

    @staticmethod
    def _owners(st: State) -> tuple[dict[int, Thread], set[int]]:
        """The context that owns each CPU in cpu_online_mask, if any (a hardirq first, then one with IRQs
        or preemption off), and the CPUs where IRQs are off (no IPI is delivered there)."""
        owners: dict[int, Thread] = {}
        off: set[int] = set()
        cpus = st.cpus
        for t in st.threads:
            if t[2] == HARDIRQ or t[5] or t[6]:
                c = t[1]
                if cpus[c].hp in IN_ONLINE_MASK:
                    o = owners.get(c)
                    if o is None or (t[2] == HARDIRQ and o[2] != HARDIRQ):
                        owners[c] = t
                if t[2] == HARDIRQ or t[5]:
                    off.add(c)
        return owners, off

    def _irqs_on(self, st: State, c: int) -> bool:
        for t in st.threads:
            if t.cpu == c and (t.kind == HARDIRQ or t.irqs_off):
                return False
        return True

    def instr(self, t: Thread):
        f = t.stack[-1]
        return self.funcs[f.fn].body[f.pc]

    def blocked_reason(self, st: State, t: Thread, gates=None) -> str | None:
        allowed, why = gates or self._cpu_gates(st)
        if t.name not in allowed:
            return why.get(t.name, "cannot run")
        return self.instr(t).blocked(self, st, t)

    # --- steps ---
    def enabled(self, st: State, gates=None) -> list[tuple[str, str]]:
        """The enabled steps as (key, label), in a fixed order: contexts by name, IPIs, events. (The
        checker's hot path, :meth:`scan`, gives the same steps with empty labels.)"""
        out = []
        gates = gates or self._cpu_gates(st)
        allowed = gates[0]
        for t in st.threads:
            if t.name in allowed:
                ins = self.instr(t)
                if ins.blocked(self, st, t) is None:
                    out.append((t.name, f"{t.name} on CPU{t.cpu}: {t.stack[-1].fn}(): {ins.text(st, t)}"))
        for c, fn, sender in st.ipis:
            if st.cpus[c].hp in IN_ONLINE_MASK and self._irqs_on(st, c):
                out.append((f"ipi:{c}:{sender}", f"IPI from {sender} arrives on CPU{c}: {fn}()"))
        for ev in st.events:
            if self.design.event_enabled(self, st, ev):
                out.append((f"event:{ev}", self.design.event_label(ev)))
        return out

    def scan(self, st: State) -> tuple[list[tuple[str, str]], list]:
        """The checker's hot path, one pass over the contexts: the enabled steps as :meth:`enabled` gives
        them, with empty labels, and the contexts the CPU rules let run that are about to take a lock, as
        [(thread, (lock, mode))] for lockdep (taken or waited for). (The CPU rules of :meth:`_owners`,
        inlined: this runs once per state.)"""
        code = self._scan
        cpus = st.cpus
        threads = st.threads
        owners = None  # CPU -> the context that owns it (CPUs in cpu_online_mask only)
        off = ()  # CPUs where IRQs are off (no IPI is delivered there)
        for t in threads:
            kind = t[2]
            if kind == HARDIRQ or t[5] or t[6]:
                c = t[1]
                if owners is None:
                    owners, off = {}, set()
                if cpus[c].hp in IN_ONLINE_MASK:
                    o = owners.get(c)
                    if o is None or (kind == HARDIRQ and o[2] != HARDIRQ):
                        owners[c] = t
                if kind == HARDIRQ or t[5]:
                    off.add(c)
        en = []
        waiting = []
        for t in threads:
            f = t[3][-1]
            owner_holds_off, acq, waits = code[f[0]][f[1]]
            if owners and owner_holds_off:
                o = owners.get(t[1])
                if o is not None and o is not t:
                    continue
            if acq is not None:
                waiting.append((t, acq))
            if waits is None or not waits(self, st, t):
                en.append((t[0], ""))
        if st.ipis:
            keys = self._ipi_keys
            for ipi in st.ipis:
                c = ipi[0]
                if c not in off and cpus[c].hp in IN_ONLINE_MASK:
                    k = keys.get(ipi)
                    if k is None:
                        k = keys[ipi] = (f"ipi:{c}:{ipi[2]}", "")
                    en.append(k)
        if st.events:
            enabled = self.design.event_enabled
            for ev in st.events:
                if enabled(self, st, ev):
                    en.append(("event:" + ev, ""))
        return en, waiting

    def successors(self, st: State, gates=None) -> list[tuple[StepInfo, State]]:
        return [self._take(st, key, label) for key, label in self.enabled(st, gates)]

    def step(self, st: State, key: str) -> tuple[StepInfo, State]:
        """Take the enabled step ``key`` (a context name, ``ipi:CPU:sender`` or ``event:NAME``)."""
        for k, label in self.enabled(st):
            if k == key:
                return self._take(st, k, label)
        en = ", ".join(k for k, _ in self.enabled(st)) or "none (the run is over)"
        why = ""
        t = st.thread(key)
        if t is not None:
            why = f": {t.name} {self.blocked_reason(st, t)}"
        raise StepNotEnabled(f"step {key!r} is not enabled here{why}; enabled: {en}")

    def _take(self, st: State, key: str, label: str) -> tuple[StepInfo, State]:
        what = _step_kind(key)
        if what is None:  # a context
            return self._run(Exec(self, st, key), key, label, 0)
        if type(what) is str:  # an environment event
            self.last_main = self.last_acqs = self.last_x = None
            x = Exec(self, st, None)
            x.events_left = tuple(e for e in st.events if e != what)
            function, fact = self.design.fire_event(self, x, what)
            s2 = x.freeze()
            return StepInfo(key, label, None, "admin", function, "; ".join(x.notes), fact,
                            events=events_of(x.evs) if x.evs else ()), s2
        # an IPI's delivery
        c, sender, handler = what
        x = Exec(self, st, None)
        for i, (cc, fn, s) in enumerate(x.ipis):
            if cc == c and s == sender:
                x.take_ipi(i)
                break
        if not x.quiet:
            x.note(f"IPI from {sender}: CPU{c} enters {fn}() in hardirq context, IRQs off")
        # The delivery and the handler's first step are one step: the delivery only concerns CPU c,
        # which the handler then owns, so it commutes with every step on another CPU (a sound merge).
        x.start(handler, c, HARDIRQ, fn, parent=sender)
        return self._run(x, key, label, 1)

    def _run(self, x: Exec, key: str, label: str, delivered: int) -> tuple[StepInfo, State]:
        """Run the loaded context ``x`` for one step: leading local instructions, then its one non-local
        instruction, then the local ones after it. ``delivered``: 1 when the step is an IPI's delivery."""
        name, cpu = x.name, x.cpu
        main = first = None
        main_fn = x.fn
        code = self._code
        memo = x.quiet and self.memo
        ran = 0
        while x.alive:
            ins, run, merge = code[x.fn][x.pc]
            if merge >= _PURE:
                if memo and (merge == _PURE or (x.stk if merge == _PURE_RET else
                                                (x.kind == HARDIRQ or x.irq or x.pre))):
                    n = self._pure_run(x)
                    if n:
                        if not ran:
                            first = ins
                        ran += n
                        continue
                merge = _PERCPU if merge == _PERCPU_PURE else _LOCAL
            if merge != _LOCAL and (merge == _NONLOCAL or not (x.kind == HARDIRQ or x.irq or x.pre)):
                if main is not None:
                    break
                # leading local instructions ran: is this one blocked now?
                if ran and ins.can_block and ins.waits_mid_step(x):
                    break
                main, main_fn = ins, x.fn
            elif not ran:
                first = ins
            run(x)
            ran += 1
        self.last_main = main  # the step's one non-local instruction, or None (for the checker's reduction)
        self.last_acqs = x.acqs  # the locks it took (for the checker's lockdep)
        self.last_x = x  # what it built (for the checker's sleep sets: tdxlab.check.sleep)
        ins = main if main is not None else first  # a step of local instructions only: its first one
        fact = ins.fact if ins is not None else ""
        notes = x.notes
        if x.quiet:
            action = ""
        else:
            action = "; ".join(notes) if len(notes) > delivered else "; ".join(notes + [label])
        return _new(StepInfo, (key, label, cpu, name, main_fn, action, fact or ("k-smp-c" if delivered else ""),
                               x.leaf, x.result, x.errno, events_of(x.evs) if x.evs else ())), x.freeze()

    def _pure_run(self, x: Exec) -> int:
        """Run the pure instructions (:attr:`tdxlab.kernel.lang.Instr.pure`) from where ``x`` is, up to the
        first one that is not pure (or a return to no caller); return how many ran. What they do depends on
        the running context's registers alone, so the result is remembered by those registers: the next
        time the same registers meet the same code, they are set from the memo, with the facts the run
        recorded, and no instruction runs. (The checker's engine; the instructions one by one are the
        reference, and tests/test_checker.py checks that both explore the same.)"""
        c = x.cpu
        cs = x.cpus[c]  # (what the per-CPU ones read)
        key = (x.fn, x.pc, x.stk, x.loc, x.retval, x.irq, x.pre, x.kind, c, x.name, cs)
        r = self._pure_memo.get(key)
        if r is not None:
            x.fn, x.pc, x.stk, x.loc, x.retval, x.irq, x.pre, n, evs, cs2 = r
            if evs:
                x.evs += evs
            if cs2 is not None:
                x.set_cpu(c, cs2)
            return n
        code = self._code
        evs0 = len(x.evs)
        fn0, pc0 = x.fn, x.pc
        n = 0
        while True:
            ins, run, merge = code[x.fn][x.pc]
            if merge == _PURE_RET:
                if not x.stk:  # a return to no caller ends the context: not pure
                    break
            elif merge == _PERCPU_PURE:
                if not (x.kind == HARDIRQ or x.irq or x.pre):  # a per-CPU step of its own
                    break
            elif merge != _PURE:
                break
            run(x)
            n += 1
        if n:
            cs2 = x.cpus[c]
            self._pure_memo[key] = (x.fn, x.pc, x.stk, x.loc, x.retval, x.irq, x.pre, n, x.evs[evs0:],
                                    None if cs2 is cs else cs2)
            if n == 1:  # a run of one saves nothing: from here on this instruction runs as a plain local one
                entries = code[fn0]
                ins, run, merge = entries[pc0]
                entries[pc0] = (ins, run, _PERCPU if merge == _PERCPU_PURE else _LOCAL)
        return n

    # --- description ---
    def _uses_lp_flag(self) -> bool:
        """Whether the design has the per-CPU ``tdx_lp_initialized`` flag (6.8 on; v7 has none)."""
        u = self.__dict__.get("_lp_flag_used")
        if u is None:
            u = self._lp_flag_used = any("tdx_lp_initialized" in s.source_text()
                                         for s in self.design.kernel_sources().values())
        return u

    def locks_used(self) -> frozenset:
        """The locks this design's kernel functions take (with ``cpu_hotplug_lock``, which every CPU
        hotplug operation takes): the lock table also holds what other designs declared."""
        u = self.__dict__.get("_locks_used")
        if u is None:
            names = {"cpu_hotplug_lock"}
            for kf in self.funcs.values():
                for ins in kf.body:
                    acq = ins.acquires()
                    if acq:
                        names.add(acq[0])
                    lock = getattr(ins, "lock", None)
                    if isinstance(lock, str):
                        names.add(lock)
            u = self._locks_used = frozenset(n for n in names if n in LOCK_KIND)
        return u

    def n_locks(self) -> int:
        """How many entries of the lock table a state of this design keeps: the table in declaration order
        up to the last lock the design's kernel functions use. Locks other designs declared later (the
        2026 chapters', a notebook's) are left out of its states, which makes them smaller to copy and to
        hash (and the same states, whatever else was declared)."""
        n = self.__dict__.get("_n_locks")
        if n is None:
            n = self._n_locks = 1 + max(LOCK_INDEX[name] for name in self.locks_used())
        return n

    def describe(self, st: State, last: StepInfo | None = None) -> dict:
        """A plain description for views: per CPU, the module, the locks, the contexts, the last step."""
        gates = self._cpu_gates(st)
        topo = self.topology
        cpus = []
        for c, cs in enumerate(st.cpus):
            here = [t for t in st.threads if t.cpu == c and cs.hp in IN_ONLINE_MASK]
            running = [t for t in here if self.blocked_reason(st, t, gates) is None]
            cpus.append({
                "cpu": c, "package": topo.package_of(c), "core": topo.core_of(c), "thread": topo.thread_of(c),
                "state": cs.hp, "irqs": "on" if self._irqs_on(st, c) else "off",
                "vmx": cs.vmx, "lp_init": st.module.lp_done(c),
                "tdx_lp_initialized": cs.lp_flag if self._uses_lp_flag() else None,  # None: no such flag
                "contexts": [t.name for t in here],
                "running": [t.name for t in running],
            })
        contexts = []
        for t in st.threads:
            ins = self.instr(t)
            reason = self.blocked_reason(st, t, gates)
            contexts.append({
                "name": t.name, "cpu": t.cpu, "kind": t.kind, "function": t.stack[-1].fn,
                "stack": [f.fn for f in t.stack], "next": ins.text(st, t),
                "irqs_off": bool(t.irqs_off or t.kind == HARDIRQ), "preempt_off": bool(t.preempt_off),
                "locks": st.holds(t.name), "waits": reason, "ret": errno_name(t.ret) if t.ret else "0",
            })
        locks = []
        used = self.locks_used()
        for lname, (w, rs, ww) in zip(LOCKS, st.locks):
            if lname not in used and w is None and not rs and ww is None:
                continue  # a lock another design declared: not this design's
            waiters = []
            for t in st.threads:
                acq = self.instr(t).acquires()
                if acq and acq[0] == lname and self.instr(t).blocked(self, st, t):
                    waiters.append(t.name)
            locks.append({"lock": lname, "kind": LOCK_KIND[lname], "holder": w, "readers": list(rs),
                          "waiting_writer": ww, "waiters": waiters})
        m = st.module
        return {
            "phase": st.phase,
            "cpus": cpus,
            "contexts": contexts,
            "locks": locks,
            "module": {"state": SYS_STATE_NAMES[m.sys], "num_lps": m.num_lps, "num_init_lps": m.num_init_lps,
                       "lp_init": [c for c in range(topo.ncpus) if m.lp_done(c)],
                       "pkg_keyed": [p for p in range(topo.packages) if m.pkg_done(p)],
                       "tdmr_done": m.tdmr_done},
            "kernel": st.kern._asdict(),
            "ipis": [{"cpu": c, "function": fn, "from": s} for c, fn, s in st.ipis],
            "events_left": list(st.events),
            "last": last._asdict() if last is not None else None,
        }
