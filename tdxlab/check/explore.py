"""Exhaustive breadth-first exploration of every interleaving of a scenario.

Deterministic: successors come in a fixed order (contexts by name, then IPIs, then events; while sleep sets
are on, IPIs, then contexts by kind, then events: :func:`_sleep_rank`), states are numbered in discovery
order, so counts, counterexamples and graphs are the same run after run and across processes.
Breadth-first order makes every counterexample a shortest one. A state budget (and, only when the caller
asks for them, a time budget and a memory budget) stops the search early; the result then says
it is incomplete and why, and a property that was not seen violated has no verdict. By default nothing
depends on how fast the machine is: the search is bounded by states alone. Ctrl-C stops it too, and what
was found so far is returned (``interrupted``).

With ``reduce=True`` (the default; ``--no-reduce`` on the command line) the search leaves out interleavings
that cannot change a verdict: :mod:`tdxlab.check.reduce` says which and why that is sound. It also leaves
out transitions that lead to a state another order of the same independent steps reaches (sleep sets,
:mod:`tdxlab.check.sleep`; with the owned-CPU steps they may also skip a state one invisible step away
from a visited one). Sleep sets cost a footprint per step, which pays
only where independent steps abound (``v7-2022``'s old-rule LP.INITs): when, after the first
``SLEEP_TRIAL`` states, they have saved fewer steps than half the footprints computed, the search wakes
every sleeping step and goes on without them. That choice depends on counts only, so it is deterministic.
When a property is violated, :mod:`tdxlab.check.shortest` makes its counterexample a shortest one again.

Locks taken inside a merged step are checked by lockdep as they are taken (``Exec.acquired``), and locks a
blocked context waits for are checked in the state where it waits.
"""
from __future__ import annotations

import gc
import json
import resource
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from tdxlab.check.properties import (PROPERTIES, STATE_CHECKS, applicable, find_cycle, lockdep_state_findings,
                                     pending_acquisitions, spinlock_usage, why_not)
from tdxlab.check.reduce import REDUCTION, one_per_cpu, owned_choice, persistent_event, spinning_ipi
from tdxlab.check.shortest import shortest_paths
from tdxlab.check.sleep import Footprints
from tdxlab.errors import BadInput
from tdxlab.inputs import cut
from tdxlab.kernel.state import HARDIRQ, HOTPLUG, TASK

DEFAULT_MAX_STATES = 500_000
#: No time budget unless one is asked for: a result must not depend on the machine's speed.
DEFAULT_MAX_SECONDS = None
#: The memory guard: the search stops (incomplete) once the process's peak resident size passes this.
DEFAULT_MAX_MEMORY_MIB = 8192
# Sleep sets are kept only where they pay: after this many states, when they have saved fewer steps than
# half the footprints computed, the search stops computing footprints (tdxlab.check.sleep).
SLEEP_TRIAL = 1024


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
    interrupted: bool = False  # stopped by Ctrl-C: what was found so far
    executed: frozenset | None = None  # the instructions that ran (tdxlab.check.coverage)
    # the properties of other chapters (tdxlab.check.properties.applies): neither decided nor in verdicts
    not_applicable: tuple[str, ...] = ()

    def unreached(self) -> list:
        """The design's statements that no explored path executed (tdxlab.check.coverage)."""
        from tdxlab.check.coverage import unreached
        return unreached(self)

    def vacuous(self) -> str | None:
        """Why the check says nothing about its mutations or patch, when what they change never ran."""
        from tdxlab.check.coverage import vacuous
        return vacuous(self)

    def budget_note(self) -> str | None:
        """Why the search is incomplete (or a counterexample not proven shortest), in words; None when
        neither."""
        if not self.complete:
            return self.stopped
        unproven = [n for n, v in self.verdicts.items() if v.holds is False and not v.shortest]
        if unproven:
            return (f"the counterexample{'s' if len(unproven) > 1 else ''} of {', '.join(unproven)} "
                    f"{'are' if len(unproven) > 1 else 'is'} not proven shortest: the exact search ran out of "
                    f"its budget")
        return None

    @property
    def violated(self) -> list[str]:
        return [n for n, v in self.verdicts.items() if v.holds is False]

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        if self.violated:
            return 1
        if not self.complete:
            return 3
        return 0

    def counterexample(self, prop: str):
        """The shortest counterexample of ``prop`` replayed in the stepping API: [(StepInfo, State)]."""
        from tdxlab.check.properties import check_property

        check_property(prop)
        if prop not in self.verdicts:
            from tdxlab.errors import NotApplicable
            raise NotApplicable(why_not(prop, self.scenario.design))
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
                "complete": self.complete, "seconds": round(self.seconds, 3), "properties": props,
                "not_applicable": list(self.not_applicable),
                "unreached": [u.to_json_obj() for u in self.unreached()], "vacuous": self.vacuous()}

    def to_json(self) -> str:
        return json.dumps(self.to_json_obj(), indent=2, sort_keys=False)

    def summary_rows(self) -> list[dict]:
        return [{"property": n, "verdict": "holds" if v.holds else ("VIOLATED" if v.holds is False else
                                                                    "unknown"),
                 "steps": len(v.path) if v.path is not None else None, "shortest": v.shortest,
                 "why": v.detail or "",
                 "fact": PROPERTIES[n].fact} for n, v in self.verdicts.items()]


