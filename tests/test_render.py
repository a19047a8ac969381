"""tdxlab.render: SVG when `dot` is there, one clear RenderError when it is not, never a raw
graphviz.ExecutableNotFound; `import tdxlab` without `dot`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tdxlab import render
from tdxlab.errors import BadInput, RenderError

REPO = Path(__file__).resolve().parent.parent
SOURCE = 'digraph g { SYSINIT_PENDING -> SYSINIT_DONE [label="TDH.SYS.INIT (33)"]; }'
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


@pytest.fixture(autouse=True)
def fresh_cache():
    render.clear_cache()
    yield
    render.clear_cache()


@pytest.fixture
def no_dot(tmp_path, monkeypatch):
    """PATH is an empty directory: no `dot`."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    render.clear_cache()
    return empty


# ---- with dot --------------------------------------------------------------------------------------
@needs_dot
def test_render_svg_from_source_and_from_a_digraph():
    import graphviz

    svg = render.render_svg(SOURCE)
    assert "<svg" in svg and "SYSINIT_DONE" in svg
    g = graphviz.Digraph("g")
    g.edge("SYSINIT_PENDING", "SYSINIT_DONE", label="TDH.SYS.INIT (33)")
    assert "<svg" in render.render_svg(g)
    assert render.dot_available()


@needs_dot
def test_render_is_deterministic_and_cached():
    a = render.render_svg(SOURCE)
    render.clear_cache()
    b = render.render_svg(SOURCE)
    assert a == b  # two runs of dot: byte-identical
    c = render.render_svg(SOURCE)
    assert c is b  # the second call is served from the cache
    info = render.cache_info()
    assert (info["hits"], info["misses"], info["size"]) == (1, 1, 1)


@needs_dot
def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(render, "CACHE_SIZE", 3)
    for i in range(5):
        render.render_svg(f"digraph {{ n{i} }}")
    assert render.cache_info()["size"] == 3


@needs_dot
def test_bad_dot_source_is_a_render_error():
    with pytest.raises(RenderError) as e:
        render.render_svg("digraph { a -> }")
    assert "syntax error" in str(e.value) and "\n" not in str(e.value)


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".dot", b"digraph")])
def test_save_by_suffix(tmp_path, suffix, magic):
    out = render.save(SOURCE, tmp_path / f"pic{suffix}")
    assert out.read_bytes().startswith(magic)


def test_save_rejects_other_suffixes(tmp_path):
    with pytest.raises(BadInput, match=r"\.svg, \.png or \.dot"):
        render.save(SOURCE, tmp_path / "pic.pdf")
    assert not (tmp_path / "pic.pdf").exists()


def test_not_a_graph_is_bad_input():
    with pytest.raises(BadInput):
        render.render_svg(42)


# ---- without dot -----------------------------------------------------------------------------------
def test_without_dot_render_raises_one_line_naming_apt_get(no_dot):
    assert not render.dot_available()
    with pytest.raises(RenderError) as e:
        render.render_svg(SOURCE)
    msg = str(e.value)
    assert "sudo apt-get install graphviz" in msg and "conda install -c conda-forge graphviz" in msg
    assert "\n" not in msg
    assert e.value.__cause__ is None


def test_without_dot_the_graphviz_error_never_escapes(no_dot, monkeypatch):
    # even if the PATH check is fooled, graphviz.ExecutableNotFound is turned into RenderError
    monkeypatch.setattr(render, "dot_available", lambda engine="dot": True)
    with pytest.raises(RenderError, match="apt-get install graphviz"):
        render.render_svg(SOURCE)


def test_without_dot_png_fails_the_same_way_and_dot_files_still_save(no_dot, tmp_path):
    with pytest.raises(RenderError, match="apt-get"):
        render.save(SOURCE, tmp_path / "pic.png")
    out = render.save(SOURCE, tmp_path / "pic.dot")
    assert out.read_text() == SOURCE + "\n"


def _env_without_dot(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "no-dot-bin"
    empty.mkdir(exist_ok=True)
    env = dict(os.environ, PATH=str(empty), PYTHONPATH=str(REPO))
    return env


def test_import_tdxlab_works_without_dot(tmp_path):
    code = (
        "import sys, tdxlab\n"
        "assert 'graphviz' not in sys.modules, 'tdxlab imported graphviz eagerly'\n"
        "assert tdxlab.decode('0x8000FF0000000006').name == 'TDX_SEAMCALL_UD'\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], env=_env_without_dot(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_render_without_dot_in_a_fresh_process_gives_the_message_not_a_traceback(tmp_path):
    code = (
        "from tdxlab import render, RenderError\n"
        "try:\n"
        "    render.render_svg('digraph { a -> b }')\n"
        "except RenderError as e:\n"
        "    print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], env=_env_without_dot(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == render.DOT_MISSING
    assert "ExecutableNotFound" not in r.stdout + r.stderr
