"""A predict-then-check exercise as a widget: the question, a prediction (one of the offered answers), and the
solution behind a button (the whole solution box has CSS class ``tdxlab-solution``; its button
``tdxlab-solution-button``, the revealed text ``tdxlab-solution-text``). The answer is computed by the model
checker (tdxlab.exercises.solve) when the widget is made; the solution can also replay its counterexample
in a Stepper given as ``stepper``.

Grading is honest: the prediction locks when the solution is shown, and only a prediction made before the
reveal is graded. Revealing with no prediction shows the answer marked "revealed, not graded"; a prediction
changed after the reveal (through the kernel, since the buttons are disabled) is not graded either.
:attr:`Exercise.outcome` is ``"unanswered"``, ``"right"``, ``"wrong"`` or ``"revealed, not graded"``.

>>> from tdxlab.widgets import Exercise
>>> Exercise("irq-race-status")
"""
from __future__ import annotations

import ipywidgets as W

from tdxlab import sources
from tdxlab.widgets import panels
from tdxlab.widgets.stepper import _one_line

FAMILY_COLOUR = {"LP.INIT": "#4a7fb5", "IRQ safety": "#d2731c", "locking": "#7a63b5"}

CSS = """
<style>
.tdxlab-exercise {font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 13.5px;
  border: 1px solid #d0d7e2; border-radius: 6px; padding: 8px 12px; margin: 4px 0; background: #fbfcfe;}
.tdxlab-exercise .tdxlab-q {line-height: 1.4; max-width: 62em;}
.tdxlab-exercise .tdxlab-family {display: inline-block; color: #fff; border-radius: 3px; padding: 0 6px;
  font-size: 11.5px; margin-right: 6px; font-weight: 600;}
.tdxlab-exercise .tdxlab-where {color: #666; font-size: 12px;}
.tdxlab-exercise .tdxlab-solution-text {border-left: 4px solid #2b7a2b; background: #f2f9f2; padding: 6px 10px;
  margin-top: 4px; max-width: 62em; line-height: 1.4;}
.tdxlab-exercise .widget-html-content {line-height: 1.4;}
.tdxlab-exercise .tdxlab-solution-text .grade {font-weight: 700;}
.tdxlab-exercise .tdxlab-solution-text .grade.right {color: #1d5e1d;}
.tdxlab-exercise .tdxlab-solution-text .grade.off {color: #a04000;}
</style>
"""


