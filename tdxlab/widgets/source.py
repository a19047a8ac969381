"""A modelled kernel function as a listing: its instructions in order, the labels they jump to, which
instructions are *local* (merged into the neighbouring step, tdxlab.kernel.lang) and the sources each one
stands on.

>>> from tdxlab.widgets import show_function
>>> show_function("irq-race-second-user", "tdx_cpu_enable")     # a table in a notebook
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from tdxlab import sources
from tdxlab.errors import BadInput, TdxlabError, UnknownName

from tdxlab.widgets.panels import ASSERT_TEXT, readable

BOOKKEEPING = "(model bookkeeping: no kernel statement)"


@dataclass
class Listing:
    """A kernel function's instruction list; shows as a table in Jupyter, as text in ``print``."""

    name: str
    scenario: str
    fact: str
    rows: list  # [(pc, labels, text, local, fact)]
    error: str = ""

    def __str__(self) -> str:
        if self.error:
            return f"tdxlab: {self.error}"
        out = [f"{self.name}()  [{self.scenario}; {self.fact}]"]
        for pc, labels, text, local, fact in self.rows:
            for lab in labels:
                out.append(f"    {lab}:")
            out.append(f"  {pc:>2}  {text}{'   (local)' if local else ''}   {fact}")
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        e = html.escape
        if self.error:
            return f"<div class='tdxlab-message' style='color:#a40000'>&#9888; {e(self.error)}</div>"
        rows = []
        for pc, labels, text, local, fact in self.rows:
            for lab in labels:
                rows.append(f"<tr><td></td><td colspan='3' style='text-align:left'><i>{e(lab)}:</i></td></tr>")
            style = "color:#777" if local else ""
            rows.append(f"<tr style='{style}'><td style='text-align:right'>{pc}</td>"
                        f"<td style='text-align:left'><code>{e(text)}</code></td>"
                        f"<td style='text-align:left'>{'merged into a step' if local else 'a step'}</td>"
                        f"<td style='text-align:left'>{sources.cite(fact, 'notebooks')}</td></tr>")
        return (f"<div class='tdxlab-source'><b><code>{e(self.name)}()</code></b> as modelled in "
                f"<i>{e(self.scenario)}</i> (source {sources.cite(self.fact, 'notebooks')}). Grey rows are local: they touch "
                f"nothing another context can see, so they run in the same step as their neighbour."
                f"<table><tr><th>pc</th><th>instruction</th><th>scheduling</th><th>source</th></tr>"
                + "".join(rows) + "</table></div>")


def _text(ins, kf) -> str:
    cls = type(ins).__name__
    if cls in ASSERT_TEXT:
        return ASSERT_TEXT[cls]
    if cls == "Goto":
        return f"goto {ins.label}"
    if cls == "Ret":
        v = getattr(ins, "value", None)
        return "return" if v is None or callable(v) else f"return {v}"
    try:
        text = ins.text(None, None)
    except Exception:  # noqa: BLE001 - a text that needs a state: fall back to the class name
        text = cls
    if cls == "If":
        return f"if ({text}) goto {ins.goto}"
    return text if text and text != cls else BOOKKEEPING


def function_listing(scenario, name: str) -> Listing:
    """The listing of kernel function ``name`` as the scenario's design models it. Raises
    :class:`UnknownName` for a function the design does not have."""
    from tdxlab.scenario import get_scenario

    sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
    if not hasattr(sc, "machine"):
        raise BadInput(f"a listing needs a scenario name or a Scenario, not {type(scenario).__name__}")
    if not isinstance(name, str):
        raise BadInput(f"a kernel function is named by text, not {type(name).__name__}")
    funcs = sc.machine.funcs
    if name not in funcs:
        raise UnknownName(f"design {sc.design_name} has no kernel function {name!r}: choose one of "
                          f"{', '.join(sorted(funcs))}")
    kf = funcs[name]
    by_pc: dict[int, list[str]] = {}
    for lab, pc in kf.labels.items():
        by_pc.setdefault(pc, []).append(lab)
    rows = []
    for pc, ins in enumerate(kf.body):
        labels = by_pc.get(pc, [])
        if (type(ins).__name__ == "Ret" and not labels and rows and rows[-1][2].startswith("return")
                and rows[-1][0] == pc - 1):
            continue  # the implicit return after a return: unreachable, and a reader sees it twice
        rows.append((pc, labels, readable(_text(ins, kf)), bool(ins.local), ins.fact or kf.fact))
    return Listing(name, sc.name or sc.title(), kf.fact, rows)


def show_function(scenario, name: str) -> Listing:
    """Like :func:`function_listing`, but an error (unknown scenario or function) becomes a one-line
    message in the output instead of an exception."""
    try:
        return function_listing(scenario, name)
    except TdxlabError as e:
        return Listing(name, str(scenario), "", [], error=str(e))
