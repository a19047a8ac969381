"""The stepper: one widget that walks through a scenario, a schedule or a counterexample, step by step.

>>> from tdxlab.widgets import Stepper
>>> s = Stepper("irq-race-second-user", mode="scheduler")   # you are the scheduler
>>> s.take("second-user")                                    # or click the buttons
>>> s.index, s.state.module.sys_name
(1, 'SYSINIT_PENDING')

What it shows, updated in place (HTML widgets whose ``value`` changes; no ``clear_output``):

* Play, back, step, reset and a slider over the steps; Play and the slider are linked in the browser
  (``ipywidgets.jslink``), so Play runs without a round trip per frame;
* per-CPU lanes (contexts, IRQs, VMX, LP.INIT, the kernel's per-CPU flag, locks held, what a context
  waits for), the module's state graph with the current state lit (``tdxlab.views.module_graph``), the
  locks with holders and waiters, and the last step in words with its SEAMCALL status decoded;
* in scheduler mode, one button per enabled step (which context runs, which IPI arrives, which CPU goes
  online or offline) and why each other context is blocked;
* a progress bar while :meth:`Stepper.explore` runs the model checker.

Every rendered panel is cached per state, so moving the slider back over seen steps costs a dictionary
lookup. Errors (an unknown scenario, a step that is not enabled) show as one line in the widget's message
area and are never raised.
"""
from __future__ import annotations

import time

import ipywidgets as W

from tdxlab.errors import TdxlabError
from tdxlab.widgets import panels

MODES = ("replay", "scheduler")
MAX_BUTTON_TEXT = 80


def _one_line(e: BaseException) -> str:
    if isinstance(e, TdxlabError):
        return str(e)
    text = " ".join(str(e).split()) or "no details"
    return f"internal error ({type(e).__name__}): {text}"


