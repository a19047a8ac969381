"""Shortest counterexamples after a reduced search.

The reductions keep every verdict, but a path through the reduced graph can be longer than the shortest
one. So, when a property is violated, a search without reductions that stops once it has seen every
violated property finds the exact shortest counterexamples (within its own budget; beyond it, the reduced
path is shortened by dropping the steps the violation does not need).
"""
from __future__ import annotations

from tdxlab.check.properties import PROPERTIES, STATE_CHECKS
from tdxlab.errors import TdxlabError

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


#: The exact search's state budget: at most this, at least EXACT_MIN_STATES or ten times the reduced
#: search's states, and never more than the caller's own state budget. States, not seconds: the same
#: command prints the same counterexample on any machine, however fast or loaded.
EXACT_MAX_STATES = 100_000
EXACT_MIN_STATES = 20_000


def exact_budget(states: int, max_states: int) -> int:
    """The exact search's state budget after a reduced search that found ``states`` states."""
    return min(EXACT_MAX_STATES, max(EXACT_MIN_STATES, 10 * states), max_states)


def shortest_paths(sc, found: dict, states: int, max_states: int, seconds_left: float | None,
                   phase=None) -> set[str]:
    """Make the counterexamples of a reduced search shortest ones. The reductions keep every verdict but
    may lengthen a path (taking a hotplug request or an owned-CPU step early, leaving out an IPI that
    would only spin). A breadth-first search without reductions, stopped as soon as it has seen every
    violated property, gives the exact shortest paths. Its budget is in states (:func:`exact_budget`);
    only a time budget the caller set (``seconds_left``, what is left of ``--max-seconds``) may stop it
    earlier. Where that runs out (on the largest topologies) the reduced path is shortened by dropping
    the steps the violation does not need (:func:`minimize`), and its verdict says it is not proven
    shortest. On every manifest scenario minimizing alone gives the shortest paths too (tested).
    ``phase(text)``, when given, hears how that search goes. Returns the properties whose paths are not
    proven shortest."""
    want = frozenset(n for n in found if n != "lock-order")
    if not want:
        return set()
    exact = {}
    if seconds_left is None or seconds_left > 0:
        from tdxlab.check.explore import explore

        cap = exact_budget(states, max_states)
        what = "shortest counterexample" + ("s" if len(want) > 1 else "")
        progress = None
        if phase is not None:
            def progress(n, transitions, frontier, spent):
                phase(f"{what} (no reductions): {n:,}/{cap:,} states, {spent:.1f} s")
            progress(0, 0, 1, 0.0)
        r = explore(sc, reduce=False, until=want, max_seconds=seconds_left, max_states=cap,
                    progress=progress, progress_every=5000)
        exact = {n: (v.path, v.detail) for n, v in r.verdicts.items() if n in want and v.holds is False}
    for name in want:
        if name in exact:
            found[name] = exact[name]
            continue
        path, detail = found[name]
        found[name] = (minimize(sc, name, path), detail)
    return set(want) - set(exact)
