"""The design review's verdict matrix as a widget: one button per cell (CSS class ``tdxlab-matrix-cell``),
green where the property holds, red with the steps of the shortest counterexample where it is violated;
choosing a cell replays that counterexample in a :class:`Stepper` below (or, for a cell that holds, shows
the row's scenario in scheduler mode so you can try to break it yourself).

>>> from tdxlab.widgets import ReviewMatrix
>>> m = ReviewMatrix()                                   # explores with a progress bar
>>> m.choose("v19-2024 +kvm-lock-first", "no-deadlock")   # or click the cell
"""
from __future__ import annotations

import html
import os

import ipywidgets as W

from tdxlab.errors import BadInput
from tdxlab.widgets import panels
from tdxlab.widgets.stepper import EXPORT_ENV, NEXT_SLIDE, Stepper, _one_line

SHORT = {"vmx-before-seamcall": "VMX before\nSEAMCALL", "lp-init-before-seamcall": "LP.INIT before\nSEAMCALL",
         "init-succeeds": "init\nsucceeds", "online-cpus-ready": "online CPUs\nready",
         "package-keys": "package\nkeys", "cpu-online-succeeds": "CPU online\nsucceeds",
         "no-spurious-error": "no spurious\nerror", "no-deadlock": "no\ndeadlock", "lock-order": "lock\norder",
         "kernel-asserts": "kernel\nasserts",
         "no-seamcall-after-disable": "no SEAMCALL\nafter\nDISABLE", "flushed-before-kexec": "flushed\nbefore\nkexec",
         "flush-on-own-cpu": "flush on\nown CPU", "context-asserts": "context\nasserts",
         "update-seamcalls-only": "update\nSEAMCALL\nonly", "update-after-lp-init": "update\nafter\nLP.INIT",
         "update-stops-on-failure": "update\nstops on\nfailure", "update-holds-off-readers": "update\nholds off\nreaders",
         "update-cpus-stable": "update\nCPUs\nstable"}
FAMILY = {"vmx-before-seamcall": "LP.INIT", "lp-init-before-seamcall": "LP.INIT", "init-succeeds": "LP.INIT",
          "online-cpus-ready": "LP.INIT", "package-keys": "locking", "cpu-online-succeeds": "LP.INIT",
          "no-spurious-error": "IRQ", "no-deadlock": "locking", "lock-order": "locking",
          "kernel-asserts": "IRQ", "no-seamcall-after-disable": "teardown", "flushed-before-kexec": "teardown",
          "flush-on-own-cpu": "teardown", "context-asserts": "teardown", "update-seamcalls-only": "update",
          "update-after-lp-init": "update", "update-stops-on-failure": "update",
          "update-holds-off-readers": "update", "update-cpus-stable": "update"}

CELL = 64  # px per verdict cell: ten properties and the row labels fit a notebook beside the file browser
CSS = """
<style>
.tdxlab-review {font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 13px;}
.tdxlab-review .tdxlab-matrix-head {font-size: 11px; line-height: 1.15; text-align: center; white-space: pre-line;
  color: #333; padding: 2px 0 4px 0; font-weight: 600;}
.tdxlab-review .tdxlab-matrix-row {font-size: 12px; white-space: nowrap; padding-right: 8px; line-height: 28px;}
.tdxlab-review .tdxlab-matrix-row.base {font-weight: 700;}
.tdxlab-review .tdxlab-matrix-cell {font-size: 12px; padding: 0 2px; height: 26px; margin: 1px; border-radius: 3px;}
.tdxlab-review .tdxlab-matrix-cell.holds {background: HOLDS_BG; color: HOLDS_FG;}
.tdxlab-review .tdxlab-matrix-cell.violated {background: VIOLATED_BG; color: VIOLATED_FG; font-weight: 700;}
.tdxlab-review .tdxlab-matrix-cell.unknown {background: UNKNOWN_BG; color: UNKNOWN_FG;}
.tdxlab-review .tdxlab-matrix-cell.na {background: #eeeeee; color: #444444;}
.tdxlab-review .tdxlab-matrix-cell.chosen {outline: 3px solid #1f4e8c; outline-offset: -1px;}
.tdxlab-review .tdxlab-matrix-note {color: #444; font-size: 12px; margin: 4px 0;}
.tdxlab-review {background: #ffffff; color: #1a1a1a; padding: 4px 6px; border-radius: 4px;}
.tdxlab-review .widget-html, .tdxlab-review .widget-html-content, .tdxlab-review .widget-label,
.tdxlab-review .widget-readout {color: #1a1a1a;}
.tdxlab-review .tdxlab-matrix {max-height: 62vh; overflow: auto;}
.tdxlab-review .tdxlab-matrix-headcell {position: sticky; top: 0; z-index: 2; background: #ffffff; margin: 0;
  padding: 2px; align-self: stretch;}
</style>
"""
for _v, (_bg, _fg, _) in panels.VERDICT.items():  # the colour-blind-safe verdict colours, shared
    CSS = CSS.replace(f"{_v.upper()}_BG", _bg).replace(f"{_v.upper()}_FG", _fg)