class Stepper(W.VBox):
    """Step through a scenario.

    ``scenario``: a :class:`tdxlab.scenario.Scenario` or a scenario name (``tdxlab scenarios``).
    ``schedule``: step keys to replay (default: the scenario's own schedule, else the first enabled step
    each time, as ``Scenario.run_first()``). ``mode``: ``"replay"`` walks a fixed trace; ``"scheduler"``
    starts at the initial state (or after ``schedule``) and lets you choose every next step.
    """

    def __init__(self, scenario=None, schedule=None, mode: str = "replay", title: str | None = None,
                 play_interval: int = 900):
        super().__init__()
        self.add_class("tdxlab-stepper")
        self.scenario = None
        self.steps: list = []  # [(StepInfo | None, State)]
        self.mode = "replay"
        self._cache: dict = {}  # state -> {"lanes", "locks", "blocked", "svg", "desc"}
        self._busy = False
        self.last_update_seconds = 0.0
        self._build(play_interval)
        self.load(scenario, schedule=schedule, mode=mode, title=title)

    # ------------------------------------------------------------------ construction
    def _build(self, play_interval: int) -> None:
        self.css = W.HTML(panels.CSS)
        self.title_html = W.HTML("")
        self.title_html.add_class("tdxlab-head")
        self.play = W.Play(value=0, min=0, max=0, step=1, interval=play_interval, description="Play",
                           tooltip="play the steps")
        self.play.add_class("tdxlab-play")
        self.back_button = W.Button(description="◀ back", tooltip="one step back",
                                    layout=W.Layout(width="auto"))
        self.back_button.add_class("tdxlab-back")
        self.step_button = W.Button(description="step ▶", tooltip="one step forward", button_style="primary",
                                    layout=W.Layout(width="auto"))
        self.step_button.add_class("tdxlab-step")
        self.reset_button = W.Button(description="⟲ reset", tooltip="back to the initial state",
                                     layout=W.Layout(width="auto"))
        self.reset_button.add_class("tdxlab-reset")
        self.slider = W.IntSlider(value=0, min=0, max=0, step=1, description="step", continuous_update=True,
                                  readout=True, layout=W.Layout(width="420px"))
        self.slider.add_class("tdxlab-slider")
        self._links = [W.jslink((self.play, "value"), (self.slider, "value")),
                       W.jslink((self.play, "max"), (self.slider, "max"))]
        self.counter = W.HTML("")
        self.counter.add_class("tdxlab-counter")
        controls = W.HBox([self.play, self.back_button, self.step_button, self.reset_button, self.slider,
                           self.counter], layout=W.Layout(align_items="center", flex_flow="row wrap"))
        controls.add_class("tdxlab-controls")
        self.message = W.HTML("")
        self.message.add_class("tdxlab-message")
        self.last_html = W.HTML("")
        self.last_html.add_class("tdxlab-last")
        self.table = W.HTML("")
        self.table.add_class("tdxlab-table")
        self.locks_html = W.HTML("")
        self.locks_html.add_class("tdxlab-locks")
        self.svg = W.HTML("", layout=W.Layout(overflow="auto", width="100%"))
        self.svg.add_class("tdxlab-svg")
        self.locks_html.layout = W.Layout(margin="0 0 0 16px")
        tables = W.HBox([self.table, self.locks_html], layout=W.Layout(flex_flow="row wrap",
                                                                        align_items="flex-start"))
        self.body = W.VBox([tables, self.svg])
        self.sched_help = W.HTML("<b>You are the scheduler:</b> pick what runs next.")
        self.sched_buttons = W.Box(layout=W.Layout(flex_flow="row wrap"))
        self.sched_buttons.add_class("tdxlab-sched")
        self.blocked = W.HTML("")
        self.blocked.add_class("tdxlab-blocked")
        self.sched_box = W.VBox([self.sched_help, self.sched_buttons, self.blocked])
        self._pool: list[W.Button] = []
        self.history = W.HTML("")
        self.history_box = W.Accordion(children=[self.history], selected_index=None)
        self.history_box.set_title(0, "steps so far")
        self.progress = W.IntProgress(value=0, min=0, max=100, description="exploring",
                                      layout=W.Layout(display="none", width="420px"))
        self.progress.add_class("tdxlab-progress")
        self.progress_text = W.HTML("")
        self.result_html = W.HTML("")
        self.result_html.add_class("tdxlab-result")
        self.children = [self.css, self.title_html, controls, self.message, self.last_html, self.sched_box,
                         self.body, self.history_box,
                         W.HBox([self.progress, self.progress_text]), self.result_html]
        self.slider.observe(self._on_slider, names="value")
        self.step_button.on_click(lambda _: self.step())
        self.back_button.on_click(lambda _: self.back())
        self.reset_button.on_click(lambda _: self.reset())

    # ------------------------------------------------------------------ loading
    def load(self, scenario, schedule=None, mode: str = "replay", title: str | None = None) -> bool:
        """(Re)load the widget with a scenario (or name), a schedule and a mode. Returns False and shows a
        message when something is wrong."""
        self._error("")
        try:
            if mode not in MODES:
                raise TdxlabError(f"unknown stepper mode {mode!r}: choose replay or scheduler")
            if scenario is None:
                raise TdxlabError("no scenario: give a scenario name (see `tdxlab scenarios`) or a Scenario")
            if isinstance(scenario, str):
                from tdxlab.scenario import get_scenario

                sc = get_scenario(scenario)
            else:
                sc = scenario
                if not hasattr(sc, "initial") or not hasattr(sc, "enabled"):
                    raise TdxlabError(f"a stepper needs a Scenario or a scenario name, not "
                                      f"{type(scenario).__name__}")
            if schedule is not None:
                steps = sc.replay(list(schedule))
            elif mode == "scheduler":
                steps = [(None, sc.initial())]
            elif sc.schedule is not None:
                steps = sc.replay()
            else:
                steps = sc.run_first()
        except Exception as e:  # noqa: BLE001 - shown in the widget, never raised
            self.scenario, self.steps = None, []
            self.title_html.value = f"<div class='tdxlab-title'>{panels.esc(title or 'stepper')}</div>"
            self._set_range(0)
            self._clear_panels()
            self._error(_one_line(e))
            return False
        self.scenario, self.mode, self.steps = sc, mode, steps
        self._cache.clear()
        story = " ".join((sc.story or "").split())
        head = panels.esc(title or sc.title())
        sub = f"<div class='tdxlab-story'>{panels.esc(story)}</div>" if story else ""
        modetext = ("you choose every step" if mode == "scheduler"
                    else f"replaying {len(steps) - 1} steps")
        self.title_html.value = (f"<div class='tdxlab-title'>{head} <span class='muted'>({modetext})</span>"
                                 f"</div>{sub}")
        self.sched_box.layout.display = None if mode == "scheduler" else "none"
        self._set_range(len(steps) - 1)
        self._goto(0, force=True)
        return True

    def _set_range(self, last: int) -> None:
        last = max(0, last)
        if self.slider.value > last:
            self.slider.value = last
        self.slider.max = last
        self.play.max = last
        if self.play.value > last:
            self.play.value = last

    def _clear_panels(self) -> None:
        for w in (self.last_html, self.table, self.locks_html, self.svg, self.blocked, self.history,
                  self.counter, self.result_html):
            w.value = ""
        self._set_buttons([])

    # ------------------------------------------------------------------ public navigation
    @property
    def index(self) -> int:
        """The step shown (0 = the initial state)."""
        return self.slider.value

    @property
    def state(self):
        return self.steps[self.index][1] if self.steps else None

    @property
    def info(self):
        """The StepInfo of the step shown (None at the initial state)."""
        return self.steps[self.index][0] if self.steps else None

    @property
    def schedule(self) -> list[str]:
        """The step keys up to the step shown: a schedule that replays it."""
        return [info.key for info, _ in self.steps[1:self.index + 1]]

    def describe(self) -> dict | None:
        """``Scenario.describe`` of the state shown (with its last step)."""
        if not self.steps:
            return None
        return self.scenario.describe(self.state, self.info)

    def enabled(self) -> list:
        """The enabled steps of the state shown (what scheduler mode offers as buttons)."""
        if not self.steps:
            return []
        return self.scenario.enabled(self.state)

    def goto(self, i: int) -> None:
        """Show step ``i`` (0 = the initial state)."""
        if not self.steps:
            return self._error("nothing to show: load a scenario first")
        if not isinstance(i, int) or not 0 <= i < len(self.steps):
            return self._error(f"step {i!r} is out of range: choose 0 to {len(self.steps) - 1}")
        self._goto(i)

    def goto_first(self, result: str | None = None, leaf: str | None = None, event: str | None = None) -> bool:
        """Show the first step whose SEAMCALL status is ``result`` (and leaf is ``leaf``), or that broke the
        property ``event``. Returns False, with a message, if there is none."""
        for i, (info, _) in enumerate(self.steps):
            if info is None:
                continue
            if result is not None and info.result != result:
                continue
            if leaf is not None and info.leaf != leaf:
                continue
            if event is not None and event not in [k for k, _ in info.events]:
                continue
            self._goto(i)
            return True
        want = ", ".join(f"{k}={v}" for k, v in (("result", result), ("leaf", leaf), ("event", event)) if v)
        self._error(f"no step with {want or 'anything'} in this trace")
        return False

    def step(self) -> None:
        """One step forward: the next step of the trace; in scheduler mode at the end, the first enabled
        step."""
        if not self.steps:
            return self._error("nothing to step: load a scenario first")
        if self.index < len(self.steps) - 1:
            return self._goto(self.index + 1)
        en = self.scenario.enabled(self.state)
        if self.mode == "scheduler" and en:
            return self.take(en[0].key)
        self._error("the end: no step is enabled here" if not en else
                    f"the end of the trace ({len(self.steps) - 1} steps); press reset to start again",
                    note=True)

    def back(self) -> None:
        if not self.steps:
            return self._error("nothing to step: load a scenario first")
        if self.index == 0:
            return self._error("already at the initial state", note=True)
        self._goto(self.index - 1)

    def reset(self) -> None:
        """Back to the initial state (in scheduler mode the choices made are forgotten)."""
        if not self.steps:
            return self._error("nothing to reset: load a scenario first")
        self.play.playing = False
        if self.mode == "scheduler":
            self.steps = self.steps[:1]
            self._set_range(0)
        self._goto(0, force=True)

    def take(self, key: str) -> bool:
        """Take the enabled step ``key`` from the state shown (the steps after it are forgotten).
        Returns False, with a message in the widget, if the step is not enabled."""
        if not self.steps:
            self._error("nothing to step: load a scenario first")
            return False
        try:
            info, s2 = self.scenario.step_info(self.state, key)
        except Exception as e:  # noqa: BLE001 - shown, never raised
            self._error(_one_line(e))
            return False
        self.steps = self.steps[:self.index + 1] + [(info, s2)]
        self._set_range(len(self.steps) - 1)
        self._goto(len(self.steps) - 1)
        return True

    # ------------------------------------------------------------------ updating
    def _on_slider(self, change) -> None:
        if not self._busy:
            self._render(change["new"])

    def _goto(self, i: int, force: bool = False) -> None:
        self._error("")
        # Play is jslinked to the slider in the browser: when the widget is first shown, the slider takes
        # Play's value, so move Play too or a goto() before display would be undone.
        if self.play.value != i:
            self.play.value = i
        if self.slider.value != i:
            self.slider.value = i  # the observer renders
        else:
            self._render(i)

    def _panels(self, state) -> dict:
        p = self._cache.get(state)
        if p is None:
            desc = self.scenario.describe(state)
            try:
                svg = panels.inline_svg(panels.module_svg(state, self.scenario),
                                        f"TDX module state graph, now {state.module.sys_name}")
            except TdxlabError as e:
                svg = f"<div class='tdxlab-message'>{panels.esc(str(e))}</div>"
            p = {"lanes": panels.lanes_html(desc), "locks": panels.locks_html(desc),
                 "blocked": panels.blocked_html(desc), "svg": svg, "enabled": self.scenario.enabled(state)}
            self._cache[state] = p
        return p

    def _render(self, i: int) -> None:
        if not self.steps or not 0 <= i < len(self.steps):
            return
        t0 = time.perf_counter()
        try:
            info, state = self.steps[i]
            p = self._panels(state)
            total = len(self.steps) - 1
            self.last_html.value = panels.last_step_html(info, i, total)
            self.table.value = p["lanes"]
            self.locks_html.value = p["locks"]
            self.svg.value = p["svg"]
            self.counter.value = f"<span class='muted'>of {total}</span>"
            if self.history_box.selected_index is not None or len(self.steps) < 200:
                self.history.value = panels.history_html(self.steps, i)
            if self.mode == "scheduler":
                self.blocked.value = p["blocked"]
                self._set_buttons(p["enabled"])
                if not p["enabled"]:
                    self.sched_help.value = "<b>No step is enabled</b>: this run is over (or deadlocked)."
                else:
                    self.sched_help.value = "<b>You are the scheduler:</b> pick what runs next."
        except Exception as e:  # noqa: BLE001
            self._error(_one_line(e))
        self.last_update_seconds = time.perf_counter() - t0

    def _set_buttons(self, steps) -> None:
        while len(self._pool) < len(steps):
            b = W.Button(layout=W.Layout(width="auto", margin="2px"))
            b.add_class("tdxlab-sched-button")
            b._tdx_key = None
            b.on_click(lambda btn: self.take(btn._tdx_key))
            self._pool.append(b)
        for b, st in zip(self._pool, steps):
            text = st.label if len(st.label) <= MAX_BUTTON_TEXT else st.label[:MAX_BUTTON_TEXT - 1] + "…"
            b._tdx_key = st.key
            b.description = text
            b.tooltip = f"{st.label}  [step key: {st.key}]"
            b.button_style = ("warning" if st.key.startswith("ipi:") else
                              "info" if st.key.startswith("event:") else "")
        shown = tuple(self._pool[:len(steps)])
        if tuple(self.sched_buttons.children) != shown:
            self.sched_buttons.children = shown

    @property
    def buttons(self) -> list[W.Button]:
        """The scheduler buttons shown now."""
        return list(self.sched_buttons.children)

    def _error(self, text: str, note: bool = False) -> None:
        if not text:
            self.message.value = ""
        elif note:
            self.message.value = f"<span style='color:#555;font-weight:normal'>{panels.esc(text)}</span>"
        else:
            self.message.value = f"<span class='tdxlab-message-text'>&#9888; {panels.esc(text)}</span>"

    @property
    def message_text(self) -> str:
        """The message shown, as plain text ("" when none)."""
        import re

        return panels.html.unescape(re.sub(r"<[^>]+>", "", self.message.value)).replace("⚠ ", "").strip()

    # ------------------------------------------------------------------ the model checker
    def explore(self, max_states: int = 200_000, max_seconds: float = 60.0, show: str | None = None):
        """Run the model checker on this scenario with a progress bar; show the verdicts below. With
        ``show`` (a property name), load its shortest counterexample into the stepper. Returns the
        CheckResult (None on error)."""
        from tdxlab.check.explore import explore

        if self.scenario is None:
            self._error("nothing to explore: load a scenario first")
            return None
        bar = self.progress
        bar.layout.display = None
        bar.max, bar.value, bar.bar_style = max_states, 0, "info"

        bar.description = "exploring"

        def progress(states, transitions, frontier, seconds):
            bar.value = min(states, max_states)
            self.progress_text.value = (f"<span class='muted'>{states} states, {transitions} transitions, "
                                        f"{frontier} to visit, {seconds:.1f} s</span>")

        def phase(text):  # after the exploration: the search for shortest counterexamples
            bar.description = "shortest"
            self.progress_text.value = f"<span class='muted'>{panels.esc(text)}</span>"

        try:
            res = explore(self.scenario, max_states=max_states, max_seconds=max_seconds, progress=progress,
                          progress_every=500, phase=phase)
        except Exception as e:  # noqa: BLE001
            bar.bar_style = "danger"
            self._error(_one_line(e))
            return None
        bar.description = "explored"
        bar.max = max(res.states, 1)
        bar.value = res.states
        bar.bar_style = "success" if res.complete else "warning"
        self.result_html.value = verdicts_html(res)
        if show is not None:
            self.show_counterexample(res, show)
        return res

    def show_counterexample(self, result, prop: str, title: str | None = None) -> bool:
        """Load the shortest counterexample of ``prop`` from ``result`` (replay mode)."""
        v = getattr(result, "verdicts", {}).get(prop)
        if v is None:
            names = ", ".join(getattr(result, "verdicts", {})) or "(none)"
            self._error(f"unknown property {prop!r}: choose one of {names}")
            return False
        if v.path is None:
            self._error(f"{prop} holds: there is no counterexample to show"
                        if v.holds else f"{prop}: no verdict (the exploration stopped early)", note=bool(v.holds))
            return False
        sc = result.scenario
        ok = self.load(sc, schedule=list(v.path), mode="replay",
                       title=title or f"{prop}: the shortest counterexample, {len(v.path)} steps ({sc.title()})")
        if ok and v.detail:
            self.result_html.value = (f"<div class='last err'><span class='broke'>&#9888; {panels.esc(prop)} "
                                      f"violated</span>: {panels.esc(v.detail)}</div>")
        return ok

    @classmethod
    def from_counterexample(cls, result, prop: str, title: str | None = None) -> "Stepper":
        """A stepper on the shortest counterexample of ``prop`` in a ``CheckResult``. If the property
        holds (or is unknown) the stepper shows the scenario's start and says so."""
        s = cls(None)
        sc = getattr(result, "scenario", None)
        v = getattr(result, "verdicts", {}).get(prop)
        if sc is None:
            s._error("from_counterexample needs a CheckResult from tdxlab.check.explore.explore()")
            return s
        if v is None or v.path is None:
            s.load(sc, mode="scheduler", title=title)
        s.show_counterexample(result, prop, title)  # or the message: unknown property, no counterexample
        return s

    # ------------------------------------------------------------------ static views
    def picture_svg(self) -> str:
        """One SVG of the step shown: the module graph above the swimlanes of the steps so far. For a
        static export; a small SVG with the message if there is nothing to draw."""
        if not self.steps:
            return _text_svg(self.message_text or "no scenario loaded")
        from tdxlab.render import render_svg
        from tdxlab.views import lanes

        try:
            state = self.state
            mod = panels.module_svg(state, self.scenario)
            pics = [mod]
            if self.index > 0:
                pics.append(render_svg(lanes(self.scenario, self.steps[:self.index + 1])))
            return panels.stack_svgs(pics, title=f"{self.scenario.title()}: step {self.index}")
        except Exception as e:  # noqa: BLE001
            return _text_svg(_one_line(e))

    def text_summary(self) -> str:
        if not self.steps:
            return f"<Stepper: {self.message_text or 'no scenario'}>"
        info = self.info
        what = "initial state" if info is None else f"{info.context}: {info.function}(): {info.action}"
        return (f"<Stepper {self.scenario.title()} ({self.mode}), step {self.index}/{len(self.steps) - 1}: "
                f"{what}; module {self.state.module.sys_name}>")

    def __repr__(self) -> str:
        return self.text_summary()

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.text_summary()
        data["image/svg+xml"] = self.picture_svg()
        return data


