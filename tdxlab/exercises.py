"""Predict-then-check exercises (OSTEP-style homework) for notebook 06: the questions are data
(``data/exercises.toml``), the answers are computed by the model checker every time.

>>> from tdxlab.exercises import load, solve
>>> ex = load()["irq-race-status"]
>>> sol = solve(ex)                  # explores the scenario
>>> sol.answer
'TDX_SYS_LP_INIT_DONE'
>>> sol.grade("TDX_SYS_BUSY")
'not quite: the model says TDX_SYS_LP_INIT_DONE'

Questions ask about mechanisms (which status, which property, which lock, on which CPU, does a design survive
an event),
never about a number of steps: how many steps a run takes depends on how the model merges steps. Before the
answer is shown an exercise names its model by its parameters (:meth:`Exercise.where`), never by the scenario's
name, which may give the answer away.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from tdxlab.check.properties import PROPERTIES
from tdxlab.errors import BadInput, ScenarioError, UnknownName
from tdxlab.inputs import read_toml_file

ASKS = ("verdict", "status", "which", "any", "lock", "cpu")
FAMILIES = ("LP.INIT", "IRQ safety", "locking")
ANY_CHOICES = ["every property holds", "something breaks"]
VERDICT_CHOICES = ["holds", "violated"]


@dataclass(frozen=True)
class Exercise:
    id: str
    family: str
    question: str
    ask: str
    explanation: str
    fact: str = ""
    scenario: str | None = None
    args: tuple = ()  # sorted ((key, value), ...) of Scenario kwargs
    prop: str | None = None  # the property asked about (field 'property' in the TOML)
    choices: tuple = ()
    waiter: str = ""  # ask 'lock': the context (a prefix such as 'cpu_up') whose awaited lock is asked

    @property
    def options(self) -> list[str] | None:
        """The answers offered for a prediction (None: a number is asked)."""
        if self.ask == "verdict":
            return list(VERDICT_CHOICES)
        if self.ask == "any":
            return list(ANY_CHOICES)
        return list(self.choices)

    def make_scenario(self):
        from tdxlab.scenario import Scenario, get_scenario

        if self.scenario:
            return get_scenario(self.scenario)
        return Scenario(**{k: (list(v) if isinstance(v, tuple) else v) for k, v in self.args})

    def where(self) -> str:
        """The model's parameters (design, rule, topology, ...), never the scenario's name."""
        sc = self.make_scenario()
        parts = [f"design {sc.design_name}", f"{sc.rule} LP.INIT rule", f"topology {sc.topology}"]
        if sc.nosmt:
            parts.append("nosmt")
        if sc.offline:
            parts.append("offline at boot: " + ",".join(f"CPU{c}" for c in sorted(sc.offline)))
        if sc.mutations:
            parts.append("mutations: " + ", ".join(sc.mutations))
        if sc.options:
            parts.append("options: " + ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                                                for k, v in sorted(sc.options.items())))
        if not sc.offline_keeps_lp_init:
            parts.append("offline_keeps_lp_init=false")
        if sc.events:
            parts.append("events: " + ", ".join(sc.events))
        return "; ".join(parts)


def exercises_path():
    from tdxlab.facts import data_dir

    return data_dir() / "exercises.toml"


def _freeze(v):
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    return v


def parse(data: dict, where: str = "exercises.toml") -> dict[str, Exercise]:
    """Validate the TOML table of exercises; one clear ScenarioError per problem."""
    out: dict[str, Exercise] = {}
    items = data.get("exercise")
    if not isinstance(items, list) or not items:
        raise ScenarioError(f"{where}: no [[exercise]] tables")
    known = {"id", "family", "question", "ask", "explanation", "fact", "scenario", "args", "property", "choices",
             "waiter"}
    for i, e in enumerate(items):
        name = e.get("id", f"#{i + 1}")
        bad = set(e) - known
        if bad:
            raise ScenarioError(f"{where}: exercise {name}: unknown field(s) {', '.join(sorted(bad))}")
        for f in ("id", "family", "question", "ask", "explanation"):
            if not isinstance(e.get(f), str) or not e[f].strip():
                raise ScenarioError(f"{where}: exercise {name}: missing text field {f!r}")
        if e["family"] not in FAMILIES:
            raise ScenarioError(f"{where}: exercise {name}: family must be one of {', '.join(FAMILIES)}")
        if e["ask"] not in ASKS:
            raise ScenarioError(f"{where}: exercise {name}: ask must be one of {', '.join(ASKS)}")
        if ("scenario" in e) == ("args" in e):
            raise ScenarioError(f"{where}: exercise {name}: give exactly one of scenario or args")
        prop = e.get("property")
        if e["ask"] in ("status", "which", "lock", "cpu") and not (isinstance(e.get("choices"), list) and e["choices"]):
            raise ScenarioError(f"{where}: exercise {name}: ask {e['ask']!r} needs choices")
        if e["ask"] == "lock" and not isinstance(e.get("waiter"), str):
            raise ScenarioError(f"{where}: exercise {name}: ask 'lock' needs a waiter (a context such as 'cpu_up')")
        if e["ask"] in ("verdict", "status", "lock", "cpu") and prop is None:
            raise ScenarioError(f"{where}: exercise {name}: ask {e['ask']!r} needs a property")
        if prop is not None and prop not in PROPERTIES:
            raise ScenarioError(f"{where}: exercise {name}: unknown property {prop!r}")
        if name in out:
            raise ScenarioError(f"{where}: exercise id {name!r} is used twice")
        args = e.get("args")
        if args is not None and not isinstance(args, dict):
            raise ScenarioError(f"{where}: exercise {name}: args must be a table of Scenario arguments")
        out[name] = Exercise(name, e["family"], " ".join(e["question"].split()), e["ask"],
                             " ".join(e["explanation"].split()), e.get("fact", ""), e.get("scenario"),
                             _freeze(args or {}), prop, tuple(e.get("choices", ())),
                             e.get("waiter", ""))
    return out


@lru_cache(maxsize=1)
def load() -> dict[str, Exercise]:
    """The exercises of ``data/exercises.toml`` by id, in file order."""
    p = exercises_path()
    try:
        data = read_toml_file(p, "exercises file")
    except BadInput as e:
        raise ScenarioError(str(e)) from None
    return parse(data, p.name)


def get(ex_id: str) -> Exercise:
    ex = load()
    if ex_id not in ex:
        raise UnknownName(f"unknown exercise {ex_id!r}: choose one of {', '.join(ex)}")
    return ex[ex_id]


@lru_cache(maxsize=64)
def _explore(key: tuple):
    from tdxlab.check.explore import explore

    ex = key[0]
    return explore(ex.make_scenario(), max_states=200_000)


def awaited_lock(detail: str, waiter: str) -> str | None:
    """In a deadlock's detail ('cpu_up/1 waits for kvm_lock, held by ...'), the lock ``waiter`` waits for."""
    import re

    for who, lock in re.findall(r"(\S+) waits for (\w+)", detail):
        if who.startswith(waiter):
            return lock
    return None


