"""Tables drawn to fit a notebook's output area: ``fit(df_or_styler)``.

JupyterLab beside its file browser leaves a 1366-pixel screen about 930 px for an output; a wide pandas
table scrolls sideways there and a reader loses its right-hand columns. ``fit`` returns a Styler whose
cells wrap at 12 px, with no index column; its tooltips take no room until shown. In a DataFrame's cells,
long identifiers (TDX_SYS_LP_INIT_DONE, TDH.SYS.LP.INIT) may break after ``_`` and ``.`` only, never
mid-word, and a tuple or list shows as its items (``SYSINIT_DONE, SYS_READY``), not as Python writes it.
"""
from __future__ import annotations

import html
import re

FIT_STYLES = [
    {"selector": "", "props": "border-collapse: collapse; font-size: 12px; max-width: 100%;"},
    {"selector": "th", "props": "text-align: left; vertical-align: bottom; padding: 3px 5px;"},
    {"selector": "td", "props": "text-align: left; vertical-align: top; padding: 3px 5px; white-space: normal; "
                                "overflow-wrap: break-word;"},
    # a hidden tooltip (Styler.set_tooltips) takes no room: hidden by visibility alone, its box would widen
    # the output and give it a sideways scrollbar
    {"selector": ".pd-t", "props": "display: none;"},
    {"selector": "td:hover .pd-t", "props": "display: block;"},
]
# a Styler made elsewhere has its cells as they are: a long word may break anywhere rather than widen the table
ANYWHERE = [{"selector": "td", "props": "overflow-wrap: anywhere;"}]
_BREAK_AFTER = re.compile(r"(?<=[A-Za-z0-9])([_/])(?=[A-Za-z0-9])|(?<=[A-Za-z])(\.)(?=[A-Za-z])")


def cell_html(value) -> str:
    """One cell's value as HTML for a table that must fit: items of a tuple or list joined with commas,
    escaped, with a line-break opportunity after ``_``, ``.`` and ``/`` inside identifiers."""
    if isinstance(value, (tuple, list)):
        value = ", ".join(map(str, value))
    return _BREAK_AFTER.sub(lambda m: m.group(0) + "<wbr>", html.escape(str(value), quote=False))


def fit(table):
    """A ``pandas`` DataFrame or Styler as a Styler that fits a notebook's width (see the module)."""
    from pandas import DataFrame
    from pandas.io.formats.style import Styler

    from tdxlab.errors import BadInput

    styles = FIT_STYLES
    if isinstance(table, DataFrame):
        table = Styler(table, uuid="tdxlab-fit", cell_ids=False).hide(axis="index").format(cell_html)
    elif isinstance(table, Styler):
        styles = FIT_STYLES + ANYWHERE
    else:
        raise BadInput(f"fit() draws a pandas DataFrame or Styler, not {type(table).__name__}")
    return table.set_table_styles(styles, overwrite=False)
