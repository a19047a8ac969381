"""Shared helpers for browser tests: a JupyterLab server in its own process group and headless Chromium.

Reusable for JupyterLab, Voilà and static-HTML tests::

    from tests.browserlib import jupyter_server, chromium_page, CHROMIUM

    with jupyter_server(root) as srv:             # srv.url, srv.token, srv.port
        with chromium_page() as page:
            page.goto(srv.lab_url("index.ipynb"))

Facts this relies on (/work/shared/jupyter-stack-notes.md): Debian's Chromium at /usr/bin/chromium driven by
Python playwright with ``executable_path`` (no ``playwright install``); ``--IdentityProvider.token=`` (the
token is for tests only); a fresh server per session on a free port, stopped by its process group.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "screenshots"
VENV_BIN = Path(sys.executable).parent
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the notebook in the visible tab


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    token: str
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, path: str = "") -> str:
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"  # reset: only this notebook open

    def get(self, path: str, timeout: float = 5.0) -> int:
        req = urllib.request.Request(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status


def _disable_news() -> None:
    """The 'get notified about Jupyter news?' toast, off (a settings override in the venv)."""
    d = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings"
    f = d / "overrides.json"
    want = '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}\n'
    try:
        if not f.exists():
            d.mkdir(parents=True, exist_ok=True)
            f.write_text(want)
    except OSError:
        pass


@contextlib.contextmanager
def jupyter_server(root_dir: "str | Path", app: str = "lab", timeout: float = 60.0, extra_args=(), env=None):
    """Start ``jupyter <app>`` (lab, or e.g. voila with suitable extra_args) serving ``root_dir`` on a free
    port, wait until it answers, yield a :class:`Server`, then stop its whole process group. ``env``: more
    environment variables (say, a JUPYTERLAB_SETTINGS_DIR of its own, so a test's theme change stays there)."""
    _disable_news()
    port = free_port()
    token = secrets.token_hex(16)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"tdxlab-{app}-{port}.log"
    args = [str(VENV_BIN / "jupyter"), app, "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
            *extra_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}", JUPYTER_PLATFORM_DIRS="1",
               **(env or {}))
    fh = open(log, "wb")
    proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, cwd=str(root_dir), env=env,
                            start_new_session=True)
    srv = Server(proc, port, token, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter {app} exited with {proc.returncode}; log: {log}")
            try:
                if srv.get("/api/status", timeout=2) == 200:
                    break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter {app} did not answer within {timeout:.0f} s; log: {log}")
            time.sleep(0.3)
        yield srv
    finally:
        stop_group(proc, fh)


def stop_group(proc: subprocess.Popen, log_file=None) -> None:
    """Stop a server started in its own process group: SIGTERM, then SIGKILL after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    if log_file is not None:
        log_file.close()


@contextlib.contextmanager
def chromium_page(width: int = 1500, height: int = 1000):
    """A playwright page in headless Debian Chromium (no download). Yields the page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            ctx = browser.new_context(viewport={"width": width, "height": height})
            page = ctx.new_page()
            yield page
        finally:
            browser.close()


def screenshot(page, name: str, **kw) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), **kw)
    return path


def wait_idle(page, timeout: float = 120_000) -> None:
    """Wait until JupyterLab's status bar says the kernel is Idle."""
    page.wait_for_function(
        "() => { const s = document.querySelector('#jp-main-statusbar'); return s && /Idle/.test(s.innerText); }",
        timeout=timeout)


def open_notebook(page, srv: Server, path: str, timeout: float = 90_000) -> None:
    page.goto(srv.lab_url(path))
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=timeout)
    wait_idle(page, timeout)


def run_all(page, timeout: float = 180_000) -> None:
    """Run menu -> Run All Cells, then wait for Idle with every cell executed."""
    page.click(".lm-MenuBar-itemLabel:text-is('Run')", timeout=10_000)
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')", timeout=10_000)
    page.wait_for_timeout(800)
    page.wait_for_function(
        """() => { const s = document.querySelector('#jp-main-statusbar');
                   if (!s || !/Idle/.test(s.innerText)) return false;
                   const prompts = [...document.querySelectorAll(
                       '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')];
                   return prompts.every(p => !/\\[\\*\\]/.test(p.innerText)); }""",
        timeout=timeout)


def error_outputs(page) -> list[str]:
    """Texts of error outputs (tracebacks) and stderr outputs shown in the notebook."""
    return page.eval_on_selector_all(
        f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
        f"{NOTEBOOK} .jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']",
        "els => els.map(e => e.innerText)")


