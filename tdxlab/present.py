"""Presenting the notebooks with no running kernel and no network: reveal.js slides and a static HTML site.

    python -m tdxlab.present slides   [--out out/slides]    # make slides
    python -m tdxlab.present html     [--out out/html]      # make html
    python -m tdxlab.present both                           # both, executing the notebooks once

Each build (1) executes every notebook in ``notebooks/`` on a fresh kernel (nbclient, in parallel), so the
outputs (pictures, tables, verdict matrices) are in the export; the kernels run with ``TDXLAB_EXPORT=1``, so a
Stepper's mimebundle carries every step pre-rendered behind a slider and the arrow keys, opened at the step
that matters (tdxlab.widgets.Stepper.frames_html); (2) makes the widget outputs static: a widget whose
mimebundle has a ``text/html`` fallback (Stepper, ReviewMatrix, Exercise) keeps that, one with only an
``image/svg+xml`` picture keeps the picture; any other widget (a progress bar, the checker's verdicts) is
drawn as HTML from its saved widget state; the widget state itself is dropped, so no
widget JavaScript is needed; (3) exports with nbconvert, pointing every script at local copies from npm
(``scripts/fetch-js.sh`` puts reveal.js 4.0.2, require.js, jQuery, the widgets HTML manager 1.0.15 and
MathJax 2.7.9 into ``.js/``), copied into ``<out>/_static/``; links between notebooks point at the exported
pages. Opening a page requests nothing from any network host.
"""
from __future__ import annotations

import argparse
import contextlib
import html
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tdxlab.files import atomic_write

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
JS_DIR = ROOT / ".js" / "node_modules"
TEMPLATES = Path(__file__).resolve().parent / "present_templates"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
CELL_TIMEOUT = 120


class PresentError(RuntimeError):
    """One line that says what is missing and what to run."""


# ------------------------------------------------------------------------------------------ assets
ASSETS = {  # destination under _static -> source under .js/node_modules
    "reveal.js/dist": "reveal.js/dist",
    "reveal.js/plugin": "reveal.js/plugin",
    "require.js": "requirejs/require.js",
    "jquery.min.js": "jquery/dist/jquery.min.js",
    "html-manager": "@jupyter-widgets/html-manager/dist",
    "mathjax/MathJax.js": "mathjax/MathJax.js",
    "mathjax/config": "mathjax/config",
    "mathjax/extensions": "mathjax/extensions",
    "mathjax/jax/input/TeX": "mathjax/jax/input/TeX",
    "mathjax/jax/output/CommonHTML": "mathjax/jax/output/CommonHTML",
    "mathjax/jax/element": "mathjax/jax/element",
    "mathjax/fonts/HTML-CSS/TeX/woff": "mathjax/fonts/HTML-CSS/TeX/woff",
    "mathjax/localization/en": "mathjax/localization/en",
}
URLS = {
    "require_js_url": "_static/require.js",
    "jquery_url": "_static/jquery.min.js",
    "widget_renderer_url": "_static/html-manager/embed-amd.js",
    "mathjax_url": "_static/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
    "mermaid_js_url": "_static/no-mermaid.mjs",
    "mermaid_layout_elk_js_url": "_static/no-mermaid.mjs",
}


def check_assets() -> None:
    missing = [src for src in ASSETS.values() if not (JS_DIR / src).exists()]
    if missing:
        raise PresentError(f"the offline JavaScript assets are missing ({missing[0]} and {len(missing) - 1} more): "
                           f"run  bash scripts/fetch-js.sh  (npm install into .js/)")


def copy_assets(out: Path) -> None:
    check_assets()
    static = out / "_static"
    for dst, src in ASSETS.items():
        s, d = JS_DIR / src, static / dst
        if d.exists():
            continue
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d, ignore=shutil.ignore_patterns("*.map", "*.ts", "*.d.ts"))
        else:
            shutil.copy2(s, d)
    atomic_write(static / "no-mermaid.mjs", "export default {initialize() {}, run() {}};\n")


# ------------------------------------------------------------------------------------------ executing
def _execute_one(path: str) -> str:
    """Execute one notebook; return it as JSON text (nbformat), widget state stored. The kernel runs with
    TDXLAB_EXPORT=1, so steppers put their pre-rendered frames (tdxlab.widgets.Stepper.frames_html) into
    their outputs."""
    import nbformat
    from nbclient import NotebookClient

    from tdxlab.widgets.stepper import EXPORT_ENV

    os.environ[EXPORT_ENV] = "1"  # this worker process only; the kernel inherits it

    nb = nbformat.read(path, as_version=4)
    with local_kernel() as km:
        client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                                store_widget_state=True, resources={"metadata": {"path": str(Path(path).parent)}})
        client.execute()
    return nbformat.writes(nb)


