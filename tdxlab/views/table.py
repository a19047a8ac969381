"""Tables drawn to fit a notebook's output area: ``fit(df_or_styler)``.

JupyterLab beside its file browser leaves a 1366-pixel screen about 930 px for an output; a wide pandas
table scrolls sideways there and a reader loses its right-hand columns. ``fit`` returns a Styler whose
cells wrap (long identifiers such as TDX_SYS_LP_INIT_DONE too) at 12 px, with no index column; its
tooltips take no room until shown.
"""
from __future__ import annotations

FIT_STYLES = [
    {"selector": "", "props": "border-collapse: collapse; font-size: 12px; max-width: 100%;"},
    {"selector": "th", "props": "text-align: left; vertical-align: bottom; padding: 3px 5px;"},
    {"selector": "td", "props": "text-align: left; vertical-align: top; padding: 3px 5px; white-space: normal; "
                                "overflow-wrap: anywhere;"},
    # a hidden tooltip (Styler.set_tooltips) takes no room: hidden by visibility alone, its box would widen
    # the output and give it a sideways scrollbar
    {"selector": ".pd-t", "props": "display: none;"},
    {"selector": "td:hover .pd-t", "props": "display: block;"},
]


def fit(table):
    """A ``pandas`` DataFrame or Styler as a Styler that fits a notebook's width (see the module)."""
    from pandas import DataFrame
    from pandas.io.formats.style import Styler

    from tdxlab.errors import BadInput

    if isinstance(table, DataFrame):
        table = Styler(table, uuid="tdxlab-fit", cell_ids=False).hide(axis="index")
    if not isinstance(table, Styler):
        raise BadInput(f"fit() draws a pandas DataFrame or Styler, not {type(table).__name__}")
    return table.set_table_styles(FIT_STYLES, overwrite=False)
