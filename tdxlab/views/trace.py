"""A trace as a table: one row per step of a replayed schedule or counterexample.

``trace_frame(scenario, steps)`` turns ``[(StepInfo | None, State)]`` (from ``Scenario.replay()``,
``Scenario.run_first()`` or ``CheckResult.counterexample(prop)``) into a ``pandas.DataFrame``;
``trace_styler(df)`` colours it (what each step changed, and failed SEAMCALLs in red); ``save_trace``
writes it as CSV, JSON, HTML or a Markdown table.

Per-CPU columns (IRQs, VMX, LP.INIT) describe the step's CPU *after* the step; ``locks held`` is what the
context that ran holds after the step. A step with no CPU (an admin event such as ``event:offline:1``)
leaves them empty.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tdxlab.errors import BadInput

if TYPE_CHECKING:  # pandas is imported where a table is made: the checker and the CLI run without it
    import pandas as pd

COLUMNS = ["step", "cpu", "context", "function", "action", "seamcall", "result", "errno", "locks held",
           "IRQs", "VMX", "LP.INIT", "module state", "fact", "key"]
TRACKED = ["locks held", "IRQs", "VMX", "LP.INIT", "module state"]  # highlighted when a step changes them
SUCCESS = "TDX_SUCCESS"
HIDDEN = ("key", "fact")  # columns trace_styler leaves off the screen
SHORT = ("step", "cpu", "IRQs", "VMX", "LP.INIT", "errno")  # never wrapped
CHANGED_CSS = "background-color: #fff3b0"
ERROR_CSS = "background-color: #f9d0d0; color: #a40000; font-weight: bold"
ATTR = "tdxlab_before"  # df.attrs key: per row, the tracked values before the step (same CPU, same context)


def _vmx(n: int) -> str:
    return "off" if n <= 0 else ("on" if n == 1 else f"on (x{n})")


def _tracked(scenario, state, cpu, context, cache) -> dict:
    """The tracked columns' values in ``state`` for ``cpu`` and ``context``."""
    out = {"locks held": ", ".join(state.holds(context)) if context else "",
           "module state": state.module.sys_name}
    if cpu is None:
        out.update({"IRQs": "", "VMX": "", "LP.INIT": ""})
        return out
    d = cache.get(id(state))
    if d is None:
        d = cache[id(state)] = scenario.describe(state)
    out["IRQs"] = d["cpus"][cpu]["irqs"]
    out["VMX"] = _vmx(state.cpus[cpu].vmx)
    out["LP.INIT"] = "done" if state.module.lp_done(cpu) else "no"
    return out


def trace_rows(scenario, steps) -> tuple[list[dict], list[dict]]:
    """The rows of :func:`trace_frame` as plain dicts (keys: ``COLUMNS``), and per row the tracked values
    before the step. Needs no pandas (the command line's tables are made from these)."""
    if steps is None:
        raise BadInput("no trace to show: the property holds, so there is no counterexample")
    steps = list(steps)
    rows, before = [], []
    cache: dict = {}
    prev = None
    n = 0
    for info, state in steps:
        if info is None:
            prev = state
            continue
        n += 1
        if prev is None:
            raise BadInput("a trace must start with the initial (None, state) entry of replay()/run_first()")
        cpu = info.cpu
        now = _tracked(scenario, state, cpu, info.context, cache)
        before.append(_tracked(scenario, prev, cpu, info.context, cache))
        rows.append({
            "step": n, "cpu": "" if cpu is None else cpu, "context": info.context, "function": info.function,
            "action": info.action, "seamcall": info.leaf or "", "result": info.result or "",
            "errno": "" if info.errno is None else str(info.errno), **now, "fact": info.fact or "",
            "key": info.key,
        })
        prev = state
    return rows, before


