"""The design review as data: every design, and every design with each mutation that applies to it, checked
against the same workloads; the verdicts as a matrix (one row a design or design+mutation, one column a
property) whose every violated cell has a shortest counterexample to replay.

>>> from tdxlab.review import verdict_matrix
>>> rev = verdict_matrix()            # a few seconds: 2 workloads x every row, explored exhaustively
>>> rev.frame                          # a pandas DataFrame of "holds" / "violated (N)" / "n/a"
>>> rev.styler()                       # the same, coloured
>>> rev.cell("v19-2024 +kvm-lock-first", "no-deadlock").steps
26

**The workloads** of the bring-up matrix (``CHAPTER_WORKLOADS["bring-up"]`` of ``WORKLOADS``; every row runs
every workload, and a cell is violated if some workload violates it, with the shortest counterexample over
all of them):

* ``cpu-online-later``: one package with two CPUs, CPU1 offline at boot; CPU1 may come online (or, once
  online, go offline) at any time; a TD is created; under the 2024 KVM series (v16 to v19) two processes create VMs;
* ``package-offline``: two packages of one CPU each; package 1's only CPU is offlined while
  ``tdx_enable()`` runs or after bring-up; a TD is created (and under v16 to v19 a VM).

Both run the relaxed LP.INIT rule (notebook 02 is about the old one). The April 2024 positions map onto
rows (``POSITIONS``): see notebook 05.

**Rows and columns.** The default rows are the bring-up story's designs: those whose only chapter is
bring-up (:func:`review_designs`). A design of a later chapter (teardown-7.2, update-7.2) brings TDX up as
an earlier design does (core-7.1); what it adds (teardown-7.2's flush at CPU offline, which these workloads
do reach, the update) is reviewed with its chapter's own scenarios, in its notebook (:data:`CHAPTER_NOTEBOOKS`). The columns are the properties that apply to
some row (:func:`tdxlab.check.properties.applies`); a cell whose row is outside the property's chapter
is "n/a" (–), never "holds".

**A later chapter's matrix** (``verdict_matrix(chapter="teardown")`` or ``"update"``, notebooks 08 and 09):
that chapter's design and its mutations, under the chapter's workloads (``CHAPTER_WORKLOADS``, taken from
its scenarios); the columns are its own properties, then the bring-up ones that catch a row its own miss.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, NamedTuple

import pandas as pd

from tdxlab.check.explore import CheckResult, explore
from tdxlab.check.properties import PROPERTIES, applicable, applies
from tdxlab.designs import DESIGNS
from tdxlab.errors import BadInput, NotApplicable, UnknownName
from tdxlab.mutations import MUTATIONS

GOOD, BAD, NA, WARN = "#cdeccd", "#f4b6b6", "#eeeeee", "#ffe7b3"
#: Where the designs of each later chapter are reviewed (their own scenarios and what-ifs).
CHAPTER_NOTEBOOKS = {"teardown": "08-teardown-and-kexec", "update": "09-runtime-update"}


class Row(NamedTuple):
    """One row of the matrix: a design, at most one mutation, design options."""

    label: str
    design: str
    mutation: str | None = None
    options: tuple = ()  # ((name, value), ...): hashable

    @property
    def mutations(self) -> list[str]:
        return [self.mutation] if self.mutation else []


WORKLOADS: dict[str, dict] = {
    "cpu-online-later": dict(topology="1x1x2", offline=[1], hotplug=True, events=["create-td"],
                             v19_events=["create-vm", "create-vm2"]),
    "package-offline": dict(topology="2x1x1", events=["offline:1@init", "offline:1@after", "create-td"],
                            v19_events=["create-vm"]),
    # the teardown chapter's (notebook 08): its scenarios teardown-kexec, teardown-offline-then-kexec, teardown-kdump
    "kexec": dict(topology="2x1x2", events=["kexec"]),
    "offline-then-kexec": dict(topology="2x1x2", events=["offline:1", "kexec"]),
    "kdump": dict(topology="1x1x2", events=["crash"]),
    # the update chapter's (notebook 09): its scenarios update-7.2 and update-hold-off
    "update-cpu-online": dict(topology="1x1x2", offline=[1], events=["update", "online:1"]),
    "update-version-read": dict(topology="1x1x2", events=["update", "version-read"]),
}
WORKLOAD_TEXT = {
    "cpu-online-later": "1 package x 2 CPUs, CPU1 offline at boot and hotplugged at any time; a TD "
                        "(KVM of 2024: two VM creations)",
    "package-offline": "2 packages x 1 CPU; package 1's CPU offlined while tdx_enable() runs or after "
                       "bring-up; a TD (KVM of 2024: a VM)",
    "kexec": "2 packages x 2 CPUs; the administrator runs kexec -e",
    "offline-then-kexec": "2 packages x 2 CPUs; CPU1 goes offline, then the administrator runs kexec -e",
    "kdump": "1 package x 2 CPUs; the kernel panics with a kdump kernel loaded",
    "update-cpu-online": "1 package x 2 CPUs, CPU1 offline at boot; a module update is written while CPU1 "
                         "may come online at any time",
    "update-version-read": "1 package x 2 CPUs; a module update is written while a process reads the module's "
                           "version",
}
#: The workloads of each chapter's matrix (:func:`verdict_matrix` with ``chapter``), in ``WORKLOADS``.
CHAPTER_WORKLOADS = {"bring-up": ["cpu-online-later", "package-offline"],
                     "teardown": ["kexec", "offline-then-kexec", "kdump"],
                     "update": ["update-cpu-online", "update-version-read"]}

ONE_CALL = Row("one call (v19-2024, pass_vmxon=false)", "v19-2024", None, (("pass_vmxon", False),))


def row(spec: "str | Row | tuple") -> Row:
    """A Row from ``"design"``, ``"design +mutation"``, a ``(design, mutation)`` pair or a Row."""
    if isinstance(spec, Row):
        return spec
    if isinstance(spec, tuple):
        design, mutation = (spec + (None,))[:2]
    elif isinstance(spec, str):
        design, _, mutation = spec.partition("+")
        design, mutation = design.strip(), (mutation.strip() or None)
    else:
        raise BadInput(f"a matrix row is 'design' or 'design +mutation', not {spec!r}")
    if design not in DESIGNS:
        raise UnknownName(f"unknown design {design!r}: choose one of {', '.join(DESIGNS)}")
    if mutation is not None and mutation not in MUTATIONS:
        raise UnknownName(f"unknown mutation {mutation!r}: choose one of {', '.join(MUTATIONS)}")
    if mutation is not None and mutation not in DESIGNS[design].mutation_notes:
        raise NotApplicable(f"mutation {mutation!r} does not apply to design {design!r}")
    return Row(design + (f" +{mutation}" if mutation else ""), design, mutation)


def _chapter(chapter: str) -> str:
    if chapter not in CHAPTER_WORKLOADS:
        raise UnknownName(f"unknown chapter {chapter!r}: choose one of {', '.join(CHAPTER_WORKLOADS)}")
    return chapter


def review_designs(chapter: str = "bring-up") -> list[str]:
    """The shipped designs of ``chapter``'s review. For "bring-up", those whose only chapter is bring-up
    (``Design.chapters``), the eras of the bring-up story: a design that adds a later chapter reuses an
    earlier bring-up and is left out (:func:`later_designs`). For a later chapter, the designs whose chapters
    include it."""
    if _chapter(chapter) == "bring-up":
        return [n for n, cls in DESIGNS.items() if tuple(cls.chapters) == (chapter,)]
    return [n for n, cls in DESIGNS.items() if chapter in cls.chapters]


def later_designs(chapter: str = "bring-up") -> dict[str, str]:
    """The shipped designs :func:`review_designs` leaves out, each with the notebook of its later chapter."""
    out = {}
    for n, cls in DESIGNS.items():
        if tuple(cls.chapters) != (chapter,):
            later = [c for c in cls.chapters if c != chapter]
            out[n] = CHAPTER_NOTEBOOKS.get(later[0], later[0]) if later else ""
    return out


def default_rows(one_call: bool = True, chapter: str = "bring-up") -> list[Row]:
    """Every design of ``chapter``'s review (:func:`review_designs`; default the bring-up story), each
    followed by every mutation that applies to it (in ``MUTATIONS`` order); with ``one_call``, the April 2024
    "one call does everything" position after v19-2024 (see ``POSITIONS``)."""
    out = []
    for name in review_designs(chapter):
        cls = DESIGNS[name]
        out.append(Row(name, name))
        for m in MUTATIONS:
            if m in cls.mutation_notes:
                out.append(Row(f"{name} +{m}", name, m))
        if one_call and name == "v19-2024":
            out.append(ONE_CALL)
    return out


def scenario_for(r: Row, workload: str, rule: str = "relaxed"):
    """The Scenario that checks row ``r`` under ``workload`` (a name of ``WORKLOADS``)."""
    from tdxlab.scenario import Scenario

    if workload not in WORKLOADS:
        raise UnknownName(f"unknown workload {workload!r}: choose one of {', '.join(WORKLOADS)}")
    w = dict(WORKLOADS[workload])
    v19 = w.pop("v19_events", [])
    events = list(w.pop("events", []))
    if "create-vm" in DESIGNS[r.design].extra_events:
        events += v19
    title = f"{r.label} under {workload}"
    return Scenario(r.design, rule=rule, events=events, mutations=r.mutations, options=dict(r.options),
                    name=f"review: {title}", story=WORKLOAD_TEXT.get(workload, ""), **w)


@dataclass
class Cell:
    """One cell: the verdict over every workload, and the shortest counterexample if violated."""

    row: Row
    prop: str
    holds: bool | None
    steps: int | None = None
    detail: str = ""
    workload: str | None = None
    result: CheckResult | None = None  # the exploration that holds the counterexample
    applies: bool = True  # False: the row's design is outside the property's chapter ("n/a", not checked)

    @property
    def verdict(self) -> str:
        if not self.applies:
            return "n/a"
        return "holds" if self.holds else ("violated" if self.holds is False else "unknown")

    def counterexample(self):
        """The shortest counterexample as [(StepInfo, State)] (None if the property holds)."""
        if self.holds is not False or self.result is None:
            return None
        return self.result.counterexample(self.prop)


@dataclass
class Review:
    rows: list[Row]
    props: list[str]
    workloads: list[str] = field(default_factory=list)  # in the order they ran
    chapter: str = "bring-up"
    cells: dict = field(default_factory=dict)  # (row label, prop) -> Cell
    results: dict = field(default_factory=dict)  # (row label, workload) -> CheckResult
    seconds: float = 0.0
    states: int = 0

    def cell(self, row_label: "str | Row", prop: str) -> Cell:
        label = row_label.label if isinstance(row_label, Row) else row_label
        if prop not in self.props:
            raise UnknownName(f"unknown property {prop!r}: choose one of {', '.join(self.props)}")
        if (label, prop) not in self.cells:
            raise UnknownName(f"no row {label!r} in this matrix: choose one of "
                              f"{', '.join(r.label for r in self.rows)}")
        return self.cells[(label, prop)]

    @property
    def frame(self) -> pd.DataFrame:
        """One row per design (or design+mutation), one column per property: "holds" or "violated (N)",
        N the length of the shortest counterexample."""
        data = []
        for r in self.rows:
            line = {}
            for p in self.props:
                c = self.cells[(r.label, p)]
                line[p] = c.verdict if c.holds is not False else f"violated ({c.steps})"
            data.append(line)
        df = pd.DataFrame(data, index=[r.label for r in self.rows], columns=self.props)
        df.index.name = "design (+mutation)"
        return df

    def violated(self) -> list[Cell]:
        return [c for c in self.cells.values() if c.holds is False]

    def styler(self, caption: str | None = None):
        """The matrix as a coloured pandas Styler: green holds, red violated (with the steps of the shortest
        counterexample), the detail of each violation as a tooltip; – (grey) where the property does not
        apply to the row's design."""
        df = self.frame

        def colour(v: str) -> str:
            if v == "holds":
                return f"background-color: {GOOD}; color: #1d5e1d"
            if v.startswith("violated"):
                return f"background-color: {BAD}; color: #7a0000; font-weight: 600"
            if v == "n/a":
                return f"background-color: {NA}; color: #444"
            return f"background-color: {WARN}"

        tips = pd.DataFrame([[self.cells[(r.label, p)].detail or "" for p in self.props] for r in self.rows],
                            index=df.index, columns=df.columns)
        shown = df.map(lambda v: "✓" if v == "holds" else ("✗ " + v[10:-1] if v.startswith("violated") else
                                                          "–" if v == "n/a" else "?"))
        st = shown.style.apply(lambda col: [colour(v) for v in df[col.name]], axis=0)
        st = st.set_tooltips(tips, props="visibility: hidden; position: absolute; z-index: 1; "
                             "background: #333; color: #fff; padding: 4px 6px; font-size: 11px; "
                             "max-width: 40em; white-space: normal;")
        st = st.set_table_styles([
            {"selector": "th.col_heading", "props": "writing-mode: vertical-rl; transform: rotate(180deg); "
                                                    "font-size: 11px; padding: 4px 2px; text-align: left;"},
            {"selector": "td", "props": "text-align: center; font-size: 12px; padding: 2px 6px; "
                                        "border: 1px solid #fff; min-width: 2.6em;"},
            {"selector": "th.row_heading", "props": "text-align: left; font-size: 12px; white-space: nowrap;"},
        ], overwrite=False)
        st = st.set_caption(caption or (
            f"{len(self.rows)} rows x {len(self.props)} properties, every interleaving of "
            f"{self.workloads_text()} ({self.states} states, {self.seconds:.1f} s). "
            "✓ holds; ✗ N: violated, N = steps of the shortest counterexample"
            + ("; – n/a: the property is of a chapter the row's design is not in." if
               any(not c.applies for c in self.cells.values()) else ".")))
        return st

    def workloads_text(self) -> str:
        """The workloads this matrix ran: "2 workloads", or the one workload's name."""
        ws = sorted({w for _, w in self.results})
        return f"the workload {ws[0]}" if len(ws) == 1 else f"{len(ws)} workloads"

    def to_html(self) -> str:
        return self.styler().to_html()

    def _repr_html_(self) -> str:
        return self.to_html()