@contextlib.contextmanager
def local_kernel():
    """A kernel manager whose kernel talks over Unix sockets in a private temporary directory (IPC), not
    TCP: nothing listens on the network, and the kernel has no reason to print its "running over TCP without
    encryption" warning once per notebook. The kernel is shut down and the directory removed afterwards."""
    import tempfile

    from jupyter_client.manager import KernelManager

    d = tempfile.mkdtemp(prefix="tdxlab-kernel-")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(d, "kernel"))
    try:
        yield km
    finally:
        try:
            if km.has_kernel:
                km.shutdown_kernel(now=True)
        finally:
            shutil.rmtree(d, ignore_errors=True)


def execute_all(paths: list[Path], jobs: int | None = None, log=print) -> dict[str, "object"]:
    """Execute notebooks in parallel (one process and one kernel each); {stem: NotebookNode}. A cell
    error is a PresentError naming the notebook and cell."""
    import nbformat

    jobs = jobs or max(1, min(4, (os.cpu_count() or 2)))
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        texts = list(pool.map(_execute_one, [str(p) for p in paths]))
    out = {}
    for p, text in zip(paths, texts):
        nb = nbformat.reads(text, as_version=4)
        for i, cell in enumerate(nb.cells):
            for o in cell.get("outputs", []):
                if o.output_type == "error":
                    raise PresentError(f"{p.name}: cell {i} raised {o.ename}: {o.evalue}")
        out[p.stem] = nb
    log(f"executed {len(paths)} notebooks in {time.perf_counter() - t0:.1f} s ({jobs} at a time)")
    return out


# ------------------------------------------------------------------------------------------ making widgets static
def _ref(x) -> str | None:
    return x[len("IPY_MODEL_"):] if isinstance(x, str) and x.startswith("IPY_MODEL_") else None


class StaticWidgets:
    """Draw a widget as HTML from its saved state (for widgets with no picture or HTML fallback)."""

    def __init__(self, state: dict):
        self.state = state

    def _model(self, mid):
        return self.state.get(mid) or {}

    def _hidden(self, st: dict) -> bool:
        lay = self._model(_ref(st.get("layout")))
        return (lay.get("state") or {}).get("display") == "none"

    def render(self, mid: str, depth: int = 0) -> str:
        m = self._model(mid)
        name, st = m.get("model_name", ""), m.get("state", {})
        if depth > 40 or self._hidden(st):
            return ""
        classes = " ".join(st.get("_dom_classes", ()))
        kids = [self.render(_ref(c), depth + 1) for c in st.get("children", ()) if _ref(c)]
        if name in ("HTMLModel", "HTMLMathModel"):
            return f"<div class='{classes}'>{st.get('value', '')}</div>"
        if name == "LabelModel":
            return f"<span class='{classes}'>{html.escape(str(st.get('value', '')))}</span>"
        if name in ("VBoxModel", "BoxModel", "GridBoxModel"):
            return f"<div class='{classes}' style='display:flex;flex-direction:column'>{''.join(kids)}</div>"
        if name == "HBoxModel":
            return (f"<div class='{classes}' style='display:flex;flex-direction:row;flex-wrap:wrap;"
                    f"align-items:center;gap:8px'>{''.join(kids)}</div>")
        if name in ("IntProgressModel", "FloatProgressModel"):
            desc = html.escape(st.get("description", ""))
            return (f"<span class='{classes}'>{desc} <progress value='{st.get('value', 0)}' "
                    f"max='{st.get('max', 100)}'></progress></span>")
        if name == "ButtonModel":
            return f"<button disabled class='{classes}'>{html.escape(st.get('description', ''))}</button>"
        if name in ("IntSliderModel", "FloatSliderModel"):
            return (f"<span class='{classes}'>{html.escape(st.get('description', ''))} "
                    f"{st.get('value')} (of {st.get('max')})</span>")
        if name in ("TextModel", "IntTextModel", "BoundedIntTextModel", "DropdownModel", "ToggleButtonsModel"):
            label = st.get("description", "")
            opts = st.get("_options_labels")
            val = " / ".join(opts) if opts else st.get("value", "")
            return f"<span class='{classes}'>{html.escape(str(label))} <code>{html.escape(str(val))}</code></span>"
        if name == "AccordionModel":
            titles = st.get("titles") or st.get("_titles") or []
            if isinstance(titles, dict):
                titles = [titles.get(str(i), "") for i in range(len(kids))]
            return "".join(f"<details><summary>{html.escape(str(t))}</summary>{k}</details>"
                           for t, k in zip(list(titles) + [""] * len(kids), kids))
        return "".join(kids)


def _alt(svg: str) -> str:
    for pat in (r'aria-label="([^"]+)"', r"<title>([^<]+)</title>"):
        m = re.search(pat, svg)
        if m:
            return html.unescape(m.group(1))[:200]
    return "a picture drawn by tdxlab"


