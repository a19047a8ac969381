"""The notebooks: each is authored as a MyST Markdown source (notebooks/*.md, paired by jupytext), runs top to
bottom on a fresh kernel with no error output, has slide metadata and right navigation links; the .ipynb are
built from the sources (scripts/notebooks.py), kept out of git, and saving one never dirties git."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import load_notebooks_script

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
SCRIPT = ROOT / "scripts" / "notebooks.py"
nbs = load_notebooks_script()
SOURCES = nbs.sources()
CELL_TIMEOUT = 60  # seconds per cell: a stall (jupyter-stack-notes) costs at most this


def run_notebook(nb: nbformat.NotebookNode, where: Path = NB_DIR) -> nbformat.NotebookNode:
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(where)}})
    client.execute()
    return nb


def git(cwd: Path, *args: str) -> str:
    r = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return r.stdout


def copy_sources(dst: Path) -> Path:
    """A copy of notebooks/ (sources and jupytext's configuration only) under dst."""
    d = dst / "notebooks"
    d.mkdir(parents=True)
    for p in SOURCES + [NB_DIR / "jupytext.toml"]:
        shutil.copy2(p, d / p.name)
    return d


def test_there_are_notebook_sources_and_no_ipynb_in_git():
    names = [p.name for p in SOURCES]
    assert names[0] == "index.md" and "00-start-here.md" in names and len(names) >= 5
    tracked = git(ROOT, "ls-files", "notebooks").split()
    assert not [t for t in tracked if t.endswith(".ipynb")], tracked
    assert {f"notebooks/{n}" for n in names} <= set(tracked)
    assert git(ROOT, "check-ignore", "notebooks/00-start-here.ipynb").strip() == "notebooks/00-start-here.ipynb"
    assert not (ROOT / "scripts" / "build_notebooks.py").exists()


def test_venv_kernel_is_the_one_used():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    exe = spec.argv[0]
    assert exe in ("python", sys.executable) or Path(exe).resolve() == Path(sys.executable).resolve(), spec.argv


@pytest.mark.notebooks
@pytest.mark.parametrize("src", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_runs_without_errors(src):
    nb = run_notebook(nbs.read_source(src))
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.output_type == "error":
                problems.append(f"cell {i}: {out.ename}: {out.evalue}")
            elif out.output_type == "stream" and out.name == "stderr":
                problems.append(f"cell {i}: stderr: {out.text[:300]}")
            elif "Traceback" in str(out.get("text", "")) or "Traceback" in str(out.get("data", {}).get("text/plain", "")):
                problems.append(f"cell {i}: a traceback in the output")
            elif "tdxlab-error" in str(out.get("data", {}).get("text/html", "")):
                problems.append(f"cell {i}: a tdxlab error line: {out['data']['text/html'][:200]}")
    assert not problems, "\n".join(problems)


def test_sources_pass_the_check():
    """Every source is in the form jupytext writes, every cell has a slide type, every navigation line and link
    is right (the same check as `scripts/notebooks.py check`)."""
    assert nbs.problems() == []
    r = subprocess.run([sys.executable, str(SCRIPT), "check"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("src", SOURCES, ids=[p.stem for p in SOURCES])
def test_source_has_goals_summary_and_its_navigation(src):
    nb = nbs.read_source(src)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if src.stem[:2].isdigit():  # a lesson (not the index or a reference notebook such as the glossary)
        assert "Learning goals" in text and "Summary" in text
    if src.stem != "index":
        assert nbs.is_nav(nb.cells[1])
    assert nbs.is_nav(nb.cells[-1]) and "[index](index.ipynb)" in nb.cells[-1].source
    assert all(c.cell_type == "markdown" or not c.get("outputs") for c in nb.cells)


def test_navigation_follows_the_order_and_titles():
    title = nbs.titles(SOURCES)
    order = [p.stem for p in SOURCES]
    line = nbs.nav_line("01-seamcall-and-the-module", order, title)
    assert line == (f"← previous: [{title['00-start-here']}](00-start-here.ipynb) · [index](index.ipynb) · "
                    f"next: [{title['02-lp-init-old-vs-relaxed']}](02-lp-init-old-vs-relaxed.ipynb) →")
    assert nbs.nav_line("index", order, title).startswith("[index](index.ipynb) · next: ")
    assert nbs.nav_line(order[-1], order, title).endswith("[index](index.ipynb)")


def test_the_check_finds_a_wrong_link_a_missing_slide_type_and_a_hand_edited_form(tmp_path):
    d = copy_sources(tmp_path)
    assert nbs.problems(d) == []
    # a notebook renamed: the navigation lines around it and the links to it are wrong
    (d / "04-locking.md").rename(d / "04-locks.md")
    bad = nbs.problems(d)
    assert any(line.startswith("03-irq-safety.md: cell 1's navigation line is out of date") for line in bad), bad
    assert any("05-design-review.md" in line and "navigation" in line for line in bad), bad
    assert any("a link to 04-locking.ipynb, which has no source" in line for line in bad), bad
    assert nbs.fix_nav(d) == ["03-irq-safety.md", "05-design-review.md"]
    assert nbs.fix_nav(d) == []
    assert not [line for line in nbs.problems(d) if "navigation" in line]
    (d / "04-locks.md").rename(d / "04-locking.md")
    nbs.fix_nav(d)
    assert nbs.problems(d) == []
    # a cell without its slide type
    p = d / "02-lp-init-old-vs-relaxed.md"
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace('+++ {"slideshow": {"slide_type": "slide"}}\n\n## ', "+++\n\n## ", 1), encoding="utf-8")
    assert any(line.startswith("02-lp-init-old-vs-relaxed.md: cell") and "no slide type" in line
               for line in nbs.problems(d))
    # a form that a save from JupyterLab would rewrite (a cell marker without its metadata's usual spacing)
    p.write_text(text.replace("\n\n+++ {", "\n+++ {", 1), encoding="utf-8")
    bad = nbs.problems(d)
    assert any("not in the form jupytext writes" in line for line in bad), bad
    p.write_text(text, encoding="utf-8")
    r = subprocess.run([sys.executable, str(SCRIPT), "check", "--dir", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (d / "index.md").write_text((d / "index.md").read_text(encoding="utf-8").replace("(00-start-here.ipynb)",
                                                                                         "(00-start.ipynb)"))
    r = subprocess.run([sys.executable, str(SCRIPT), "check", "--dir", str(d)], capture_output=True, text=True)
    assert r.returncode == 1 and "index.md: a link to 00-start.ipynb, which has no source 00-start.md" in r.stderr


def test_build_is_deterministic_and_gives_what_the_sources_say(tmp_path):
    d = copy_sources(tmp_path)
    built = nbs.build(d, log=lambda *a: None)
    assert sorted(p.stem for p in built) == sorted(p.stem for p in SOURCES)
    first = {p.name: p.read_bytes() for p in d.glob("*.ipynb")}
    for p in d.glob("*.ipynb"):
        p.unlink()
    nbs.build(d, log=lambda *a: None)
    assert {p.name: p.read_bytes() for p in d.glob("*.ipynb")} == first
    nb = json.loads(first["03-irq-safety.ipynb"])
    assert [c["id"] for c in nb["cells"]][:3] == ["03-00", "03-01", "03-02"]
    assert nb["metadata"]["title"].startswith("03 IRQ safety")
    assert all(c["metadata"]["slideshow"]["slide_type"] for c in nb["cells"])
    # the notebooks/ the other tests read were built from today's sources
    for src in SOURCES:
        assert nbs.inputs(nbformat.read(src.with_suffix(".ipynb"), as_version=4)) == nbs.inputs(nbs.read_source(src))


def test_build_keeps_outputs_follows_the_source_and_refuses_to_drop_an_unpaired_edit(tmp_path):
    d = copy_sources(tmp_path)
    nbs.build(d, log=lambda *a: None)
    src, ipynb = d / "01-seamcall-and-the-module.md", d / "01-seamcall-and-the-module.ipynb"
    nb = nbformat.read(ipynb, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="an output\n")]
    nbformat.write(nb, ipynb)
    os.utime(ipynb, (src.stat().st_atime, src.stat().st_mtime))
    assert nbs.build(d, log=lambda *a: None) == []  # same cells: outputs kept
    assert "an output" in ipynb.read_text(encoding="utf-8")
    # the source changed (an edit, a pull): the notebook follows it
    src.write_text(src.read_text(encoding="utf-8").replace("## ", "## Changed: ", 1), encoding="utf-8")
    assert nbs.build(d, log=lambda *a: None) == [ipynb]
    assert "Changed: " in ipynb.read_text(encoding="utf-8")
    # the .ipynb edited later, without jupytext (its source unchanged): not overwritten, one line, exit 2
    nb = nbformat.read(ipynb, as_version=4)
    nb.cells[0].source += "\nA teacher's new sentence."
    nbformat.write(nb, ipynb)
    later = src.stat().st_mtime + 10
    os.utime(ipynb, (later, later))
    r = subprocess.run([sys.executable, str(SCRIPT), "build", "--dir", str(d)], capture_output=True, text=True)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "01-seamcall-and-the-module.ipynb was edited after its source" in r.stderr and "jupytext --sync" in r.stderr
    assert "A teacher's new sentence." in ipynb.read_text(encoding="utf-8")
    # a source removed: its .ipynb goes
    (d / "index.md").unlink()
    ipynb.unlink()
    nbs.build(d, log=lambda *a: None)
    assert not (d / "index.ipynb").exists() and ipynb.exists()


def test_saving_a_notebook_leaves_git_clean(tmp_path):
    """A fresh repository holding what git holds (the sources, jupytext's configuration, the .gitignore): build,
    then save every notebook with outputs, once with nbformat and once through jupytext's contents manager
    (what JupyterLab does, writing the paired source too, with the kernel's metadata): git status stays clean."""
    from jupytext import TextFileContentsManager

    repo = tmp_path / "repo"
    d = copy_sources(repo)
    shutil.copy2(ROOT / ".gitignore", repo / ".gitignore")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "sources")
    nbs.build(d, log=lambda *a: None)
    assert git(repo, "status", "--porcelain") == ""
    kernel_info = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python", "file_extension": ".py",
                   "codemirror_mode": {"name": "ipython", "version": 3}, "pygments_lexer": "ipython3",
                   "nbconvert_exporter": "python"}

    def with_outputs(nb):
        for c in nb.cells:
            c.metadata["editable"] = True
            if c.cell_type == "code":
                c.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "a picture"})]
                c.execution_count = 7
                c.metadata["execution"] = {"iopub.status.idle": "2026-11-29T04:00:00Z"}
        nb.metadata["language_info"] = kernel_info
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
        return nb

    for p in d.glob("*.ipynb"):
        nbformat.write(with_outputs(nbformat.read(p, as_version=4)), p)
    assert git(repo, "status", "--porcelain") == ""
    cm = TextFileContentsManager(root_dir=str(repo))
    before = {p.name: p.stat().st_mtime_ns for p in d.glob("*.md")}
    time.sleep(0.05)
    for src in sorted(d.glob("*.md")):
        path = f"notebooks/{src.stem}.ipynb"
        cm.save({"type": "notebook", "content": with_outputs(cm.get(path)["content"])}, path)
    assert all(p.stat().st_mtime_ns != before[p.name] for p in d.glob("*.md")), "the pairing did not write the sources"
    assert git(repo, "status", "--porcelain") == ""
    assert "a picture" in (d / "03-irq-safety.ipynb").read_text(encoding="utf-8")
    # ... and a real edit made in JupyterLab does reach the source, the only file git sees change
    model = cm.get("notebooks/03-irq-safety.ipynb")
    model["content"].cells[0].source += "\nOne more sentence."
    cm.save({"type": "notebook", "content": model["content"]}, "notebooks/03-irq-safety.ipynb")
    assert git(repo, "status", "--porcelain").splitlines() == [" M notebooks/03-irq-safety.md"]
    assert "One more sentence." in (d / "03-irq-safety.md").read_text(encoding="utf-8")


