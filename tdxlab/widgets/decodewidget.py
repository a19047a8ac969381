"""A text box for a SEAMCALL status value and its decoding (tdxlab.decode), updated as you type."""
from __future__ import annotations

import ipywidgets as W

from tdxlab.errors import TdxlabError
from tdxlab.widgets import panels


class DecodeWidget(W.VBox):
    """``DecodeWidget("0x8000FF0000000006")``: type a value (hex with 0x, or decimal) and press Enter or
    just keep typing; the decoding (name, class bits, meaning, kernel errno) shows below. Bad input shows
    as one line, never as a traceback."""

    EXAMPLES = ("0x8000FF0000000006", "0x8000FF0000000000", "0xC000050C00000000", "0xC000050300000000",
                "0x0000081500000000")

    def __init__(self, value: str = "0xC000050C00000000"):
        super().__init__()
        self.add_class("tdxlab-decode")
        self.text = W.Text(value=str(value), description="status", continuous_update=True,
                           placeholder="0x8000FF0000000006", layout=W.Layout(width="360px"))
        self.text.add_class("tdxlab-decode-input")
        self.examples = W.Dropdown(options=[("examples…", "")] + [(v, v) for v in self.EXAMPLES], value="",
                                   layout=W.Layout(width="220px"))
        self.out = W.HTML("")
        self.out.add_class("tdxlab-decode-output")
        self.message = W.HTML("")
        self.message.add_class("tdxlab-message")
        self.children = [W.HBox([self.text, self.examples]), self.message, self.out]
        self.text.observe(lambda ch: self.update(), names="value")
        self.examples.observe(self._example, names="value")
        self.decoded = None
        self.update()

    def _example(self, change) -> None:
        if change["new"]:
            self.text.value = change["new"]

    def update(self) -> None:
        from tdxlab.decode import decode

        try:
            d = decode(self.text.value)
        except TdxlabError as e:
            self.decoded = None
            self.message.value = f"<span style='color:#a40000'>&#9888; {panels.esc(str(e))}</span>"
            return
        self.decoded = d
        self.message.value = ""
        self.out.value = d._repr_html_()

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.decoded.summary() if self.decoded else self.message.value
        return data