def make_static(nb) -> dict:
    """Replace every widget output by a static one, in place; drop the widget state. Returns counts."""
    state = (nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}) or {}).get("state", {})
    sw = StaticWidgets(state)
    counts = {"svg": 0, "html": 0, "drawn": 0}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data")
            if not data:
                continue
            if "image/svg+xml" in data:
                o.setdefault("metadata", {}).setdefault("image/svg+xml", {})["alt"] = _alt(data["image/svg+xml"])
            if WIDGET_VIEW not in data:
                continue
            plain = data.get("text/plain", "")
            if "text/html" in data:  # a stepper's pre-rendered frames, a matrix with its chosen cell
                o["data"] = {"text/html": data["text/html"], "text/plain": plain}
                counts["html"] += 1
            elif "image/svg+xml" in data:
                o["data"] = {"image/svg+xml": data["image/svg+xml"], "text/plain": plain}
                counts["svg"] += 1
            else:
                mid = data[WIDGET_VIEW].get("model_id")
                o["data"] = {"text/html": sw.render(mid), "text/plain": plain}
                counts["drawn"] += 1
    nb.metadata.pop("widgets", None)
    return counts


# ------------------------------------------------------------------------------------------ slides that fit
SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 720  # 16:9
OWN_SLIDE = ("tdxlab-frames", "tdxlab-review-static")  # outputs that need a slide to themselves


def _big(output) -> bool:
    """A stepper or the matrix: it goes on a slide of its own (a picture goes where it fits)."""
    html = output.get("data", {}).get("text/html", "")
    return any(f"class='{c}" in html or f'class="{c}' in html for c in OWN_SLIDE)


# How tall things are on a slide, in CSS px at the deck's own 1280x720, as Chromium lays out the template's CSS
# (measured: prose 20 px on 26 px lines, about 118 characters a line; headings; tables at 15 px; text
# outputs 22 px a line). The estimates err on the tall side; tests/test_present.py measures the real decks.
SLIDE_ROOM = 620  # px of cells one slide holds: 720 less reveal.js's padding (about 60) and a margin of error
CELL_PAD = 20  # px a cell adds around what it shows
CELL_GAP = 4  # px between two cells
ROOM = SLIDE_ROOM - CELL_PAD  # px of Markdown or outputs one cell on a slide of its own holds
TEXT_WIDTH = 1188  # px a cell spans
MD_METRICS = {  # block kind: (characters a line, px a line, px of margin)
    "p": (108, 26, 20), "li": (102, 26, 4), "h1": (40, 60, 50), "h2": (52, 39, 40), "h3": (66, 32, 36),
    "pre": (90, 24, 20), "table": (0, 0, 20)}
TEXT_LINE = 23  # px a line of a text output (print(), a plain result)
TEXT_CHARS = 110  # characters a line of it before it wraps
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TABLE_RULE = re.compile(r"^\s*\|?[\s:|-]+\|[\s:|-]*$")


def _visible(text: str) -> str:
    """The characters a reader sees of Markdown or HTML text: link labels without their targets, no tags."""
    t = _MD_LINK.sub(r"\1", text)
    t = re.sub(r"<[^>]+>", "", t)
    return html.unescape(re.sub(r"\*\*|`", "", t)).strip()


