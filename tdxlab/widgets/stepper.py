"""The stepper: one widget that walks through a scenario, a schedule or a counterexample, step by step.

>>> from tdxlab.widgets import Stepper
>>> s = Stepper("irq-race-second-user", mode="scheduler")   # you are the scheduler
>>> s.take("second-user")                                    # or click the buttons
>>> s.index, s.state.module.sys_name
(1, 'SYSINIT_PENDING')

What it shows, updated in place (HTML widgets whose ``value`` changes; no ``clear_output``):

* Play (with a speed control), start, back, step, end, "the failure" and a slider over the steps; Play and
  the slider are linked in the browser (``ipywidgets.jslink``), so Play runs without a round trip per frame.
  Keys, once the stepper has the focus (click it): left/right arrows step, Home/End go to the first/last
  step, F jumps to the step that breaks a property;
* per-CPU lanes (contexts, IRQs, VMX, LP.INIT, the kernel's per-CPU flag, locks held, what a context
  waits for), the code each context runs with the line it runs next marked (as in a debugger; the model's
  listing of the function, tdxlab.widgets.source), the module's state graph with the current state lit (``tdxlab.views.module_graph``), the
  locks with holders and waiters, and the last step in words with its SEAMCALL status decoded;
* in scheduler mode, one button per enabled step (which context runs, which IPI arrives, which CPU goes
  online or offline) and why each other context is blocked; Play is hidden there (you are the scheduler),
  and the arrows walk back and forth over your own choices without forgetting them;
* a progress bar while :meth:`Stepper.explore` runs the model checker.

Every rendered panel is cached per state, so moving the slider back over seen steps costs a dictionary
lookup. Errors (an unknown scenario, a step that is not enabled) show as one line in the widget's message
area and are never raised; wrong arguments to the constructor or to :meth:`Stepper.explore` (a
``play_interval`` that is not a number of milliseconds, a negative budget) raise
:class:`tdxlab.errors.BadInput`, which a notebook shows as one line.

For a static page (``make html``, ``make slides``: tdxlab.present runs the notebooks with
``TDXLAB_EXPORT=1``), the widget's mimebundle carries :meth:`Stepper.frames_html`: every step pre-rendered
behind a slider and the arrow keys, opened at the step that matters, with no kernel.
"""
from __future__ import annotations

import html
import os
import time

import ipywidgets as W

from tdxlab.errors import BadInput, TdxlabError
from tdxlab.widgets import panels

MODES = ("replay", "scheduler")
MAX_BUTTON_TEXT = 80
#: Play's speeds: label -> milliseconds per step
SPEEDS = {"slow": 1500, "normal": 800, "fast": 300, "fastest": 100}
EXPORT_ENV = "TDXLAB_EXPORT"  # set by tdxlab.present: mimebundles carry the static, pre-rendered frames
NEXT_SLIDE = "<!-- tdxlab:next-slide -->"  # in a static output: a deck (tdxlab.present) cuts it into two slides here
KEYS_HELP = ("Keys (click the stepper first): &larr; &rarr; step, Home / End: first / last step, "
             "F: the step that breaks a property")
# Keyboard support without a custom widget: an HTML widget's markup is set with innerHTML, so an image that
# fails to load runs its onerror handler once, which binds the keys on the enclosing stepper. Each key clicks
# one of the stepper's own buttons, so everything else goes through the kernel as a click would.
# data-lm-suppress-shortcuts keeps JupyterLab's command-mode shortcuts out while the stepper has the focus.
_KEYS_JS = """(function bind(img, tries) {
  var root = img.closest('.tdxlab-stepper');
  if (!root) { if (tries < 50) setTimeout(function () { bind(img, tries + 1); }, 200); return; }
  if (root.dataset.tdxlabKeys) return;
  root.dataset.tdxlabKeys = '1';
  root.tabIndex = 0;
  root.setAttribute('data-lm-suppress-shortcuts', 'true');
  var keys = {ArrowRight: 'tdxlab-step', ArrowLeft: 'tdxlab-back', Home: 'tdxlab-first', End: 'tdxlab-end',
              f: 'tdxlab-failure', F: 'tdxlab-failure'};
  root.addEventListener('keydown', function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey || !keys[e.key]) return;
    if (e.target.closest('input, textarea, select, .noUi-target')) return;
    var inner = e.target.closest('.tdxlab-stepper');
    if (inner !== root) return;
    var b = root.querySelector('button.' + keys[e.key]);
    if (b && !b.disabled && b.offsetParent !== null) b.click();
    e.preventDefault();
    e.stopPropagation();
  });
})(this, 0)"""


