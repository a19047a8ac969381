"""The set-up contract: CI runs `make test` and nothing else; the README's set-up section has exactly the
two commands; environment.yml and pyproject.toml name the same dependencies; the README's picture."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parent.parent

# conda-forge name -> pip name, where they differ
CONDA_TO_PIP = {"python-graphviz": "graphviz", "playwright-python": "playwright"}
# conda packages that are not Python packages on PyPI (or are the environment itself)
CONDA_ONLY = {"python", "pip", "graphviz"}  # graphviz here is Graphviz's `dot`, the C package


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _code_lines(text: str) -> list[str]:
    """The non-blank, non-comment lines inside the ``` fenced blocks of a markdown text."""
    lines = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M):
        lines += [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return lines


def _readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(title)}\s*$", text, re.M)
    assert m, f"README has no '## {title}' section"
    rest = text[m.end():]
    end = re.search(r"^##? ", rest, re.M)  # the next section of the same or a higher level
    return rest[: end.start()] if end else rest


# ---- CI --------------------------------------------------------------------------------------------
def test_ci_runs_make_test_and_nothing_else():
    lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    commands = [
        ln for ln in lines
        if ln and not ln.startswith("#") and not ln.startswith("set -") and not ln.startswith("cd ")
    ]
    assert commands == ["make test"]
    assert all("&&" not in ln and ";" not in ln for ln in lines if ln.startswith("cd "))


# ---- README ----------------------------------------------------------------------------------------
def test_readme_setup_section_has_exactly_the_two_commands():
    setup = _readme_section("Set up and run")
    before_conda = setup.split("### ")[0]  # the conda subsection has its own commands
    assert _code_lines(before_conda) == ["make lab", "make test"]


def test_the_two_commands_are_make_targets():
    makefile = (REPO / "Makefile").read_text()
    for target in ("lab", "test"):
        assert re.search(rf"^{target}:", makefile, re.M), target


def test_readme_conda_section_uses_environment_yml():
    setup = _readme_section("Set up and run")
    conda = setup.split("### With conda", 1)[1]
    assert "conda env create -f environment.yml" in _code_lines(conda)
    assert "python-graphviz" in conda and "`graphviz`" in conda


def test_readme_has_its_sections_and_picture():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    for title in ("Set up and run", "The command line", "Notebooks", "Layout"):
        assert _readme_section(title).strip(), title
    pics = re.findall(r"!\[([^\]]+)\]\(([^)]+)\)", text)
    assert len(pics) == 1
    alt, path = pics[0]
    assert len(alt) > 20  # alt text for the picture
    svg = (REPO / path).read_text(encoding="utf-8")
    assert "<svg" in svg
    for leaf in ("TDH.SYS.INIT (33)", "TDH.SYS.LP.INIT (35)", "TDH.SYS.CONFIG (45)", "TDH.SYS.KEY.CONFIG (31)",
                 "TDH.SYS.TDMR.INIT (36)"):
        assert leaf in svg, leaf


def test_readme_decode_example_is_what_decode_prints():
    from tdxlab.decode import decode

    example = _readme_section("The command line")
    printed = decode("0x8000FF0000000006").summary()
    assert printed in example


# ---- dependencies ----------------------------------------------------------------------------------
def _pyproject_deps() -> dict[str, SpecifierSet]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    out: dict[str, SpecifierSet] = {}
    for r in map(Requirement, reqs):
        name = _norm(r.name)
        if name == "tdxlab":  # an extra naming another (test = tdxlab[lab] + ...): not a dependency
            continue
        assert out.get(name, r.specifier) == r.specifier, f"{name} has two different specifiers in pyproject"
        out[name] = r.specifier
    return out


def _conda_deps() -> tuple[dict[str, SpecifierSet], dict[str, str], list[str]]:
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    python_pkgs: dict[str, SpecifierSet] = {}
    others: dict[str, str] = {}
    pip: list[str] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep["pip"]
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", dep.strip())
        name, spec = _norm(m.group(1)), m.group(2).replace(" ", "")
        if name in CONDA_ONLY:
            others[name] = spec
        else:
            python_pkgs[CONDA_TO_PIP.get(name, name)] = SpecifierSet(spec)
    return python_pkgs, others, pip


def test_environment_yml_and_pyproject_name_the_same_dependencies():
    conda, _, _ = _conda_deps()
    pyproject = _pyproject_deps()
    assert set(conda) == set(pyproject)
    for name, spec in pyproject.items():
        assert conda[name] == spec, f"{name}: pyproject {spec}, environment.yml {conda[name]}"


def test_environment_yml_brings_dot_python_and_tdxlab():
    _, others, pip = _conda_deps()
    assert "graphviz" in others  # conda-forge's graphviz is Graphviz itself, with `dot`
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert others["python"] == project["requires-python"] == ">=3.11"
    assert [p.split("#")[0].strip() for p in pip] == ["-e ."]


def test_pyproject_license_is_an_spdx_string():
    doc = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert doc["project"]["license"] == "MIT"
    setuptools_req = next(Requirement(r) for r in doc["build-system"]["requires"] if r.startswith("setuptools"))
    assert "77" in setuptools_req.specifier and "76.9" not in setuptools_req.specifier


# ---- reading order ---------------------------------------------------------------------------------
def _table_links(text: str, folder: str) -> list[str]:
    """The notebooks a Markdown table links to, in its order (the first link of each row)."""
    rows = [ln for ln in text.splitlines() if ln.startswith("|")]
    found = [re.search(rf"\]\({re.escape(folder)}([\w.-]+)\.(?:md|ipynb)\)", ln) for ln in rows]
    return [m.group(1) for m in found if m]


def test_the_index_and_the_readme_list_every_notebook_in_the_reading_order():
    """The order the navigation lines follow (scripts/notebooks.py: index, then the rest by name; checked by
    `scripts/notebooks.py check`) is the index's table and the README's, with every notebook in each: a new
    chapter missing from either, or out of place, fails here."""
    from conftest import load_notebooks_script

    order = [p.stem for p in load_notebooks_script().sources()]
    index = (REPO / "notebooks" / "index.md").read_text(encoding="utf-8")
    assert _table_links(index, "") == order[1:]
    assert _table_links(_readme_section("Notebooks"), "notebooks/") == order


def test_start_here_names_every_design():
    """00's paragraph on the model's designs names each one `tdxlab designs` lists."""
    from tdxlab.designs import DESIGNS

    text = " ".join((REPO / "notebooks" / "00-start-here.md").read_text(encoding="utf-8").split())
    para = text[text.index("has a [**design**]"):][:1200]
    para = para[:para.index("A **scenario**")]
    assert [n for n in DESIGNS if f"`{n}`" not in para] == []
