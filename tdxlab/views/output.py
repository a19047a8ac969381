"""Rendering and saving any view: pictures through tdxlab.render, trace tables through save_trace."""
from __future__ import annotations

import sys
from pathlib import Path

from tdxlab.errors import BadInput
from tdxlab.render import dot_source, render_svg, save
from tdxlab.views._dot import fold_dot
from tdxlab.views.trace import save_trace


def _is_frame(obj) -> bool:
    """A pandas DataFrame, without importing pandas (a DataFrame exists only once pandas is imported)."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(obj, pd.DataFrame)


def to_svg(obj) -> str:
    """SVG text of a view (a graphviz object or DOT source), via :func:`tdxlab.render.render_svg`
    (cached, deterministic, :class:`RenderError` without ``dot``). A trace DataFrame gives its styled
    HTML table instead, since a table is not a picture."""
    if _is_frame(obj):
        raise BadInput("a trace table is not a picture: use trace_styler(df).to_html() or save_trace()")
    svg = getattr(obj, "svg", None)  # a tdxlab view: with its words as the picture's title and label
    return svg() if callable(svg) else render_svg(obj)


def save_view(obj, path: "str | Path") -> Path:
    """Save a view by suffix: pictures as .svg, .png or .dot (:func:`tdxlab.render.save`; a .dot with its
    lines folded to 100 columns, :func:`tdxlab.views._dot.fold_dot`); trace DataFrames as .csv, .json,
    .html or .md (:func:`save_trace`)."""
    if _is_frame(obj):
        return save_trace(obj, path)
    source = dot_source(obj)  # one clear BadInput for something that is not a picture
    if str(path).lower().endswith(".dot"):
        return save(fold_dot(source), path)
    return save(obj, path)
