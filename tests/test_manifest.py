"""The verdict manifest: every scenario's expected verdicts and distinct-state count (data/expected.toml)."""
import tomllib

import pytest

from tdxlab.check.explore import explore
from tdxlab.check.properties import PROPERTIES, applicable
from tdxlab.facts import data_dir
from tdxlab.scenario import get_scenario, scenario_files

MANIFEST = tomllib.loads((data_dir() / "expected.toml").read_text())


def test_manifest_and_scenario_files_match():
    assert set(MANIFEST) == set(scenario_files())


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_scenario_matches_manifest(name):
    exp = MANIFEST[name]
    r = explore(get_scenario(name))
    assert r.complete
    assert (r.states, r.transitions) == (exp["states"], exp["transitions"])
    got = {p: "holds" if v.holds else "violated" for p, v in r.verdicts.items()}
    # exactly the properties that apply to the scenario's design (its chapters), no other chapter's
    listed = {p: v for p, v in exp.items() if p in PROPERTIES}
    assert set(listed) == set(applicable(r.scenario.design)) == set(got)
    assert set(exp) - set(listed) == {"states", "transitions"}
    assert got == listed


def test_each_property_is_violated_somewhere_and_kept_somewhere():
    for p in PROPERTIES:
        verdicts = {MANIFEST[n][p] for n in MANIFEST if p in MANIFEST[n]}
        assert verdicts == {"holds", "violated"}, p
