"""Which modelled statements no explored path executed, in the manner of Spin's "unreached in proctype",
and whether a mutation or patch changed only code that never ran (a vacuous check).

The checker records which instructions ran (:meth:`tdxlab.kernel.machine.Machine.start_coverage`); a
statement of a design's source (one line of a ``@kfunc`` function) ran when any of its instructions did.
"""
from __future__ import annotations

from dataclasses import dataclass

from tdxlab.kernel.lang import Call, OnEachCpu, SpawnOn


@dataclass(frozen=True)
class Statement:
    function: str
    file: str
    line: int
    text: str

    def where(self) -> str:
        return f"{self.function}() line {self.line}"

    def to_json_obj(self) -> dict:
        return {"function": self.function, "file": self.file, "line": self.line, "statement": self.text}


def statements(machine) -> dict[Statement, list]:
    """The design's statements (lines of its kernel functions' source) and their instructions."""
    out: dict[Statement, list] = {}
    for name, kf in machine.funcs.items():
        src = getattr(kf, "source", None)
        if src is None:
            continue
        for ins in kf.body:
            st = getattr(ins, "_stmt", None)
            if st is None:
                continue
            line, text = st
            out.setdefault(Statement(name, src.filename, line, text), []).append(ins)
    return out


def unreached(result) -> list[Statement]:
    """The statements no explored path of ``result`` executed, in function and line order (empty when
    the result has no coverage: a search that did not record it)."""
    ran = getattr(result, "executed", None)
    if ran is None:
        return []
    m = result.scenario.machine
    order = {n: i for i, n in enumerate(m.funcs)}
    out = [s for s, ins in statements(m).items() if not any(i in ran for i in ins)]
    return sorted(out, key=lambda s: (order[s.function], s.line))


def ran_functions(result) -> set[str]:
    ran = getattr(result, "executed", None) or frozenset()
    return {name for name, kf in result.scenario.machine.funcs.items() if any(i in ran for i in kf.body)}


def changed_functions(scenario) -> list[str]:
    """The kernel functions the scenario's mutations (patches) change, and those a patched design
    (``design_over``) changes in its base."""
    d = scenario.design
    out = []
    for mu in scenario.mutations:
        p = getattr(d, "patches", {}).get(mu)
        if p is not None:
            out += p.functions_changed()
    for p in getattr(type(d), "over", ()):
        out += p.functions_changed()
    return sorted(set(out))


def callgraph(machine) -> dict[str, set[str]]:
    """Kernel function -> the functions it may start: calls, IPI handlers, work, cpuhp callbacks."""
    cpuhp = machine.design.cpuhp
    starts = {cb for v in cpuhp.values() for cb in v[1:] if cb}
    g: dict[str, set[str]] = {}
    for name, kf in machine.funcs.items():
        out = g.setdefault(name, set())
        for ins in kf.body:
            callee = getattr(ins, "callee", None)
            if isinstance(ins, (Call, OnEachCpu, SpawnOn)):
                if isinstance(callee, str):
                    out.add(callee)
                elif callee is not None:  # through the cpuhp table
                    out |= starts
        if name.startswith(("_cpu_up", "_cpu_down")):
            out |= starts
        if ":" in name:  # cpuhp_setup_state:NAME, cpuhp_remove_state...:NAME
            cbs = cpuhp.get(name.split(":", 1)[1], ())
            out |= {cb for cb in cbs[1:] if cb}
    return g


def _reaches(g, start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for n in g.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def vacuous(result) -> str | None:
    """When the scenario's mutations or patch change only functions that never ran: a sentence saying
    the check is vacuous and which event would run them; else None."""
    changed = changed_functions(result.scenario)
    if not changed or getattr(result, "executed", None) is None:
        return None
    if ran_functions(result) & set(changed):
        return None
    sc = result.scenario
    m = sc.machine
    g = callgraph(m)
    entries = {"online:N": "_cpu_up", "offline:N": "_cpu_down", **getattr(sc.design, "event_functions", {})}
    have = {e.partition("@")[0] for e in sc.events}
    would = []
    for ev, fn in entries.items():
        if fn in m.funcs and _reaches(g, fn) & set(changed):
            generic = ev.endswith(":N")
            if generic and any(h.startswith(ev[:-1]) for h in have) or ev in have:
                continue
            would.append("--hotplug or --event " + ev if generic else f"--event {ev}")
    what = ", ".join(f"{f}()" for f in changed)
    hint = f"; an event that would run them: {' or '.join(would)}" if would else ""
    return (f"vacuous: what the mutations change ({what}) never ran on any explored path, so the verdicts "
            f"say nothing about the change{hint}")


def unreached_line(result, show: int = 6) -> list[str]:
    """The warning lines ``tdxlab check`` prints: the statements that never ran, and a vacuous check."""
    out = []
    un = result.unreached()
    if un:
        names = ", ".join(f"{u.function}():{u.line}" for u in un[:show]) + (", ..." if len(un) > show else "")
        out.append(f"warning: {len(un)} modelled statements never ran on any explored path (unreached in "
                   f"--json): {names}")
    v = result.vacuous()
    if v:
        out.append(f"warning: {v}")
    return out