def verdict_matrix(rows: Iterable | None = None, workloads: Iterable[str] | None = None, rule: str = "relaxed",
                   props: Iterable[str] | None = None, progress: Callable | None = None,
                   max_states: int = 200_000, max_seconds: float | None = None,
                   chapter: str = "bring-up") -> Review:
    """Explore every row (default: :func:`default_rows` of ``chapter``) under every workload (default: the
    chapter's, ``CHAPTER_WORKLOADS``) and collect the verdicts. ``progress(done, total, label)`` is called after
    each exploration (the ReviewMatrix widget's progress bar). The columns (default) are the properties that
    apply to some row; a row outside a column's chapter has an "n/a" cell there, not explored. For a later
    chapter (teardown, update) the default columns are the chapter's own properties, then those of bring-up
    that catch a row no property of the chapter catches (every row there also brings TDX up: a bring-up
    column that only repeats a red row, or is all green, says nothing of the chapter; the matrix stays
    narrow)."""
    _chapter(chapter)
    rs = [row(r) for r in (rows if rows is not None else default_rows(chapter=chapter))]
    if not rs:
        raise BadInput("a verdict matrix needs at least one row")
    ws = list(workloads) if workloads is not None else list(CHAPTER_WORKLOADS[chapter])
    for w in ws:
        if w not in WORKLOADS:
            raise UnknownName(f"unknown workload {w!r}: choose one of {', '.join(WORKLOADS)}")
    narrow = props is None and chapter != "bring-up"
    if props is None:  # the properties that apply to some row, in PROPERTIES order
        some = {p for r in rs for p in applicable(DESIGNS[r.design])}
        props = [p for p in PROPERTIES if p in some]
    ps = list(props)
    for p in ps:
        if p not in PROPERTIES:
            raise UnknownName(f"unknown property {p!r}: choose one of {', '.join(PROPERTIES)}")
    rev = Review(rs, ps, ws, chapter)
    t0 = time.perf_counter()
    total, done = len(rs) * len(ws), 0
    for r in rs:
        per_prop: dict[str, Cell] = {p: Cell(r, p, True) if applies(p, DESIGNS[r.design]) else
                                     Cell(r, p, None, applies=False) for p in ps}
        for w in ws:
            sc = scenario_for(r, w, rule)
            res = explore(sc, max_states=max_states, max_seconds=max_seconds)
            rev.results[(r.label, w)] = res
            rev.states += res.states
            for p in ps:
                v = res.verdicts.get(p)
                if v is None:  # another chapter's property: n/a
                    continue
                c = per_prop[p]
                if v.holds is False:
                    n = len(v.path) if v.path is not None else None
                    if c.holds is not False or (n is not None and (c.steps is None or n < c.steps)):
                        per_prop[p] = Cell(r, p, False, n, v.detail or "", w, res)
                elif v.holds is None and c.holds is True:
                    per_prop[p] = Cell(r, p, None, None, res.stopped or "", w, res)
            done += 1
            if progress is not None:
                progress(done, total, f"{r.label} under {w}")
        for p in ps:
            rev.cells[(r.label, p)] = per_prop[p]
    rev.seconds = time.perf_counter() - t0
    if narrow:
        own = [p for p in ps if PROPERTIES[p].chapter in (chapter, None)]
        caught = {c.row.label for c in rev.violated() if c.prop in own}
        extra = {c.prop for c in rev.violated() if c.row.label not in caught}
        rev.props = own + [p for p in ps if p in extra and p not in own]
    return rev


