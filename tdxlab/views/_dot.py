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


DOT_WIDTH = 100  # columns: a line of the DOT source `tdxlab graph --out FILE.dot` writes (fold_dot)


def _columns(text: str) -> int:
    return len(text.expandtabs(8))


def _tokens(body: str) -> list[str]:
    """A DOT statement split at the spaces outside quoted strings and HTML-like labels."""
    out, cur, quoted, depth, i = [], [], False, 0, 0
    while i < len(body):
        ch = body[i]
        if quoted:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(body):
                cur.append(body[i + 1])
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"' and not depth:
            quoted = True
            cur.append(ch)
        elif ch == "<":
            depth += 1
            cur.append(ch)
        elif ch == ">" and depth:
            depth -= 1
            cur.append(ch)
        elif ch == " " and not depth:
            if cur:
                out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    if cur:
        out.append("".join(cur))
    return out


def _fold_string(token: str, first: int, width: int) -> list[str]:
    """A token with a quoted string in it, folded with DOT's own continuation (a backslash before the end of
    a line, inside the quotes, joins the two lines): the first line fits ``first`` columns, the others
    ``width``. It breaks after an escape such as ``\\l`` or a space where it can, never inside an escape."""
    q = token.find('"')
    if "=<" in token and (q < 0 or token.find("=<") < q):
        return _fold_html(token, first, width)
    if q < 0 or not token.endswith(('"', '"]', '",', '";')):
        return [token]
    safe = []  # positions a break may go before: not between a backslash and the character it escapes
    nice = set()  # after an escape (\\l, \\n) or a space
    k = q + 1
    while k < len(token):
        safe.append(k)
        if token[k] == "\\":
            k += 2
            nice.add(k)
        else:
            if token[k] == " ":
                nice.add(k + 1)
            k += 1
    end = token.rfind('"')
    lines, start, room = [], 0, first
    while _columns(token[start:]) > room:
        limit = start + room - 1  # the continuation backslash takes a column
        cands = [k for k in safe if start < k <= min(limit, end)]
        if not cands:
            break
        good = [k for k in cands if k in nice]
        cut = good[-1] if good and good[-1] > start + room // 3 else cands[-1]
        lines.append(token[start:cut] + "\\")
        start, room = cut, width
    lines.append(token[start:])
    return lines


def _fold_html(token: str, first: int, width: int) -> list[str]:
    """An HTML-like label folded between two tags (``>`` then ``<``), where Graphviz ignores white space."""
    cuts = [m.start() + 1 for m in re.finditer(r"><", token)]
    lines, start, room = [], 0, first
    while _columns(token[start:]) > room:
        fit = [k for k in cuts if start < k <= start + room]
        if not fit:
            later = [k for k in cuts if k > start]
            if not later:
                break
            fit = later[:1]  # a run between two tags longer than a line: as it is
        lines.append(token[start:fit[-1]])
        start, room = fit[-1], width
    lines.append(token[start:])
    return lines


def fold_dot_line(line: str, width: int = DOT_WIDTH) -> str:
    """One line of DOT source folded so that no line is wider than ``width`` columns (tabs as 8), with the
    same meaning to dot: a statement's attributes go on lines of their own, indented, and a quoted string
    still too long continues on the next line by DOT's backslash-newline."""
    body = line.rstrip("\n")
    if _columns(body) <= width:
        return line
    indent = body[:len(body) - len(body.lstrip())]
    pad = indent + "    "
    out: list[str] = []
    cur = indent
    for tok in _tokens(body.strip()):
        sep = "" if cur.strip() == "" else " "
        if _columns(cur + sep + tok) <= width:
            cur += sep + tok
            continue
        if '"' in tok and width - _columns(cur + sep) >= 30:  # a long string starts on this line
            cur += sep
        elif cur.strip():
            out.append(cur)
            cur = pad
        pieces = _fold_string(tok, width - _columns(cur), width)
        cur += pieces[0]
        if len(pieces) > 1:
            out.append(cur)
            out.extend(pieces[1:-1])
            cur = pieces[-1]
    out.append(cur)
    return "\n".join(out) + ("\n" if line.endswith("\n") else "")


def fold_dot(source: str, width: int = DOT_WIDTH) -> str:
    """DOT source with every line folded to ``width`` columns (:func:`fold_dot_line`): what `tdxlab graph
    --out FILE.dot` writes, readable in a terminal; dot draws exactly the same picture from it."""
    return "".join(fold_dot_line(ln, width) for ln in source.splitlines(True))


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
