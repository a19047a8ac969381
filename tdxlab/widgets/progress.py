"""The model checker with a progress bar: ``check(name)`` runs tdxlab.check.explore.explore and feeds its
progress callback into an ``ipywidgets.IntProgress`` shown in the cell, then the verdicts as a table."""
from __future__ import annotations

import ipywidgets as W

from tdxlab.widgets import panels
from tdxlab.widgets.stepper import _check_budget, _one_line, verdicts_html


class CheckView(W.VBox):
    """The progress bar, a status line and the verdicts of one exploration."""

    def __init__(self, max_states: int):
        super().__init__()
        self.add_class("tdxlab-check")
        self.bar = W.IntProgress(value=0, min=0, max=max_states, description="exploring", bar_style="info")
        self.bar.add_class("tdxlab-progress")
        self.status = W.HTML("")
        self.verdicts = W.HTML("")
        self.verdicts.add_class("tdxlab-verdicts")
        self.message = W.HTML("")
        self.message.add_class("tdxlab-message")
        self.children = [W.HTML(panels.CSS), W.HBox([self.bar, self.status]), self.message, self.verdicts]
        self.result = None

    def progress(self, states, transitions, frontier, seconds) -> None:
        self.bar.value = min(states, self.bar.max)
        self.status.value = (f"<span style='color:#555'>{states} states, {transitions} transitions, {frontier} "
                             f"to visit, {seconds:.1f} s</span>")

    def phase(self, text: str) -> None:
        """After the exploration: the search for shortest counterexamples, and how far it got."""
        self.bar.description = "shortest"
        self.status.value = f"<span style='color:#555'>{panels.esc(text)}</span>"


def check(scenario, max_states: int = 200_000, max_seconds: float | None = None, display: bool = True):
    """Explore every interleaving of ``scenario`` (a Scenario or a name) with a progress bar. Returns the
    ``CheckResult``, or None after showing a one-line message (an unknown scenario, a bad budget)."""
    from tdxlab.check.explore import explore

    _check_budget("max_states", max_states, int)
    if max_seconds is not None:
        _check_budget("max_seconds", max_seconds, (int, float))
    view = CheckView(max_states)
    if display:
        from IPython.display import display as show

        show(view)
    try:
        if isinstance(scenario, str):
            from tdxlab.scenario import get_scenario

            scenario = get_scenario(scenario)
        res = explore(scenario, max_states=max_states, max_seconds=max_seconds, progress=view.progress,
                      progress_every=500, phase=view.phase)
    except Exception as e:  # noqa: BLE001 - shown, never raised
        view.bar.bar_style = "danger"
        view.message.value = f"&#9888; {panels.esc(_one_line(e))}"
        return None
    view.bar.description = "explored"
    view.bar.max = max(res.states, 1)
    view.bar.value = res.states
    view.bar.bar_style = "success" if res.complete else "warning"
    view.verdicts.value = verdicts_html(res)
    view.result = res
    return res