# --- the April 2024 review: three positions, and what landed ---------------------------------------------
# What each position is about: the positions argued over how bring-up runs (who takes cpu_hotplug_lock, who
# calls tdx_cpu_enable() and in which context), so each is judged on the properties of bring-up; the core-kernel
# callback is also about CPUs onlined later; what landed answers for every property. "bring-up" in the
# positions table means these properties:
BRING_UP = ("vmx-before-seamcall", "init-succeeds", "no-spurious-error", "no-deadlock", "lock-order",
            "kernel-asserts")
POSITIONS = [
    {"position": "the caller holds the hotplug lock and calls tdx_cpu_enable() on every CPU itself",
     "who": "the v19 KVM series as posted and reviewed (Kai: \"tdx_enable() requires cpus_read_lock() must be "
            "called prior\")", "row": "v19-2024", "about": BRING_UP, "judged on": "bring-up",
     "fact": "lore-isaku-2024-02-26, lore-kai-2024-04-18"},
    {"position": "keep the existing way: cpus_read_lock() around tdx_enable() at load, and local_irq_save() "
                 "around tdx_cpu_enable() in kvm_online_cpu()",
     "who": "Kai Huang's proposal (22/23 Apr), over the v16 to v18 code that called tdx_cpu_enable() at CPU "
            "online with IRQs on", "row": "kvm-v18-kai-irqsave", "about": BRING_UP + ("online-cpus-ready",),
     "judged on": "bring-up, and CPUs onlined later (online-cpus-ready)",
     "fact": "lore-kai-2024-04-23, lore-isaku-2024-01-22"},
    {"position": "one call does everything: tdx_enable() takes cpus_read_lock() itself and does the per-CPU "
                 "pass by IPI",
     "who": "Sean's objection to making callers take cpu_hotplug_lock and call tdx_cpu_enable() separately",
     "row": ONE_CALL.label, "about": BRING_UP, "judged on": "bring-up", "fact": "lore-sean-2024-04-23"},
    {"position": "a core-kernel cpuhp callback does VMXON and LP.INIT; TDX is initialized once, at boot",
     "who": "Kai's planned end state (needs VMXON in the core kernel)", "row": "core-7.1",
     "about": BRING_UP + ("online-cpus-ready",),
     "judged on": "bring-up, and CPUs onlined later (online-cpus-ready)",
     "fact": "lore-sean-2024-04-23, k-tdx-c-71"},
    {"position": "landed in 6.16: KVM's own cpuhp state under cpus_read_lock() "
                 "(cpuhp_setup_state_cpuslocked), then tdx_enable()",
     "who": "KVM TDX host support, merged", "row": "kvm-6.16", "about": applicable(DESIGNS["kvm-6.16"]),
     "judged on": "every property",
     "fact": "k-kvm-tdx-c-616"},
    {"position": "landed in 7.1: subsys_initcall(tdx_enable), virt/tdx:online, refcounted VMXON",
     "who": "\"KVM: x86/tdx: Have TDX handle VMXON during bringup\" v3", "row": "core-7.1",
     "about": applicable(DESIGNS["core-7.1"]), "judged on": "every property",
     "fact": "k-tdx-c-71, lore-sean-2026-02-13"},
]


