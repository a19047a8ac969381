"""Prose that agrees with the model: every number or verdict the notebooks' text states is checked.

tests/notebook_claims.toml lists each claim: the notebook, the exact words (which must be in the notebook's
Markdown, so editing the words without the claim fails), and what they assert about the model: a count
(designs, mutations, properties, rows of the table that follows), the length of a shortest counterexample
or a range of its steps, exactly which properties a scenario violates, the function the violating step
runs in, a machine's topology, or ``words`` (a number that is English, not a quantity). Every number word
the notebooks' prose puts before "steps", "dates", "designs" and the like must lie inside a claim, so a
new number cannot go unchecked. The manifest's comments ("# 17 steps: ...") are checked the same way.
"""
from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path

import pytest

from tdxlab.check.explore import explore
from tdxlab.check.properties import PROPERTIES
from tdxlab.designs import DESIGNS
from tdxlab.facts import data_dir
from tdxlab.mutations import MUTATIONS
from tdxlab.scenario import get_scenario

REPO = Path(__file__).resolve().parent.parent
NB = REPO / "notebooks"
CLAIMS = tomllib.loads((Path(__file__).parent / "notebook_claims.toml").read_text(encoding="utf-8"))["claim"]
WORDS = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())}
NUM = r"(?:\d+|" + "|".join(WORDS) + r")"
# A number the prose states about the model: "17 steps", "steps 25 to 39", "five dates", "four designs".
QUANTITY = re.compile(rf"\b{NUM}\s+\**(?:steps?|dates|states|CPUs?|propert(?:y|ies)|designs|mutations|rows|packages|"
                      rf"LPs|scenarios|callbacks|contexts|times|eras|leaves)\b|\bsteps? \d+(?:\s*(?:to|-|–)\s*\d+)?",
                      re.I)
KINDS = {"count", "steps", "violated", "opens-at", "topology", "words"}


def number(word: str) -> int:
    return int(word) if word.isdigit() else WORDS[word.lower()]


def prose(name: str) -> str:
    """A notebook's Markdown: its source without code cells, cell markers or the front matter, with the lines
    of a paragraph (or of a list item) joined, so a claim's words match across a wrapped line. Headings,
    table rows and list items stay lines of their own."""
    text = (NB / f"{name}.md").read_text(encoding="utf-8")
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)
    text = re.sub(r"```\{code-cell\}.*?\n```", "", text, flags=re.S)
    text = re.sub(r"\[([^\]\n]*)\]\([^)\s]*\)", r"\1", text)  # a link reads as its text
    out: list[str] = []
    for line in text.split("\n"):
        if line.startswith("+++"):
            line = ""
        starts = line.lstrip().startswith(("|", "#", "- ", "* ", "←")) or re.match(r"\s*\d+\. ", line)
        prev = out[-1] if out else ""
        if line.strip() and prev.strip() and not starts and not prev.lstrip().startswith(("|", "#")):
            out[-1] = prev.rstrip() + " " + line.strip()
        else:
            out.append(line.strip())
    return "\n".join(out)


@functools.cache
def result(scenario: str):
    r = explore(get_scenario(scenario))
    assert r.complete, scenario
    return r


def steps(scenario: str, prop: str) -> int:
    v = result(scenario).verdicts[prop]
    assert v.holds is False, f"{scenario}: {prop} holds, so it has no counterexample"
    return len(v.path)


def violated(scenario: str) -> set[str]:
    return {p for p, v in result(scenario).verdicts.items() if v.holds is False}


def count(what: str, claim: dict) -> int:
    if what == "designs":
        return len(DESIGNS)
    if what == "mutations":
        return len(MUTATIONS)
    if what == "properties":
        return len(PROPERTIES)
    if what == "kvm-usage-lock-deadlock-contexts":  # the boxes of notebook 04's picture
        from tdxlab.locking import kvm_usage_lock_deadlock

        return sum(1 for ln in kvm_usage_lock_deadlock().body if re.match(r"\s*\w+ \[label=", ln))
    if what == "table-rows":  # the rows of the first Markdown table after the claim's words
        text = prose(claim["notebook"])
        after = text[text.index(claim["text"]):]
        rows = [ln for ln in after.split("\n") if ln.startswith("|")]
        start = after.index(rows[0]) if rows else -1
        assert start >= 0, "no table after the claim"
        table = []
        for ln in after[start:].split("\n"):
            if not ln.startswith("|"):
                break
            table.append(ln)
        return len(table) - 2  # the header and the |---| line
    raise AssertionError(f"unknown count {what!r}")