FRAMES_CSS = """
<style>
.tdxlab-frames [hidden] {display: none !important;}
.tdxlab-frames .tdxlab-frames-controls {display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin: 4px 0;}
.tdxlab-frames .tdxlab-frames-controls button {font-size: 13px; padding: 2px 8px; color: #1a1a1a; background: #eeeeee;
  border: 1px solid #999999; border-radius: 3px; cursor: pointer;}
.tdxlab-frames .tdxlab-frames-controls input[type=range] {width: 320px;}
.tdxlab-frames .tdxlab-frames-main {display: flex; flex-wrap: wrap; align-items: flex-start; gap: 12px;}
.tdxlab-frames .tdxlab-frames-steps {flex: 1 1 420px; min-width: 0;}
.tdxlab-frames .tdxlab-frame-body {display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start;}
.tdxlab-frames .tdxlab-side {display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start;}
.tdxlab-frames .tdxlab-frames-pics {flex: 0 0 auto; max-width: 100%;}
.tdxlab-frames .tdxlab-frames-pics svg {max-width: 100%; height: auto;}
</style>
"""
# Steps the pre-rendered frames of the block just before the script: the slider, the buttons, and the keys
# (left/right, Home/End, F) while the block has the focus; the keys do not reach reveal.js's slide keys.
FRAMES_JS = """(function (root) {
  if (!root || !root.classList.contains('tdxlab-frames')) return;
  var frames = root.querySelectorAll('.tdxlab-frame'), pics = root.querySelectorAll('.tdxlab-frame-svg');
  var range = root.querySelector('input[type=range]'), at = root.querySelector('.tdxlab-frames-at');
  var total = frames.length - 1;
  function show(i) {
    i = Math.max(0, Math.min(total, i));
    frames.forEach(function (f, k) { f.hidden = k !== i; });
    var svg = frames[i].getAttribute('data-svg');
    pics.forEach(function (p) { p.hidden = p.getAttribute('data-svg') !== svg; });
    range.value = i; at.textContent = 'step ' + i + ' of ' + total; root.dataset.at = i;
  }
  range.addEventListener('input', function () { show(+range.value); });
  root.addEventListener('click', function (e) {
    var b = e.target.closest('button'); if (!b) return;
    show(b.dataset.go !== undefined ? +b.dataset.go : +range.value + (+b.dataset.step));
  });
  root.addEventListener('keydown', function (e) {
    var k = e.key, i = +range.value, to = null;
    if (e.target === range && /^(Arrow|Home|End|Page)/.test(k)) { e.stopPropagation(); return; }
    if (k === 'ArrowRight') to = i + 1; else if (k === 'ArrowLeft') to = i - 1;
    else if (k === 'Home') to = 0; else if (k === 'End') to = total;
    else if ((k === 'f' || k === 'F') && root.dataset.fail !== '') to = +root.dataset.fail;
    if (to === null) return;
    show(to); e.preventDefault(); e.stopPropagation();
  });
  show(+range.value);
})(document.currentScript && document.currentScript.previousElementSibling);"""


def _check_budget(name: str, value, kinds) -> None:
    if isinstance(value, bool) or not isinstance(value, kinds) or not value > 0:
        raise BadInput(f"{name}={str(value)[:40]!r} is not a budget: give a positive number")


def _one_line(e: BaseException) -> str:
    if isinstance(e, TdxlabError):
        return str(e)
    text = " ".join(str(e).split()) or "no details"
    return f"internal error ({type(e).__name__}): {text}"


def _check_interval(play_interval) -> int:
    if isinstance(play_interval, str) and play_interval in SPEEDS:
        return SPEEDS[play_interval]
    if isinstance(play_interval, bool) or not isinstance(play_interval, (int, float)) or not (
            20 <= play_interval <= 60_000):
        raise BadInput(f"play_interval {str(play_interval)[:40]!r} is not a speed: give milliseconds per step "
                       f"(20 to 60000) or one of {', '.join(SPEEDS)}")
    return int(play_interval)


