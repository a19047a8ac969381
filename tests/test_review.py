"""Notebook 05's positions table judges each position on what it is about, and says what the review does not
exercise; the prose's statements about the matrix are the model's."""
from __future__ import annotations

import functools
import re
from pathlib import Path

from tdxlab import review
from tdxlab.check.properties import PROPERTIES

NB = Path(__file__).resolve().parent.parent / "notebooks" / "05-design-review.md"


@functools.cache
def matrix():
    return review.verdict_matrix()


def prose() -> str:
    return " ".join(NB.read_text(encoding="utf-8").split())


def test_positions_are_judged_only_on_what_they_are_about():
    rev = matrix()
    df = review.positions(rev).set_index("checked as", drop=False)
    for p, (_, line) in zip(review.POSITIONS, df.iterrows()):
        r = review.ONE_CALL if p["row"] == review.ONE_CALL.label else review.row(p["row"])
        own = [q for q in p["about"] if rev.cell(r, q).holds is False]
        other = [q for q in rev.props if q not in p["about"] and rev.cell(r, q).holds is False]
        assert line["on its question"] == ("holds" if not own else line["on its question"])
        assert all(q in line["on its question"] for q in own)
        assert all(q in line["violated elsewhere"] for q in other)
        assert not any(q in line["on its question"] for q in other)
    # the one-call position is not red for v19's missing LP.INIT at CPU online: not its question
    one = df.loc[review.ONE_CALL.label]
    assert rev.cell(review.ONE_CALL, "online-cpus-ready").holds is False
    assert "online-cpus-ready" in one["violated elsewhere"] and one["on its question"] == "holds"
    # Kai's proposal is judged on CPUs onlined later too, and holds there
    kai = df.loc["kvm-v18-kai-irqsave"]
    assert "online-cpus-ready" in review.POSITIONS[1]["about"] and kai["on its question"] == "holds"
    table = review.positions(rev)
    st = review.positions_styler(table).to_html()  # red only where a position fails its own question
    assert (review.BAD in st) == any(v != "holds" for v in table["on its question"])


def test_not_exercised_names_what_no_row_of_the_design_can_turn_red():
    rev = matrix()
    df = review.positions(rev)
    for p, (_, line) in zip(review.POSITIONS, df.iterrows()):
        design = review.ONE_CALL.design if p["row"] == review.ONE_CALL.label else p["row"]
        seen = {c.prop for c in rev.violated() if c.row.design == design}
        unseen = [q for q in p["about"] if q not in seen]
        assert line["not exercised"] == (", ".join(unseen) or "nothing")


def test_the_prose_on_what_is_not_exercised_is_the_models():
    rev = matrix()
    text = prose()
    table = review.positions(rev)
    core = table[table["checked as"] == "core-7.1"].iloc[0]
    named = re.search(r"For core-7\.1, that column names, among others, (.*?): 7\.1 dropped", text).group(1)
    for q in re.findall(r"`([\w-]+)`", named):
        assert q in core["not exercised"].split(", "), q
    # v19's second-user mutation gives v19 a concurrent caller, and the race shows
    assert "On v19 the `second-user` mutation adds one, and the race shows" in text
    assert rev.cell("v19-2024 +second-user", "no-spurious-error").holds is False
    # the columns that never go red: exactly the two LP.INIT ones the prose names (the later chapters'
    # properties have no column: they apply to no row), and some scenario of data/scenarios turns each red
    never = review.never_violated(rev)
    m = re.search(r"Two columns of the matrix never go red: `([\w-]+)` and `([\w-]+)`\. Both are about the "
                  r"LP.INIT rule", text)
    assert m and set(m.groups()) == set(never)
    assert all(q in PROPERTIES for q in never)
    from tdxlab.facts import data_dir
    import tomllib
    manifest = tomllib.loads((data_dir() / "expected.toml").read_text(encoding="utf-8"))
    for q in never:
        assert any(v.get(q) == "violated" for v in manifest.values()), q
    # Kai's proposal: online-cpus-ready is not exercised by its own rows, but v19's row is red there
    assert "For Kai's proposal the column names `online-cpus-ready`" in text
    assert "online-cpus-ready" not in review.exercised(rev, "kvm-v18-kai-irqsave")
    assert rev.cell("v19-2024", "online-cpus-ready").holds is False


def test_the_rows_are_the_bring_up_story_and_the_prose_names_the_others():
    """05's matrix has a row for each design whose only chapter is bring-up; the prose names the designs left
    out (a later chapter's) and where they are reviewed; no column is a property that applies to no row."""
    from tdxlab.check.properties import applies
    from tdxlab.designs import DESIGNS

    rev = matrix()
    bases = {r.design for r in rev.rows}
    assert bases == set(review.review_designs()) and bases
    left = review.later_designs()
    assert left and not bases & set(left)
    assert all(tuple(DESIGNS[d].chapters) != ("bring-up",) for d in left)
    said = re.search(r"The rows are the designs of the bring-up story\. (.*?) bring TDX up as core-7\.1 does", prose())
    assert said and set(re.findall(r"[\w.-]+-7\.2", said.group(1))) == set(left)
    for nb in set(left.values()):
        assert f"({nb}.ipynb)" in prose()
    for p in rev.props:
        assert any(applies(p, DESIGNS[d]) for d in bases), p
    assert not any(c.verdict == "n/a" for c in rev.cells.values())
    # the designs and mutations tables above the matrix show the same designs
    assert list(review.designs_frame()["design"]) == review.review_designs()
    assert set(review.mutations_frame()["design"]) <= bases


