"""Before any test module is collected: build notebooks/*.ipynb from their sources (notebooks/*.md). The .ipynb
are not in git, and several test modules list them when they are imported."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_notebooks_script():
    spec = importlib.util.spec_from_file_location("tdxlab_notebooks_script", ROOT / "scripts" / "notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pytest_configure(config):
    nbs = load_notebooks_script()
    try:
        nbs.build(log=lambda *a: None)
    except nbs.NotebookError as e:
        pytest.exit(f"notebooks: {e}", returncode=2)
