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
    """A stepper, the matrix, or a picture taller than half a slide: it goes on a slide of its own."""
    data = output.get("data", {})
    html = data.get("text/html", "")
    if any(f"class='{c}" in html or f'class="{c}' in html for c in OWN_SLIDE):
        return True
    m = re.search(r'<svg[^>]*?\bheight="([\d.]+)(pt|px)?"', data.get("image/svg+xml", ""))
    return bool(m) and float(m.group(1)) * (4 / 3 if m.group(2) == "pt" else 1) > SLIDE_HEIGHT / 2


TABLE_HEIGHT = 540  # px of table rows a slide holds under its header (and a line of text)
ROW_LINE = 22  # px per line of a table row on a slide
LINE_CHARS = 36  # characters per line of a wrapped table cell, about
_TBODY = re.compile(r"(<tbody>\s*)(.*?)(\s*</tbody>)", re.S)  # a pandas table's rows
_ROW = re.compile(r"<tr\b.*?</tr>", re.S)
_CELL = re.compile(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", re.S)


def _row_height(row: str) -> int:
    """About how tall a table row is on a slide: its longest cell, wrapped."""
    longest = max((len(re.sub(r"<[^>]+>", "", c)) for c in _CELL.findall(row)), default=0)
    return ROW_LINE * max(1, -(-longest // LINE_CHARS))


def split_table(html: str, height: int = TABLE_HEIGHT) -> list[str]:
    """An output that is one table (a pandas table with its style) too tall for a slide, cut into tables
    that fit one (each with the header and style); anything else as it is (a list of one)."""
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
    for row in _ROW.findall(html[start:end]):
        h = _row_height(row)
        if chunks[-1] and used + h > height:
            chunks.append([])
            used = 0
        chunks[-1].append(row)
        used += h
    if len(chunks) == 1:
        return [html]
    head, tail = html[:start], html[end:]
    return [head + "\n".join(rows) + tail for rows in chunks]


def _slide_groups(outputs) -> list[list]:
    """A cell's outputs cut into slides: a big output (a stepper, the matrix) alone, an output marked with
    tdxlab.widgets.stepper.NEXT_SLIDE cut in two there, and a table too tall for a slide cut into tables
    that fit (:func:`split_table`)."""
    import copy

    from tdxlab.widgets.stepper import NEXT_SLIDE

    pieces = []
    for o in outputs:
        html = o.get("data", {}).get("text/html", "")
        parts = html.split(NEXT_SLIDE) if NEXT_SLIDE in html else split_table(html)
        if len(parts) > 1:
            for part in parts:
                p = copy.deepcopy(o)
                p["data"]["text/html"] = part
                pieces.append((p, True))
        else:
            pieces.append((o, False))
    groups: list[list] = [[]]
    for o, cut in pieces:
        if groups[-1] and (cut or _big(o) or any(_big(x) for x in groups[-1])):
            groups.append([])
        groups[-1].append(o)
    return groups


def slide_layout(nb) -> None:
    """Lay a static notebook out for a 16:9 deck, in place: a stepper or the verdict matrix gets a slide of
    its own (so does what follows it), and an output marked with tdxlab.widgets.stepper.NEXT_SLIDE (the
    matrix, then its chosen counterexample) is cut into two slides."""
    import copy

    cells = []
    for cell in nb.cells:
        groups = _slide_groups(cell.get("outputs", [])) if cell.get("outputs") else [None]
        for k, group in enumerate(groups):
            c = cell if k == 0 else copy.deepcopy(cell)
            if group is not None:
                c["outputs"] = group
            if k and "id" in c:
                c["id"] = f"{cell['id'][:56]}-{k}"
            if k:
                c.setdefault("metadata", {}).setdefault("slideshow", {})["slide_type"] = "subslide"
            cells.append(c)
    start_next = False
    for cell in cells:
        meta = cell.setdefault("metadata", {}).setdefault("slideshow", {})
        kind = meta.get("slide_type", "-")
        big = any(_big(o) for o in cell.get("outputs", []))
        if (big or start_next) and kind not in ("slide", "subslide", "skip", "notes"):
            meta["slide_type"] = "subslide"
        if kind not in ("skip", "notes"):
            start_next = big
    nb.cells = cells


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
