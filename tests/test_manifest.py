"""The verdict manifest: every scenario's expected verdicts and distinct-state count (data/expected.toml)."""
import tomllib

import pytest

from tdxlab.check.explore import explore
from tdxlab.check.properties import PROPERTIES
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
    assert got == {p: exp[p] for p in PROPERTIES}


def test_each_property_is_violated_somewhere_and_kept_somewhere():
    for p in PROPERTIES:
        verdicts = {MANIFEST[n][p] for n in MANIFEST}
        assert verdicts == {"holds", "violated"}, p