# ------------------------------------------------------------------------------------------ legibility
#: Screen sizes a presenter uses; JupyterLab is measured with its file browser open.
SIZES = ((1366, 768), (1920, 1080))
MIN_TEXT_PX = 11.0

#: Measures what a reader sees in ``root`` (a CSS selector): every picture (inline <svg>, and <img> whose
#: src is an SVG data URL: JupyterLab shows SVG outputs so) with its displayed width, the width of the area
#: it sits in, and its smallest text in CSS px as displayed (font size times the picture's scale, found by
#: laying the SVG out at its displayed size); every top-level table's width against its area; boxes that
#: hide content sideways (scrollWidth over clientWidth); HTML text under MIN_TEXT_PX; pictures without
#: words (no alt, aria-label or title).
MEASURE_JS = r"""(sel) => {
  const root = document.querySelector(sel);
  const res = {pictures: [], tables: [], overflow: [], small: [], noalt: []};
  if (!root) return res;
  const areaOf = el => (el.closest('.jp-OutputArea-output, .jp-MarkdownOutput, .jp-RenderedHTMLCommon, section, body')
                        || document.body).getBoundingClientRect().width;
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const scratch = document.createElement('div');
  scratch.style.cssText = 'position:absolute;left:0;top:0;visibility:hidden;pointer-events:none';
  document.body.appendChild(scratch);
  const minFont = svg => {
    let m = Infinity, which = '';
    for (const t of svg.querySelectorAll('text')) {
      if (!t.textContent.trim()) continue;
      const ctm = t.getScreenCTM(); if (!ctm) continue;
      const f = parseFloat(getComputedStyle(t).fontSize) * Math.hypot(ctm.a, ctm.b);
      if (f < m) { m = f; which = t.textContent.trim().slice(0, 40); }
    }
    return [m === Infinity ? null : m, which];
  };
  const words = (el, svg) => (el.getAttribute('alt') || el.getAttribute('aria-label')
                 || (svg && (svg.getAttribute('aria-label') || (svg.querySelector('title') || {}).textContent)) || '').trim();
  for (const img of root.querySelectorAll('img')) {
    if (!visible(img)) continue;
    const src = img.getAttribute('src') || '';
    if (!src.startsWith('data:image/svg+xml')) continue;
    const r = img.getBoundingClientRect();
    let text = src.slice(src.indexOf(',') + 1);
    text = /;base64/.test(src.slice(0, src.indexOf(','))) ? atob(text) : decodeURIComponent(text);
    const svg = document.importNode(new DOMParser().parseFromString(text, 'image/svg+xml').documentElement, true);
    svg.setAttribute('width', r.width); svg.setAttribute('height', r.height);
    scratch.appendChild(svg);
    const [font, which] = minFont(svg);
    const alt = words(img, svg);
    scratch.removeChild(svg);
    res.pictures.push({kind: 'img', width: r.width, area: areaOf(img), font, which, alt: alt.slice(0, 80)});
    if (!alt) res.noalt.push('img ' + which);
  }
  for (const svg of root.querySelectorAll('svg')) {
    if (svg.parentElement.closest('svg') || !visible(svg)) continue;
    const [font, which] = minFont(svg);
    if (font === null) continue;  // an icon
    const r = svg.getBoundingClientRect();
    const alt = words(svg, svg);
    res.pictures.push({kind: 'svg', width: r.width, area: areaOf(svg), font, which, alt: alt.slice(0, 80)});
    if (!alt) res.noalt.push('svg ' + which);
  }
  for (const t of root.querySelectorAll('table')) {
    if (t.parentElement.closest('table') || !visible(t)) continue;
    res.tables.push({width: t.getBoundingClientRect().width, area: areaOf(t),
                     head: t.innerText.slice(0, 60).replace(/\s+/g, ' ')});
  }
  for (const el of root.querySelectorAll('.jp-OutputArea-output, .jp-OutputArea-output *, .tdxlab-frames, .tdxlab-frames *')) {
    if (el.closest('svg') || !visible(el)) continue;
    const cs = getComputedStyle(el);
    if (!/(auto|scroll|hidden)/.test(cs.overflowX) || el.clientWidth === 0) continue;
    if (el.scrollWidth > el.clientWidth + 2)
      res.overflow.push({what: (typeof el.className === 'string' ? el.className : el.tagName).slice(0, 90),
                         scroll: el.scrollWidth, client: el.clientWidth, text: el.innerText.slice(0, 50).replace(/\s+/g, ' ')});
  }
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const n = walker.currentNode, el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest('svg') || seen.has(el)) continue;
    seen.add(el);
    if (!el.closest('.jp-OutputArea-output, .jp-MarkdownOutput, .tdxlab-frames') || !visible(el)) continue;
    // CSS px as displayed: a transformed ancestor (reveal.js scales its slides) scales the text too
    const scale = el.offsetWidth ? el.getBoundingClientRect().width / el.offsetWidth : 1;
    const f = parseFloat(getComputedStyle(el).fontSize) * scale;
    if (f < MIN - 0.05) res.small.push({font: f, text: n.textContent.trim().slice(0, 40)});
  }
  scratch.remove();
  return res;
}""".replace("MIN", repr(MIN_TEXT_PX))