def test_a_row_outside_a_propertys_chapter_is_na_not_holds():
    """A row of a later chapter beside a bring-up one: the later chapter's columns are "n/a" (–) for the
    bring-up row, with a symbol, never "holds"."""
    rev = review.verdict_matrix(rows=["core-7.1", "teardown-7.2"], workloads=["package-offline"])
    assert "flushed-before-kexec" in rev.props and not any(p.startswith("update-") for p in rev.props)
    c = rev.cell("core-7.1", "flushed-before-kexec")
    assert c.verdict == "n/a" and c.holds is None and not c.applies
    assert rev.frame.loc["core-7.1", "flushed-before-kexec"] == "n/a"
    assert rev.cell("teardown-7.2", "flushed-before-kexec").verdict != "n/a"
    html = rev.to_html()
    assert "–" in html and "n/a" in html and review.NA in html


def test_the_prose_on_the_2024_rows_is_the_models():
    """05's "How to read it": v18 breaks exactly kernel-asserts and lock-order, v19 only online-cpus-ready, Kai's
    proposal nothing; on kvm-6.16, irqs-on breaks only kernel-asserts."""
    rev = matrix()
    text = prose()

    def red(label):
        return {p for p in rev.props if rev.cell(label, p).holds is False}

    assert "The v18 row breaks `kernel-asserts` and `lock-order`" in text
    assert red("kvm-v18-2024") == {"kernel-asserts", "lock-order"}
    assert "The v19 row breaks only `online-cpus-ready`" in text and red("v19-2024") == {"online-cpus-ready"}
    assert "The Kai row holds everywhere" in text and red("kvm-v18-kai-irqsave") == set()
    assert red("kvm-v18-kai-irqsave +irqs-on") == red("kvm-v18-2024")
    assert "`irqs-on` breaks only `kernel-asserts`" in text and red("kvm-6.16 +irqs-on") == {"kernel-asserts"}


# --- the later chapters' matrices (notebooks 08 and 09) ---------------------------------------------------------
@functools.cache
def chapter_matrix(chapter: str):
    return review.verdict_matrix(chapter=chapter)


def own_props(chapter: str) -> list[str]:
    return [p for p, prop in PROPERTIES.items() if prop.chapter == chapter]


def test_later_chapters_review_their_own_designs_bring_up_unchanged():
    assert review.review_designs() == [n for n, cls in review.DESIGNS.items() if tuple(cls.chapters) == ("bring-up",)]
    assert review.default_rows() == review.default_rows(chapter="bring-up")
    for ch in ("teardown", "update"):
        names = review.review_designs(ch)
        assert names and all(ch in review.DESIGNS[n].chapters for n in names)
        rows = review.default_rows(chapter=ch)
        assert {r.design for r in rows} == set(names)
        assert all(r.mutation in review.DESIGNS[r.design].mutation_notes for r in rows if r.mutation)


def test_teardown_matrix_kai_fix_holds_context_asserts_where_7_2_violates_it():
    rev = chapter_matrix("teardown")
    assert rev.props[:len(own_props("teardown"))] == own_props("teardown")
    assert set(rev.workloads) == set(review.CHAPTER_WORKLOADS["teardown"])
    assert rev.cell("teardown-7.2", "context-asserts").holds is False
    assert rev.cell("teardown-7.2 +kai-fix", "context-asserts").holds is True
    # a bring-up column shows only where it catches a row the chapter's own columns do not
    for p in rev.props:
        if p not in own_props("teardown"):
            assert any(c.prop == p and not any(rev.cell(c.row, q).holds is False for q in own_props("teardown"))
                       for c in rev.violated())


def test_update_matrix_has_update_properties_and_a_red_what_if():
    rev = chapter_matrix("update")
    assert rev.props[:len(own_props("update"))] == own_props("update")
    assert rev.cell("update-7.2", "update-seamcalls-only").holds is True
    # tdxlab/data/expected.toml, update-lead-offline: update-seamcalls-only violated
    bad = rev.cell("update-7.2 +lead-can-go-offline", "update-seamcalls-only")
    assert bad.holds is False and bad.workload == "update-cpu-online" and bad.counterexample()
    assert len(rev.frame.columns) <= 10  # beside JupyterLab's file browser at 1366x768


def test_chapter_matrix_widget_takes_the_chapter():
    from tdxlab.widgets.review import ReviewMatrix

    m = ReviewMatrix(chapter="teardown")
    assert m.review.chapter == "teardown" and m.chosen == ("teardown-7.2", "context-asserts")
    assert m.choose("teardown-7.2 +kai-fix", "context-asserts")  # a green cell: its scenario, a chapter workload
    assert "teardown" in m.head.value


def test_no_abort_is_green_in_the_matrix_and_red_with_a_failed_step():
    # notebook 09's prose: the workloads have no failed step; update-no-abort adds one (no-sysinit-reset)
    from tdxlab.check.explore import explore
    from tdxlab.scenario import get_scenario

    rev = chapter_matrix("update")
    assert all(rev.cell("update-7.2 +no-abort", p).holds is True for p in rev.props)
    assert explore(get_scenario("update-no-abort")).verdicts["update-stops-on-failure"].holds is False