def _reduction(reduce: bool, sleep_sets: bool, kept: bool) -> str:
    """The reductions a search used, in words (``kept``: the sleep sets were kept to the end)."""
    if not reduce:
        return "none"
    if not sleep_sets:
        return REDUCTION
    return REDUCTION + (", sleep sets" if kept else f", sleep sets (first {SLEEP_TRIAL} states only)")


def _sleep_rank(rank: dict, st, key: str) -> int:
    """Where step ``key`` comes in the order a state's steps are taken in while sleep sets are on (the
    order is sound whatever it is: it only decides which of the equivalent interleavings they keep, see
    :mod:`tdxlab.check.sleep`): IPI deliveries (1), then tasks (2), IPI handlers (3), hotplug threads (4),
    then events (5), each group in the order :meth:`Machine.scan` gives. Remembered in ``rank``: a context's
    name fixes its kind."""
    if key.startswith("ipi:"):
        r = 1
    elif key.startswith("event:"):
        r = 5
    else:
        r = _KIND_RANK.get(st.thread(key)[2], 2)
    rank[key] = r
    return r


_KIND_RANK = {TASK: 2, HARDIRQ: 3, HOTPLUG: 4}


class _Wake:
    """A frontier entry: explore the steps ``keys`` of the expanded state number ``at`` after all (they
    were asleep when it was expanded, and a later way into it has them awake)."""

    __slots__ = ("at", "state", "keys")

    def __init__(self, at: int, state, keys: frozenset):
        self.at, self.state, self.keys = at, state, keys


def _path(parent: list[int], keys: list[str], i: int) -> tuple[str, ...]:
    out = []
    while i > 0:
        out.append(keys[i])
        i = parent[i]
    return tuple(reversed(out))


def explore(sc, *, max_states: int = DEFAULT_MAX_STATES, max_seconds: float | None = DEFAULT_MAX_SECONDS,
            progress: Callable | None = None, progress_every: int = 2000, keep_graph: bool = False,
            graph_limit: int = 2000, reduce: bool = True, until: frozenset | None = None,
            sleep_sets: bool = True, phase: Callable[[str], None] | None = None,
            max_memory_mib: int = DEFAULT_MAX_MEMORY_MIB) -> CheckResult:
    """Explore every interleaving of scenario ``sc`` breadth-first and decide every property that applies
    to its design (:func:`tdxlab.check.properties.applicable`; the others are in ``not_applicable``).

    ``until``: stop as soon as every property named there is seen violated (used to find the exact
    shortest counterexamples without the reductions). ``sleep_sets=False`` leaves out the sleep sets
    alone (:mod:`tdxlab.check.sleep`; for the tests that compare the two).

    ``progress(states, transitions, to visit, seconds)`` is called every ``progress_every`` new states and
    once at the end. ``phase(text)``, when given, hears what follows the exploration proper: the search
    for exact shortest counterexamples (:mod:`tdxlab.check.shortest`), a line now and then while it runs,
    so that a progress display does not sit still for those seconds.

    ``sc`` may be a Scenario or the name of one (``explore("kvm-lock-inversion")``). ``max_states`` bounds
    every phase, the search for shortest counterexamples too; ``max_seconds`` (default: none) and
    ``max_memory_mib`` (the process's peak resident size) stop it early as well, saying so."""
    from tdxlab.scenario import get_scenario

    sc = get_scenario(sc)
    if not isinstance(max_states, int) or isinstance(max_states, bool) or max_states < 1:
        raise BadInput(f"state budget {cut(max_states)} must be a whole number of at least 1")
    if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and not isinstance(max_seconds, bool)
                                        and 0 < max_seconds < float("inf")):
        raise BadInput(f"time budget {cut(max_seconds)} must be a positive number of seconds")
    if not isinstance(max_memory_mib, int) or isinstance(max_memory_mib, bool) or max_memory_mib < 64:
        raise BadInput(f"memory budget {cut(max_memory_mib)} must be a whole number of MiB, at least 64")
    if progress is not None and not callable(progress) or phase is not None and not callable(phase):
        raise BadInput("progress and phase must be functions (or None)")
    gc_was_on = gc.isenabled()
    gc.disable()  # states are acyclic tuples: the cyclic collector only rescans the growing state store
    m = sc.machine
    m.quiet = True  # the search needs no words for its steps; a counterexample is replayed with them
    m.start_coverage()
    try:
        res = _explore(sc, max_states, max_seconds, progress, progress_every, keep_graph, graph_limit, reduce,
                       until, sleep_sets, phase, max_memory_mib)
        res.executed = m.stop_coverage()
        return res
    finally:
        m.quiet = False
        m.stop_coverage()
        if gc_was_on:
            gc.enable()