def exercised(review: Review, design: str) -> set[str]:
    """The properties some row of ``design`` (the design or one of its mutations) violates in ``review``: a
    green cell of such a property means something, since the same workloads can turn it red. A property no row
    of the design violates is not exercised for it: its green cells say nothing the workloads tested."""
    return {c.prop for c in review.violated() if c.row.design == design}


def never_violated(review: Review) -> list[str]:
    """The columns no row of ``review`` turns red."""
    bad = {c.prop for c in review.violated()}
    return [p for p in review.props if p not in bad]


def positions(review: Review | None = None) -> pd.DataFrame:
    """The April 2024 positions and what landed, each judged on what it is about (``about``): its verdict on
    those properties; what its row violates elsewhere (not what the position is about); and which of its
    properties the review does not exercise for its design (no row of the design turns them red)."""
    rows = [row(p["row"]) if p["row"] != ONE_CALL.label else ONE_CALL for p in POSITIONS]
    if review is None or any((r.label, "no-deadlock") not in review.cells for r in rows):
        review = verdict_matrix()
    out = []
    for p, r in zip(POSITIONS, rows):
        cells = [review.cell(r, q) for q in review.props]
        bad = [f"{c.prop} ({c.steps})" for c in cells if c.holds is False and c.prop in p["about"]]
        other = [f"{c.prop} ({c.steps})" for c in cells if c.holds is False and c.prop not in p["about"]]
        seen = exercised(review, r.design)
        unseen = [q for q in p["about"] if q in review.props and q not in seen]
        out.append({"position": p["position"], "who": p["who"], "checked as": r.label,
                    "judged on": p["judged on"],
                    "on its question": "holds" if not bad else "violated: " + ", ".join(bad),
                    "violated elsewhere": ", ".join(other) or "nothing",
                    "not exercised": ", ".join(unseen) or "nothing",
                    "fact": p["fact"]})
    return pd.DataFrame(out)


