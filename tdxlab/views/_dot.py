"""Shared Graphviz helpers of the views: a Digraph whose notebook display goes through tdxlab.render
(so a missing ``dot`` gives tdxlab's one-line RenderError, and pictures are cached), label escaping,
and the colour palette used by every view."""
from __future__ import annotations

import html
import re

import graphviz

from tdxlab.render import render_svg

FONT = "Helvetica"
RED = "#d62728"
# context kinds (tdxlab.kernel.state): task, hotplug (cpuhp/N, cpu_up/N, cpu_down/N), hardirq (IPI handler)
KIND_FILL = {"task": "#dbe9f6", "hotplug": "#e3f1dc", "hardirq": "#fde3c8", "admin": "#eeeeee"}
KIND_BORDER = {"task": "#4a7fb5", "hotplug": "#4f9a3a", "hardirq": "#d2731c", "admin": "#888888"}


class View(graphviz.Digraph):
    """A ``graphviz.Digraph`` that displays itself in Jupyter through :func:`tdxlab.render.render_svg`:
    identical pictures come from the render cache, and without Graphviz's ``dot`` the error is
    :class:`tdxlab.errors.RenderError` with the install command, not ``graphviz.ExecutableNotFound``.
    ``alt`` says in words what the picture shows: the SVG carries it as its title and accessible label."""

    alt = ""

    def svg(self) -> str:
        return with_alt(render_svg(self), self.alt or self.name)

    def _repr_mimebundle_(self, include=None, exclude=None, **_):
        return {"image/svg+xml": self.svg()}

    def _repr_svg_(self):
        return self.svg()


def with_alt(svg: str, alt: str) -> str:
    """Graphviz's SVG with ``alt`` as its accessible label and as the title of the graph (Graphviz puts the
    graph's internal name there)."""
    text = html.escape(" ".join(str(alt).split())[:300], quote=True)
    svg = re.sub(r"<svg\b", f'<svg role="img" aria-label="{text}"', svg, count=1)
    return re.sub(r'(<g id="graph0" class="graph"[^>]*>\s*<title>)[^<]*(</title>)', rf"\g<1>{text}\g<2>", svg,
                  count=1)


def new_graph(name: str, *, rankdir: str = "TB", label: str | None = None, alt: str | None = None,
              **graph_attr) -> View:
    """A View with tdxlab's fonts. Graphviz sizes are points: at the picture's own size 9 pt is 12 CSS px,
    so every label stays at least 11 px as long as a picture is not scaled down (they are laid out narrow
    enough for a notebook)."""
    g = View(name, graph_attr={"rankdir": rankdir, "fontname": FONT, "fontsize": "11", **graph_attr},
             node_attr={"fontname": FONT, "fontsize": "10"}, edge_attr={"fontname": FONT, "fontsize": "9"})
    if label:
        g.attr(label=label, labelloc="t", labeljust="l", fontsize="12")
    g.alt = alt or (label or name).replace("\\l", " ").replace("\\n", " ")
    return g


def esc(text: object) -> str:
    """Text for a plain (non-HTML) DOT label: backslashes doubled, so dot shows it as written.
    Quotes are escaped by the graphviz package itself."""
    return str(text).replace("\\", "\\\\")


def lines(*parts: object) -> str:
    """A centred multi-line plain label."""
    return "\\n".join(esc(p) for p in parts if p is not None and p != "")


def h(text: object) -> str:
    """Text for an HTML-like label."""
    return html.escape(str(text), quote=True)


def caption(text: str, width: int = 110) -> str:
    """A graph caption wrapped into left-justified lines of at most ``width`` characters."""
    import textwrap

    return "".join(esc(ln) + "\\l" for ln in textwrap.wrap(text, width, break_on_hyphens=False))
