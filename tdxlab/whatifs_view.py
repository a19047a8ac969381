"""The what-ifs reviewers asked (issue 15 item 5), as a table computed from the model: for each question,
the scenarios that answer it, what each one's check says, and the sources the answer stands on.

Used by notebook 07 ("What reviewers asked") and docs/whatifs.md (whose table is this module's
:func:`markdown` output, checked by tests/test_whatifs.py).
"""
from __future__ import annotations

import html
from functools import lru_cache
from typing import NamedTuple

from tdxlab import sources
from tdxlab.designs.whatifs import WHATIFS, WhatIf
from tdxlab.widgets.panels import VERDICT  # (plain HTML helpers: no ipywidgets)


LEFT = "text-align:left; vertical-align:top"


class Row(NamedTuple):
    whatif: WhatIf
    scenario: str
    design: str
    violated: tuple[tuple[str, int], ...]  # (property, steps of its shortest counterexample), in PROPERTIES order
    states: int


@lru_cache(maxsize=None)
def _check(scenario: str) -> tuple[str, tuple[tuple[str, int], ...], int]:
    from tdxlab.check.explore import explore
    from tdxlab.scenario import get_scenario

    sc = get_scenario(scenario)
    r = explore(sc)
    bad = tuple((p, len(v.path)) for p, v in r.verdicts.items() if not v.holds)
    return sc.design_name, bad, r.states


def rows() -> list[Row]:
    """One row per (what-if, scenario), each scenario checked exhaustively (a few hundred states each)."""
    out = []
    for w in WHATIFS:
        for s in w.scenarios:
            design, bad, states = _check(s)
            out.append(Row(w, s, design, bad, states))
    return out


def verdict_text(row: Row, steps: bool = True) -> str:
    """What the check says, in words: the properties violated (with their shortest counterexample's
    length when ``steps``), or that every property holds."""
    if not row.violated:
        return "every property holds"
    return "violated: " + ", ".join(f"{p} ({n} step{'s' if n != 1 else ''})" if steps else p
                                    for p, n in row.violated)


def html_table(where: str = "notebooks") -> str:
    """The table as HTML for a notebook: each what-if's question, its scenarios and verdicts, its sources as
    links (decisions point into the glossary notebook when ``where="notebooks"``)."""
    head = ("<table class=\"tdxlab-whatifs\"><thead><tr>" + "".join(
        f"<th style=\"{LEFT}\">{h}</th>" for h in ("#", "what reviewers asked", "scenario", "what the check says",
                                                  "sources")) + "</tr></thead><tbody>")
    body = []
    for r in rows():
        w = r.whatif
        first = r.scenario == w.scenarios[0]
        q = html.escape(w.question) + (" <em>(outcome inferred)</em>" if w.inferred else "")
        bg, fg, sym = VERDICT["violated" if r.violated else "holds"]
        body.append(
            "<tr>"
            + (f"<td rowspan=\"{len(w.scenarios)}\" style=\"{LEFT}\">{w.number}</td>"
               f"<td rowspan=\"{len(w.scenarios)}\" style=\"{LEFT}\">{q}</td>" if first else "")
            + f"<td style=\"{LEFT}\"><code>{html.escape(r.scenario)}</code></td>"
            + f"<td class=\"tdxlab-verdict\" style=\"{LEFT}; background:{bg}; color:{fg}\">{sym} "
              f"{html.escape(verdict_text(r))}</td>"
            + (f"<td rowspan=\"{len(w.scenarios)}\" style=\"{LEFT}\">{sources.cite(w.sources, where)}</td>"
               if first else "")
            + "</tr>")
    return head + "".join(body) + "</tbody></table>"


def markdown(where: str = "repo") -> str:
    """The table as Markdown (docs/whatifs.md), sources as links; without counterexample lengths, which
    any change to the model's steps would change."""
    out = ["| # | what reviewers asked | scenario | what the check says | sources |",
           "|---|---|---|---|---|"]
    for r in rows():
        w = r.whatif
        first = r.scenario == w.scenarios[0]
        q = w.question + (" *(outcome inferred)*" if w.inferred else "") if first else ""
        links = ", ".join(f"[{k}]({_doc_url(k, where)})" for k in sources.keys_in(w.sources)) if first else ""
        out.append(f"| {w.number if first else ''} | {q} | `{r.scenario}` | {verdict_text(r, steps=False)} | {links} |")
    return "\n".join(out)


def steps_after_bringup_html(result, prop: str) -> str:
    """The shortest counterexample of ``prop`` from its first environment event on (a what-if's events come
    after bring-up, whose steps every check shares), as an HTML table: step, CPU, context, kernel function,
    what the step did, and the SEAMCALL's answer."""
    steps = result.counterexample(prop)
    infos = [i for i, _ in steps[1:]]
    first = next((n for n, i in enumerate(infos) if i.key.startswith("event:")), 0)
    out = ["<table class=\"tdxlab-whatif-steps\"><thead><tr>" + "".join(
        f"<th style=\"text-align:left\">{h}</th>" for h in ("step", "CPU", "context", "function", "what it did",
                                                          "SEAMCALL")) + "</tr></thead><tbody>"]
    for n, i in enumerate(infos[first:], start=first + 1):
        sc = f"{i.leaf} -> {i.result}" if i.leaf else ""
        cells = (str(n), "" if i.cpu is None else f"CPU{i.cpu}", i.context, f"{i.function}()", i.action, sc)
        out.append("<tr>" + "".join(f"<td style=\"text-align:left\">{html.escape(c)}</td>" for c in cells)
                   + "</tr>")
    return "".join(out) + "</tbody></table>"


def _doc_url(key: str, where: str) -> str:
    u = sources.url(key, where)
    return u.replace("docs/", "", 1) if where == "repo" and u.startswith("docs/") else u


__all__ = ["Row", "rows", "verdict_text", "html_table", "markdown", "steps_after_bringup_html"]
