"""Exhaustive breadth-first exploration of every interleaving of a scenario.

Deterministic: successors come in a fixed order (contexts by name, then IPIs, then events), states are
numbered in discovery order, so counts, counterexamples and graphs are the same run after run and across
processes. Breadth-first order makes every counterexample a shortest one. A state budget and a time
budget stop the search early; the result then says it is incomplete, and a property that was not seen
violated has no verdict.

Reductions, both sound for the properties checked here:

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
  the hotplug operation itself with everything else are all still explored. Counterexamples keep their
  length: they only fire such an event earlier.
No symmetry reduction is applied.
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

DEFAULT_MAX_STATES = 500_000
DEFAULT_MAX_SECONDS = 120.0


@dataclass
class Verdict:
    name: str
    holds: bool | None  # None: no verdict (the budget ran out before a violation was seen)
    detail: str | None = None
    path: tuple[str, ...] | None = None  # step keys of the shortest counterexample


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
    reduction: str = "persistent events"

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
                 "steps": len(v.path) if v.path is not None else None, "why": v.detail or "",
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


def minimize(sc, prop: str, path: tuple[str, ...]) -> tuple[str, ...]:
    """Drop hotplug requests that the violation does not need (a request and every step of the context it
    created), so the persistent-event reduction does not lengthen counterexamples."""
    from tdxlab.errors import TdxlabError

    changed = True
    while changed:
        changed = False
        for i, key in enumerate(path):
            if not key.startswith(("event:online:", "event:offline:")):
                continue
            kind, _, cpu = key[6:].partition("@")[0].partition(":")
            ctx = _SPAWNS[kind] + cpu
            cand = path[:i] + tuple(k for k in path[i + 1:] if k != ctx)
            try:
                steps = sc.replay(cand)
            except TdxlabError:
                continue
            if _still_violated(sc, prop, steps):
                path, changed = cand, True
                break
    return path


def explore(sc, *, max_states: int = DEFAULT_MAX_STATES, max_seconds: float = DEFAULT_MAX_SECONDS,
            progress: Callable | None = None, progress_every: int = 2000, keep_graph: bool = False,
            graph_limit: int = 2000, reduce: bool = True) -> CheckResult:
    """Explore every interleaving of scenario ``sc`` breadth-first and decide every property."""
    if not isinstance(max_states, int) or isinstance(max_states, bool) or max_states < 1:
        raise BadInput(f"state budget {max_states!r} must be a whole number of at least 1")
    if not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise BadInput(f"time budget {max_seconds!r} must be a positive number of seconds")
    m = sc.machine
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
        if acqs:
            for d in lockdep_state_findings(acqs):
                violate("lock-order", lambda: _path(parent, keys, i), d)
            for t, lock, mode, held, hardirq, irqs_off in acqs:
                for h in held:
                    if h != lock and (h, lock) not in edge_first:
                        edge_first[(h, lock)] = i
            for lock, bit in spinlock_usage(acqs, spin):
                if len(spin[lock]) > 1:
                    violate("lock-order", lambda: _path(parent, keys, i),
                            f"{lock} is taken both in IRQ context and with IRQs on: an IPI on the CPU that "
                            f"holds it spins forever (lockdep: inconsistent lock state)")
        en = m.enabled(st, gates, labels=False)
        if not en:
            terminal += 1
        if st.threads and not any(not key.startswith("event:") for key, _ in en):
            full = m._cpu_gates(st)
            waits = "; ".join(f"{t.name} {m.blocked_reason(st, t, full)}" for t in st.threads)
            violate("no-deadlock", lambda: _path(parent, keys, i), waits)
        if reduce:
            for key, label in en:
                if persistent_event(key, st):
                    en = [(key, label)]
                    break
        succ = [m._take(st, key, label) for key, label in en]
        for info, s2 in succ:
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
            if keep_graph and i < graph_limit and j < graph_limit:
                g_edges.append((i, j, info.key))
        n = len(parent)
        if progress is not None and n // progress_every != (n - len(succ)) // progress_every:
            progress(n, transitions, len(frontier), time.perf_counter() - t0)
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
    verdicts = {}
    for name in PROPERTIES:
        if name in found:
            path, detail = found[name]
            if reduce and any(k.startswith("event:") for k in path):
                path = minimize(sc, name, path)
            verdicts[name] = Verdict(name, False, detail, path)
        else:
            verdicts[name] = Verdict(name, True if complete else None)
    if progress is not None:
        progress(len(parent), transitions, len(frontier), time.perf_counter() - t0)
    graph = None
    if keep_graph:
        graph = (g_states, g_edges, len(parent) > graph_limit)
    return CheckResult(sc, len(parent), transitions, complete, time.perf_counter() - t0, stopped, verdicts,
                       {e: _path(parent, keys, k) for e, k in edge_first.items()}, spin, graph, terminal,
                       "persistent events" if reduce else "none")
