"""Exhaustive breadth-first exploration of every interleaving of a scenario.

Deterministic: successors come in a fixed order (contexts by name, then IPIs, then events), states are
numbered in discovery order, so counts, counterexamples and graphs are the same run after run and across
processes. Breadth-first order makes every counterexample a shortest one. A state budget and a time
budget stop the search early; the result then says it is incomplete, and a property that was not seen
violated has no verdict.

With ``reduce=True`` (the default; ``--no-reduce`` on the command line) the search leaves out interleavings
that cannot change a verdict: :mod:`tdxlab.check.reduce` says which and why that is sound. When a property
is violated, :mod:`tdxlab.check.shortest` makes its counterexample a shortest one again.

Locks taken inside a merged step are checked by lockdep as they are taken (``Exec.acquired``), and locks a
blocked context waits for are checked in the state where it waits.
"""
from __future__ import annotations

import gc
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from tdxlab.check.properties import (PROPERTIES, STATE_CHECKS, find_cycle, lockdep_state_findings,
                                     pending_acquisitions, spinlock_usage)
from tdxlab.check.reduce import REDUCTION, one_per_cpu, owned_choice, persistent_event, spinning_ipi
from tdxlab.check.shortest import shortest_paths
from tdxlab.errors import BadInput

DEFAULT_MAX_STATES = 500_000
DEFAULT_MAX_SECONDS = 120.0


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
    gc_was_on = gc.isenabled()
    gc.disable()  # states are acyclic tuples: the cyclic collector only rescans the growing state store
    m = sc.machine
    m.quiet = True  # the search needs no words for its steps; a counterexample is replayed with them
    try:
        return _explore(sc, max_states, max_seconds, progress, progress_every, keep_graph, graph_limit, reduce,
                        until)
    finally:
        m.quiet = False
        if gc_was_on:
            gc.enable()


def _explore(sc, max_states, max_seconds, progress, progress_every, keep_graph, graph_limit, reduce,
             until) -> CheckResult:
    m = sc.machine
    take = m._take
    t0 = time.perf_counter()
    s0 = sc.initial()
    index = {s0: 0}
    parent = [-1]
    keys = [""]
    frontier = deque([s0])  # states are numbered as found and expanded in that order: the next is number i
    i = -1
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

    checks = list(STATE_CHECKS.items())
    while frontier:
        st = frontier.popleft()
        i += 1
        en, waiting = m.scan(st)
        # state properties
        for name, fn in checks:
            if name not in found:
                d = fn(sc, st)
                if d:
                    violate(name, lambda: _path(parent, keys, i), d)
        # lockdep: what contexts are about to take
        if waiting:
            acqs = pending_acquisitions(st, waiting, pending_seen)
            if acqs:  # (the first time each is seen: a shortest path to it, as the search is breadth-first)
                lockdep(acqs, i, lambda: _path(parent, keys, i))
        if not en:
            terminal += 1
        # successors, computed once: key -> (info, state, lockdep acquisitions)
        steps: dict[str, tuple] = {}
        chosen = None
        if reduce and len(en) > 1:
            if st.events:
                for key, label in en:
                    if persistent_event(key, st):
                        chosen = [(key, label)]
                        break
            if chosen is None:
                chosen = owned_choice(m, st, en, take, steps)
        spinning = []  # IPI deliveries whose handler would only start spinning (tdxlab.check.reduce)
        if reduce and st.ipis and (chosen is None or all(k.startswith(("event:", "ipi:")) for k, _ in en)):
            offs: dict[str, set] = {}
            for key, label in en:
                if key.startswith("ipi:"):
                    info, s2 = take(st, key, label)
                    if spinning_ipi(m, st, key, info, s2, offs):
                        spinning.append(key)
                        # lockdep still sees the attempt the handler would make
                        h = pending_acquisitions(s2, [w for w in m.scan(s2)[1] if w[0][0] == info.context])
                        if h:
                            lockdep(h, i, lambda: _path(parent, keys, i) + (key,))
                    else:
                        steps[key] = (info, s2, m.last_acqs)
            if spinning:
                en = [e for e in en if e[0] not in spinning]
        # (enabled steps come as contexts, IPIs, then events: only events left, or nothing, is a deadlock)
        if st.threads and (not en or en[0][0].startswith("event:")):
            full = m._cpu_gates(st)
            waits = "; ".join(f"{t.name} {m.blocked_reason(st, t, full)}" for t in st.threads)
            # the IPIs left out would be delivered and spin: the deadlock is one step per CPU further
            violate("no-deadlock", lambda: _path(parent, keys, i) + tuple(one_per_cpu(spinning)), waits)
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
            n = len(parent)
            j = index.setdefault(s2, n)  # the state's number: n when it is new (one hash of it either way)
            if j == n:
                parent.append(i)
                keys.append(info.key)
                frontier.append(s2)
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
        if not i & 63 and time.perf_counter() - t0 > max_seconds and frontier:  # (every 64 states)
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
        unproven = shortest_paths(sc, found, len(parent), spent, max_seconds - spent)
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