def _text_svg(text: str) -> str:
    t = panels.esc(text[:200])
    width = max(200, 7 * len(text[:200]) + 20)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="30" role="img" '
            f'aria-label="{t}"><text x="10" y="20" font-family="Helvetica" font-size="12" '
            f'fill="#a40000">{t}</text></svg>')


def verdicts_html(res) -> str:
    """The checker's verdicts as a small coloured table."""
    rows = []
    for r in res.summary_rows():
        colour = {"holds": panels.GOOD, "VIOLATED": panels.BAD}.get(r["verdict"], panels.WARN)
        steps = "" if r["steps"] is None else str(r["steps"]) + ("" if r["shortest"] else " (not proven shortest)")
        rows.append(f"<tr><td><code>{panels.esc(r['property'])}</code></td>"
                    f"<td style='background:{colour}'>{panels.esc(r['verdict'])}</td><td>{steps}</td>"
                    f"<td>{panels.esc(r['why'])}</td><td class='muted'>{panels.esc(r['fact'])}</td></tr>")
    head = (f"<div><b>{res.states} states, {res.transitions} transitions, {res.seconds:.2f} s"
            f"{'' if res.complete else ' (incomplete: ' + panels.esc(res.stopped or '') + ')'}</b></div>")
    return (head + "<table class='tdxlab-locks'><tr><th>property</th><th>verdict</th><th>steps</th>"
            "<th>why</th><th>fact</th></tr>" + "".join(rows) + "</table>")
