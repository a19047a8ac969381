"""Rendering with Graphviz: DOT source (or a ``graphviz`` object) to SVG, PNG or a .dot file.

* :func:`render_svg` returns SVG text. Results are cached by DOT source in a bounded LRU, so a stepper
  that re-draws the same picture does not start ``dot`` again (each start costs ~14 ms). The same source
  gives byte-identical SVG.
* :func:`save` writes ``.svg``, ``.png`` or ``.dot`` by the path's suffix; ``.dot`` needs no Graphviz.
* :func:`dot_available` says whether Graphviz's ``dot`` is on ``PATH``.

Without ``dot`` every render raises :class:`tdxlab.errors.RenderError` with one line naming the install
command (never a raw ``graphviz.ExecutableNotFound``). The ``graphviz`` package is imported only when
something is rendered, so ``import tdxlab`` works on a machine without Graphviz.
"""
from __future__ import annotations

import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from tdxlab.errors import BadInput, RenderError

__all__ = [
    "DOT_MISSING",
    "CACHE_SIZE",
    "dot_available",
    "dot_source",
    "render_svg",
    "render_png",
    "save",
    "clear_cache",
    "cache_info",
]

DOT_MISSING = (
    "Graphviz's `dot` is not installed: run `sudo apt-get install graphviz` "
    "(or `conda install -c conda-forge graphviz`)"
)
PYGRAPHVIZ_MISSING = (
    "the Python package `graphviz` is not installed: run `pip install graphviz` "
    "(or `conda install -c conda-forge python-graphviz`)"
)
CACHE_SIZE = 512  # rendered pictures kept, by (engine, format, DOT source)

_cache: OrderedDict[tuple[str, str, str], str | bytes] = OrderedDict()
_lock = threading.Lock()
_stats = {"hits": 0, "misses": 0}


def dot_available(engine: str = "dot") -> bool:
    """True if Graphviz's layout program (``dot`` by default) is on ``PATH``."""
    return shutil.which(engine) is not None


def dot_source(graph_or_source: Any) -> str:
    """The DOT source of a ``graphviz.Digraph``/``Graph``/``Source`` or of a string."""
    if isinstance(graph_or_source, str):
        return graph_or_source
    src = getattr(graph_or_source, "source", None)
    if isinstance(src, str):
        return src
    raise BadInput(
        f"cannot render a {type(graph_or_source).__name__}: give DOT source text or a graphviz Digraph, Graph or Source"
    )


def _engine(graph_or_source: Any) -> str:
    engine = getattr(graph_or_source, "engine", None)
    return engine if isinstance(engine, str) and engine else "dot"


def clear_cache() -> None:
    """Forget every rendered picture."""
    with _lock:
        _cache.clear()
        _stats["hits"] = _stats["misses"] = 0


def cache_info() -> dict[str, int]:
    """Cache statistics: hits, misses, size, maxsize."""
    with _lock:
        return {**_stats, "size": len(_cache), "maxsize": CACHE_SIZE}


def _pipe(source: str, fmt: str, engine: str) -> str | bytes:
    key = (engine, fmt, source)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            _stats["hits"] += 1
            return _cache[key]
    if not dot_available(engine):
        raise RenderError(DOT_MISSING if engine == "dot" else DOT_MISSING.replace("`dot`", f"`{engine}`"))
    try:
        import graphviz
    except ImportError:
        raise RenderError(PYGRAPHVIZ_MISSING) from None
    try:
        out = graphviz.Source(source, engine=engine).pipe(
            format=fmt, encoding="utf-8" if fmt == "svg" else None, quiet=True
        )
    except graphviz.ExecutableNotFound:
        raise RenderError(DOT_MISSING) from None
    except graphviz.CalledProcessError as e:
        raise RenderError(f"Graphviz's `{engine}` could not render the graph: {_first_line(e.stderr)}") from None
    except OSError as e:
        raise RenderError(f"Graphviz's `{engine}` could not be run: {e.strerror or e}") from None
    with _lock:
        _stats["misses"] += 1
        _cache[key] = out
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return out


def _first_line(stderr: Any) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
    return lines[0] if lines else "no message"


def render_svg(graph_or_source: Any) -> str:
    """SVG text for a DOT source string or a ``graphviz`` object. Cached by source; deterministic.
    :class:`RenderError` if Graphviz's ``dot`` is missing or the source does not render."""
    out = _pipe(dot_source(graph_or_source), "svg", _engine(graph_or_source))
    assert isinstance(out, str)
    return out


def render_png(graph_or_source: Any) -> bytes:
    """PNG bytes for a DOT source string or a ``graphviz`` object (cached like :func:`render_svg`)."""
    out = _pipe(dot_source(graph_or_source), "png", _engine(graph_or_source))
    assert isinstance(out, bytes)
    return out


def save(graph_or_source: Any, path: str | Path) -> Path:
    """Write the picture to ``path``, by its suffix: ``.svg``, ``.png`` or ``.dot`` (the DOT source;
    needs no Graphviz). Any other suffix is :class:`BadInput`. Returns the path written."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".svg", ".png", ".dot"):
        raise BadInput(f"cannot save a picture as {p.name!r}: the suffix must be .svg, .png or .dot")
    source = dot_source(graph_or_source)
    if suffix == ".dot":
        data: str | bytes = source if source.endswith("\n") else source + "\n"
    elif suffix == ".svg":
        data = render_svg(graph_or_source)
    else:
        data = render_png(graph_or_source)
    from tdxlab.files import atomic_write

    return atomic_write(p, data)