def positions_styler(df: pd.DataFrame):
    """Only the verdict on each position's own question is green or red; what the review does not exercise is
    amber; what a row violates elsewhere is plain text."""
    def colour(v: str) -> str:
        return f"background-color: {GOOD if v.startswith('holds') else BAD}"

    def unseen(v: str) -> str:
        return "" if v == "nothing" else f"background-color: {WARN}"

    return (df.style.map(colour, subset=["on its question"]).map(unseen, subset=["not exercised"])
            .hide(axis="index")
            .set_properties(**{"text-align": "left", "font-size": "12px", "vertical-align": "top"})
            .set_table_styles([{"selector": "th", "props": "text-align: left; font-size: 12px;"}]))


def designs_frame() -> pd.DataFrame:
    """The designs of the bring-up story (the matrix's, :func:`review_designs`): name, era, what bring-up
    does, its source."""
    return pd.DataFrame([{"design": n, "era": DESIGNS[n].era, "bring-up": DESIGNS[n].summary,
                          "fact": DESIGNS[n].fact} for n in review_designs()])


def scenarios_frame() -> pd.DataFrame:
    """Every scenario of data/scenarios that loads: name, design, rule, machine and its whole story. A file
    that does not load is left out and named in one line on stderr (a table of the others still shows)."""
    import sys

    from tdxlab.scenario import list_scenarios

    bad: dict[str, str] = {}
    rows = [{"scenario": n, "design": s.design_name, "rule": s.rule, "machine": s.title().split(", ", 2)[-1],
             "story": " ".join(s.story.split())} for n, s in list_scenarios(bad).items()]
    for fname, why in bad.items():
        print(f"tdxlab: skipped {fname}: {why}", file=sys.stderr)
    return pd.DataFrame(rows, columns=["scenario", "design", "rule", "machine", "story"])


