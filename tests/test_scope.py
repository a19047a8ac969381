"""Properties apply to the designs of their chapter: a check decides and reports only those, the command line
names the others on one line, and a diff across chapters shows "n/a", never a difference."""
from __future__ import annotations

import json

import pytest

import tdxlab
from tdxlab.check.explore import explore
from tdxlab.check.properties import (CHAPTERS, PROPERTIES, SHIPPED, add_property, applicable, applies,
                                     not_applicable, remove_property)
from tdxlab.designs import DESIGNS, design_over
from tdxlab.errors import BadInput, NotApplicable
from tests.test_cli import run_in_process as cli

TEARDOWN = {n for n, p in PROPERTIES.items() if p.chapter == "teardown"}
UPDATE = {n for n, p in PROPERTIES.items() if p.chapter == "update"}


def test_every_property_has_a_chapter_and_every_design_its_chapters():
    assert {PROPERTIES[n].chapter for n in SHIPPED} == {"bring-up"} and len(SHIPPED) == 10
    assert len(TEARDOWN) == 4 and len(UPDATE) == 5
    assert all(p.chapter in CHAPTERS for p in PROPERTIES.values())
    assert DESIGNS["v7-2022"].chapters == ("bring-up",)
    assert DESIGNS["teardown-7.2"].chapters == ("bring-up", "teardown")
    assert DESIGNS["update-7.2"].chapters == ("bring-up", "update")
    # a patch over a design keeps its chapters
    assert design_over("teardown-7.2", "test-teardown-copy").chapters == ("bring-up", "teardown")
    with pytest.raises(BadInput, match="chapters"):  # a typo in a design file's chapters: one line
        applicable(type("Typo", (DESIGNS["core-7.1"],), {"name": "typo", "chapters": ("bring-up", "teardwon")}))
    assert set(applicable("core-7.1")) == set(SHIPPED)
    assert set(not_applicable("core-7.1")) == TEARDOWN | UPDATE


def test_a_2022_check_has_no_teardown_or_update_verdicts():
    r = tdxlab.check("v7-2022", topology="1x1x2")
    assert r.complete and set(r.verdicts) == set(SHIPPED)
    assert set(r.not_applicable) == TEARDOWN | UPDATE
    assert not any(p in r.verdicts for p in TEARDOWN | UPDATE)
    obj = r.to_json_obj()
    assert set(obj["properties"]) == set(SHIPPED) and set(obj["not_applicable"]) == TEARDOWN | UPDATE
    with pytest.raises(NotApplicable, match="teardown chapter"):
        r.counterexample("flushed-before-kexec")
    from tdxlab.widgets.stepper import verdicts_html  # the notebooks' check widget says it too, once
    html = verdicts_html(r)
    assert html.count("not applicable to v7-2022") == 1 and all(p in html for p in TEARDOWN | UPDATE)


@pytest.mark.parametrize("design,own,other", [("teardown-7.2", TEARDOWN, UPDATE), ("update-7.2", UPDATE, TEARDOWN)])
def test_a_later_chapters_design_has_bring_up_and_its_own_verdicts(design, own, other):
    r = tdxlab.check(design, topology="1x1x2")
    assert set(r.verdicts) == set(SHIPPED) | own
    assert set(r.not_applicable) == other


def test_added_property_applies_everywhere_unless_given_a_chapter():
    calls = []

    def never(sc, st):
        calls.append(sc.design_name)
        return None

    add_property("test-scope-everywhere", "no VMXON where CR4.VMXE is set", observes=("vmxon-busy",))
    add_property("test-scope-update-state", "a state check of the update chapter", state=never, chapter="update")
    # observes a fact bring-up designs record (a kernel check firing), but only in the teardown chapter
    add_property("test-scope-teardown-check", "no kernel check fires", observes=("kernel-check",),
                 chapter="teardown")
    try:
        assert applies("test-scope-everywhere", "v7-2022") and applies("test-scope-everywhere", "update-7.2")
        assert not applies("test-scope-update-state", "v7-2022") and applies("test-scope-update-state", "update-7.2")
        r = tdxlab.check("v7-2022", topology="1x1x2")
        assert "test-scope-everywhere" in r.verdicts
        assert {"test-scope-update-state", "test-scope-teardown-check"} <= set(r.not_applicable)
        assert calls == []  # the state check of another chapter is never evaluated
        # kvm-v18-2024 fires a kernel check: kernel-asserts is violated, the teardown-only observer is ignored
        r = explore("kvm-v18-2024-online-later")
        assert r.verdicts["kernel-asserts"].holds is False
        assert "test-scope-teardown-check" not in r.verdicts and "test-scope-teardown-check" not in r.violated
        r = tdxlab.check("update-7.2", topology="1x1x2")
        assert r.verdicts["test-scope-update-state"].holds is True and calls
        with pytest.raises(BadInput, match="chapter"):
            add_property("test-scope-bad", "x", observes=("vmxon-busy",), chapter="shutdown")
    finally:
        for n in ("test-scope-everywhere", "test-scope-update-state", "test-scope-teardown-check"):
            remove_property(n)