def _lines(chars: int, per_line: int) -> int:
    return max(1, -(-chars // per_line))


TABLE_HEIGHT = 540  # px of table rows a slide holds under its header (and a line of text)
_TBODY = re.compile(r"(<tbody>\s*)(.*?)(\s*</tbody>)", re.S)  # a pandas table's rows
_ROW = re.compile(r"<tr\b.*?</tr>", re.S)
_CELL = re.compile(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", re.S)
# an output's table on a slide: 13 px text (the template's CSS), 15 px a line, about 7.5 px a character
HTML_TABLE = {"char": 7.5, "line": 15, "pad": 6, "cell": 12}
CODE_ROW = 7  # px a row with code in it adds
MD_TABLE = {"char": 8.2, "line": 15, "pad": 6, "cell": 14}  # a Markdown table, the same at about 14 px


def table_row_heights(cells: list[list[str]], metrics: dict = HTML_TABLE, vertical_head: bool = False,
                      max_chars: int | None = None) -> list[int]:
    """About how tall each row of one table is on a slide, in px. ``cells``: each row's cells as the text a
    reader sees. The columns share the slide's width as a browser's automatic table layout does: each gets
    its longest word, and what is left goes to the columns in proportion to how much more their longest
    cell wants, up to ``max_chars`` characters (a cell's CSS max-width). ``vertical_head``: the header's
    text runs upwards (its height is its longest heading)."""
    ncols = max(map(len, cells), default=0)
    if not ncols:
        return []
    avail = (TEXT_WIDTH - metrics["cell"] * ncols) / metrics["char"]
    col = [[row[i] for row in cells if i < len(row)] for i in range(ncols)]
    least = [max((len(w) for t in c for w in t.split()), default=1) for c in col]
    most = [max((len(t) for t in c), default=1) for c in col]
    if max_chars:
        least, most = [min(n, max_chars) for n in least], [min(m, max_chars) for m in most]
    if sum(most) <= avail:
        width = most
    else:
        spare, want = max(0.0, avail - sum(least)), sum(m - n for m, n in zip(most, least)) or 1
        width = [n + spare * (m - n) / want for m, n in zip(most, least)]
    out = []
    for k, row in enumerate(cells):
        if k == 0 and vertical_head:
            out.append(metrics["pad"] + int(metrics["char"] * max(map(len, row), default=1)))
            continue
        lines = max([_lines(len(t), max(1, int(w))) if t else 1 for t, w in zip(row, width)] or [1])
        out.append(metrics["pad"] + metrics["line"] * lines)
    return out


def _html_rows(rows: list[str]) -> list[list[str]]:
    return [[_visible(c) for c in _CELL.findall(r)] for r in rows]


def _html_table_heights(table: str, rows: list[str] | None = None) -> list[int]:
    """:func:`table_row_heights` of an HTML table (its CSS read for a cell's max-width in em and a header
    written upwards)."""
    m = re.search(r"max-width:\s*([\d.]+)em", table)
    rows = _ROW.findall(table) if rows is None else rows
    heights = table_row_heights(_html_rows(rows), vertical_head="writing-mode: vertical" in table,
                                max_chars=int(float(m.group(1)) / 0.6) if m else None)
    return [h + (CODE_ROW if "<code" in r else 0) for h, r in zip(heights, rows)]  # code's taller line box


def split_table(html: str, height: int = TABLE_HEIGHT, first: int | None = None) -> list[str]:
    """An output that is one table (a pandas table with its style) too tall for a slide, cut into tables
    whose rows take at most ``height`` px (the first part, header and all: ``first`` px, what is left of a
    slide), each with the header and style; anything else as it is (a list of one)."""
    if html.count("<table") != 1 or html.count("<tbody>") > 1 or "rowspan" in html.lower():
        return [html]  # not one table, or rows this cannot cut apart safely: as it is
    m = _TBODY.search(html)
    if m is not None:
        start, end = m.start(2), m.end(2)
    else:  # a table without <tbody>: its first row is the header when it has <th> cells
        rows = list(_ROW.finditer(html))
        if len(rows) < 2 or "<th" not in rows[0].group(0):
            return [html]
        start, end = rows[1].start(), rows[-1].end()
    chunks: list[list[str]] = [[]]
    used = 0
    rows = _ROW.findall(html[start:end])
    every = _ROW.findall(html)  # with the header: the columns' widths depend on every row
    heights = _html_table_heights(html, every)
    head_px = sum(heights[:len(every) - len(rows)]) + 40  # the header, the table's margin, a line of text
    for row, h in zip(rows, heights[len(every) - len(rows):]):
        if chunks[-1] and used + h > (height if len(chunks) > 1 or first is None else first - head_px):
            chunks.append([])
            used = 0
        chunks[-1].append(row)
        used += h
    if len(chunks) == 1:
        return [html]
    head, tail = html[:start], html[end:]
    return [head + "\n".join(rows) + tail for rows in chunks]


def md_blocks(source: str) -> list[str]:
    """A Markdown text cut into blocks at blank lines outside fenced code; a heading is a block of its own."""
    blocks: list[list[str]] = []
    cur: list[str] = []
    fence = None
    for line in source.split("\n"):
        s = line.strip()
        if fence:
            cur.append(line)
            if s.startswith(fence):
                fence = None
            continue
        if s.startswith(("```", "~~~")) and not cur:
            fence = s[:3]
        if not s and not fence:
            if cur:
                blocks.append(cur)
            cur = []
            continue
        if s.startswith("#") and re.match(r"#{1,6}\s", s):
            if cur:
                blocks.append(cur)
            blocks.append([line])
            cur = []
            continue
        cur.append(line)
    if cur:
        blocks.append(cur)
    return ["\n".join(b) for b in blocks]


def _table_rows(block: str) -> tuple[list[str], list[str]]:
    """A Markdown table's header lines (the header and its rule) and its rows."""
    lines = [ln for ln in block.split("\n") if ln.strip()]
    if len(lines) >= 2 and _TABLE_RULE.match(lines[1]):
        return lines[:2], lines[2:]
    return [], lines


def md_block_height(block: str) -> int:
    """About how tall one Markdown block (see :func:`md_blocks`) is on a slide, in px."""
    lines = block.split("\n")
    first = lines[0].strip()
    if first.startswith(("```", "~~~")):
        per, line, margin = MD_METRICS["pre"]
        return margin + line * sum(_lines(len(ln), per) for ln in lines[1:-1] or [""])
    if re.match(r"#{1,6}\s", first):
        level = min(3, len(first) - len(first.lstrip("#")))
        per, line, margin = MD_METRICS[f"h{level}"]
        return margin + line * _lines(len(_visible(first.lstrip("#"))), per)
    if first.startswith("|"):
        head, rows = _table_rows(block)
        cells = [[_visible(c) for c in re.split(r"(?<!\\)\|", r.strip().strip("|"))] for r in head[:1] + rows]
        return MD_METRICS["table"][2] + sum(table_row_heights(cells, MD_TABLE))
    items: list[list[str]] = []  # paragraphs and list items
    for ln in lines:
        if not items or _LIST_ITEM.match(ln):
            items.append([])
        items[-1].append(ln)
    h = MD_METRICS["p"][2]
    for item in items:
        per, line, margin = MD_METRICS["li" if _LIST_ITEM.match(item[0]) else "p"]
        # a hard line break (two spaces or a backslash at the end of a line, <br>) starts a new line
        rows = re.split(r"(?: {2,}|\\)\n|<br\s*/?>", "\n".join(x.strip(" ") if not x.endswith("  ") else x.lstrip()
                                                          for x in item))
        widths = [_text_width(r.replace("\n", " ")) for r in rows]
        if not any(widths):
            continue
        h += line * sum(_lines(w, per) for w in widths if w) + (margin if _LIST_ITEM.match(item[0]) else 0)
    return h


def _text_width(markdown: str) -> int:
    """How wide a line of Markdown is, in characters of prose: code is set in a wider font."""
    code = sum(len(c) for c in re.findall(r"`([^`]*)`", markdown))
    return len(_visible(markdown)) + code // 4


def md_height(source: str) -> int:
    return sum(md_block_height(b) for b in md_blocks(source))


def _split_block(block: str, first: int, room: int | None = None) -> list[str]:
    """A Markdown block too tall for what is left (``first`` px, then ``room`` px a part) cut into blocks
    that fit: a table into tables (each with its header), a list between its items; anything else as it is."""
    room = first if room is None else room
    if md_block_height(block) <= first:
        return [block]
    if block.lstrip().startswith("|"):
        head, rows = _table_rows(block)
        units, prefix = rows, "\n".join(head)
    else:
        lines = block.split("\n")
        units, prefix = [], ""
        for ln in lines:
            if not units or _LIST_ITEM.match(ln):
                units.append(ln)
            else:
                units[-1] += "\n" + ln
    parts: list[list[str]] = [[]]
    for u in units:
        trial = "\n".join(([prefix] if prefix else []) + parts[-1] + [u])
        if parts[-1] and md_block_height(trial) > (first if len(parts) == 1 else room):
            parts.append([])
        parts[-1].append(u)
    return ["\n".join(([prefix] if prefix else []) + p) for p in parts]


def split_markdown(source: str, room: int = ROOM, first: int | None = None) -> list[str]:
    """A Markdown text cut into parts that each fit ``room`` px (the first part: ``first`` px, what is left of
    a slide), at block boundaries (a table between rows, with its header on each part; a list between
    items); a heading, or a block that ends with ":", stays with the block after it. A text that fits is a
    list of one."""
    first = room if first is None else first
    if md_height(source) <= first:
        return [source]
    parts: list[list[str]] = [[]]
    used = 0
    for block in md_blocks(source):
        left = (first if len(parts) == 1 else room) - used
        pieces = ([block] if md_block_height(block) <= left
                  else _split_block(block, left if left >= MIN_FILL else room, room))  # a table or list fills the part
        for b in pieces:
            h = md_block_height(b)
            if parts[-1] and used + h > (first if len(parts) == 1 else room):
                carry = []
                while parts[-1] and len(parts[-1]) > 1 and _leads(parts[-1][-1]):
                    carry.insert(0, parts[-1].pop())
                parts.append(carry)
                used = sum(md_block_height(x) for x in carry)
            parts[-1].append(b)
            used += h
    return ["\n\n".join(p) for p in parts if p]


def _leads(text: str) -> bool:
    """A heading, or text that ends with ":" (it introduces what follows): never the last thing on a slide."""
    last = text.strip().split("\n")[-1].strip()
    return bool(re.match(r"#{1,6}\s", last)) or last.endswith(":")


def _svg_height(svg: str) -> int:
    def px(attr):
        m = re.search(rf'<svg[^>]*?\b{attr}="([\d.]+)(pt|px)?"', svg)
        return float(m.group(1)) * (4 / 3 if m.group(2) == "pt" else 1) if m else None

    w, h = px("width"), px("height")
    if h is None:
        return ROOM
    return int(h * min(1.0, TEXT_WIDTH / w) if w else h)


def _text_height(text: str) -> int:
    return TEXT_LINE * sum(_lines(len(ln), TEXT_CHARS) for ln in text.rstrip("\n").split("\n")) + 16


def _html_height(markup: str) -> int:
    """About how tall an HTML output is: its table rows (as :func:`split_table` counts them), and its other
    text as prose, a line per block element at least."""
    tables = re.findall(r"<table\b.*?</table>", markup, flags=re.S)
    style = "".join(re.findall(r"<style\b.*?</style>", markup, flags=re.S))
    rest = re.sub(r"<table\b.*?</table>|<style\b.*?</style>", "<div>", markup, flags=re.S)
    per, line, margin = MD_METRICS["p"]
    texts = [_visible(t) for t in re.split(r"<(?:p|div|li|br|h\d|pre|summary|details)\b[^>]*>", rest)]
    paragraphs = len(re.findall(r"<(?:p|h\d|pre|ul|ol)\b", rest))
    return (sum(20 + sum(_html_table_heights(style + t)) for t in tables)
            + sum(line * _lines(len(t), per) for t in texts if t) + margin * paragraphs)


def output_height(output) -> int:
    """About how tall one output is on a slide, in px."""
    if output.get("output_type") == "stream":
        return _text_height(output.get("text", ""))
    data = output.get("data", {})
    if _big(output):
        return ROOM
    if "text/html" in data:
        return _html_height(data["text/html"])
    if "image/svg+xml" in data:
        return _svg_height(data["image/svg+xml"])
    if "text/markdown" in data:
        return md_height(data["text/markdown"])
    if any(k.startswith("image/") for k in data):
        return ROOM // 2
    return _text_height(data.get("text/plain", "")) if "text/plain" in data else 0


def cell_height(cell) -> int:
    """About how tall a cell is on a slide (a code cell shows its outputs only), in px."""
    if cell.get("cell_type") == "markdown":
        return CELL_PAD + md_height(cell.get("source", ""))
    outputs = cell.get("outputs", [])
    return CELL_PAD + sum(output_height(o) for o in outputs) if outputs else 0


def _split_output(o, first: int = ROOM) -> list:
    """An output cut where it asks (tdxlab.widgets.stepper.NEXT_SLIDE) or where it is too tall: a table
    between rows, Markdown between blocks, text between lines; the first part fits ``first`` px where it
    can, the others a slide. A list of one when it stays whole."""
    import copy

    from tdxlab.widgets.stepper import NEXT_SLIDE

    data = o.get("data", {})
    html = data.get("text/html", "")
    if html:
        if NEXT_SLIDE in html:  # each part on a slide of its own, and a table in it cut if it is too tall
            parts = [t for part in balance(html.split(NEXT_SLIDE)) for t in split_table(part, TABLE_HEIGHT, ROOM)]
        else:
            parts = split_table(html, TABLE_HEIGHT, first)
        key = "text/html"
    elif "text/markdown" in data:
        parts, key = split_markdown(data["text/markdown"], ROOM, first), "text/markdown"
    elif o.get("output_type") == "stream" or set(data) == {"text/plain"}:
        key = "text" if o.get("output_type") == "stream" else "text/plain"
        parts = _split_text(o.get("text", "") if key == "text" else data["text/plain"], first)
    else:
        return [o]
    if len(parts) == 1:
        return [o]
    out = []
    for part in parts:
        p = copy.deepcopy(o)
        if key == "text":
            p["text"] = part
        else:
            p["data"][key] = part
            if key == "text/markdown":
                p["data"].pop("text/plain", None)
        out.append(p)
    return out


_TAG = re.compile(r"<script\b.*?</script>|<style\b.*?</style>|<!--.*?-->|<(/?)([A-Za-z][\w:-]*)\b[^>]*?(/?)>",
                  re.S | re.I)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def balance(parts: list[str]) -> list[str]:
    """Pieces of one HTML text cut anywhere, each made whole: the elements still open where a piece starts
    are opened again before it (with their attributes), those open where it ends are closed after it. Without
    this a cut inside a <div> leaves the first slide's div open and the second slide's closing tag would close
    the deck's own elements."""
    out, stack = [], []  # stack: (name, opening tag)
    for part in parts:
        prefix = "".join(tag for _, tag in stack)
        for m in _TAG.finditer(part):
            if m.group(2) is None:  # a comment, or a script or style with what it holds
                continue
            closing, name, selfclose = m.group(1), m.group(2).lower(), m.group(3)
            if closing:
                for k in range(len(stack) - 1, -1, -1):
                    if stack[k][0] == name:
                        del stack[k:]
                        break
            elif not selfclose and name not in _VOID:
                stack.append((name, m.group(0)))
        out.append(prefix + part + "".join(f"</{name}>" for name, _ in reversed(stack)))
    return out


def _split_text(text: str, first: int = ROOM) -> list[str]:
    """Printed text cut between lines into parts that fit a slide (the first: ``first`` px)."""
    if _text_height(text) <= first:
        return [text]
    parts: list[str] = []
    chunk: list[str] = []
    used = 0
    for ln in text.rstrip("\n").split("\n"):
        n = _lines(len(ln), TEXT_CHARS)
        if chunk and _text_height("x\n" * (used + n)) > (first if not parts else ROOM):
            parts.append("\n".join(chunk) + "\n")
            chunk, used = [], 0
        chunk.append(ln)
        used += n
    return parts + ["\n".join(chunk) + "\n"]


def _cut(cell, first: int) -> list:
    """A cell as the cells of its slides: the first fits ``first`` px where it can (what is left of the
    slide it goes on), every other one starts a subslide and fits a slide. A Markdown cell is cut by
    :func:`split_markdown`; a code cell's outputs go on several slides when they are too tall together, one
    too tall is cut (:func:`_split_output`), and a stepper or the verdict matrix (:func:`_big`) has a slide to
    itself."""
    import copy

    if cell.get("cell_type") == "markdown":
        groups = [("source", x) for x in split_markdown(cell.get("source", ""), ROOM, first)]
    elif cell.get("outputs"):
        groups, used, room = [[]], 0, first
        for o in cell["outputs"]:
            parts = _split_output(o, room - used if not _big(o) else ROOM)
            for k, part in enumerate(parts):
                h = output_height(part)
                if groups[-1] and (k or _big(part) or any(_big(x) for x in groups[-1]) or used + h > room):
                    groups.append([])
                    used, room = 0, ROOM
                groups[-1].append(part)
                used += h
        groups = [("outputs", g) for g in groups]
    else:
        return [cell]
    if len(groups) == 1:
        return [cell]
    cells = []
    for k, (field, value) in enumerate(groups):
        c = copy.deepcopy(cell)
        c[field] = value
        if k:
            if "id" in c:
                c["id"] = f"{cell['id'][:56]}-{k}"
            c.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = "subslide"
        cells.append(c)
    return cells


def _kind(cell) -> str:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")


def _new_slide(cell) -> None:
    cell.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = "subslide"


MIN_FILL = 120  # px: less room than this left on a slide, and a cell that does not fit starts the next one


def slide_layout(nb) -> None:
    """Lay a static notebook out for a 16:9 deck, in place, so that every slide fits 1280x720. The authors'
    slide breaks stay; this adds breaks (subslides) where a slide would be too tall: a cell that does not fit
    what is left of its slide is cut to fill it (:func:`_cut`: prose between paragraphs, a table between rows,
    text between lines) and goes on over the next slides; one that cannot be cut (a picture) starts the next
    slide, and takes along the heading or the "...:" sentence that introduces it. A stepper or the verdict
    matrix gets a slide of its own, and so does what follows it; an output marked with
    tdxlab.widgets.stepper.NEXT_SLIDE (the matrix, then its chosen counterexample) is cut into two slides."""
    out: list = []
    used, start, after_big = 0, 0, False  # px taken on the current slide; where in ``out`` it starts
    for cell in nb.cells:
        kind = _kind(cell)
        if kind in ("skip", "notes"):
            out.append(cell)
            continue
        if after_big or kind in ("slide", "subslide") or not out:
            if after_big and kind not in ("slide", "subslide"):
                _new_slide(cell)
            used, start = 0, len(out)
        left = SLIDE_ROOM - used - (CELL_GAP if used else 0) - CELL_PAD
        parts, aim = None, left
        while parts is None and (used == 0 or aim >= MIN_FILL):
            parts = _cut(cell, aim)
            over = cell_height(parts[0]) - CELL_PAD - left
            if over > 0 and used:  # the estimate of the part and of its pieces differ: aim lower
                parts, aim = None, aim - over - 10
        if parts is None or cell_height(parts[0]) > left + CELL_PAD:  # does not fit: on the next slide
            parts = _cut(cell, ROOM)
            if used:
                j = len(out)
                while (not any(_big(o) for o in parts[0].get("outputs", [])) and j - 1 > start and out[j - 1].get("cell_type") == "markdown" and _kind(out[j - 1]) != "skip"
                       and _leads(out[j - 1].get("source", "")) and cell_height(out[j - 1]) < SLIDE_ROOM // 4):
                    j -= 1  # the heading or sentence that introduces it goes along
                target = out[j] if j < len(out) else parts[0]
                _new_slide(target)
                start, used = j, sum(cell_height(c) + CELL_GAP for c in out[j:] if _kind(c) not in ("skip", "notes"))
        for k, part in enumerate(parts):
            if k:
                start, used = len(out), 0
            out.append(part)
            used += cell_height(part) + CELL_GAP
        after_big = any(_big(o) for o in parts[-1].get("outputs", []))
    # a stepper or the matrix starts its own slide
    for i, c in enumerate(out):
        if i and any(_big(o) for o in c.get("outputs", [])) and _kind(c) not in ("slide", "subslide", "skip", "notes"):
            _new_slide(c)
    nb.cells = out


# ------------------------------------------------------------------------------------------ exporting
CSS = """
<style>
body {font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;}
.jp-RenderedSVG img, .jp-RenderedHTMLCommon img {max-width: 100%; height: auto;}
.jp-RenderedHTMLCommon table {font-size: 12.5px;}
.tdxlab-review-static table td {min-width: 2.4em;}
progress {width: 260px;}
</style>
"""


def _link_fix(text: str, suffix: str) -> str:
    return re.sub(r'href="([\w.-]+)\.ipynb(#[^"]*)?"', lambda m: f'href="{m.group(1)}{suffix}{m.group(2) or ""}"',
                  text)


def _exporter(kind: str):
    from nbconvert import HTMLExporter, SlidesExporter

    cls = SlidesExporter if kind == "slides" else HTMLExporter
    e = cls(extra_template_basedirs=[str(TEMPLATES)],
            template_name="tdxlab-reveal" if kind == "slides" else "tdxlab-lab", **URLS)
    if kind == "slides":
        e.reveal_url_prefix = "_static/reveal.js"
        e.reveal_theme = "white"
        e.reveal_scroll = True
        e.reveal_transition = "none"
        e.reveal_width = str(SLIDE_WIDTH)
        e.reveal_height = str(SLIDE_HEIGHT)
        e.reveal_number = "c/t"
    e.exclude_input_prompt = True
    e.exclude_output_prompt = True
    if kind == "slides":
        e.exclude_input = True  # a deck shows what the code draws; the notebooks show the code
    return e


def export(nbs: dict, kind: str, out: Path, log=print) -> list[Path]:
    """Write ``out/<name>.html`` (kind "html") or ``out/<name>.slides.html`` (kind "slides") for every
    executed, static notebook."""
    import copy

    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    exp = _exporter(kind)
    suffix = ".slides.html" if kind == "slides" else ".html"
    written = []
    for name, nb in nbs.items():
        nb = copy.deepcopy(nb)
        if kind == "slides":
            slide_layout(nb)
        body, _ = exp.from_notebook_node(nb, resources={"metadata": {"name": name}})
        body = _link_fix(body, suffix)
        p = out / f"{name}{suffix}"
        atomic_write(p, body)
        written.append(p)
    if kind == "slides" and (out / "index.slides.html").exists():
        atomic_write(out / "index.html",
                     '<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=index.slides.html">'
                     '<title>tdxlab slides</title><a href="index.slides.html">tdxlab slides</a>\n')
    log(f"wrote {len(written)} {kind} pages to {out}")
    return written


def notebooks() -> list[Path]:
    return sorted(NB_DIR.glob("*.ipynb"))


def build(kinds=("html", "slides"), outs: dict | None = None, paths: list[Path] | None = None,
          log=print) -> dict[str, list[Path]]:
    """Execute the notebooks once, make them static, and export each kind into ``outs[kind]`` (default
    ``out/<kind>``)."""
    check_assets()
    outs = {k: Path(v) for k, v in (outs or {}).items()}
    nbs = execute_all(paths or notebooks(), log=log)
    for nb in nbs.values():
        make_static(nb)
    result = {}
    for kind in kinds:
        t0 = time.perf_counter()
        result[kind] = export(nbs, kind, outs.get(kind, ROOT / "out" / kind), log=log)
        log(f"{kind}: {time.perf_counter() - t0:.1f} s")
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tdxlab.present", description=__doc__.split("\n\n")[0])
    ap.add_argument("kind", choices=["slides", "html", "both"])
    ap.add_argument("--out", help="output folder (default out/slides, out/html; for both: out/ gets "
                                  "slides/ and html/)")
    args = ap.parse_args(argv)
    kinds = ("html", "slides") if args.kind == "both" else (args.kind,)
    if args.kind == "both":
        root = Path(args.out) if args.out else ROOT / "out"
        outs = {k: root / k for k in kinds}
    else:
        outs = {args.kind: Path(args.out) if args.out else ROOT / "out" / args.kind}
    t0 = time.perf_counter()
    try:
        build(kinds, outs)
    except PresentError as e:
        print(f"tdxlab present: {e}", file=sys.stderr)
        return 2
    for k in kinds:
        print(f"open {outs[k] / 'index.html'}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