class Stepper(W.VBox):
    """Step through a scenario.

    ``scenario``: a :class:`tdxlab.scenario.Scenario` or a scenario name (``tdxlab scenarios``).
    ``schedule``: step keys to replay (default: the scenario's own schedule, else the first enabled step
    each time, as ``Scenario.run_first()``). ``mode``: ``"replay"`` walks a fixed trace; ``"scheduler"``
    starts at the initial state (or after ``schedule``) and lets you choose every next step.
    ``play_interval``: Play's milliseconds per step, or a speed name (slow, normal, fast, fastest).
    """

    def __init__(self, scenario=None, schedule=None, mode: str = "replay", title: str | None = None,
                 play_interval: "int | str" = "normal"):
        interval = _check_interval(play_interval)
        if title is not None and not isinstance(title, str):
            raise BadInput(f"a stepper's title is text, not {type(title).__name__}")
        super().__init__()
        self.add_class("tdxlab-stepper")
        self.scenario = None
        self.steps: list = []  # [(StepInfo | None, State)]
        self.mode = "replay"
        self.violation: int | None = None  # the step that breaks a property (a counterexample's last)
        self._cache: dict = {}  # state -> {"lanes", "locks", "blocked", "svg", "progress", "enabled"}
        self._busy = False
        self.last_update_seconds = 0.0
        self._build(interval)
        self.load(scenario, schedule=schedule, mode=mode, title=title)

    # ------------------------------------------------------------------ construction
    def _button(self, text: str, tip: str, cls: str, on_click, style: str = "") -> W.Button:
        b = W.Button(description=text, tooltip=tip, button_style=style, layout=W.Layout(width="auto"))
        b.add_class(cls)
        b.on_click(lambda _: on_click())
        return b

    def _build(self, play_interval: int) -> None:
        self.css = W.HTML(panels.CSS)
        self.title_html = W.HTML("")
        self.title_html.add_class("tdxlab-head")
        self.play = W.Play(value=0, min=0, max=0, step=1, interval=play_interval, description="Play",
                           tooltip="play the steps")
        self.play.add_class("tdxlab-play")
        speed = next((k for k, v in SPEEDS.items() if v == play_interval), None)
        options = list(SPEEDS.items()) + ([] if speed else [(f"{play_interval} ms", play_interval)])
        self.speed = W.Dropdown(options=options, value=play_interval, description="speed",
                                layout=W.Layout(width="170px"), style={"description_width": "44px"})
        self.speed.add_class("tdxlab-speed")
        self.speed.observe(lambda ch: setattr(self.play, "interval", ch["new"]), names="value")
        self.first_button = self._button("◀◀ first", "the initial state (Home)", "tdxlab-first", self.first)
        self.back_button = self._button("◀ back", "one step back (left arrow)", "tdxlab-back", self.back)
        self.step_button = self._button("step ▶", "one step forward (right arrow)", "tdxlab-step", self.step,
                                        "primary")
        self.end_button = self._button("last ▶▶", "the last step (End)", "tdxlab-end", self.last)
        self.failure_button = self._button("⚠ the failure", "the step that breaks a property (F)",
                                           "tdxlab-failure", self.goto_failure, "danger")
        self.reset_button = self._button("⟲ start over", "forget your choices and go back to the initial state",
                                         "tdxlab-reset", self.reset)
        self.slider = W.IntSlider(value=0, min=0, max=0, step=1, description="step", continuous_update=True,
                                  readout=True, layout=W.Layout(width="340px"))
        self.slider.add_class("tdxlab-slider")
        self._links = [W.jslink((self.play, "value"), (self.slider, "value")),
                       W.jslink((self.play, "max"), (self.slider, "max"))]
        self.counter = W.HTML("")
        self.counter.add_class("tdxlab-counter")
        self.keys_html = W.HTML(f"<span class='tdxlab-keys'>{KEYS_HELP}</span>"
                           f"<img src='data:,' alt='' style='display:none' onerror=\"{html.escape(_KEYS_JS)}\">")
        self.keys_html.add_class("tdxlab-keys")
        self.play_box = W.HBox([self.play, self.speed], layout=W.Layout(align_items="center"))
        controls = W.HBox([self.play_box, self.first_button, self.back_button, self.step_button,
                           self.end_button, self.failure_button, self.reset_button, self.slider, self.counter],
                          layout=W.Layout(align_items="center", flex_flow="row wrap"))
        controls.add_class("tdxlab-controls")
        self.message = W.HTML("")
        self.message.add_class("tdxlab-message")
        self.last_html = W.HTML("")
        self.last_html.add_class("tdxlab-last")
        self.table = W.HTML("")
        self.table.add_class("tdxlab-table")
        self.locks_html = W.HTML("")
        self.locks_html.add_class("tdxlab-locks")
        self.progress_html = W.HTML("")
        self.progress_html.add_class("tdxlab-module-progress")
        self.svg = W.HTML("")
        self.svg.add_class("tdxlab-svg")
        side = W.HBox([self.locks_html, self.progress_html], layout=W.Layout(flex_flow="row wrap",
                                                                              align_items="flex-start"))
        # the CPUs (lanes, locks, the module per LP) on the left, the module's state graph on the right; on a
        # narrow screen the graph wraps below, drawn at its own size (never scaled down)
        self.body = W.HBox([W.VBox([self.table, side]), self.svg],
                           layout=W.Layout(flex_flow="row wrap", align_items="flex-start"))
        self.sched_help = W.HTML("")
        self.sched_buttons = W.Box(layout=W.Layout(flex_flow="row wrap"))
        self.sched_buttons.add_class("tdxlab-sched")
        self.blocked = W.HTML("")
        self.blocked.add_class("tdxlab-blocked")
        self.sched_box = W.VBox([self.sched_help, self.sched_buttons, self.blocked])
        self._pool: list[W.Button] = []
        self.code = W.HTML("")
        self.code.add_class("tdxlab-code-panel")
        self.code_box = W.Accordion(children=[self.code], selected_index=0)
        self.code_box.set_title(0, "the code: where each context is (▶ runs next)")
        self.history = W.HTML("")
        self.history_box = W.Accordion(children=[self.history], selected_index=None)
        self.history_box.set_title(0, "steps so far")
        self.progress = W.IntProgress(value=0, min=0, max=100, description="exploring",
                                      layout=W.Layout(display="none", width="420px"))
        self.progress.add_class("tdxlab-progress")
        self.progress_text = W.HTML("")
        self.result_html = W.HTML("")
        self.result_html.add_class("tdxlab-result")
        self.children = [self.css, self.title_html, controls, self.keys_html, self.message, self.last_html,
                         self.sched_box, self.body, self.code_box, self.history_box,
                         W.HBox([self.progress, self.progress_text]), self.result_html]
        self.slider.observe(self._on_slider, names="value")

    # ------------------------------------------------------------------ loading
    def load(self, scenario, schedule=None, mode: str = "replay", title: str | None = None) -> bool:
        """(Re)load the widget with a scenario (or name), a schedule and a mode. Returns False and shows a
        message when something is wrong."""
        self._error("")
        try:
            if mode not in MODES:
                raise TdxlabError(f"unknown stepper mode {str(mode)[:40]!r}: choose replay or scheduler")
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
            if schedule is not None and (isinstance(schedule, (str, bytes)) or not hasattr(schedule, "__iter__")):
                raise TdxlabError(f"a schedule is a list of step keys, not {type(schedule).__name__}")
            if schedule is not None:
                steps = sc.replay(list(schedule))
            elif mode == "scheduler":
                steps = [(None, sc.initial())]
            elif sc.schedule is not None:
                steps = sc.replay()
            else:
                steps = sc.run_first()
        except Exception as e:  # noqa: BLE001 - shown in the widget, never raised
            self.scenario, self.steps, self.violation = None, [], None
            self.title_html.value = f"<div class='tdxlab-title'>{panels.esc(title or 'stepper')}</div>"
            self._set_range(0)
            self._clear_panels()
            self._error(_one_line(e))
            return False
        self.scenario, self.mode, self.steps, self.violation = sc, mode, steps, None
        self._cache.clear()
        story = " ".join((sc.story or "").split())
        head = panels.esc(title or sc.title())
        sub = f"<div class='tdxlab-story'>{panels.esc(story)}</div>" if story else ""
        modetext = ("you choose every step" if mode == "scheduler"
                    else f"replaying {len(steps) - 1} steps")
        self.title_html.value = (f"<div class='tdxlab-title'>{head} <span class='muted'>({modetext})</span>"
                                 f"</div>{sub}")
        scheduler = mode == "scheduler"
        self.sched_box.layout.display = None if scheduler else "none"
        self.play_box.layout.display = "none" if scheduler else None  # you are the scheduler: no Play
        self.reset_button.layout.display = None if scheduler else "none"
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
        for w in (self.last_html, self.table, self.locks_html, self.progress_html, self.svg, self.code, self.blocked,
                  self.history, self.counter, self.result_html):
            w.value = ""
        self.failure_button.layout.display = "none"
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
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self.steps):
            return self._error(f"step {str(i)[:20]!r} is out of range: choose 0 to {len(self.steps) - 1}")
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

    def failure_index(self) -> int | None:
        """The step that matters most: the violating step of a counterexample (its last), else the first
        step that broke a property, else the first failed SEAMCALL; None if the trace has none."""
        if self.violation is not None:
            return self.violation
        for i, (info, _) in enumerate(self.steps):
            if info is not None and info.events:
                return i
        for i, (info, _) in enumerate(self.steps):
            if info is not None and info.result and info.result != "TDX_SUCCESS":
                return i
        return None

    def goto_failure(self) -> bool:
        """Show :meth:`failure_index` (the F key, the "the failure" button). False, with a note, if none."""
        i = self.failure_index() if self.steps else None
        if i is None:
            self._error("no step in this trace breaks a property or fails a SEAMCALL", note=True)
            return False
        self._goto(i)
        return True

    def first(self) -> None:
        """The initial state (Home); in scheduler mode your choices are kept."""
        if self.steps:
            self._goto(0)

    def last(self) -> None:
        """The last step of the trace (End)."""
        if self.steps:
            self._goto(len(self.steps) - 1)

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
                    f"the end of the trace ({len(self.steps) - 1} steps): ⏮ or Home goes back to the start",
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
            if not isinstance(key, str):
                raise BadInput(f"a step key is text (see the buttons' tooltips), not {type(key).__name__}")
            info, s2 = self.scenario.step_info(self.state, key)
        except Exception as e:  # noqa: BLE001 - shown, never raised
            self._error(_one_line(e))
            return False
        self.steps = self.steps[:self.index + 1] + [(info, s2)]
        if self.violation is not None and self.violation >= len(self.steps) - 1:
            self.violation = None
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
                 "progress": panels.progress_html(state, self.scenario),
                 "code": panels.code_html(state, self.scenario),
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
            self.last_html.value = panels.last_step_html(info, i, total, self.mode)
            self.table.value = p["lanes"]
            self.locks_html.value = p["locks"]
            self.progress_html.value = p["progress"]
            self.svg.value = p["svg"]
            self.code.value = p["code"]
            self.counter.value = (f"<span class='muted'>of {total} (your choices)</span>" if self.mode == "scheduler"
                                  else f"<span class='muted'>of {total}</span>")
            fail = self.failure_index()
            self.failure_button.layout.display = None if fail is not None else "none"
            if self.history_box.selected_index is not None or len(self.steps) < 200:
                self.history.value = panels.history_html(self.steps, i)
            if self.mode == "scheduler":
                self.blocked.value = p["blocked"]
                self._set_buttons(p["enabled"])
                if not p["enabled"]:
                    self.sched_help.value = "<b>No step is enabled</b>: this run is over (or deadlocked)."
                elif i < total:
                    self.sched_help.value = (f"<b>You are the scheduler.</b> You are looking back at step {i} of "
                                             f"your {total} choices: step &#9654; walks on through them; a button "
                                             f"below chooses again from here (and forgets the later ones).")
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
            label = panels.readable(st.label)
            text = label if len(label) <= MAX_BUTTON_TEXT else _cut(label, MAX_BUTTON_TEXT)
            b._tdx_key = st.key
            b.description = text
            b.tooltip = f"{label}  [step key: {st.key}]"
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
    def explore(self, max_states: int = 200_000, max_seconds: float | None = None, show: str | None = None):
        """Run the model checker on this scenario with a progress bar; show the verdicts below. With
        ``show`` (a property name), load its shortest counterexample into the stepper. Returns the
        CheckResult (None on error)."""
        from tdxlab.check.explore import explore

        _check_budget("max_states", max_states, int)
        if max_seconds is not None:
            _check_budget("max_seconds", max_seconds, (int, float))
        if show is not None and not isinstance(show, str):
            raise BadInput(f"show= names a property (text), not {type(show).__name__}")
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
        """Load the shortest counterexample of ``prop`` from ``result`` (replay mode), shown at its violating
        step (the first button, Home, or the slider goes back to the start)."""
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
        if ok:  # a counterexample ends where the property breaks: it opens there
            self.violation = len(self.steps) - 1
            self._goto(self.violation)
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
    def export_index(self) -> int:
        """The step a static page opens at: the step shown if it was moved (goto, goto_first, a click);
        else the violating step of a counterexample, else the last step of a replay; a scheduler that was
        never moved opens at the initial state (where the puzzle starts)."""
        if not self.steps:
            return 0
        if self.index > 0:
            return self.index
        if self.violation is not None:
            return self.violation
        return 0 if self.mode == "scheduler" else len(self.steps) - 1

    def _static_steps(self) -> tuple[list, str]:
        """The steps a static page can step through, and a note on what they are."""
        if self.mode == "scheduler" and len(self.steps) == 1:
            sc = self.scenario
            steps = sc.replay() if sc.schedule is not None else sc.run_first()
            return steps, ("In the notebook you choose every step (you are the scheduler). This page shows one "
                           "run instead: the first enabled step each time.")
        return self.steps, ""

    def picture_svg(self) -> str:
        """One SVG of the step :meth:`export_index` opens at: the module's state graph and its per-LP table
        above the swimlanes of the steps so far. A small SVG with the message if there is nothing to draw."""
        if not self.steps:
            return _text_svg(self.message_text or "no scenario loaded")
        from tdxlab.render import render_svg
        from tdxlab.views import lanes

        try:
            i = self.export_index()
            state = self.steps[i][1]
            pics = [panels.module_svg(state, self.scenario, compact=False)]
            if i > 0:
                pics.append(render_svg(lanes(self.scenario, self.steps[:i + 1])))
            return panels.stack_svgs(pics, title=f"{self.scenario.title()}: step {i} of {len(self.steps) - 1}")
        except Exception as e:  # noqa: BLE001
            return _text_svg(_one_line(e))

    def frames_html(self) -> str:
        """Every step pre-rendered for a page with no kernel: the last step in words, the lanes, locks and
        per-LP table, and the module's state graph, behind a slider, buttons and the arrow keys (a few lines
        of inline script; without script the step that matters is shown). Opens at :meth:`export_index`."""
        if not self.steps:
            return f"<div class='tdxlab-frames'>{panels.esc(self.message_text or 'no scenario loaded')}</div>"
        steps, note = self._static_steps()
        at = self.export_index() if steps is self.steps else 0
        total = len(steps) - 1
        svgs: dict[str, int] = {}  # the module graphs, each drawn once (a trace changes state a few times)
        frames = []
        at_svg = 0
        for i, (info, state) in enumerate(steps):
            p = self._panels(state)
            k = svgs.setdefault(p["svg"], len(svgs))
            at_svg = k if i == at else at_svg
            hidden = "" if i == at else " hidden"
            frames.append(f"<div class='tdxlab-frame' data-svg='{k}'{hidden}>"
                          + panels.last_step_html(info, i, total, "static")
                          + f"<div class='tdxlab-frame-body'><div>{p['lanes']}<div class='tdxlab-side'>{p['locks']}"
                          + f"<div>{p['progress']}</div></div></div></div>"
                          + f"<details class='tdxlab-frame-code' open><summary>the code: where each context is "
                          f"(&#9654; runs next)</summary>{p['code']}</details></div>")
        pics = "".join(f"<div class='tdxlab-frame-svg' data-svg='{k}'{'' if k == at_svg else ' hidden'}>"
                       f"{svg}</div>" for svg, k in svgs.items())
        fail = self.failure_index() if steps is self.steps else None
        fail_button = (f"<button type='button' data-go='{fail}' title='the step that breaks a property (F)'>"
                       f"&#9888; the failure (step {fail})</button>" if fail is not None else "")
        title = self.title_html.value
        controls = (f"<div class='tdxlab-frames-controls'><button type='button' data-go='0' title='Home'>&#9664;&#9664; "
                    f"first</button><button type='button' data-step='-1' title='left arrow'>&#9664; back</button>"
                    f"<input type='range' min='0' max='{total}' value='{at}' aria-label='step'>"
                    f"<button type='button' data-step='1' title='right arrow'>step &#9654;</button>"
                    f"<button type='button' data-go='{total}' title='End'>last &#9654;&#9654;</button>{fail_button}"
                    f"<span class='tdxlab-frames-at'>step {at} of {total}</span></div>"
                    f"<div class='tdxlab-keys'>Pre-rendered steps (no kernel needed): the slider, the buttons, or "
                    f"&larr; &rarr; Home End{' F' if fail is not None else ''} once you clicked here.</div>")
        note_html = f"<div class='muted'>{panels.esc(note)}</div>" if note else ""
        alt = panels.esc(f"{self.scenario.title()}: step {at} of {total}")
        return (panels.CSS + FRAMES_CSS + f"<div class='tdxlab-frames' tabindex='0' role='group' aria-label='{alt}' "
                f"data-fail='{'' if fail is None else fail}' data-mode='{self.mode}' data-at='{at}'>{title}{note_html}{controls}"
                f"<div class='tdxlab-frames-main'><div class='tdxlab-frames-steps'>{''.join(frames)}</div>"
                f"<div class='tdxlab-frames-pics'>{pics}</div></div>"
                f"{self.result_html.value}</div><script>{FRAMES_JS}</script>")

    def text_summary(self) -> str:
        if not self.steps:
            return f"<Stepper: {self.message_text or 'no scenario'}>"
        info = self.info
        what = "initial state" if info is None else f"{info.context}: {info.function}(): {panels.readable(info.action)}"
        return (f"<Stepper {self.scenario.title()} ({self.mode}), step {self.index}/{len(self.steps) - 1}: "
                f"{what}; module {self.state.module.sys_name}>")

    def __repr__(self) -> str:
        return self.text_summary()

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = self.text_summary()
        if os.environ.get(EXPORT_ENV):
            data["text/html"] = self.frames_html()
        else:
            data["image/svg+xml"] = self.picture_svg()
        return data