class ReviewMatrix(W.VBox):
    """The verdict matrix of :func:`tdxlab.review.verdict_matrix` as clickable cells above a stepper.

    ``rows``, ``workloads``, ``rule``, ``chapter``: passed to ``verdict_matrix`` (``chapter``: "bring-up",
    "teardown" or "update", the chapter's designs, workloads and properties). ``choose``: the cell shown
    first, a (row label, property) pair (default: the first violated cell of the first row that has one, from
    the locking family if there is one; for a later chapter, of the chapter's own properties)."""

    def __init__(self, rows=None, workloads=None, rule: str = "relaxed", choose=None, review=None,
                 chapter: str = "bring-up"):
        super().__init__()
        self.add_class("tdxlab-review")
        self.review = None
        self.chosen: tuple[str, str] | None = None
        self.buttons: dict[tuple[str, str], W.Button] = {}
        self.head = W.HTML("<div class='tdxlab-title' style='font-size:15px;font-weight:600'>The design "
                           "review: every design and mutation, every property</div>")
        self.bar = W.IntProgress(value=0, min=0, max=1, description="exploring", bar_style="info",
                                 layout=W.Layout(width="420px"))
        self.bar.add_class("tdxlab-progress")
        self.status = W.HTML("")
        self.message = W.HTML("")
        self.message.add_class("tdxlab-message")
        self.grid = W.GridBox(layout=W.Layout(grid_gap="0px"))
        self.grid.add_class("tdxlab-matrix")
        self.note = W.HTML("")
        self.note.add_class("tdxlab-matrix-note")
        self.stepper = Stepper(None)
        self.stepper._error("")
        self.children = [W.HTML(CSS), self.head, W.HBox([self.bar, self.status]), self.message, self.grid,
                         self.note, self.stepper]
        if review is not None:
            self.review = review
            self.bar.layout.display = "none"  # computed elsewhere (review_matrix shows its own bar)
        else:
            self._compute(rows, workloads, rule, chapter)
        if self.review is not None:
            if self.review.chapter != "bring-up":
                self.head.value = ("<div class='tdxlab-title' style='font-size:15px;font-weight:600'>The "
                                   f"{panels.esc(self.review.chapter)} review: its design and mutations, its "
                                   "properties</div>")
            self._build_grid()
            first = choose or self._default_choice()
            if first:
                self.choose(*first)

    # ------------------------------------------------------------------ computing
    def _compute(self, rows, workloads, rule, chapter="bring-up") -> None:
        from tdxlab.review import verdict_matrix

        def progress(done, total, label):
            self.bar.max = total
            self.bar.value = done
            self.status.value = f"<span style='color:#555'>{done}/{total}: {html.escape(label)}</span>"

        try:
            self.review = verdict_matrix(rows=rows, workloads=workloads, rule=rule, progress=progress,
                                         chapter=chapter)
        except Exception as e:  # noqa: BLE001 - shown, never raised
            self.bar.bar_style = "danger"
            self.message.value = f"<span class='tdxlab-message-text'>&#9888; {panels.esc(_one_line(e))}</span>"
            return
        self.bar.bar_style = "success"
        r = self.review
        self.status.value = (f"<span style='color:#555'>{len(r.rows)} rows x {len(r.props)} properties: "
                             f"{r.states} states explored in {r.seconds:.1f} s</span>")

    def _default_choice(self):
        from tdxlab.check.properties import PROPERTIES

        r = self.review
        if r.chapter != "bring-up":  # a later chapter: its own properties first
            for row in r.rows:
                for prop in r.props:
                    if PROPERTIES[prop].chapter == r.chapter and r.cells[(row.label, prop)].holds is False:
                        return row.label, prop
        for prop in ("no-deadlock", "lock-order"):
            for row in r.rows:
                if prop in r.props and r.cells[(row.label, prop)].holds is False:
                    return row.label, prop
        for c in r.cells.values():
            if c.holds is False and c.prop in r.props:
                return c.row.label, c.prop
        return None

    def _build_grid(self) -> None:
        r = self.review
        n = len(r.props)
        self.grid.layout.grid_template_columns = "minmax(200px, max-content) " + " ".join([f"{CELL + 2}px"] * n)
        kids = [W.HTML("<div class='tdxlab-matrix-head' style='text-align:left'>design (+mutation)</div>")]
        for p in r.props:
            h = W.HTML(f"<div class='tdxlab-matrix-head' title='{panels.esc(p)}'>{panels.esc(SHORT.get(p, p))}"
                       f"</div>")
            kids.append(h)
        for h in kids:  # the header row stays on screen while the matrix scrolls
            h.add_class("tdxlab-matrix-headcell")
        for row in r.rows:
            base = " base" if row.mutation is None and not row.options else ""
            kids.append(W.HTML(f"<div class='tdxlab-matrix-row{base}'>{panels.esc(row.label)}</div>"))
            for p in r.props:
                c = r.cells[(row.label, p)]
                text = "–" if not c.applies else "✓" if c.holds else (f"✗ {c.steps}" if c.holds is False else "?")
                tip = (f"{row.label} / {p}: " + ("n/a: the property is of a chapter this design is not in"
                                                  if not c.applies else "holds under every workload" if c.holds else
                       f"violated under {c.workload} in {c.steps} steps: {c.detail}" if c.holds is False
                       else f"no verdict: {c.detail}"))
                b = W.Button(description=text, tooltip=tip[:300], layout=W.Layout(width=f"{CELL}px", height="26px"))
                b.add_class("tdxlab-matrix-cell")
                b.add_class("na" if not c.applies else c.verdict)
                b._tdx_cell = (row.label, p)
                b.on_click(lambda btn: self.choose(*btn._tdx_cell))
                self.buttons[(row.label, p)] = b
                kids.append(b)
        self.grid.children = kids

    # ------------------------------------------------------------------ choosing
    def choose(self, row_label: str, prop: str) -> bool:
        """Show the cell's shortest counterexample in the stepper (a cell that holds: its scenario in
        scheduler mode). Returns False, with a message, for an unknown cell."""
        if self.review is None:
            return False
        try:
            c = self.review.cell(row_label, prop)
        except Exception as e:  # noqa: BLE001
            self.message.value = f"<span class='tdxlab-message-text'>&#9888; {panels.esc(_one_line(e))}</span>"
            return False
        self.message.value = ""
        if self.chosen in self.buttons:
            self.buttons[self.chosen].remove_class("chosen")
        self.chosen = (row_label, prop)
        self.buttons[self.chosen].add_class("chosen")
        if not c.applies:
            self.note.value = (f"<b>{panels.esc(row_label)}</b>: <code>{panels.esc(prop)}</code> does not apply "
                               f"(it is of a chapter this design is not in): not checked.")
            return True
        if c.holds is False:
            ok = self.stepper.show_counterexample(
                c.result, prop, title=f"{row_label} / {prop}: the shortest counterexample, {c.steps} steps "
                                      f"(workload {c.workload})")
            if ok:
                at_step(self.stepper)
            self.note.value = (f"<b>{panels.esc(row_label)}</b> violates <code>{panels.esc(prop)}</code> "
                               f"({FAMILY.get(prop, '')} rules) under <i>{panels.esc(c.workload)}</i> in "
                               f"{c.steps} steps: {panels.esc(c.detail)}. The stepper shows the last step; "
                               f"◀◀ first (or Home), then Play or the right arrow, to watch it happen.")
        else:
            from tdxlab.review import scenario_for, WORKLOADS

            sc = scenario_for(c.row, (self.review.workloads or list(WORKLOADS))[0])
            ok = self.stepper.load(sc, mode="scheduler", title=f"{row_label} / {prop}: holds: try to break it "
                                                                f"(you are the scheduler)")
            self.note.value = (f"<b>{panels.esc(row_label)}</b>: <code>{panels.esc(prop)}</code> holds on every "
                               f"interleaving of every workload; the stepper lets you try.")
        return ok

    # ------------------------------------------------------------------ static export
    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        data["text/plain"] = (f"<ReviewMatrix: {len(self.review.rows)} rows>" if self.review is not None
                              else "<ReviewMatrix: not computed>")
        data["text/html"] = self.static_html()
        return data

    def static_html(self) -> str:
        """The matrix as a coloured table and the chosen cell's counterexample as a picture: what a page
        without a running kernel shows in place of the widget."""
        if self.review is None:
            return f"<div>{panels.esc(self.message.value)}</div>"
        out = ["<p class='tdxlab-matrix-note'>On this page the matrix is a table (hover over a red cell for what "
               "broke); the chosen cell's counterexample follows, every step drawn in advance.</p>",
               self.review.styler().to_html()]
        if self.chosen and self.stepper.steps:
            row, prop = self.chosen
            out.append(NEXT_SLIDE)  # a deck shows the matrix, then the counterexample on the next slide
            out.append(f"<p><b>Chosen cell: {panels.esc(row)} / {panels.esc(prop)}</b>. "
                       f"{self.note.value}</p>")
            if os.environ.get(EXPORT_ENV):  # a static page: every step of it, pre-rendered
                out.append(self.stepper.frames_html())
            else:
                out.append(panels.inline_svg(self.stepper.picture_svg(), f"{row} / {prop}: counterexample"))
        return "<div class='tdxlab-review-static'>" + "".join(out) + "</div>"


