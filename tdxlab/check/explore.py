"""Exhaustive breadth-first exploration of every interleaving of a scenario.

Deterministic: successors come in a fixed order (contexts by name, then IPIs, then events), states are
numbered in discovery order, so counts, counterexamples and graphs are the same run after run and across
processes. Breadth-first order makes every counterexample a shortest one. A state budget and a time
budget stop the search early; the result then says it is incomplete, and a property that was not seen
violated has no verdict.

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
  self-deadlock of §2.2 is still found). lockdep still checks the attempt the handler would make, and a
  deadlock found with such IPIs left out is reported with them delivered.

Locks taken inside a merged step are checked by lockdep as they are taken (``Exec.acquired``), and locks a
blocked context waits for are checked in the state where it waits.

The reductions keep every verdict, but a path through the reduced graph can be longer than the shortest
one. So, when a property is violated, a search without reductions that stops once it has seen every
violated property finds the exact shortest counterexamples (within its own budget; beyond it, the reduced
path is shortened by dropping the steps the violation does not need).
No symmetry reduction is applied: the kernel's own orders (``cpuhp_setup_state()`` visits CPUs in
ascending order, ``config_global_keyid()`` takes the first online CPU of a package) make CPUs of a package
distinguishable, so interchanging them is not sound here.
"""
from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from tdxlab.check.properties import (PROPERTIES, STATE_CHECKS, find_cycle, lockdep_state_findings,
                                     pending_acquisitions, spinlock_usage)
from tdxlab.errors import BadInput
from tdxlab.kernel.lang import (Call, Lock, OnEachCpu, OnEachCpuLocalDone, OnEachCpuWait, Unlock, WaitChild,
                                WriteLockAcquire, WriteLockAnnounce, WriteUnlock)
from tdxlab.kernel.ops import Seamcall
from tdxlab.kernel.state import HARDIRQ, LOCK_INDEX
from tdxlab.module import LP_INIT, SYS_READY, SYSINIT_DONE
from tdxlab.platform import IN_ONLINE_MASK

DEFAULT_MAX_STATES = 500_000
DEFAULT_MAX_SECONDS = 120.0
REDUCTION = "persistent events, owned-CPU steps, spinning IPIs"


@dataclass
class Verdict:
    name: str
    holds: bool | None  # None: no verdict (the budget ran out before a violation was seen)
    detail: str | None = None
    path: tuple[str, ...] | None = None  # step keys of the shortest counterexample
    shortest: bool = True  # False: a reduced path, shortened, but the exact search ran out of budget


@dataclass
class CheckResult:
    scenario: object
    states: int
    transitions: int
    complete: bool
    seconds: float
    stopped: str | None
    verdicts: dict[str, Verdict]
    lock_edges: dict = field(default_factory=dict)  # (a, b) -> path to the state where first seen
    spin_usage: dict = field(default_factory=dict)
    graph: tuple | None = None  # (states list, edges [(src, dst, key)], truncated) when kept
    terminal_states: int = 0
    reduction: str = REDUCTION
    search_seconds: float | None = None  # the exploration alone, without the shortest-path search

    @property
    def violated(self) -> list[str]:
        return [n for n, v in self.verdicts.items() if v.holds is False]

    @property
    def exit_code(self) -> int:
        if self.violated:
            return 1
        if not self.complete:
            return 3
        return 0

    def counterexample(self, prop: str):
        """The shortest counterexample of ``prop`` replayed in the stepping API: [(StepInfo, State)]."""
        from tdxlab.check.properties import check_property

        check_property(prop)
        v = self.verdicts[prop]
        if v.path is None:
            return None
        return self.scenario.replay(v.path)

    def to_json_obj(self) -> dict:
        sc = self.scenario
        props = {}
        for n, v in self.verdicts.items():
            ce = None
            if v.holds is False and v.path is not None:
                ce = [{"step": i + 1, "cpu": info.cpu, "context": info.context, "function": info.function,
                       "action": info.action, "result": info.result}
                      for i, (info, _) in enumerate(sc.replay(v.path)[1:])]
            props[n] = {"holds": v.holds, "counterexample": ce}
            if v.detail:
                props[n]["detail"] = v.detail
        return {"design": sc.design_name, "rule": sc.rule, "topology": str(sc.topology),
                "mutations": list(sc.mutations), "states": self.states, "transitions": self.transitions,
                "complete": self.complete, "seconds": round(self.seconds, 3), "properties": props}

    def to_json(self) -> str:
        return json.dumps(self.to_json_obj(), indent=2, sort_keys=False)

    def summary_rows(self) -> list[dict]:
        return [{"property": n, "verdict": "holds" if v.holds else ("VIOLATED" if v.holds is False else
                                                                    "unknown"),
                 "steps": len(v.path) if v.path is not None else None, "shortest": v.shortest,
                 "why": v.detail or "",
                 "fact": PROPERTIES[n].fact} for n, v in self.verdicts.items()]


