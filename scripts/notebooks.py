#!/usr/bin/env python3
"""The teaching notebooks: their sources are ``notebooks/*.md`` (MyST Markdown read by jupytext, one file per
notebook, paired with ``notebooks/*.ipynb`` by ``notebooks/jupytext.toml``). The ``.ipynb`` are built from the
sources and kept out of git, so running and saving a notebook never dirties git with outputs.

    python scripts/notebooks.py build            # write each .ipynb whose cells differ from its source
    python scripts/notebooks.py build --execute  # the same, then run those without outputs (make lab's first look)
    python scripts/notebooks.py check            # exit 1 on a source not in jupytext's own form, a cell without
                                                 # slide metadata, a wrong navigation line or a broken link
    python scripts/notebooks.py nav              # rewrite every navigation line from the titles and the order

Order: ``index`` first, then the numbered notebooks by name. Titles: each source's ``title`` (its header).
A navigation line is a ``skip`` Markdown cell of the form "← previous: … · [index](index.ipynb) · next: … →".
Building is deterministic: the same sources give the same bytes (cell ids are the notebook's number and the
cell's index). Bad state (a source that does not parse, an .ipynb edited without its source) is one line on
stderr and exit 2.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
FMT = "md:myst"
SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "-", "notes")
NAV_START = ("← previous:", "[index](index.ipynb)")
CELL_TIMEOUT = 120
# What ipykernel reports (less its version): a save in JupyterLab writes the same source back.
LANGUAGE_INFO = {"name": "python", "pygments_lexer": "ipython3", "codemirror_mode": {"name": "ipython", "version": 3},
                 "file_extension": ".py", "mimetype": "text/x-python", "nbconvert_exporter": "python"}


class NotebookError(Exception):
    """One line for the user."""


def _jupytext():
    try:
        import jupytext
        from jupytext.config import load_jupytext_config
    except ImportError:  # the [lab] extra may not list jupytext yet: fetch it into this venv, once
        import importlib
        import subprocess

        print("notebooks: installing jupytext (reads the notebooks' sources)", file=sys.stderr)
        r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "jupytext>=1.16"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise NotebookError(f"jupytext is missing and pip could not install it: run  {sys.executable} -m pip "
                                f"install jupytext")
        importlib.invalidate_caches()
        import jupytext
        from jupytext.config import load_jupytext_config
    return jupytext, load_jupytext_config(str(NB_DIR))


def sources(nb_dir: Path = NB_DIR) -> list[Path]:
    """The notebooks' sources in reading order: index, then the rest by name."""
    found = sorted(p for p in nb_dir.glob("*.md") if p.name != "README.md")
    return sorted(found, key=lambda p: (p.stem != "index", p.stem))


def read_source(path: Path):
    """A source as a notebook (no outputs), exactly as the built .ipynb holds it."""
    jupytext, _ = _jupytext()
    try:
        nb = jupytext.reads(path.read_text(encoding="utf-8"), fmt=FMT)
    except Exception as e:  # noqa: BLE001 - any parse failure is one line
        raise NotebookError(f"{path.name}: not a MyST notebook jupytext can read: {str(e).splitlines()[0][:200]}")
    nb.metadata.pop("jupytext", None)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    prefix = path.stem[:2] if path.stem[:1].isdigit() else "ix"
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{prefix}-{i:02d}"
    return nb


def ipynb_text(nb) -> str:
    import nbformat

    return nbformat.writes(nb) + "\n"


def inputs(nb) -> list:
    """What a notebook's source determines: cell types, sources and slide metadata, and the title."""
    return [nb.metadata.get("title")] + [(c.cell_type, c.source, c.metadata.get("slideshow"))
                                         for c in nb.cells]


def _has_outputs(nb) -> bool:
    return any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


# ------------------------------------------------------------------------------------------ navigation
def titles(paths: list[Path]) -> dict[str, str]:
    out = {}
    for p in paths:
        t = read_source(p).metadata.get("title")
        if not t:
            raise NotebookError(f"{p.name}: no title in its header (add `title: ...` between the --- lines)")
        out[p.stem] = t
    return out


