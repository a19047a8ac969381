"""Pick a machine and a rule, get a stepper: packages, cores per package, threads per core, ``nosmt``,
CPUs offline at boot, the design (2022 to 2026) and the TDX module's LP.INIT rule (old or relaxed).

Every change rebuilds the scenario and reloads the stepper below in place; a bad choice (say, offlining
CPU 0, or a CPU the machine does not have) shows as one line in the stepper's message area.
"""
from __future__ import annotations

import html
import os

import ipywidgets as W

from tdxlab.errors import BadInput, UnknownName
from tdxlab.widgets.stepper import EXPORT_ENV, Stepper, _one_line


class TopologyPicker(W.VBox):
    """``TopologyPicker(design="v7-2022", rule="old", topology="1x2x2", nosmt=True)``: controls above a
    :class:`Stepper`. ``.scenario()`` builds the chosen Scenario; ``.stepper`` is the stepper."""

    def __init__(self, design: str = "kvm-6.16", rule: str = "old", topology: str = "1x2x2",
                 nosmt: bool = False, offline: str = "", mode: str = "replay"):
        super().__init__()
        self.add_class("tdxlab-picker")
        from tdxlab.designs import DESIGNS

        if design not in DESIGNS:
            raise UnknownName(f"unknown design {str(design)[:40]!r}: choose one of {', '.join(DESIGNS)}")
        if rule not in ("old", "relaxed"):
            raise UnknownName(f"unknown rule {str(rule)[:40]!r}: choose old or relaxed")
        if mode not in ("replay", "scheduler"):
            raise UnknownName(f"unknown stepper mode {str(mode)[:40]!r}: choose replay or scheduler")
        try:
            p, c, t = (int(x) for x in str(topology).split("x"))
            if not (1 <= p <= 4 and 1 <= c <= 4 and 1 <= t <= 2):
                raise ValueError
        except ValueError:
            raise BadInput(f"topology {str(topology)[:40]!r} is not PxCxT with 1-4 packages, 1-4 cores per "
                           f"package and 1-2 threads per core (say 1x2x2)") from None
        small = W.Layout(width="200px")
        full = {"description_width": "initial"}  # a label is never cut ("threads/c...")
        self.packages = W.BoundedIntText(value=p, min=1, max=4, description="packages", layout=small, style=full)
        self.cores = W.BoundedIntText(value=c, min=1, max=4, description="cores per package", layout=small,
                                      style=full)
        self.threads = W.BoundedIntText(value=t, min=1, max=2, description="threads per core", layout=small,
                                        style=full)
        self.nosmt = W.Checkbox(value=nosmt, description="nosmt (park SMT siblings)", indent=False)
        self.offline = W.Text(value=offline, description="offline", placeholder="CPUs offline at boot, e.g. 1,3",
                              continuous_update=False, layout=W.Layout(width="300px"), style=full)
        self.design = W.Dropdown(options=list(DESIGNS), value=design,
                                 description="design", layout=W.Layout(width="230px"), style=full)
        self.rule = W.ToggleButtons(options=["old", "relaxed"], value=rule,
                                    description="LP.INIT rule", style={"button_width": "96px", **full})
        self.mode = W.ToggleButtons(options=["replay", "scheduler"], value=mode, description="mode",
                                    style={"button_width": "96px", **full})
        for w in (self.packages, self.cores, self.threads, self.nosmt, self.offline, self.design, self.rule,
                  self.mode):
            w.add_class("tdxlab-pick")
        self.stepper = Stepper(None)
        self.children = [W.HBox([self.packages, self.cores, self.threads, self.nosmt],
                                layout=W.Layout(flex_flow="row wrap")),
                         W.HBox([self.offline, self.design], layout=W.Layout(flex_flow="row wrap")),
                         W.HBox([self.rule, self.mode], layout=W.Layout(flex_flow="row wrap")),
                         self.stepper]
        for w in (self.packages, self.cores, self.threads, self.nosmt, self.offline, self.design, self.rule,
                  self.mode):
            w.observe(lambda ch: self.rebuild(), names="value")
        self.rebuild()

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if os.environ.get(EXPORT_ENV):  # a static page: the choices in words, then the stepper's frames
            choices = (f"design {self.design.value}, {self.rule.value} rule, {self.topology()} "
                       f"(packages x cores x threads){', nosmt' if self.nosmt.value else ''}"
                       f"{', offline at boot: ' + self.offline.value if self.offline.value.strip() else ''}")
            data["text/html"] = (f"<div class='tdxlab-picker-static'><p>The machine picked: "
                                 f"<b>{html.escape(choices)}</b>. In the notebook you change it and the stepper "
                                 f"below follows.</p>{self.stepper.frames_html()}</div>")
        return data

    def topology(self) -> str:
        return f"{self.packages.value}x{self.cores.value}x{self.threads.value}"

    def scenario(self):
        """The Scenario the controls describe (raises TdxlabError for a bad choice)."""
        from tdxlab.scenario import Scenario

        return Scenario(self.design.value, self.rule.value, self.topology(), nosmt=self.nosmt.value,
                        offline=self.offline.value.strip() or (),
                        name=f"{self.design.value} on {self.topology()}")

    def rebuild(self) -> bool:
        try:
            sc = self.scenario()
        except Exception as e:  # noqa: BLE001 - shown in the stepper
            self.stepper.load(None)
            self.stepper._error(_one_line(e))
            return False
        return self.stepper.load(sc, mode=self.mode.value)


RuleExplorer = TopologyPicker
