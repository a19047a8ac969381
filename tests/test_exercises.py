"""The exercises of notebook 06 grade honestly and ask about mechanisms, answered live by the model checker."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tdxlab import exercises
from tdxlab.errors import ScenarioError


def test_every_answer_is_one_of_the_offered_choices():
    for ex in exercises.load().values():
        sol = exercises.solve(ex)
        assert ex.options, ex.id
        assert str(sol.answer) in ex.options, (ex.id, sol.answer, ex.options)


def test_no_question_asks_for_a_number_of_steps():
    for ex in exercises.load().values():
        assert ex.ask != "steps"
        assert not re.search(r"how many steps", ex.question, re.I), ex.id


def test_the_model_is_named_by_its_parameters_not_by_the_scenario_name():
    from tdxlab.widgets.exercise import Exercise

    for ex in exercises.load().values():
        if not ex.scenario:
            continue
        w = Exercise(ex)
        before = w.question.value + w.static_html().split("<details")[0]
        assert ex.scenario not in before, ex.id
        assert ex.make_scenario().design_name in ex.where(), ex.id


def test_lock_asks_the_lock_the_waiter_waits_for():
    sol = exercises.solve("kvm-lock-order")
    assert sol.answer == exercises.awaited_lock(sol.detail, "cpu_up") != "none"
    assert exercises.awaited_lock("cpu_up/1 waits for kvm_lock, held by x; x waits for a_lock", "x") == "a_lock"
    assert exercises.awaited_lock("nothing here", "cpu_up") is None


def test_choices_are_required_for_choice_asks():
    base = {"id": "x", "family": "locking", "question": "q", "explanation": "e", "scenario": "kvm-6.16-boot"}
    with pytest.raises(ScenarioError, match="needs choices"):
        exercises.parse({"exercise": [dict(base, ask="which")]})
    with pytest.raises(ScenarioError, match="ask must be one of"):
        exercises.parse({"exercise": [dict(base, ask="steps", property="no-deadlock")]})
    with pytest.raises(ScenarioError, match="needs a waiter"):
        exercises.parse({"exercise": [dict(base, ask="lock", property="no-deadlock", choices=["kvm_lock"])]})


def _wrong(w):
    return next(o for o in w.exercise.options if o != str(w.solution.answer))


def test_reveal_without_a_prediction_is_not_graded_and_locks():
    from tdxlab.widgets.exercise import Exercise

    w = Exercise("forgotten-vmxon")
    assert w.outcome == "unanswered" and "not graded" in w.button.description
    w.reveal()
    assert w.revealed and w.outcome == "revealed, not graded"
    assert "revealed, not graded" in w.text.value and "right" not in w.text.value.split("The model")[0]
    assert w.prediction.disabled and w.button.disabled
    w.prediction.value = str(w.solution.answer)  # typing the answer after seeing it
    assert w.outcome == "revealed, not graded"
    assert "not graded" in w.text.value and "<span class='grade right'>" not in w.text.value


def test_a_prediction_locks_at_the_reveal_and_a_late_change_is_not_graded():
    from tdxlab.widgets.exercise import Exercise

    w = Exercise("kvm-lock-order")
    w.prediction.value = _wrong(w)
    assert w.button.description.startswith("check my prediction")
    w.reveal()
    assert w.outcome == "wrong" and "not quite" in w.text.value
    w.prediction.value = str(w.solution.answer)
    assert w.outcome == "revealed, not graded"
    assert "after the answer was shown: not graded" in w.text.value
    w.reveal()  # a second reveal does not regrade
    assert w.outcome == "revealed, not graded"

    r = Exercise("kvm-lock-order")
    r.prediction.value = str(r.solution.answer)
    r.reveal()
    assert r.outcome == "right" and "<span class='grade right'>right.</span>" in r.text.value


def test_cpu_asks_the_cpu_of_the_step_that_breaks_the_property():
    from tdxlab.widgets.exercise import Exercise

    sol = exercises.solve("online-assert-cpu")
    cex = sol.counterexample()
    assert cex is not None and sol.answer == exercises.violating_cpu(cex) == f"CPU{cex[-1][0].cpu}"
    # the assertion fires in the hotplug thread of the CPU coming online, not where the VM was created
    assert cex[-1][0].context.startswith("cpu_up/") and sol.answer != "CPU0"
    assert exercises.violating_cpu([(None, None)]) is None
    base = {"id": "x", "family": "IRQ safety", "question": "q", "explanation": "e", "scenario": "kvm-6.16-boot"}
    with pytest.raises(ScenarioError, match="needs choices"):
        exercises.parse({"exercise": [dict(base, ask="cpu", property="kernel-asserts")]})
    with pytest.raises(ScenarioError, match="needs a property"):
        exercises.parse({"exercise": [dict(base, ask="cpu", choices=["CPU0", "CPU1"])]})
    # a prediction locks at the reveal and is graded, as for every other kind of question
    w = Exercise("online-assert-cpu")
    w.prediction.value = "CPU0"
    w.reveal()
    assert w.outcome == "wrong" and w.prediction.disabled
    w.prediction.value = sol.answer  # changed after the answer showed: not graded
    assert w.outcome == "revealed, not graded"


def test_the_exercises_notebook_names_no_scenario_an_exercise_uses():
    """The replay stepper's label (and every other line of notebook 06) names the model neutrally: an
    exercise's scenario name (e.g. one with "race" in it) would hint at its answer."""
    src = (Path(__file__).resolve().parent.parent / "notebooks" / "06-exercises.md").read_text(encoding="utf-8")
    src = re.sub(r'Exercise\("[^"]+"', "Exercise(", src)  # an exercise's id may equal its scenario's name
    assert "Stepper(" in src
    for ex in exercises.load().values():
        if ex.scenario:
            assert ex.scenario not in src, ex.scenario