def legibility_problems(page, root: str) -> list[str]:
    """What a reader cannot read in ``root`` at the page's current size, one line each (empty: none)."""
    r = page.evaluate(MEASURE_JS, root)
    out = []
    for p in r["pictures"]:
        if p["width"] > p["area"] + 1:
            out.append(f"a picture is {p['width']:.0f} px wide in a {p['area']:.0f} px area ({p['alt'][:50]!r})")
        if p["font"] is not None and p["font"] < MIN_TEXT_PX:
            out.append(f"text {p['which']!r} is {p['font']:.1f} px as displayed ({p['alt'][:50]!r})")
    for t in r["tables"]:
        if t["width"] > t["area"] + 1:
            out.append(f"a table is {t['width']:.0f} px wide in a {t['area']:.0f} px area ({t['head'][:50]!r})")
    for o in r["overflow"]:
        out.append(f"{o['what'][:60]!r} hides {o['scroll'] - o['client']} px sideways ({o['text']!r})")
    for s in r["small"]:
        out.append(f"text {s['text']!r} is {s['font']:.1f} px")
    for a in r["noalt"]:
        out.append(f"a picture has no words for a screen reader: {a}")
    return out


def contrast(fg: str, bg: str) -> float:
    """WCAG contrast ratio of two CSS rgb()/rgba() colours."""
    import re as _re

    def lum(c: str) -> float:
        r, g, b = (float(x) / 255 for x in _re.findall(r"[\d.]+", c)[:3])
        lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in (r, g, b)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


#: Colour pairs of what carries a verdict or a stepper's text, with the first opaque background behind each.
COLOURS_JS = r"""(sel) => {
  const bg = el => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
                     if (c && !/rgba\(.*,\s*0\)$/.test(c) && c !== 'transparent') return c; } return 'rgb(255, 255, 255)'; };
  const out = [];
  for (const el of document.querySelectorAll(sel)) {
    const r = el.getBoundingClientRect(); if (!r.width) continue;
    out.push({what: el.className.toString().slice(0, 60), text: el.innerText.trim().slice(0, 30),
              fg: getComputedStyle(el).color, bg: bg(el)});
  }
  return out;
}"""


# ------------------------------------------------------------------------------------------ internal names
#: The text of outputs as a reader sees it, one line per text node (whatever JupyterLab renders lazily;
#: the text of <style> and <script> left out).
TEXT_JS = """els => els.map(e => { const w = document.createTreeWalker(e, NodeFilter.SHOW_TEXT), out = [];
    while (w.nextNode()) { const p = w.currentNode.parentElement;
        if (p && !p.closest('style, script')) out.push(w.currentNode.textContent.trim()); }
    return out.filter(t => t).join('\\n'); })"""


def internal_names() -> re.Pattern:
    """What must not reach a reader: the model's instruction classes by their Python names, Python tuples of
    names such as (SYSINIT_DONE,), object reprs, a function listing's bare ``Do`` row."""
    from tdxlab.kernel import lang

    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)

    names = sorted({c.__name__ for c in subclasses(lang.Instr)} - {"Call", "Goto", "If", "Do", "Ret", "Lock",
                                                                    "Unlock"})
    return re.compile(r"\b(" + "|".join(names) + r")\b|\(\s*'?[A-Z_]{3,}'?\s*,\s*\)|<[\w.]+ object at 0x"
                      r"|^\s*\d+\s+Do\s*$|^Do$|\bIPY_MODEL_", re.M)


#: A pointer into the source for a developer, such as "kernel/lang.py (SpawnOn)" in the decisions table: the
#: file names the class, so the name is where to look, not an internal spelling in place of the kernel's.
CODE_POINTER = re.compile(r"[\w/]+\.py\s*\(\s*\w+\s*\)")


def leaked_names(page, selector: str) -> list[str]:
    """The internal names (:func:`internal_names`) in the text of what ``selector`` matches, each once."""
    text = CODE_POINTER.sub(" ", "\n".join(page.eval_on_selector_all(selector, TEXT_JS)))
    return sorted({m.group(0).strip() for m in internal_names().finditer(text)})