class Exercise(W.VBox):
    """One exercise of ``data/exercises.toml`` (by id, or an :class:`tdxlab.exercises.Exercise`)."""

    def __init__(self, exercise, number: int | None = None, stepper=None):
        super().__init__()
        from tdxlab.exercises import get, solve

        self.add_class("tdxlab-exercise")
        self.stepper = stepper
        self.solution = None
        self.message = W.HTML("")
        self.message.add_class("tdxlab-message")
        try:
            self.exercise = get(exercise) if isinstance(exercise, str) else exercise
            self.solution = solve(self.exercise)
        except Exception as e:  # noqa: BLE001 - shown, never raised
            self.exercise = None
            self.message.value = f"<span style='color:#a40000'>&#9888; {panels.esc(_one_line(e))}</span>"
            self.children = [W.HTML(CSS), self.message]
            return
        ex = self.exercise
        self.number = number
        colour = FAMILY_COLOUR.get(ex.family, "#555")
        num = f"Exercise {number}. " if number is not None else ""
        self.question = W.HTML(
            f"<div class='tdxlab-q'><span class='tdxlab-family' style='background:{colour}'>"
            f"{panels.esc(ex.family)}</span><b>{num}</b>{panels.esc(ex.question)}<br>"
            f"<span class='tdxlab-where'>model: <code>{panels.esc(ex.where())}</code>"
            f"{' · source ' + sources.cite(ex.fact, 'notebooks') if ex.fact else ''}</span></div>")
        self.outcome = "unanswered"
        self.graded_prediction = None
        self.prediction = W.ToggleButtons(options=ex.options, value=None, description="I predict:",
                                          style={"button_width": "auto", "description_width": "initial"})
        self.prediction.add_class("tdxlab-prediction")
        self.prediction.observe(self._prediction_changed, names="value")
        self.button = W.Button(description=self.BUTTON_NO_PREDICTION, button_style="", icon="",
                               layout=W.Layout(width="auto"))
        self.button.add_class("tdxlab-solution-button")
        self.text = W.HTML("", layout=W.Layout(display="none"))
        self.text.add_class("tdxlab-solution-text")
        self.replay_button = W.Button(description="replay it in the stepper", layout=W.Layout(display="none",
                                                                                              width="auto"))
        self.replay_button.add_class("tdxlab-replay")
        box = W.VBox([W.HBox([self.button, self.replay_button]), self.text])
        box.add_class("tdxlab-solution")
        self.solution_box = box
        self.button.on_click(lambda _: self.reveal())
        self.replay_button.on_click(lambda _: self.replay())
        self.children = [W.HTML(CSS), self.question, self.prediction, box, self.message]

    BUTTON_NO_PREDICTION = "show the answer without a prediction (not graded)"
    BUTTON_CHECK = "check my prediction: lock it and show the solution"

    @property
    def revealed(self) -> bool:
        return self.text.layout.display != "none"

    def _prediction_changed(self, change) -> None:
        if not self.revealed:
            self.button.description = self.BUTTON_CHECK if change["new"] is not None else self.BUTTON_NO_PREDICTION
            self.button.button_style = "info" if change["new"] is not None else ""
            return
        if change["new"] != self.graded_prediction:
            self.outcome = "revealed, not graded"
            note = (f"<div class='grade off tdxlab-late'>prediction changed to {panels.esc(change['new'])} after "
                    f"the answer was shown: not graded.</div>")
            self.text.value = self.solution_html(graded=False) + note

    def solution_html(self, prediction=None, graded: bool = True) -> str:
        sol = self.solution
        parts = []
        if graded:
            g = sol.grade(prediction)
            cls = "right" if g == "right" else "off"
            parts.append(f"<span class='grade {cls}'>{panels.esc(g)}.</span> ")
        parts.append(f"<b>The model's answer: {panels.esc(sol.answer)}</b> "
                     f"<span style='color:#666'>({sol.states} states explored"
                     + (f"; shortest counterexample of {panels.esc(sol.prop)}: {sol.steps} steps" if sol.steps
                        else "") + ")</span><br>")
        parts.append(panels.esc(sol.explanation()))
        return "".join(parts)

    def reveal(self) -> None:
        """Lock the prediction and show the solution, graded against the prediction made before the reveal
        (none: "revealed, not graded"). A second call changes nothing."""
        if self.solution is None or self.revealed:
            return
        pred = self.prediction.value
        self.graded_prediction = pred
        self.prediction.disabled = True
        self.button.disabled = True
        try:
            self.text.value = self.solution_html(pred)
            if pred is None:
                self.outcome = "revealed, not graded"
            else:
                self.outcome = "right" if self.solution.grade(pred) == "right" else "wrong"
        except Exception as e:  # noqa: BLE001
            self.text.value = f"&#9888; {panels.esc(_one_line(e))}"
        self.text.layout.display = None
        self.button.description = ("answer shown: not graded (no prediction)" if pred is None
                                   else f"prediction locked: {pred}")
        self.button.button_style = "success" if self.outcome == "right" else "warning"
        if self.stepper is not None and self.solution.steps:
            self.replay_button.layout.display = None

    def replay(self) -> bool:
        """Load the answer's counterexample into the shared stepper."""
        if self.stepper is None or self.solution is None or not self.solution.steps:
            return False
        from tdxlab.widgets.review import at_step

        sol = self.solution
        ok = self.stepper.show_counterexample(sol.result, sol.prop,
                                              title=f"Exercise {self.number or ''} ({self.exercise.id}): "
                                                    f"{sol.prop}, {sol.steps} steps")
        if ok:
            at_step(self.stepper)
        return ok

    # ------------------------------------------------------------------ static export
    def static_html(self) -> str:
        """The question and, behind a <details> disclosure, the solution: works with no kernel and no
        JavaScript."""
        if self.solution is None:
            return f"<div>{self.message.value}</div>"
        ex = self.exercise
        choice = " / ".join(f"<code>{panels.esc(o)}</code>" for o in ex.options)
        return (f"{CSS}<div class='tdxlab-exercise'>{self.question.value}"
                f"<div style='margin:4px 0'>Predict: {choice}</div>"
                f"<details class='tdxlab-solution'><summary style='cursor:pointer;color:#1f4e8c'>"
                f"<b>show the solution</b> (predict first: a static page does not grade)</summary>"
                f"<div class='tdxlab-solution-text'>"
                f"{self.solution_html(graded=False)}</div></details></div>")

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = f"<Exercise {getattr(self.exercise, 'id', '?')}>"
        data["text/html"] = self.static_html()
        return data


def exercises(family: str | None = None, stepper=None) -> list[Exercise]:
    """Every exercise (of one family, if given) as widgets, numbered in file order."""
    from tdxlab.exercises import load

    out = []
    for i, ex in enumerate(load().values(), 1):
        if family is None or ex.family == family:
            out.append(Exercise(ex, number=i, stepper=stepper))
    return out
