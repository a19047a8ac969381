"""Every citation in the repository resolves to a source a reader can open, and nothing cites a file
outside the repository (data/sources.toml, tdxlab.sources)."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tdxlab import sources
from tdxlab.designs import DESIGNS
from tdxlab.errors import BadInput, UnknownName

REPO = Path(__file__).resolve().parent.parent
TEXT = {".py", ".toml", ".md", ".txt", ".cfg", ".yml", ".yaml", ".sh", ".ini", ".html", ".j2"}
SECTION_SIGN = "\u00a7"  # how the old research notes numbered their sections
# Kernel functions a design invents for a what-if: no real function to link to.
INVENTED = {"second_tdx_user"}


def repo_files() -> list[Path]:
    """The repository's text files: tracked ones and new ones not ignored."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    files = [REPO / f for f in out if f and Path(f).suffix in TEXT]
    return [f for f in files if f.is_file() and not f.is_symlink()]


@pytest.fixture(scope="module")
def texts() -> dict[Path, str]:
    return {f: f.read_text(encoding="utf-8", errors="replace") for f in repo_files()}


def test_the_table_loads_and_every_url_has_an_allowed_form():
    keys = sources.keys()
    assert len(keys) >= 60
    for k in keys:
        s = sources.get(k)
        assert sources.KINDS[s.kind].match(s.url), k
        assert s.title and s.checked, k
    # the forms themselves: a kernel file at a commit, a commit, a Message-ID, the module at its tag
    assert sources.get("k-tdx-c-618").url.startswith(
        "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/arch/x86/virt/vmx/tdx/tdx.c?id=")
    assert sources.get("lore-kai-2024-04-22").url == (
        "https://lore.kernel.org/r/deb9ccacc4da04703086d7412b669806133be047.camel@intel.com")
    assert sources.get("m-sys-config").url.startswith("https://github.com/intel/tdx-module/blob/TDX_1.5.01/")
    assert sources.url("dec-relaxed-gates") == "docs/decisions.md#dec-relaxed-gates"
    assert sources.url("dec-relaxed-gates", "notebooks") == "glossary.ipynb#dec-relaxed-gates"


def test_every_key_cited_anywhere_resolves(texts):
    known = set(sources.keys())
    unknown = {}
    for f, text in texts.items():
        for k in sources.keys_in(text):
            if k not in known:
                unknown.setdefault(str(f.relative_to(REPO)), []).append(k)
    assert not unknown, f"citation keys that data/sources.toml does not have: {unknown}"


def test_every_source_is_cited_somewhere(texts):
    """No dead entries: each key of sources.toml is cited outside sources.toml."""
    table = REPO / "tdxlab" / "data" / "sources.toml"
    cited = set()
    for f, text in texts.items():
        if f.resolve() != table.resolve():
            cited.update(sources.keys_in(text))
    cited.update(sources.functions().values())
    assert set(sources.keys()) <= cited, sorted(set(sources.keys()) - cited)


def test_nothing_cites_a_file_outside_the_repository(texts):
    bad = {}
    for f, text in texts.items():
        for what in (SECTION_SIGN, "tdx" + "-facts", "../" + "shared/", "fact" + " sheet"):
            for line in text.splitlines():
                # a test that checks the string is absent (`"..." not in x`) does not cite it
                if what in line and not re.search(rf"[\"']{re.escape(what)}[\"']\s+not in\b", line):
                    bad.setdefault(str(f.relative_to(REPO)), []).append(what)
                    break
    assert not bad, f"citations of a file outside the repository (the old research notes): {bad}"


MD_LINK = re.compile(r"\[`?([a-z]+-[a-z0-9.-]+)`?\]\(([^)\s]+)\)")


def test_markdown_links_of_keys_point_where_the_key_does(texts):
    """In Markdown (notebooks' sources, README, docs) a key shown as a link links to its own source; a
    decision's link is relative to the file (in a notebook: into the glossary notebook, which shows
    docs/decisions.md) and names an anchor that exists."""
    decisions = (REPO / "docs" / "decisions.md").read_text(encoding="utf-8")
    checked = 0
    for f, text in texts.items():
        if f.suffix != ".md":
            continue
        for m in MD_LINK.finditer(text):
            key, href = m.groups()
            if not sources.KEY_RE.fullmatch(key):
                continue
            s = sources.get(key)
            if s.kind == "decision":
                target, _, anchor = s.url.partition("#")
                want = (sources.url(key, "notebooks") if f.parent.name == "notebooks" else
                        os.path.relpath(REPO / target, f.parent) + (f"#{anchor}" if anchor else ""))
                assert href == want, f"{f.relative_to(REPO)}: {key} links to {href}, not {want}"
                assert not anchor or f'id="{anchor}"' in decisions, anchor
            else:
                assert href == s.url, f"{f.relative_to(REPO)}: {key} links to {href}, not {s.url}"
            checked += 1
    assert checked >= 20  # the fact base and the notebooks link their keys


