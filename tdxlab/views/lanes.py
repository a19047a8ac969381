"""Per-CPU swimlanes of a trace: one column per CPU (and one for admin events such as ``event:offline:1``),
one row per step, the step's box in the lane of the CPU it ran on: "context: function: action (result)",
coloured by context kind (task, hotplug thread, hardirq IPI handler). A failed SEAMCALL is outlined red;
the rightmost column shows the module's system state when a step changes it.

Drawn as one Graphviz HTML table, so the rows line up exactly and 60 steps stay readable.
"""
from __future__ import annotations

import textwrap

from tdxlab.errors import BadInput
from tdxlab.views._dot import KIND_BORDER, KIND_FILL, RED, h, new_graph
from tdxlab.views.trace import is_error
from tdxlab.widgets.panels import readable

WRAP = 38  # characters per line in a box
MAX_ACTION = 150  # longer actions are cut (the trace table has them in full)


def context_kind(info, before, after) -> str:
    """task, hotplug, hardirq or admin: the kind of the context that ran ``info``."""
    if info.cpu is None or info.context == "admin" or info.key.startswith("event:"):
        return "admin"
    for st in (before, after):
        if st is not None:
            t = st.thread(info.context)
            if t is not None:
                return t.kind
    name = info.context
    if name.startswith("IPI/"):
        return "hardirq"
    if name.startswith(("cpuhp/", "cpu_up/", "cpu_down/")):
        return "hotplug"
    return "task"


def _wrap(text: str) -> str:
    if len(text) > MAX_ACTION:
        text = text[:MAX_ACTION - 3].rstrip() + "..."
    return "<BR/>".join(h(x) for x in textwrap.wrap(text, WRAP, break_long_words=True,
                                                      break_on_hyphens=False)) or "&nbsp;"


def lanes(scenario, steps):
    """Swimlanes of ``steps`` ([(StepInfo | None, State)] from replay(), run_first() or a
    counterexample) as a ``graphviz.Digraph``."""
    if steps is None:
        raise BadInput("no trace to draw: the property holds, so there is no counterexample")
    steps = list(steps)
    ncpus = scenario.topology.ncpus
    has_admin = any(info is not None and info.cpu is None for info, _ in steps)
    lane_names = [f"CPU{c}" for c in range(ncpus)] + (["admin"] if has_admin else [])
    hdr = "#cccccc"
    rows = ['<TR><TD BGCOLOR="%s"><B>step</B></TD>%s<TD BGCOLOR="%s"><B>module</B></TD></TR>'
            % (hdr, "".join(f'<TD BGCOLOR="{hdr}"><B>{h(n)}</B></TD>' for n in lane_names), hdr)]
    prev_state, prev_sys = None, None
    n = 0
    for info, st in steps:
        if info is None:
            prev_state, prev_sys = st, st.module.sys_name
            continue
        n += 1
        kind = context_kind(info, prev_state, st)
        lane = len(lane_names) - 1 if info.cpu is None else info.cpu
        text = f"{info.context}: {info.function}: {readable(info.action)}"
        body = _wrap(text)
        if info.result and info.result not in text[:MAX_ACTION - 3]:
            body += "<BR/>" + h(f"({info.result})")
        if is_error(info.result):
            body += f'<BR/><FONT COLOR="{RED}"><B>{h(info.result)}</B></FONT>'
        cells = []
        for i in range(len(lane_names)):
            if i == lane:
                border = RED if is_error(info.result) else KIND_BORDER[kind]
                width = "3" if is_error(info.result) else "1"
                cells.append(f'<TD BGCOLOR="{KIND_FILL[kind]}" COLOR="{border}" BORDER="{width}" ALIGN="LEFT" '
                             f'BALIGN="LEFT">{body}</TD>')
            else:
                cells.append('<TD BORDER="0"> </TD>')
        sys_name = st.module.sys_name
        mod = h(sys_name) if sys_name != prev_sys else ""
        mod_cell = f'<TD BORDER="0" ALIGN="LEFT"><B>{mod}</B></TD>' if mod else '<TD BORDER="0"> </TD>'
        rows.append(f'<TR><TD BORDER="0" ALIGN="RIGHT">{n}</TD>{"".join(cells)}{mod_cell}</TR>')
        prev_state, prev_sys = st, sys_name
    legend = ("".join(f'<TD BGCOLOR="{KIND_FILL[k]}" COLOR="{KIND_BORDER[k]}">{h(lab)}</TD>' for k, lab in
                      (("task", "task"), ("hotplug", "hotplug thread"), ("hardirq", "hardirq (IPI)"),
                       ("admin", "admin event")))
              + f'<TD COLOR="{RED}" BORDER="3">failed SEAMCALL</TD>')
    legend_row = (f'<TR><TD BORDER="0"></TD><TD BORDER="0" COLSPAN="{len(lane_names) + 1}" ALIGN="LEFT">'
                  f'<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="3" CELLPADDING="2"><TR>{legend}</TR></TABLE>'
                  f'</TD></TR>')
    table = ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="2" CELLPADDING="3">'
             + legend_row + "".join(rows) + "</TABLE>>")
    title = scenario.title() if hasattr(scenario, "title") else ""
    g = new_graph("lanes", label=f"{title}: {n} steps, one lane per CPU" if title else f"{n} steps")
    g.attr("node", shape="plaintext", fontsize="9")
    g.node("lanes", table)
    return g