def review_matrix(rows=None, workloads=None, rule: str = "relaxed", choose=None,
                  chapter: str = "bring-up") -> "ReviewMatrix | None":
    """Explore with a progress bar shown in the cell, then show the :class:`ReviewMatrix` (displayed once
    its verdicts are in, so a static export of the notebook has the finished matrix). Returns it (None, after
    a one-line message under the bar, when the arguments are wrong)."""
    from IPython.display import display

    from tdxlab.review import verdict_matrix

    bar = W.IntProgress(value=0, min=0, max=1, description="exploring", bar_style="info",
                        layout=W.Layout(width="420px"))
    bar.add_class("tdxlab-progress")
    status = W.HTML("")
    box = W.HBox([bar, status])
    box.add_class("tdxlab-check")
    display(box)

    def progress(done, total, label):
        bar.max, bar.value = total, done
        status.value = f"<span style='color:#555'>{done}/{total}: {html.escape(label)}</span>"

    try:
        rev = verdict_matrix(rows=rows, workloads=workloads, rule=rule, progress=progress, chapter=chapter)
    except Exception as e:  # noqa: BLE001 - shown, never raised
        bar.bar_style = "danger"
        status.value = f"<span style='color:#a40000'>&#9888; {panels.esc(_one_line(e))}</span>"
        return None
    bar.bar_style = "success"
    status.value = (f"<span style='color:#555'>{len(rev.rows)} rows, {rev.states} states explored in "
                    f"{rev.seconds:.1f} s</span>")
    m = ReviewMatrix(review=rev, choose=choose)
    display(m)
    return m


def at_step(stepper: Stepper, i: int | None = None) -> Stepper:
    """Show step ``i`` (default: the last) and keep it when the widget is displayed later: Play and the
    slider are jslinked in the browser, and a new view copies Play's value into the slider."""
    if i is not None and (isinstance(i, bool) or not isinstance(i, int)):
        raise BadInput(f"at_step() takes a step number, not {type(i).__name__}")
    if stepper.steps:
        last = len(stepper.steps) - 1
        i = last if i is None else max(0, min(i, last))
        stepper.goto(i)
        stepper.play.value = i
    return stepper


def counterexample_stepper(result, prop: str, title: str | None = None) -> Stepper:
    """``Stepper.from_counterexample`` opened at the step that breaks ``prop`` (so a static export shows the
    violation); ◀◀ first (or Home), then Play, to watch the run from the start."""
    return at_step(Stepper.from_counterexample(result, prop, title))