def test_cli_text_names_the_properties_that_do_not_apply_on_one_line():
    code, out, err = cli(["check", "v7-2022", "--topology", "1x1x2"])
    assert code == 0, err
    lines = out.splitlines()
    rows = [line.split()[0] for line in lines if line.startswith("  ")]
    assert rows == list(SHIPPED)
    na = [line for line in lines if line.startswith("not applicable")]
    assert len(na) == 1 and "v7-2022" in na[0] and "teardown:" in na[0] and "update:" in na[0]
    assert all(p in na[0] for p in TEARDOWN | UPDATE)
    assert not any(p in line for p in TEARDOWN | UPDATE for line in lines if line not in na)
    code, out, _ = cli(["check", "teardown-7.2", "--topology", "1x1x2"])
    na = [line for line in out.splitlines() if line.startswith("not applicable")]
    assert len(na) == 1 and "update:" in na[0] and "teardown:" not in na[0]


def test_cli_json_gives_applicable_verdicts_and_a_not_applicable_list():
    code, out, _ = cli(["check", "v7-2022", "--topology", "1x1x2", "--json"])
    obj = json.loads(out)
    assert code == 0 and list(obj["properties"]) == list(SHIPPED)
    assert set(obj["not_applicable"]) == TEARDOWN | UPDATE


def test_asking_for_an_inapplicable_property_is_one_line_and_exit_2():
    code, out, err = cli(["trace", "v7-2022", "--topology", "1x1x2", "--property", "flushed-before-kexec"])
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "teardown chapter" in err and "v7-2022" in err
    code, _, err = cli(["graph", "v7-2022", "--topology", "1x1x2", "--kind", "lanes", "--property",
                        "update-cpus-stable", "--out", "/tmp/test-scope-never-written.svg"])
    assert code == 2 and "update chapter" in err


def test_diff_across_chapters_shows_na_never_a_difference():
    d = tdxlab.diff("v19-2024", "teardown-7.2", topology="1x1x2")
    assert set(d.properties) == set(SHIPPED) | TEARDOWN
    assert not set(d.differing) & TEARDOWN
    text = str(d)
    for p in TEARDOWN:
        line = next(line for line in text.splitlines() if line.split()[:1] == [p])
        assert line.split()[1] == "n/a" and "differs" not in line
    obj = d.to_json_obj()
    assert all(obj["properties"][p]["a"] == "n/a" and obj["properties"][p]["differs"] is False for p in TEARDOWN)
    assert "n/a" in d._repr_html_()
    code, out, _ = cli(["diff", "v19-2024", "teardown-7.2", "--topology", "1x1x2", "--json"])
    assert json.loads(out)["properties"]["flushed-before-kexec"]["a"] == "n/a"
    assert code == (1 if d.differing else 0)


def test_the_review_widget_shows_na_cells_with_a_symbol():
    from tdxlab.review import verdict_matrix
    from tdxlab.widgets.review import ReviewMatrix

    rev = verdict_matrix(rows=["core-7.1", "update-7.2"], workloads=["package-offline"])
    m = ReviewMatrix(review=rev)
    b = m.buttons[("core-7.1", "update-cpus-stable")]
    assert b.description == "–" and "na" in b._dom_classes and "holds" not in b._dom_classes
    assert "n/a" in b.tooltip
    assert m.buttons[("update-7.2", "update-cpus-stable")].description == "✓"
    assert m.choose("core-7.1", "update-cpus-stable") and "does not apply" in m.note.value
    assert not any(p in rev.props for p in TEARDOWN)  # no row is in the teardown chapter: no column