def _peak_mib() -> float:
    """The process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _explore(sc, max_states, max_seconds, progress, progress_every, keep_graph, graph_limit, reduce,
             until, sleep_sets, phase, max_memory_mib) -> CheckResult:
    m = sc.machine
    take = m._take
    t0 = time.perf_counter()
    s0 = sc.initial()
    index = {s0: 0}
    parent = [-1]
    keys = [""]
    # States are numbered as found and expanded in that order: the next state in the frontier is number
    # i + 1. A _Wake entry asks for steps of an expanded state that were asleep there (tdxlab.check.sleep).
    frontier = deque([s0])
    i = -1
    transitions = 0
    terminal = 0
    found: dict[str, tuple] = {}  # property -> (path, detail)
    edge_first: dict[tuple[str, str], int] = {}
    spin: dict = {}
    g_states = [s0] if keep_graph else None
    g_edges: list = []
    stopped = None

    # only the properties of the design's chapters are decided (tdxlab.check.properties.applicable)
    props = applicable(sc.design)
    live = set(props)

    def violate(name, path_fn, detail):
        if name not in found and name in live:
            found[name] = (path_fn(), detail)

    # sleep sets (tdxlab.check.sleep): not when the graph is kept for drawing, which shows every transition
    footprint = Footprints(m).of if reduce and sleep_sets and not keep_graph else None
    sleep: dict[int, tuple] = {}  # state number -> its sleeping steps ((key, (reads, writes)), ...)
    rank: dict[str, int] = {}  # step key -> its place in the order steps are taken in with sleep sets
    wake: dict[int, tuple] = {}  # expanded state number -> (the state, the steps still asleep there)
    footprints = pruned = 0  # footprints computed, steps not taken because they were asleep
    seen_acqs: set = set()
    pending_seen: dict = {}  # lock state -> acquisitions lockdep has checked in it

    def lockdep(acqs, at: int, path_fn) -> None:
        """lockdep's checks on acquisitions, pending in state ``at`` or taken on the way into it."""
        acqs = [a for a in acqs if a not in seen_acqs]
        if not acqs:
            return
        seen_acqs.update(acqs)
        for d in lockdep_state_findings(acqs):
            violate("lock-order", path_fn, d)
        for name, lock, mode, held, hardirq, irqs_off in acqs:
            for h in held:
                if h != lock and (h, lock) not in edge_first:
                    edge_first[(h, lock)] = at
        for lock, bit in spinlock_usage(acqs, spin):
            if len(spin[lock]) > 1:
                violate("lock-order", path_fn,
                        f"{lock} is taken both in IRQ context and with IRQs on: an IPI on the CPU that "
                        f"holds it spins forever (lockdep: inconsistent lock state)")

    checks = [(n, f) for n, f in STATE_CHECKS.items() if n in live]  # other chapters' are not evaluated
    interrupted = False
    try:
        while frontier:
            st = frontier.popleft()
            if type(st) is _Wake:  # steps that were asleep when state `at` was expanded, to explore after all
                at, st, only = st.at, st.state, st.keys
            else:
                i += 1
                at, only = i, None
            first_visit = only is None
            en, waiting = m.scan(st)
            if first_visit:
                # state properties
                for name, fn in checks:
                    if name not in found:
                        d = fn(sc, st)
                        if d:
                            violate(name, lambda: _path(parent, keys, at), d)
                # lockdep: what contexts are about to take
                if waiting:
                    acqs = pending_acquisitions(st, waiting, pending_seen)
                    if acqs:  # (the first time each is seen: a shortest path to it, as the search is breadth-first)
                        lockdep(acqs, at, lambda: _path(parent, keys, at))
                if not en:
                    terminal += 1
            # successors, computed once: key -> (info, state, lockdep acquisitions, Exec, non-local instruction)
            steps: dict[str, tuple] = {}
            asleep = sleep.pop(at, ()) if first_visit and sleep else ()
            zk = {u[0] for u in asleep} if asleep else ()  # their keys
            chosen = None
            if reduce and len(en) > 1:
                if st.events:
                    for key, label in en:
                        if persistent_event(key, st):
                            chosen = [(key, label)]
                            break
                if chosen is None:
                    chosen = owned_choice(m, st, en, take, steps, zk)
            spinning = []  # IPI deliveries whose handler would only start spinning (tdxlab.check.reduce)
            # (tried when no step was chosen, or an event was and only IPIs and events are enabled: enabled
            # steps come as contexts, IPIs, then events, and a chosen context step is one of them)
            if reduce and st.ipis and (chosen is None or (chosen[0][0].startswith("event:")
                                                          and en[0][0].startswith(("event:", "ipi:")))):
                offs: dict[str, set] = {}
                # A sleeping IPI is not explored here. It was explored, not left out as spinning, where it was
                # put to sleep, and nothing it reads has changed since: it is not tried again (it still counts
                # as an enabled step for the deadlock check; lockdep saw its attempt where it was explored).
                for key, label in en:
                    if key.startswith("ipi:") and key not in zk:
                        info, s2 = take(st, key, label)
                        if spinning_ipi(m, st, key, info, s2, offs):
                            spinning.append(key)
                            # lockdep still sees the attempt the handler would make
                            h = pending_acquisitions(s2, [w for w in m.scan(s2)[1] if w[0][0] == info.context])
                            if h:
                                lockdep(h, at, lambda: _path(parent, keys, at) + (key,))
                        else:
                            steps[key] = (info, s2, m.last_acqs, m.last_x, m.last_main)
                if spinning:
                    en = [e for e in en if e[0] not in spinning]
            # (enabled steps come as contexts, IPIs, then events: only events left, or nothing, is a deadlock)
            if first_visit and st.threads and (not en or en[0][0].startswith("event:")):
                full = m._cpu_gates(st)
                waits = "; ".join(f"{t.name} {m.blocked_reason(st, t, full)}" for t in st.threads)
                # the IPIs left out would be delivered and spin: the deadlock is one step per CPU further
                violate("no-deadlock", lambda: _path(parent, keys, at) + tuple(one_per_cpu(spinning)), waits)
            todo = chosen or en
            if only is not None:
                todo = [e for e in todo if e[0] in only]
            elif asleep:
                n_todo = len(todo)
                todo = [e for e in todo if e[0] not in zk]
                pruned += n_todo - len(todo)
            # footprints are needed when a child may get a sleeping step: one taken before it here, or asleep
            need_fp = footprint is not None and first_visit and (asleep or len(todo) > 1)
            if need_fp and len(todo) > 1:
                todo = sorted(todo, key=lambda e: rank.get(e[0]) or _sleep_rank(rank, st, e[0]))
            earlier = list(asleep) if need_fp else None  # (key, footprint): what a child may keep asleep
            n_before = len(parent)
            over = False
            for key, label in todo:
                r = steps.get(key)
                if r is None:
                    info, s2 = take(st, key, label)
                    step_acqs = m.last_acqs
                    if need_fp:
                        footprints += 1
                        fp = footprint(st, m.last_x, m.last_main)
                else:
                    info, s2, step_acqs, x, main = r
                    if need_fp:
                        footprints += 1
                        fp = footprint(st, x, main)
                transitions += 1
                for kind, detail in info.events:
                    if kind not in found and kind in live:
                        violate(kind, lambda: _path(parent, keys, at) + (info.key,), detail)
                child = ()
                if need_fp:
                    if earlier:
                        rd, wr = fp
                        child = tuple([u for u in earlier if not (u[1][1] & rd) and not (wr & u[1][0])])
                    earlier.append((key, fp))
                n = len(parent)
                if n >= max_states and s2 not in index:  # a new state past the budget: stop here
                    over = True
                    break
                j = index.setdefault(s2, n)  # the state's number: n when it is new (one hash of it either way)
                if j == n:
                    parent.append(at)
                    keys.append(info.key)
                    frontier.append(s2)
                    if child:
                        sleep[j] = child
                    if keep_graph and j < graph_limit:
                        g_states.append(s2)
                elif sleep or wake:
                    old = sleep.get(j) if j > i else wake.get(j, (None, ()))[1]
                    if old:  # reached again: only the steps asleep on every way in may stay asleep
                        ck = {u[0] for u in child}
                        kept = tuple([u for u in old if u[0] in ck])
                        if j > i:  # not expanded yet: it will be, with fewer steps asleep
                            if kept:
                                sleep[j] = kept
                            else:
                                del sleep[j]
                        elif len(kept) < len(old):  # expanded with them asleep: explore them now
                            frontier.append(_Wake(j, s2, frozenset(u[0] for u in old if u[0] not in ck)))
                            if kept:
                                wake[j] = (s2, kept)
                            else:
                                del wake[j]
                if step_acqs and not seen_acqs.issuperset(step_acqs):
                    lockdep(step_acqs, j, lambda: _path(parent, keys, at) + (info.key,))
                if keep_graph and at < graph_limit and j < graph_limit:
                    g_edges.append((at, j, info.key))
            if first_visit and asleep:
                wake[at] = (st, asleep)  # the steps left asleep here, in case a later way in has them awake
            if i == SLEEP_TRIAL and footprint is not None and first_visit and pruned * 2 < footprints:
                # sleep sets do not pay here: wake every sleeping step and go on without them
                footprint = None
                sleep.clear()
                frontier.extend(_Wake(k, s_k, frozenset(u[0] for u in asl)) for k, (s_k, asl) in wake.items())
                wake.clear()
            n = len(parent)
            if progress is not None and n // progress_every != n_before // progress_every:
                progress(n, transitions, len(frontier), time.perf_counter() - t0)
            if until is not None and until <= found.keys():
                stopped = "every property asked for was seen violated"
                break
            if over or n >= max_states and frontier:
                stopped = f"state budget of {max_states:,} states reached"
                break
            if not i & 63 and frontier:  # (every 64 states)
                if max_seconds is not None and time.perf_counter() - t0 > max_seconds:
                    stopped = f"time budget of {max_seconds:g} s reached"
                    break
                if not i & 4095 and _peak_mib() > max_memory_mib:
                    stopped = f"memory budget of {max_memory_mib:,} MiB reached (at {len(parent):,} states)"
                    break
    except KeyboardInterrupt:  # Ctrl-C: keep what was found so far
        stopped, interrupted = "interrupted (Ctrl-C)", True
    complete = stopped is None
    # lock-order: a cycle in the aggregated graph
    cyc = find_cycle(edge_first)
    if cyc and "lock-order" not in found and "lock-order" in live:
        pairs = list(zip(cyc, cyc[1:]))
        last = max(pairs, key=lambda e: edge_first[e])
        found["lock-order"] = (_path(parent, keys, edge_first[last]),
                               "lock order cycle " + " -> ".join(cyc) + " (each edge: taken while holding "
                               "the previous one, on some explored path)")
    spent = time.perf_counter() - t0
    unproven = set()
    if reduce and until is None and not interrupted:
        left = None if max_seconds is None else max_seconds - spent
        try:
            unproven = shortest_paths(sc, found, len(parent), max_states, left, phase)
        except KeyboardInterrupt:  # the reduced paths are kept, not proven shortest
            interrupted, stopped = True, "interrupted (Ctrl-C) while looking for shortest counterexamples"
            complete = False
            unproven = {n for n in found if n != "lock-order"}
    verdicts = {}
    for name in props:
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
                       _reduction(reduce, sleep_sets and not keep_graph, footprint is not None), spent,
                       interrupted, not_applicable=tuple(n for n in PROPERTIES if n not in live))