def trace_frame(scenario, steps) -> "pd.DataFrame":
    """One row per step of ``steps`` (the initial ``(None, state)`` row is skipped).

    Columns: step, cpu, context, function, action, seamcall (leaf or ""), result (status name or ""),
    errno, locks held, IRQs, VMX, LP.INIT, module state, fact, key (the step key, for a schedule).
    ``df.attrs["tdxlab_before"]`` keeps, per row, the tracked values *before* the step (for the same CPU
    and context), which :func:`trace_styler` uses to highlight exactly what each step changed.
    """
    import pandas as pd

    rows, before = trace_rows(scenario, steps)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df.attrs[ATTR] = before
    return df


def _changed_mask(df: "pd.DataFrame") -> dict[str, list[bool]]:
    before = df.attrs.get(ATTR)
    out = {}
    for col in TRACKED:
        if col not in df.columns:
            continue
        vals = list(df[col])
        if before is not None and len(before) == len(df):
            out[col] = [str(v) != str(b.get(col, v)) for v, b in zip(vals, before)]
        else:  # a frame without the attrs (filtered, re-read from CSV): compare with the previous row
            out[col] = [False] + [str(a) != str(b) for a, b in zip(vals[1:], vals[:-1])]
    return out


def is_error(result: object) -> bool:
    return bool(result) and str(result) != SUCCESS


def trace_styler(df: "pd.DataFrame"):
    """A ``pandas`` Styler: cells a step changed (locks held, IRQs, VMX, LP.INIT, module state) on a yellow
    background, failed SEAMCALL results in red. Deterministic HTML (fixed table uuid, no index)."""
    import pandas as pd
    from pandas.io.formats.style import Styler

    changed = _changed_mask(df)

    def css(frame: "pd.DataFrame") -> "pd.DataFrame":
        out = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for col, mask in changed.items():
            out[col] = [CHANGED_CSS if m else "" for m in mask]
        if "result" in frame.columns:
            out["result"] = [ERROR_CSS if is_error(r) else "" for r in frame["result"]]
        return out

    from tdxlab.views.table import cell_html

    st = Styler(df, uuid="tdxlab", cell_ids=False).format(cell_html)
    st = st.apply(css, axis=None).hide(axis="index")
    # shown to fit a notebook's width: the step key and the fact section are in the data (and in saved
    # files), not on screen; long identifiers (TDX_SYS_LP_INIT_DONE, lock lists) may wrap after _ and .
    st = st.hide(subset=[c for c in HIDDEN if c in df.columns], axis="columns")
    short = [c for c in df.columns if c in SHORT]
    st = st.set_properties(subset=short, **{"white-space": "nowrap"})
    st = st.set_table_styles([
        {"selector": "", "props": "border-collapse: collapse; font-size: 12px; max-width: 100%;"},
        {"selector": "th", "props": "text-align: left; border-bottom: 1px solid #888; padding: 2px 5px;"},
        {"selector": "td", "props": "text-align: left; vertical-align: top; padding: 2px 5px; "
                                    "overflow-wrap: break-word;"},
    ])
    return st


def _md_cell(v: object) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def to_markdown(df: "pd.DataFrame") -> str:
    """A GitHub-style Markdown table (no extra dependency)."""
    cols = list(df.columns)
    out = ["| " + " | ".join(_md_cell(c) for c in cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        out.append("| " + " | ".join(_md_cell(v) for v in row) + " |")
    return "\n".join(out) + "\n"


def save_trace(df: "pd.DataFrame", path: "str | Path") -> Path:
    """Write ``df`` by the path's suffix: ``.csv``, ``.json`` (records), ``.html`` (the styled table) or
    ``.md`` (a Markdown table). Any other suffix is :class:`BadInput`. Returns the path."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        text = df.to_csv(index=False)
    elif suffix == ".json":
        text = df.to_json(orient="records", indent=2) + "\n"
    elif suffix == ".html":
        text = trace_styler(df).to_html() + "\n"
    elif suffix == ".md":
        text = to_markdown(df)
    else:
        raise BadInput(f"cannot save a trace as {p.name!r}: the suffix must be .csv, .json, .html or .md")
    from tdxlab.files import atomic_write

    return atomic_write(p, text)