def nav_line(name: str, order: list[str], title: dict[str, str]) -> str:
    i = order.index(name)
    parts = []
    if i > 0:
        parts.append(f"← previous: [{title[order[i - 1]]}]({order[i - 1]}.ipynb)")
    parts.append("[index](index.ipynb)")
    if i + 1 < len(order):
        parts.append(f"next: [{title[order[i + 1]]}]({order[i + 1]}.ipynb) →")
    return " · ".join(parts)


def is_nav(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.startswith(NAV_START)


def problems(nb_dir: Path = NB_DIR) -> list[str]:
    """Everything `check` refuses, one line each."""
    jupytext, config = _jupytext()
    paths = sources(nb_dir)
    if not paths:
        return [f"no notebook sources (*.md) in {nb_dir}"]
    out = []
    try:
        title = titles(paths)
    except NotebookError as e:
        return [str(e)]
    order = [p.stem for p in paths]
    for p in paths:
        text = p.read_text(encoding="utf-8")
        nb = read_source(p)
        again = jupytext.writes(jupytext.reads(text, fmt=FMT), fmt=FMT, config=config)
        if again != text:
            out.append(f"{p.name}: not in the form jupytext writes, so saving it in JupyterLab would change it "
                       f"(run: .venv/bin/jupytext --to md:myst notebooks/{p.stem}.ipynb after a build)")
        for i, cell in enumerate(nb.cells):
            st = cell.metadata.get("slideshow", {}).get("slide_type")
            if st not in SLIDE_TYPES:
                out.append(f"{p.name}: cell {i} has no slide type (slideshow.slide_type one of {', '.join(SLIDE_TYPES)})")
        want = nav_line(p.stem, order, title)
        navs = [i for i, c in enumerate(nb.cells) if is_nav(c)]
        if not nb.cells or not is_nav(nb.cells[-1]):
            out.append(f"{p.name}: the last cell is not its navigation line")
        if p.stem != "index" and 1 not in navs:
            out.append(f"{p.name}: cell 1 is not its navigation line")
        for i in navs:
            if nb.cells[i].source != want:
                out.append(f"{p.name}: cell {i}'s navigation line is out of date (run: scripts/notebooks.py nav)")
            if nb.cells[i].metadata.get("slideshow", {}).get("slide_type") != "skip":
                out.append(f"{p.name}: cell {i}'s navigation line is not a skip cell")
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            for target in re.findall(r"\]\(([^)#\s]+?)\.ipynb(?:#[^)]*)?\)", cell.source):
                if target not in order:
                    out.append(f"{p.name}: a link to {target}.ipynb, which has no source {target}.md")
    return out


def fix_nav(nb_dir: Path = NB_DIR) -> list[str]:
    """Rewrite every navigation line in the sources; the names of the sources changed."""
    paths = sources(nb_dir)
    title, order = titles(paths), [p.stem for p in paths]
    changed = []
    for p in paths:
        text = p.read_text(encoding="utf-8")
        want = nav_line(p.stem, order, title)
        new = "\n".join(want if line.startswith(NAV_START) else line for line in text.split("\n"))
        if new != text:
            p.write_text(new, encoding="utf-8")
            changed.append(p.name)
    return changed


# ------------------------------------------------------------------------------------------ building
def build(nb_dir: Path = NB_DIR, log=print) -> list[Path]:
    """Write each .ipynb whose cells differ from its source (or that is missing); keep the rest, outputs and
    all. Refuse to overwrite an .ipynb edited after its source (saved without jupytext's pairing)."""
    import nbformat

    written = []
    for src in sources(nb_dir):
        nb = read_source(src)
        dst = src.with_suffix(".ipynb")
        if dst.exists():
            try:
                old = nbformat.read(dst, as_version=4)
            except Exception:  # noqa: BLE001 - an unreadable build product is rebuilt
                old = None
            if old is not None and inputs(old) == inputs(nb):
                continue
            if old is not None and dst.stat().st_mtime > src.stat().st_mtime + 1:
                raise NotebookError(
                    f"{dst.name} was edited after its source {src.name} and differs from it; carry the edit into "
                    f"the source with  .venv/bin/jupytext --sync notebooks/{dst.name}  or delete {dst.name}")
        _write_atomic(dst, ipynb_text(nb), like=src)
        written.append(dst)
    names = {p.stem for p in sources(nb_dir)}
    for stale in nb_dir.glob("*.ipynb"):  # a source renamed or removed: its build goes too
        if stale.stem not in names and stale.is_file():
            stale.unlink()
            log(f"notebooks: removed {stale.name} (no source {stale.stem}.md)")
    if written:
        log(f"notebooks: built {', '.join(p.name for p in written)} from their sources")
    return written


# ------------------------------------------------------------------------------------------ executing
def _has_error(nb) -> bool:
    return any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def _worker_signals() -> None:
    """In a worker: Ctrl-C is the parent's to handle; SIGTERM (the parent stopping it) unwinds, so the kernel
    is shut down and its sockets removed."""
    import signal

    def stop(*_):
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the interrupted run's teardown has nothing to say
        sys.exit(130)

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _execute_one(path: str) -> str | None:
    """Run one built notebook on a fresh kernel, widget state stored; write it back. The first error, or None."""
    import subprocess

    import nbformat
    from nbclient import NotebookClient

    from tdxlab.present import local_kernel

    p = Path(path)
    nb = nbformat.read(p, as_version=4)
    with local_kernel() as km:
        NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, allow_errors=True, store_widget_state=True,
                       resources={"metadata": {"path": str(p.parent)}}).execute(stderr=subprocess.DEVNULL)
    # trusted, as if run in JupyterLab: else JupyterLab shows the pictures and widgets as plain text
    from nbformat.sign import NotebookNotary

    NotebookNotary().sign(nb)
    _write_atomic(p, ipynb_text(nb), like=p.with_suffix(".md"))
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            if o.get("output_type") == "error":
                return f"{p.name}: cell {i} raised {o.get('ename')}: {str(o.get('evalue'))[:200]}"
    return None