def test_every_modelled_kernel_function_links_to_the_kernel_of_its_era():
    for name, cls in DESIGNS.items():
        for kf in cls().all_functions():
            base = kf.name.split(":", 1)[0]
            if base in INVENTED:
                assert sources.function_link(kf.name, name) is None
                continue
            link = sources.function_link(kf.name, name)
            assert link, f"{name}: {kf.name} has no link in data/sources.toml"
            assert link.startswith(("https://git.kernel.org/", "https://lore.kernel.org/r/")), link
    # the era decides: the same function at two commits
    assert sources.function_link("tdx_cpu_enable", "kvm-6.16") != sources.function_link("tdx_cpu_enable", "core-7.1")
    assert "kvm/vmx/tdx.c" in sources.function_link("tdx_online_cpu", "kvm-6.16")
    assert "virt/vmx/tdx/tdx.c" in sources.function_link("tdx_online_cpu", "core-7.1")
    assert sources.function_link("tdx_offline_cpu", "core-7.1") == sources.url("k-tdx-c-71-offline")


def test_the_design_functions_and_the_stepper_cite_known_keys():
    for name, cls in DESIGNS.items():
        d = cls()
        assert sources.keys_in(d.fact), name
        for k in sources.keys_in(d.fact):
            sources.get(k)
        for kf in d.all_functions():
            assert sources.keys_in(kf.fact), f"{name}: {kf.name} cites nothing"
            for k in sources.keys_in(kf.fact):
                sources.get(k)


def test_the_sources_table_anchors_every_key():
    t = sources.table_html()
    for k in sources.keys():
        assert f'<tr id="{k}">' in t
    assert t.count("<tr id=") == len(sources.keys())


def test_link_and_cite():
    html = sources.cite("k-cpu-c & dec-relaxed-gates <x>", "notebooks")
    assert html.count("<a href=") == 2
    assert "&amp;" in html and "&lt;x&gt;" in html
    assert 'href="glossary.ipynb#dec-relaxed-gates"' in html
    assert sources.markdown("k-cpu-c") == f"[k-cpu-c]({sources.url('k-cpu-c')})"
    assert sources.keys_in("k-cpu-c, k-cpu-c and m-sys-init") == ["k-cpu-c", "m-sys-init"]
    nope = "k-" + "nope"  # spelled so that the repository-wide check does not see an unknown key
    with pytest.raises(UnknownName, match=nope):
        sources.link(nope)
    with pytest.raises(UnknownName):
        sources.cite("see " + nope)


@pytest.fixture
def table_copy(tmp_path, monkeypatch):
    for f in ("sources.toml",):
        (tmp_path / f).write_text((REPO / "tdxlab" / "data" / f).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("TDXLAB_DATA", str(tmp_path))
    sources.clear_cache()
    yield tmp_path
    monkeypatch.delenv("TDXLAB_DATA")
    sources.clear_cache()


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ('kind = "lore"', 'kind = "blog"', "kind"),
        ("https://lore.kernel.org/r/87mt8ig3ja.ffs@tglx", "https://example.com/87mt8ig3ja", "not of the form"),
        ("tree/kernel/cpu.c?id=a4a508df2aa34f8650afde54ea804321c618f45f", "tree/kernel/cpu.c?id=master", "not of the form"),
        ("[source.k-cpu-c]", "[source." + "lore-" + "cpu-c]", "starts with"),
        ("[source.k-cpu-c]", "[source.cpu]", "not of the form"),
        ('source = "k-tdx-c-618"', 'source = "k-' + 'nope"', "not a key"),
    ],
)
def test_a_malformed_table_is_bad_input(table_copy, old, new, problem):
    p = table_copy / "sources.toml"
    text = p.read_text(encoding="utf-8")
    assert old in text
    p.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(BadInput, match=problem) as e:
        sources.keys()
    assert "sources.toml" in str(e.value) and "\n" not in str(e.value)


def test_every_decision_row_is_whole_and_reads_as_a_block_in_the_glossary():
    # a row that misses a cell shifts every cell after it into the wrong column
    from tdxlab.sources import decisions_markdown

    root = Path(__file__).resolve().parent.parent
    text = (root / "docs" / "decisions.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| <a id=")]
    heads = {line for line in text.splitlines() if line.startswith("| key")}
    assert len(heads) == 1, heads  # every table of decisions has the same columns
    head = heads.pop()
    assert rows and all(r.count("|") == head.count("|") for r in rows), [r[:60] for r in rows
                                                                         if r.count("|") != head.count("|")]
    md = decisions_markdown(text)
    assert "|" not in "".join(line for line in md.splitlines() if line.startswith("<a id="))
    for key in (k for k in sources.keys() if "#" in sources.url(k) and k.startswith("dec-")):
        assert f'<a id="{key}"></a>' in md, key
        assert "*what the sources say*" in md.split(f'<a id="{key}"></a>', 1)[1].split("<a id=", 1)[0], key


def test_the_check_table_links_each_property_to_its_sources():
    import tdxlab
    from tdxlab.widgets.stepper import verdicts_html

    html_ = verdicts_html(tdxlab.check("core-7.1", topology="1x1x1"))
    assert f'href="{sources.url("k-tdxcall-s", "notebooks")}"' in html_.replace("&amp;", "&")
    # a key a user's own property cites that the table lacks stays text, never an error
    unknown = "k-" + "no-such-source"  # (built, so that the scan for cited keys does not read it)
    assert sources.cite(unknown, "notebooks", strict=False) == unknown
    with pytest.raises(UnknownName):
        sources.cite(unknown, "notebooks")