def _path(parent: list[int], keys: list[str], i: int) -> tuple[str, ...]:
    out = []
    while i > 0:
        out.append(keys[i])
        i = parent[i]
    return tuple(reversed(out))


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


_SPAWNS = {"online": "cpu_up/", "offline": "cpu_down/"}


def _still_violated(sc, prop, steps) -> bool:
    info, final = steps[-1]
    kind = PROPERTIES[prop].kind
    if prop == "no-deadlock":
        return bool(final.threads) and not [k for k, _ in sc.enabled(final) if not k.startswith("event:")]
    if kind == "state":
        return bool(STATE_CHECKS[prop](sc, final))
    if kind == "transition":
        return info is not None and prop in [k for k, _ in info.events]
    return False  # lock-order paths are not shortened


def _shorten(sc, prop: str, path: tuple[str, ...], candidates) -> tuple[str, ...]:
    """Take the first of ``candidates(path)`` that replays and still violates ``prop``, until none does."""
    from tdxlab.errors import TdxlabError

    changed = True
    while changed:
        changed = False
        for cand in candidates(path):
            try:
                steps = sc.replay(cand)
            except TdxlabError:
                continue
            if _still_violated(sc, prop, steps):
                path, changed = cand, True
                break
    return path


def _without_a_request(path):
    """Each hotplug request left out, with every step of the context it created."""
    for i, key in enumerate(path):
        if key.startswith(("event:online:", "event:offline:")):
            kind, _, cpu = key[6:].partition("@")[0].partition(":")
            ctx = _SPAWNS[kind] + cpu
            yield path[:i] + tuple(k for k in path[i + 1:] if k != ctx)


def _context_of(key: str) -> str:
    return "IPI/" + key.split(":")[1] if key.startswith("ipi:") else key


def _without_a_last_step(path):
    """Each context's last step left out (an owned-CPU step the reduction took early, for instance)."""
    for i in range(len(path) - 2, -1, -1):
        ctx = _context_of(path[i])
        if not path[i].startswith("event:") and not any(_context_of(k) == ctx for k in path[i + 1:]):
            yield path[:i] + path[i + 1:]


def minimize(sc, prop: str, path: tuple[str, ...]) -> tuple[str, ...]:
    """Drop the hotplug requests, then the contexts' last steps, that the violation does not need, where
    the exact search below ran out of budget (lock-order paths are kept as they are)."""
    if prop == "lock-order":
        return path
    return _shorten(sc, prop, _shorten(sc, prop, path, _without_a_request), _without_a_last_step)