def violating_cpu(steps) -> str | None:
    """The CPU of the step at which a counterexample breaks its property (its last step), as 'CPU1'."""
    info = steps[-1][0] if len(steps) > 1 else None
    return None if info is None or info.cpu is None else f"CPU{info.cpu}"


def first_failed_status(steps) -> str | None:
    """The status of the first SEAMCALL in ``steps`` that did not return TDX_SUCCESS."""
    for info, _ in steps[1:]:
        if info.leaf and info.result and info.result != "TDX_SUCCESS":
            return info.result
    return None


@dataclass
class Solution:
    exercise: Exercise
    answer: object  # the computed answer: a verdict, a number, a status or a property name
    result: object = None  # the CheckResult
    steps: int | None = None
    detail: str = ""
    status: str | None = None
    prop: str | None = None  # the property whose counterexample illustrates the answer
    violated: list = field(default_factory=list)

    @property
    def states(self) -> int:
        return self.result.states if self.result is not None else 0

    def explanation(self) -> str:
        values = {"answer": self.answer, "steps": self.steps if self.steps is not None else "no",
                  "detail": self.detail or "no detail", "status": self.status or "no failed SEAMCALL",
                  "states": self.states, "violated": ", ".join(self.violated) or "nothing",
                  "property": self.prop or ""}
        try:
            return self.exercise.explanation.format(**values)
        except (KeyError, IndexError, ValueError) as e:
            raise ScenarioError(f"exercise {self.exercise.id}: bad placeholder in its explanation: {e}") from None

    def grade(self, prediction) -> str:
        """A one-line verdict on a prediction: 'right' or 'not quite: ...'; with no prediction, 'revealed,
        not graded (no prediction)'."""
        if prediction is None or prediction == "":
            return "revealed, not graded (no prediction)"
        return "right" if str(prediction) == str(self.answer) else f"not quite: the model says {self.answer}"

    def counterexample(self):
        if self.result is None or self.prop is None:
            return None
        v = self.result.verdicts[self.prop]
        return None if v.path is None else self.result.counterexample(self.prop)


def solve(ex: "Exercise | str") -> Solution:
    """Compute the answer to an exercise with the model checker (cached per exercise in this process)."""
    if isinstance(ex, str):
        ex = get(ex)
    res = _explore((ex,))
    if ex.prop is not None and ex.prop not in res.verdicts:  # another chapter's property: one line, not a KeyError
        from tdxlab.check.properties import why_not
        from tdxlab.errors import NotApplicable
        raise NotApplicable(f"exercise {ex.id}: {why_not(ex.prop, res.scenario.design)}")
    violated = sorted(res.violated, key=lambda n: (len(res.verdicts[n].path or ()), n))
    sol = Solution(ex, None, res, violated=violated)

    def fill(prop: str | None) -> None:
        sol.prop = prop
        if prop is None:
            return
        v = res.verdicts[prop]
        sol.steps = len(v.path) if v.path is not None else None
        sol.detail = v.detail or ""
        if v.path is not None:
            sol.status = first_failed_status(res.counterexample(prop))

    if ex.ask == "verdict":
        fill(ex.prop)
        v = res.verdicts[ex.prop].holds
        sol.answer = "holds" if v else ("violated" if v is False else "unknown (budget reached)")
    elif ex.ask == "lock":
        fill(ex.prop)
        sol.answer = awaited_lock(sol.detail, ex.waiter) or "none"
    elif ex.ask == "status":
        fill(ex.prop)
        sol.answer = sol.status
    elif ex.ask == "cpu":
        fill(ex.prop)
        cex = sol.counterexample()
        sol.answer = (violating_cpu(cex) if cex is not None else None) or "none"
    elif ex.ask == "which":
        fill(violated[0] if violated else None)
        sol.answer = violated[0] if violated else "none"
    elif ex.ask == "any":
        fill(violated[0] if violated else None)
        sol.answer = ANY_CHOICES[1] if violated else ANY_CHOICES[0]
    return sol
