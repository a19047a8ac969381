"""Lockdep's view of a scenario: which lock was taken while holding which (k-kvm-locking-rst).

Nodes are the model's locks with their kinds (cpu_hotplug_lock is a percpu-rwsem, the KVM and TDX locks
are mutexes, sysinit_lock a raw spinlock); an edge A -> B means some explored path took B while holding A
(``CheckResult.lock_edges``, gathered the way lockdep does: at acquisition, over every path). A cycle is a
possible deadlock and is drawn bold red.
"""
from __future__ import annotations

from tdxlab.check.properties import find_cycle
from tdxlab.errors import BadInput
from tdxlab.kernel.state import LOCK_KIND, LOCKS
from tdxlab.views._dot import RED, caption, esc, lines, new_graph

KIND_STYLE = {"percpu-rwsem": ("#e6e0f5", "ellipse"), "mutex": ("#dbe9f6", "box"),
              "raw-spinlock": ("#fde3c8", "octagon")}


def _edges_of(result_or_edges) -> tuple[dict, str]:
    le = getattr(result_or_edges, "lock_edges", None)
    if le is not None:
        sc = getattr(result_or_edges, "scenario", None)
        return dict(le), (sc.title() if hasattr(sc, "title") else "")
    if isinstance(result_or_edges, dict):
        return dict(result_or_edges), ""
    try:
        pairs = [tuple(e) for e in result_or_edges]
    except TypeError:
        raise BadInput("lock_graph needs a check result or lock edges {(held, taken): ...}") from None
    if not all(len(p) == 2 for p in pairs):
        raise BadInput("lock edges must be pairs (held lock, lock taken while holding it)")
    return {p: None for p in pairs}, ""


def lock_graph(result_or_edges, cycle=None):
    """Lockdep's dependency graph as a ``graphviz.Digraph``. ``result_or_edges``: a ``CheckResult`` (its
    ``lock_edges``), a dict keyed by (held, taken) pairs, or an iterable of pairs. ``cycle``: the cycle to
    draw red as [a, b, ..., a]; default: :func:`tdxlab.check.properties.find_cycle` of the edges; ``False``
    for none."""
    edges, title = _edges_of(result_or_edges)
    if cycle is None:
        cycle = find_cycle(edges)
    cycle = list(cycle or [])
    red = set(zip(cycle, cycle[1:]))
    sc = getattr(result_or_edges, "scenario", None)
    declared = sc.machine.locks_used() if sc is not None else set(LOCKS)  # the design's own locks
    names = set(declared) | {x for e in edges for x in e} | set(cycle)
    order = [n for n in LOCKS if n in names] + sorted(names - set(LOCKS))
    used = {x for e in edges for x in e}
    head = "lockdep's view" + (f" of {title}" if title else "")
    legend = ("A -> B: B was taken while holding A on some explored path (the number: steps to the first "
              "such acquisition). Box: mutex, ellipse: percpu-rwsem, octagon: raw spinlock; grey: never nested.")
    if cycle:
        legend += " RED: lock-order cycle " + " -> ".join(cycle) + ": a possible deadlock (lore-sean-2024-06-08)."
    elif edges:
        legend += " No cycle: one global order exists."
    g = new_graph("lock_graph", rankdir="LR", label=caption(head + ". " + legend, 100), nodesep="0.4")
    for n in order:
        kind = LOCK_KIND.get(n, "lock")
        fill, shape = KIND_STYLE.get(kind, ("white", "box"))
        attrs = {"shape": shape, "style": "filled", "fillcolor": fill}
        if n not in used:
            attrs.update(color="#aaaaaa", fontcolor="#888888", style="filled,dashed", fillcolor="#f6f6f6")
        if n in cycle:
            attrs.update(color=RED, penwidth="2.5")
        g.node(n, lines(n, kind), **attrs)
    for (a, b) in sorted(edges):
        path = edges[(a, b)]
        lab = f"{len(path)} steps" if isinstance(path, (tuple, list)) else ""
        if (a, b) in red:
            g.edge(a, b, esc(lab), color=RED, fontcolor=RED, penwidth="3.5", style="bold")
        else:
            g.edge(a, b, esc(lab), color="#555555")
    return g