def execute(nb_dir: Path = NB_DIR, log=print, jobs: int = 2) -> list[Path]:
    """Run every built notebook that has no outputs yet (or an error from its last run), so that it opens
    with its pictures; the others are left as they are."""
    import nbformat
    from concurrent.futures import ProcessPoolExecutor

    todo = []
    for src in sources(nb_dir):
        nb = nbformat.read(src.with_suffix(".ipynb"), as_version=4)
        if not _has_outputs(nb) or _has_error(nb):
            todo.append(src.with_suffix(".ipynb"))
    if not todo:
        return []
    log(f"notebooks: running {len(todo)} notebook(s) once, so they open with their pictures "
        f"(again only when a source changes)")
    import signal

    pool = ProcessPoolExecutor(max_workers=max(1, min(jobs, len(todo), os.cpu_count() or 1)),
                               initializer=_worker_signals)
    try:
        # Ctrl-C waits until the workers exist and ignore it (they inherit the blocked signal)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            results = pool.map(_execute_one, [str(p) for p in todo])
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        errors = [e for e in results if e]
    except KeyboardInterrupt:  # Ctrl-C: stop the runs (each shuts its kernel down), write nothing more
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    for e in errors:
        log(f"notebooks: {e}")
    return todo


def _write_atomic(path: Path, text: str, like: Path | None = None) -> None:
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    if like is not None:  # same time as the source: jupytext's pairing sees the pair as in step
        st = like.stat()
        os.utime(path, (st.st_atime, st.st_mtime))


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="scripts/notebooks.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("verb", choices=["build", "check", "nav"])
    ap.add_argument("--execute", action="store_true", help="build: run the notebooks that have no outputs")
    ap.add_argument("--dir", type=Path, default=NB_DIR, help="the notebooks' folder (default: notebooks/)")
    a = ap.parse_args(argv)
    try:
        if a.verb == "check":
            bad = problems(a.dir)
            for line in bad:
                print(line, file=sys.stderr)
            return 1 if bad else 0
        if a.verb == "nav":
            for name in fix_nav(a.dir):
                print(f"notebooks: navigation rewritten in {name}")
            return 0
        build(a.dir)
        if a.execute:
            execute(a.dir)
        return 0
    except NotebookError as e:
        print(f"notebooks: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a notebook is written only once it ran to the end: nothing half-written
        print("notebooks: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