def test_claims_are_well_formed():
    for c in CLAIMS:
        assert c["kind"] in KINDS, c
        assert (NB / f"{c['notebook']}.md").is_file(), c["notebook"]
        if c["kind"] in ("steps", "violated", "opens-at", "topology"):
            get_scenario(c["scenario"])
        if "property" in c:
            assert c["property"] in PROPERTIES, c


@pytest.mark.parametrize("claim", CLAIMS, ids=[f"{c['notebook']}:{c['text'][:40]}" for c in CLAIMS])
def test_claim(claim):
    text = prose(claim["notebook"])
    words = claim["text"]
    assert words in text, f"{claim['notebook']}: the claimed words are not in its text: {words!r}"
    kind = claim["kind"]
    if kind == "count":
        noun = {"designs": "designs", "mutations": "mutations", "properties": "properties"}.get(claim["of"], r"\w+")
        n = number(re.search(rf"({NUM})\s+\**{noun}\b", words, re.I).group(1))
        assert n == count(claim["of"], claim), f"{words!r}: the model has {count(claim['of'], claim)}"
    elif kind == "steps":
        total = steps(claim["scenario"], claim["property"])
        rng = re.search(r"steps? (\d+)\s*(?:to|-|–)\s*(\d+)", words)
        if rng:
            a, b = map(int, rng.groups())
            assert 1 <= a <= b <= total, f"{words!r}: the counterexample has {total} steps"
        else:
            n = number(re.search(rf"({NUM})\s+steps?", words, re.I).group(1))
            assert n == total, f"{words!r}: the counterexample has {total} steps"
    elif kind == "violated":
        assert violated(claim["scenario"]) == set(claim["properties"]), \
            f"{words!r}: {claim['scenario']} violates {sorted(violated(claim['scenario']))}"
    elif kind == "opens-at":
        sc = get_scenario(claim["scenario"])
        path = result(claim["scenario"]).verdicts[claim["property"]].path
        last = sc.replay(path)[-1][0]
        assert last.function == claim["function"], f"{words!r}: the violating step runs in {last.function}()"
    elif kind == "topology":
        topo = get_scenario(claim["scenario"]).topology
        assert str(topo) == claim["topology"], f"{claim['scenario']} runs on {topo}"
        m = re.search(rf"({NUM})\s+packages", words, re.I)
        if m:
            assert number(m.group(1)) == topo.packages, f"{words!r}: {topo.packages} packages"


def test_every_number_the_prose_states_is_claimed():
    missing = []
    for src in sorted(NB.glob("*.md")):
        name = src.stem
        text = prose(name)
        spans = [(m.start(), m.start() + len(c["text"])) for c in CLAIMS if c["notebook"] == name
                 for m in re.finditer(re.escape(c["text"]), text)]
        for m in QUANTITY.finditer(text):
            line = text[text.rfind("\n", 0, m.start()) + 1:].lstrip()
            if line.startswith(("← previous", "Next:", "# ")):
                continue  # titles and navigation lines repeat a notebook's title, claimed in its own text
            if not any(a <= m.start() and m.end() <= b for a, b in spans):
                missing.append(f"{name}: {m.group(0)!r} in ...{text[max(0, m.start() - 50):m.end() + 20]!r}")
    assert not missing, "numbers in the notebooks' text with no claim in tests/notebook_claims.toml:\n" + \
        "\n".join(missing)


def test_the_manifests_step_counts_are_the_models():
    """data/expected.toml's comments say how long each shortest counterexample is: check every one."""
    scenario, bad, seen = None, [], 0
    for line in (data_dir() / "expected.toml").read_text(encoding="utf-8").splitlines():
        m = re.match(r'^\["(.+)"\]$', line)
        if m:
            scenario = m.group(1)
            continue
        m = re.match(r'^"([\w-]+)" = "violated"\s*#\s*(\d+) steps?\b', line)
        if m:
            prop, n = m.group(1), int(m.group(2))
            seen += 1
            if steps(scenario, prop) != n:
                bad.append(f"{scenario} {prop}: comment says {n}, the model {steps(scenario, prop)}")
    assert seen >= 20
    assert not bad, bad