def scenarios_table():
    """:func:`scenarios_frame` as a left-aligned table whose story column wraps instead of being cut."""
    return left_table(scenarios_frame())


def mutations_frame() -> pd.DataFrame:
    """Each mutation, what it changes, and what it changes in each design it applies to: one row per
    (mutation, design) pair, so the table stays as narrow as the number of designs grows (a design it does not
    apply to raises NotApplicable and has no row). The designs are the matrix's (:func:`review_designs`): a
    mutation of a later chapter's design only has no row."""
    rows = []
    for m, text in MUTATIONS.items():
        first = True
        for n in review_designs():
            d = DESIGNS[n]
            if m in d.mutation_notes:
                rows.append({"mutation": m if first else "", "what-if": text if first else "", "design": n,
                             "what it changes there": d.mutation_notes[m]})
                first = False
    return pd.DataFrame(rows, columns=["mutation", "what-if", "design", "what it changes there"])


def workloads_frame(chapter: str = "bring-up") -> pd.DataFrame:
    """The workloads of ``chapter``'s matrix (``CHAPTER_WORKLOADS``)."""
    return pd.DataFrame([{"workload": w, "environment": WORKLOAD_TEXT[w],
                          "scenario arguments": ", ".join(f"{k}={v}" for k, v in WORKLOADS[w].items())}
                         for w in CHAPTER_WORKLOADS[_chapter(chapter)]])


def left_table(df: pd.DataFrame):
    """A text table for reading: left-aligned, wrapped (not truncated), no index."""
    return (df.style.hide(axis="index")
            .set_properties(**{"text-align": "left", "vertical-align": "top", "font-size": "12.5px",
                               "white-space": "normal", "max-width": "34em"})
            .set_table_styles([{"selector": "th", "props": "text-align: left; font-size: 12.5px;"}]))


def designs_table():
    return left_table(designs_frame())


def mutations_table():
    return left_table(mutations_frame())


def workloads_table(chapter: str = "bring-up"):
    return left_table(workloads_frame(chapter))
