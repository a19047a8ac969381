"""The primer's pictures (tdxlab.primer, notebook 00-primer): one per idea, each readable in a notebook at
1366x768 (no wider than the notebook's column, no text under 11 px), their numbers taken from the data."""
from __future__ import annotations

import re

import pytest

from tdxlab import facts, primer



@pytest.mark.parametrize("title, anchor, fn", primer.PICTURES, ids=[p[0] for p in primer.PICTURES])
def test_each_picture_renders_readably(title, anchor, fn):
    svg = fn().svg()
    width_pt = float(re.search(r'<svg[^>]*width="([\d.]+)pt"', svg).group(1))
    assert width_pt * 4 / 3 <= 900, f"{title}: {width_pt * 4 / 3:.0f} px wide"
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    assert sizes and min(sizes) * 4 / 3 >= 11, f"{title}: text of {min(sizes) * 4 / 3:.1f} px"
    assert 'aria-label="' in svg


def test_the_pictures_cover_the_primers_ideas_and_the_glossary_has_them():
    from pathlib import Path

    glossary = (Path(__file__).resolve().parent.parent / "notebooks" / "glossary.md").read_text(encoding="utf-8")
    for _, anchor, _ in primer.PICTURES:
        assert f'<a id="{anchor}"></a>' in glossary, anchor
    names = {fn.__name__ for _, _, fn in primer.PICTURES}
    assert {"trust_domain", "seam_and_module", "seamcall", "vmx_operation", "tdmr_and_pamt",
            "keyids_and_packages", "logical_processors", "contexts"} <= names


def test_numbers_in_the_pictures_come_from_the_data():
    svg = primer.seamcall().svg()
    assert f"RAX = {facts.leaf_number('TDH.SYS.LP.INIT')}" in svg
    assert f"0x{facts.status_value('TDX_SEAMCALL_UD'):016X}" in svg
    bring = primer.bringup().svg()
    for leaf in ("TDH.SYS.INIT", "TDH.SYS.LP.INIT", "TDH.SYS.CONFIG", "TDH.SYS.KEY.CONFIG", "TDH.SYS.TDMR.INIT"):
        assert f"{leaf} ({facts.leaf_number(leaf)})" in bring
    lps = primer.logical_processors("1x2x2").svg()
    assert "CPU3" in lps and "CPU4" not in lps and "4 LPs" in lps


def test_every_glossary_link_in_the_notebooks_names_an_entry():
    from pathlib import Path

    nb = Path(__file__).resolve().parent.parent / "notebooks"
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', (nb / "glossary.md").read_text(encoding="utf-8")))
    seen = 0
    for src in nb.glob("*.md"):
        for anchor in re.findall(r"\]\(glossary\.ipynb#([\w-]+)\)", src.read_text(encoding="utf-8")):
            seen += 1
            if anchor.startswith("dec-"):  # the decisions, shown from docs/decisions.md with these anchors
                decisions = (nb.parent / "docs" / "decisions.md").read_text(encoding="utf-8")
                assert f'<a id="{anchor}"></a>' in decisions, (src.name, anchor)
            else:
                assert anchor in anchors, (src.name, anchor)
    linked = {src.stem for src in nb.glob("*.md") if "](glossary.ipynb#" in src.read_text(encoding="utf-8")}
    assert {"00-primer", "00-start-here", "01-seamcall-and-the-module", "02-lp-init-old-vs-relaxed", "03-irq-safety",
            "04-locking", "05-design-review"} <= linked
    assert seen >= 30