def explore(sc, *, max_states: int = DEFAULT_MAX_STATES, max_seconds: float = DEFAULT_MAX_SECONDS,
            progress: Callable | None = None, progress_every: int = 2000, keep_graph: bool = False,
            graph_limit: int = 2000, reduce: bool = True, until: frozenset | None = None) -> CheckResult:
    """Explore every interleaving of scenario ``sc`` breadth-first and decide every property.

    ``until``: stop as soon as every property named there is seen violated (used to find the exact
    shortest counterexamples without the reductions)."""
    if not isinstance(max_states, int) or isinstance(max_states, bool) or max_states < 1:
        raise BadInput(f"state budget {max_states!r} must be a whole number of at least 1")
    if not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise BadInput(f"time budget {max_seconds!r} must be a positive number of seconds")
    m = sc.machine
    take = m._take
    t0 = time.perf_counter()
    s0 = sc.initial()
    index = {s0: 0}
    parent = [-1]
    keys = [""]
    frontier = deque([(0, s0)])
    transitions = 0
    terminal = 0
    found: dict[str, tuple] = {}  # property -> (path, detail)
    edge_first: dict[tuple[str, str], int] = {}
    spin: dict = {}
    g_states = [s0] if keep_graph else None
    g_edges: list = []
    stopped = None

    def violate(name, path_fn, detail):
        if name not in found:
            found[name] = (path_fn(), detail)

    seen_acqs: set = set()

    def lockdep(acqs, at: int, path_fn) -> None:
        """lockdep's checks on acquisitions, pending in state ``at`` or taken on the way into it."""
        acqs = [a for a in acqs if (a[0][0],) + a[1:] not in seen_acqs]
        if not acqs:
            return
        seen_acqs.update((a[0][0],) + a[1:] for a in acqs)
        for d in lockdep_state_findings(acqs):
            violate("lock-order", path_fn, d)
        for t, lock, mode, held, hardirq, irqs_off in acqs:
            for h in held:
                if h != lock and (h, lock) not in edge_first:
                    edge_first[(h, lock)] = at
        for lock, bit in spinlock_usage(acqs, spin):
            if len(spin[lock]) > 1:
                violate("lock-order", path_fn,
                        f"{lock} is taken both in IRQ context and with IRQs on: an IPI on the CPU that "
                        f"holds it spins forever (lockdep: inconsistent lock state)")

    while frontier:
        i, st = frontier.popleft()
        gates = m._cpu_gates(st, explain=False)
        # state properties
        for name, fn in STATE_CHECKS.items():
            if name not in found:
                d = fn(sc, st)
                if d:
                    violate(name, lambda: _path(parent, keys, i), d)
        # lockdep: what contexts are about to take
        acqs = pending_acquisitions(sc, st, gates)
        if acqs:  # (the first time each is seen: a shortest path to it, as the search is breadth-first)
            lockdep(acqs, i, lambda: _path(parent, keys, i))
        en = m.enabled(st, gates, labels=False)
        if not en:
            terminal += 1
        # successors, computed once: key -> (info, state, lockdep acquisitions)
        steps: dict[str, tuple] = {}
        chosen = None
        if reduce and len(en) > 1:
            for key, label in en:
                if persistent_event(key, st):
                    chosen = [(key, label)]
                    break
            else:
                enabled_keys = {key for key, _ in en}
                for t in st.threads:
                    if (t[2] == HARDIRQ or t[5]) and t[0] in enabled_keys and st.cpus[t[1]].hp in IN_ONLINE_MASK:
                        info, s2 = take(st, t[0], "")
                        steps[t[0]] = (info, s2, m.last_acqs)
                        if owned_step(m, st, t, m.last_main, s2):
                            chosen = [(t[0], "")]
                            break
        spinning = []  # IPI deliveries whose handler would only start spinning (see module docstring)
        if reduce and st.ipis and (chosen is None or all(k.startswith(("event:", "ipi:")) for k, _ in en)):
            offs: dict[str, set] = {}
            for key, label in en:
                if key.startswith("ipi:"):
                    info, s2 = take(st, key, label)
                    c = info.cpu
                    if m.last_main is None and s2.thread(info.context) is not None:
                        here = [t[0] for t in st.threads if t[1] == c]
                        if here:
                            sender = key.split(":", 2)[2]
                            if sender not in offs:
                                offs[sender] = held_off(m, st, sender)
                        if all(n in offs[sender] for n in here):
                            spinning.append(key)
                            # lockdep still sees the attempt the handler would make
                            h = [a for a in pending_acquisitions(sc, s2, m._cpu_gates(s2, explain=False))
                                 if a[0][0] == info.context]
                            if h:
                                lockdep(h, i, lambda: _path(parent, keys, i) + (key,))
                            continue
                    steps[key] = (info, s2, m.last_acqs)
            if spinning:
                en = [e for e in en if e[0] not in spinning]
        if st.threads and not any(not key.startswith("event:") for key, _ in en):
            full = m._cpu_gates(st)
            waits = "; ".join(f"{t.name} {m.blocked_reason(st, t, full)}" for t in st.threads)
            # the IPIs left out would be delivered and spin: the deadlock is one step per CPU further
            violate("no-deadlock", lambda: _path(parent, keys, i) + tuple(_one_per_cpu(spinning)), waits)
        n_before = len(parent)
        for key, label in chosen or en:
            r = steps.get(key)
            if r is None:
                info, s2 = take(st, key, label)
                step_acqs = m.last_acqs
            else:
                info, s2, step_acqs = r
            transitions += 1
            for kind, detail in info.events:
                if kind not in found:
                    violate(kind, lambda: _path(parent, keys, i) + (info.key,), detail)
            j = index.get(s2)
            if j is None:
                j = len(parent)
                index[s2] = j
                parent.append(i)
                keys.append(info.key)
                frontier.append((j, s2))
                if keep_graph and j < graph_limit:
                    g_states.append(s2)
            if step_acqs:
                lockdep(step_acqs, j, lambda: _path(parent, keys, i) + (info.key,))
            if keep_graph and i < graph_limit and j < graph_limit:
                g_edges.append((i, j, info.key))
        n = len(parent)
        if progress is not None and n // progress_every != n_before // progress_every:
            progress(n, transitions, len(frontier), time.perf_counter() - t0)
        if until is not None and until <= found.keys():
            stopped = "every property asked for was seen violated"
            break
        if n >= max_states and frontier:
            stopped = f"state budget of {max_states} states reached"
            break
        if time.perf_counter() - t0 > max_seconds and frontier:
            stopped = f"time budget of {max_seconds:g} s reached"
            break
    complete = stopped is None
    # lock-order: a cycle in the aggregated graph
    cyc = find_cycle(edge_first)
    if cyc and "lock-order" not in found:
        pairs = list(zip(cyc, cyc[1:]))
        last = max(pairs, key=lambda e: edge_first[e])
        found["lock-order"] = (_path(parent, keys, edge_first[last]),
                               "lock order cycle " + " -> ".join(cyc) + " (each edge: taken while holding "
                               "the previous one, on some explored path)")
    spent = time.perf_counter() - t0
    if reduce and until is None:
        unproven = _shortest_paths(sc, found, len(parent), spent, max_seconds - spent)
    else:
        unproven = set()
    verdicts = {}
    for name in PROPERTIES:
        if name in found:
            path, detail = found[name]
            verdicts[name] = Verdict(name, False, detail, path, name not in unproven)
        else:
            verdicts[name] = Verdict(name, True if complete else None)
    if progress is not None:
        progress(len(parent), transitions, len(frontier), time.perf_counter() - t0)
    graph = None
    if keep_graph:
        graph = (g_states, g_edges, len(parent) > graph_limit)
    return CheckResult(sc, len(parent), transitions, complete, time.perf_counter() - t0, stopped, verdicts,
                       {e: _path(parent, keys, k) for e, k in edge_first.items()}, spin, graph, terminal,
                       REDUCTION if reduce else "none", spent)


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


