"""Every notebook in notebooks/ runs top to bottom on a fresh kernel with no error output, is committed
without outputs, and matches scripts/build_notebooks.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 60  # seconds per cell: a stall (jupyter-stack-notes) costs at most this


def run_notebook(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return nb


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert "index.ipynb" in names and "00-start-here.ipynb" in names and len(names) >= 5


def test_venv_kernel_is_the_one_used():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    exe = spec.argv[0]
    assert exe in ("python", sys.executable) or Path(exe).resolve() == Path(sys.executable).resolve(), spec.argv


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path):
    nb = run_notebook(path)
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_committed_clean_with_slide_metadata(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        assert cell.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide", "fragment", "skip", "-")
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    if path.stem != "index":
        assert "Learning goals" in text and "Summary" in text
    assert "index.ipynb" in text


def test_notebooks_match_their_builder():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_notebooks.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_a_tdxlab_error_in_a_notebook_is_one_line_not_a_traceback(tmp_path):
    """Bad input in a cell (here a topology of 0 CPUs) shows one clear line, never a traceback."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from tdxlab.scenario import Scenario\nScenario('kvm-6.16', topology='0x1x1')")]
    path = tmp_path / "bad.ipynb"
    nbformat.write(nb, path)
    out = run_notebook(path).cells[0].outputs
    assert [o.output_type for o in out] == ["display_data"]
    html = out[0]["data"]["text/html"]
    assert "tdxlab-error" in html and "0 CPUs" in html and "Traceback" not in html
