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
def jupyter_server(root_dir: "str | Path", app: str = "lab", timeout: float = 60.0, extra_args=()):
    """Start ``jupyter <app>`` (lab, or e.g. voila with suitable extra_args) serving ``root_dir`` on a free
    port, wait until it answers, yield a :class:`Server`, then stop its whole process group."""
    _disable_news()
    port = free_port()
    token = secrets.token_hex(16)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"tdxlab-{app}-{port}.log"
    args = [str(VENV_BIN / "jupyter"), app, "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root_dir}",
            *extra_args]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    env = dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}", JUPYTER_PLATFORM_DIRS="1")
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