def _cut(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters at a word boundary, with an ellipsis (never mid-word)."""
    if len(text) <= n:
        return text
    cut = text[:n - 1].rsplit(" ", 1)[0].rstrip(" ,:;(")
    return (cut or text[:n - 1]) + "…"


def _text_svg(text: str) -> str:
    t = panels.esc(text[:200])
    width = max(200, 7 * len(text[:200]) + 20)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="30" role="img" '
            f'aria-label="{t}"><text x="10" y="20" font-family="Helvetica" font-size="12" '
            f'fill="#a40000">{t}</text></svg>')


def verdicts_html(res) -> str:
    """The checker's verdicts as a small coloured table, each property's sources as links."""
    from tdxlab import sources

    rows = []
    for r in res.summary_rows():
        bg, fg, sym = panels.VERDICT[{"holds": "holds", "VIOLATED": "violated"}.get(r["verdict"], "unknown")]
        steps = "" if r["steps"] is None else str(r["steps"]) + ("" if r["shortest"] else " (not proven shortest)")
        rows.append(f"<tr><td><code>{panels.esc(r['property'])}</code></td>"
                    f"<td class='tdxlab-verdict' style='background:{bg};color:{fg};font-weight:600'>{sym} "
                    f"{panels.esc(r['verdict'])}</td><td>{steps}</td>"
                    f"<td>{panels.esc(r['why'])}</td><td class='muted'>{sources.cite(r['fact'], 'notebooks', strict=False)}</td></tr>")
    head = (f"<div><b>{res.states} states, {res.transitions} transitions, {res.seconds:.2f} s"
            f"{'' if res.complete else ' (incomplete: ' + panels.esc(res.stopped or '') + ')'}</b></div>")
    from tdxlab.check.properties import not_applicable_line

    na = not_applicable_line(res.scenario.design, getattr(res, "not_applicable", ()))  # other chapters'
    return (head + "<table class='tdxlab-locks'><tr><th>property</th><th>verdict</th><th>steps</th>"
            "<th>why</th><th>fact</th></tr>" + "".join(rows) + "</table>"
            + (f"<div class='muted'>{panels.esc(na)}</div>" if na else ""))