def test_the_exercises_notebook_asks_every_exercise_in_order():
    from tdxlab import exercises

    src = (NB_DIR / "06-exercises.md").read_text(encoding="utf-8")
    asked = re.findall(r'^Exercise\("([^"]+)", (\d+), ', src, re.M)
    assert [a for a, _ in asked] == list(exercises.load())
    assert [int(n) for _, n in asked] == list(range(1, len(asked) + 1))


def test_a_tdxlab_error_in_a_notebook_is_one_line_not_a_traceback(tmp_path):
    """Bad input in a cell (here a topology of 0 CPUs) shows one clear line, never a traceback."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from tdxlab.scenario import Scenario\nScenario('kvm-6.16', topology='0x1x1')")]
    out = run_notebook(nb, tmp_path).cells[0].outputs
    assert [o.output_type for o in out] == ["display_data"]
    html = out[0]["data"]["text/html"]
    assert "tdxlab-error" in html and "0 CPUs" in html and "Traceback" not in html


def _scroll_to(page, selector: str, index: int, tries: int = 20) -> None:
    """Scroll the index-th match into view; JupyterLab re-renders cells as they scroll, so a match may be
    replaced under the call: try again."""
    for i in range(tries):
        try:
            loc = page.locator(selector)
            (loc.last if index == -1 else loc.nth(index)).scroll_into_view_if_needed(timeout=5_000)
            return
        except Exception:  # noqa: BLE001 - detached while re-rendered
            if i == tries - 1:
                raise
            page.wait_for_timeout(500)


@pytest.mark.browser
@pytest.mark.notebooks
def test_make_lab_opens_the_index_with_its_pictures(tmp_path):
    """What `make lab` runs (read from `make -n lab`): the notebooks are run once before JupyterLab starts, only
    when a source changed, and are trusted; JupyterLab opens index.ipynb (not the Launcher), token kept, and
    the first look has pictures and widgets, not empty cells."""
    from tests.browserlib import NOTEBOOK, chromium_available, chromium_page, jupyter_server, screenshot, wait_idle

    if not chromium_available():
        pytest.skip("/usr/bin/chromium is not installed")
    lines = subprocess.run(["make", "-n", "lab"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    build = next(line for line in lines.splitlines() if "scripts/notebooks.py build" in line)
    assert "--execute" in build.split()
    lab = next(shlex.split(line) for line in lines.splitlines() if " lab " in line and "bin/jupyter" in line)
    assert "--notebook-dir=notebooks" in lab and not [a for a in lab if "token" in a.lower()]
    lab_args = [a for a in lab if a.startswith("--LabApp.")]
    assert lab_args == ["--LabApp.default_url=/lab/tree/index.ipynb"]
    # as make lab does, on a copy of the index and notebook 00, with Jupyter's data (trust) and workspaces apart
    repo = tmp_path / "repo"
    d = repo / "notebooks"
    d.mkdir(parents=True)
    for name in ("index.md", "00-start-here.md", "jupytext.toml"):
        shutil.copy2(NB_DIR / name, d / name)
    shutil.copy2(ROOT / ".gitignore", repo / ".gitignore")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "sources")
    env = dict(os.environ, JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    cmd = [sys.executable, str(SCRIPT), "build", "--execute", "--dir", str(d)]
    first = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert first.returncode == 0 and "running 2 notebook(s)" in first.stdout, first.stdout + first.stderr
    assert "without encryption" not in first.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and again.stdout == "" and again.stderr == ""  # nothing changed: nothing run
    for p in d.glob("*.ipynb"):
        nb = nbformat.read(p, as_version=4)
        assert all(c.outputs for c in nb.cells if c.cell_type == "code"), p.name
    assert nbformat.read(d / "00-start-here.ipynb", as_version=4).metadata["widgets"]
    with jupyter_server(d, extra_args=lab_args, env={k: env[k] for k in ("JUPYTER_DATA_DIR",
                                                                        "JUPYTERLAB_WORKSPACES_DIR")}) as srv:
        for width, height in ((1366, 768), (1920, 1080)):
            with chromium_page(width, height) as page:
                page.goto(f"{srv.url}/?token={srv.token}")
                page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=90_000)
                assert "/lab/tree/index.ipynb" in page.url
                assert page.locator(".jp-Launcher").count() == 0
                tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
                assert tab.first.inner_text() == "index.ipynb"
                wait_idle(page)
                page.locator(".jp-DirListing-item").first.wait_for(timeout=30_000)
                screenshot(page, f"make-lab-first-look-{width}x{height}")
                _scroll_to(page, f"{NOTEBOOK} .jp-CodeCell", -1)
                picture = page.locator(f"{NOTEBOOK} .jp-CodeCell .jp-OutputArea-output[data-mime-type='image/svg+xml']")
                picture.first.wait_for(timeout=60_000)
                prompts = page.eval_on_selector_all(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt",
                                                    "els => els.map(e => e.innerText.trim())")
                assert prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts
                screenshot(page, f"make-lab-first-look-{width}x{height}-picture")
        # the next notebook opens with its widgets drawn (trusted, widget state saved)
        with chromium_page(1366, 768) as page:
            page.goto(f"{srv.url}/lab/tree/00-start-here.ipynb?token={srv.token}")
            page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=90_000)
            wait_idle(page)
            _scroll_to(page, f"{NOTEBOOK} .jp-CodeCell", 1)
            page.locator(f"{NOTEBOOK} .tdxlab-stepper").first.wait_for(timeout=60_000)
            screenshot(page, "make-lab-00-stepper-1366x768")
            # saved in JupyterLab (Ctrl+S): jupytext writes the source too, and git sees no change
            src = d / "00-start-here.md"
            before = (src.stat().st_mtime_ns, (d / "00-start-here.ipynb").stat().st_mtime_ns)
            page.locator(f"{NOTEBOOK} .jp-MarkdownCell").first.click()
            page.keyboard.press("Escape")
            page.keyboard.press("Control+s")
            for _ in range(60):
                now = (src.stat().st_mtime_ns, (d / "00-start-here.ipynb").stat().st_mtime_ns)
                if all(a != b for a, b in zip(now, before)):
                    break
                page.wait_for_timeout(500)
            assert all(a != b for a, b in zip(now, before)), "JupyterLab did not save both files"
            assert git(repo, "status", "--porcelain") == ""


def test_the_first_table_of_00_shows_every_story_whole():
    """00's first table (the scenarios) tells each scenario's whole story, not its first words."""
    import html

    from tdxlab.scenario import list_scenarios

    nb = nbs.read_source(NB_DIR / "00-start-here.md")
    first = next(c for c in nb.cells if c.cell_type == "code")
    one = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(first.source)])
    out = run_notebook(one).cells[0].outputs
    shown = " ".join(html.unescape(o.get("data", {}).get("text/html", "")) for o in out)
    shown = " ".join(re.sub(r"<[^>]+>", " ", shown).split())
    stories = {n: " ".join(s.story.split()) for n, s in list_scenarios().items()}
    assert stories and all(story in shown for story in stories.values()), \
        [n for n, story in stories.items() if story not in shown]
    assert "…" not in shown


def test_a_fresh_clone_builds_its_notebooks_before_anything_reads_them(tmp_path):
    """A clone holds the sources only; every make target that reads notebooks/*.ipynb builds them first, and
    the build leaves the clone's git clean."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    assert sorted(p.name for p in (clone / "notebooks").glob("*.md")) and not list((clone / "notebooks").glob("*.ipynb"))
    for target, reader in (("lab", "bin/jupyter lab"), ("slides", "tdxlab.present slides"),
                           ("html", "tdxlab.present html"), ("voila", "bin/voila")):
        lines = subprocess.run(["make", "-n", target], cwd=clone, capture_output=True, text=True,
                               check=True).stdout.splitlines()
        build = [i for i, line in enumerate(lines) if "scripts/notebooks.py build" in line]
        read = [i for i, line in enumerate(lines) if reader in line]
        assert build and read and build[0] < read[0], (target, lines)
    r = subprocess.run([sys.executable, str(clone / "scripts" / "notebooks.py"), "build"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert sorted(p.stem for p in (clone / "notebooks").glob("*.ipynb")) == \
        sorted(p.stem for p in (clone / "notebooks").glob("*.md"))
    assert git(clone, "status", "--porcelain") == ""


def test_ctrl_c_while_make_lab_runs_the_notebooks_is_one_line(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while the notebooks run: exit 130,
    one line, no traceback from the workers or kernels, no kernel left running, no notebook half-written."""
    import signal

    d = copy_sources(tmp_path)
    nbs.build(d, log=lambda *a: None)
    built = {p.name: p.read_bytes() for p in d.glob("*.ipynb")}
    tmp = tmp_path / "tmp"  # the kernels' sockets go here
    tmp.mkdir()
    p = subprocess.Popen([sys.executable, str(SCRIPT), "build", "--execute", "--dir", str(d)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True, env=dict(os.environ, TMPDIR=str(tmp)))
    assert "running" in p.stdout.readline()  # the runs have started
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130 and err == "notebooks: interrupted\n", err
    mark = f"TMPDIR={tmp}".encode()
    left = []
    for proc in Path("/proc").iterdir():  # a process of the run (a worker, a kernel) still alive?
        try:
            if proc.name.isdigit() and mark in (proc / "environ").read_bytes().split(b"\0"):
                left.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:200])
        except OSError:
            pass
    assert left == [] and list(tmp.iterdir()) == []
    for name, text in built.items():  # each is as built, or ran to its end
        now = (d / name).read_bytes()
        # (ran to its end: every code cell has run; Markdown cells have no outputs at all)
        code = [c for c in json.loads(now)["cells"] if c["cell_type"] == "code"]
        assert now == text or all(c.get("execution_count") is not None for c in code), name
        nbformat.reads(now.decode(), as_version=4)