def _one_per_cpu(ipi_keys) -> list[str]:
    seen, out = set(), []
    for k in ipi_keys:
        c = k.split(":")[1]
        if c not in seen:
            seen.add(c)
            out.append(k)
    return out


EXACT_MAX_STATES = 100_000
EXACT_MAX_SECONDS = 10.0
EXACT_MIN_SECONDS = 5.0


def _shortest_paths(sc, found: dict, states: int, seconds: float, seconds_left: float) -> set[str]:
    """Make the counterexamples of a reduced search shortest ones. The reductions keep every verdict but
    may lengthen a path (taking a hotplug request or an owned-CPU step early, leaving out an IPI that
    would only spin). A breadth-first search without reductions, stopped as soon as it has seen every
    violated property, gives the exact shortest paths. Its budget: EXACT_MIN_SECONDS or a quarter of the
    reduced search's own time, whichever is more (at most EXACT_MAX_SECONDS and EXACT_MAX_STATES
    states). Where that runs out (on the largest topologies) the reduced path is shortened by dropping
    the steps the violation does not need (:func:`minimize`), and its verdict says it is not proven
    shortest. On every manifest scenario minimizing alone gives the shortest paths too (tested).
    Returns the properties whose paths are not proven shortest."""
    want = frozenset(n for n in found if n != "lock-order")
    if not want:
        return set()
    exact = {}
    budget = min(EXACT_MAX_SECONDS, max(EXACT_MIN_SECONDS, seconds / 4), seconds_left)
    if budget > 0.1:
        r = explore(sc, reduce=False, until=want, max_seconds=budget,
                    max_states=min(EXACT_MAX_STATES, max(20_000, 10 * states)))
        exact = {n: (v.path, v.detail) for n, v in r.verdicts.items() if n in want and v.holds is False}
    for name in want:
        if name in exact:
            found[name] = exact[name]
            continue
        path, detail = found[name]
        found[name] = (minimize(sc, name, path), detail)
    return set(want) - set(exact)
