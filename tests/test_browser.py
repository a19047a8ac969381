"""The notebooks in a real browser: JupyterLab on a free port, headless Debian Chromium driven by playwright.

Each notebook is opened and run (Run → Run All Cells) with no error or stderr output; the stepper is then
driven (step, the slider, Play, a scheduler button) and the lanes table and the SVG must change.
Screenshots go to screenshots/ (git-ignored).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browserlib import (NOTEBOOK, ROOT, chromium_available, chromium_page, error_outputs, jupyter_server, open_notebook,
                              run_all, screenshot)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not chromium_available(), reason="/usr/bin/chromium is not installed "
                                 "(apt-get install -y chromium; scripts/setup.sh test mode does it)")]

NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in NB_DIR.glob("*.ipynb"))


@pytest.fixture(scope="module")
def server():
    with jupyter_server(NB_DIR) as srv:
        yield srv


@pytest.fixture(scope="module")
def page():
    with chromium_page(1500, 1100) as p:
        yield p


def stepper(page, n: int = 0):
    loc = page.locator(f"{NOTEBOOK} .tdxlab-stepper").nth(n)
    loc.scroll_into_view_if_needed()
    return loc


def inner(loc, sel: str) -> str:
    return loc.locator(sel).first.inner_html()


def readout(loc) -> int:
    return int(loc.locator(".tdxlab-slider .widget-readout").first.inner_text().strip())


def wait_change(page, loc, sel: str, before: str, timeout: float = 10_000) -> str:
    page.wait_for_function("([el, before]) => el.innerHTML !== before",
                           arg=[loc.locator(sel).first.element_handle(), before], timeout=timeout)
    return inner(loc, sel)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_jupyterlab(server, page, name):
    open_notebook(page, server, name)
    run_all(page)
    errs = error_outputs(page)
    tracebacks = page.locator(f"{NOTEBOOK} .jp-RenderedText[data-mime-type='application/vnd.jupyter.error'], "
                              f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
                              ).count()
    screenshot(page, f"lab-{Path(name).stem}")
    assert not errs and tracebacks == 0, errs
    n = page.locator(f"{NOTEBOOK} .tdxlab-stepper").count()
    if name.startswith("0") and name != "00-primer.ipynb":  # the primer has pictures, no stepper
        assert n >= 1, "the stepper did not render"
    if n:
        page.wait_for_selector(f"{NOTEBOOK} .tdxlab-stepper .tdxlab-svg svg", state="attached", timeout=30_000)
        stepper(page, 0).screenshot(path=str(ROOT / "screenshots" / f"stepper-{Path(name).stem}.png"))


def test_drive_the_replay_stepper(server, page):
    open_notebook(page, server, "00-start-here.ipynb")
    run_all(page)
    s = stepper(page, 0)
    page.wait_for_selector(f"{NOTEBOOK} .tdxlab-stepper .tdxlab-svg svg", state="attached", timeout=30_000)
    assert readout(s) == 0
    table0, svg0 = inner(s, ".tdxlab-table"), inner(s, ".tdxlab-svg")
    # step: the table changes at once (modprobe takes its first lock)
    s.locator(".tdxlab-step").first.click()
    table1 = wait_change(page, s, ".tdxlab-table", table0)
    assert readout(s) == 1 and table1 != table0
    # back and step again
    s.locator(".tdxlab-back").first.click()
    wait_change(page, s, ".tdxlab-table", table1)
    assert readout(s) == 0
    # the slider (keyboard on the noUiSlider handle) goes far enough for the module to change state
    handle = s.locator(".tdxlab-slider .noUi-handle").first
    handle.focus()
    for _ in range(12):
        handle.press("ArrowRight")
    page.wait_for_function("el => el.innerText.trim() === '12'",
                           arg=s.locator(".tdxlab-slider .widget-readout").first.element_handle(), timeout=10_000)
    # the kernel renders each slider value in turn: wait until it has caught up with step 12
    page.wait_for_function("el => el.innerText.includes('step 12 of')",
                           arg=s.locator(".tdxlab-last").first.element_handle(), timeout=30_000)
    svg12 = wait_change(page, s, ".tdxlab-svg", svg0, timeout=15_000)
    assert svg12 != svg0
    # Play (jslinked to the slider in the browser) moves on by itself
    s.locator(".tdxlab-play button").first.click()
    page.wait_for_function("el => parseInt(el.innerText) >= 14",
                           arg=s.locator(".tdxlab-slider .widget-readout").first.element_handle(), timeout=15_000)
    s.locator(".tdxlab-play button").nth(1).click()  # stop
    assert "step" in s.locator(".tdxlab-last").first.inner_text()
    s.screenshot(path=str(ROOT / "screenshots" / "drive-replay.png"))
    # first (a replay has no reset: nothing to forget)
    assert not s.locator(".tdxlab-reset").first.is_visible()
    s.locator(".tdxlab-first").first.click()
    page.wait_for_function("el => el.innerText.trim() === '0'",
                           arg=s.locator(".tdxlab-slider .widget-readout").first.element_handle(), timeout=10_000)


def _wait_readout(page, s, want: int, timeout: float = 60_000) -> None:
    # (a generous bound: each step is a round trip to the kernel, which draws the step with graphviz; a busy
    # CI machine can take many seconds)
    page.wait_for_function("([el, w]) => el.innerText.trim() === String(w)",
                           arg=[s.locator(".tdxlab-slider .widget-readout").first.element_handle(), want],
                           timeout=timeout)


def test_keys_drive_the_stepper_and_not_jupyterlab(server, page):
    """Click a stepper, then: right arrow steps, left steps back, End and Home jump, F goes to the failure;
    JupyterLab's command-mode shortcuts stay out (no cell is added or moved)."""
    open_notebook(page, server, "03-irq-safety.ipynb")
    run_all(page)
    # the notebook's cells, from the file: JupyterLab attaches cells to the page a few at a time, so on a
    # busy machine the page can show fewer for a while; wait until it shows them all before counting
    cells = len(json.loads((NB_DIR / "03-irq-safety.ipynb").read_text())["cells"])
    page.wait_for_function("([sel, n]) => document.querySelectorAll(sel).length === n",
                           arg=[f"{NOTEBOOK} .jp-Cell", cells], timeout=60_000)
    s = page.locator(f"{NOTEBOOK} .tdxlab-stepper").filter(has_text="no-spurious-error").first
    s.scroll_into_view_if_needed()
    last = int(s.locator(".tdxlab-slider .noUi-handle").first.get_attribute("aria-valuemax").split(".")[0])
    _wait_readout(page, s, last)  # a counterexample opens at its violating step
    s.locator(".tdxlab-keys").first.click()  # the focus
    page.keyboard.press("Home")
    _wait_readout(page, s, 0)
    page.keyboard.press("ArrowRight")
    _wait_readout(page, s, 1)
    page.keyboard.press("ArrowRight")
    _wait_readout(page, s, 2)
    page.keyboard.press("ArrowLeft")
    _wait_readout(page, s, 1)
    page.keyboard.press("End")
    _wait_readout(page, s, last)
    page.keyboard.press("Home")
    _wait_readout(page, s, 0)
    page.keyboard.press("f")
    _wait_readout(page, s, last)
    for key in ("a", "b", "d", "x", "ArrowUp"):  # would add, cut or select cells in command mode
        page.keyboard.press(key)
    page.wait_for_timeout(500)
    assert page.locator(f"{NOTEBOOK} .jp-Cell").count() == cells
    s.screenshot(path=str(ROOT / "screenshots" / "drive-keys.png"))


def test_drive_the_scheduler_puzzle(server, page):
    open_notebook(page, server, "03-irq-safety.ipynb")
    run_all(page)
    s = page.locator(f"{NOTEBOOK} .tdxlab-stepper").filter(has=page.locator(".tdxlab-sched-button")).first
    s.scroll_into_view_if_needed()
    buttons = s.locator(".tdxlab-sched-button")
    assert buttons.count() == 2  # modprobe and second-user
    table0 = inner(s, ".tdxlab-table")
    # second-user first: it takes its path with IRQs on
    buttons.filter(has_text="second-user").first.click()
    wait_change(page, s, ".tdxlab-table", table0)
    assert readout(s) == 1
    svg1 = inner(s, ".tdxlab-svg")
    # keep choosing second-user until TDH.SYS.INIT ran: the module graph lights SYSINIT_DONE
    for _ in range(6):
        b = buttons.filter(has_text="second-user")
        if not b.count():
            break
        before = inner(s, ".tdxlab-table")
        b.first.click()
        wait_change(page, s, ".tdxlab-table", before)
        if inner(s, ".tdxlab-svg") != svg1:
            break
    assert inner(s, ".tdxlab-svg") != svg1
    # a non-enabled step cannot be clicked, and the message area stays empty
    assert s.locator(".tdxlab-message").first.inner_text().strip() == ""
    s.screenshot(path=str(ROOT / "screenshots" / "drive-scheduler.png"))
    # the counterexample stepper below replays to TDX_SYS_LP_INIT_DONE
    ce = page.locator(f"{NOTEBOOK} .tdxlab-stepper").filter(has_text="no-spurious-error").first
    ce.scroll_into_view_if_needed()
    h = ce.locator(".tdxlab-slider .noUi-handle").first
    h.focus()
    h.press("End")
    page.wait_for_function("el => /TDX_SYS_LP_INIT_DONE/.test(el.innerText)",
                           arg=ce.locator(".tdxlab-last").first.element_handle(), timeout=10_000)
    ce.screenshot(path=str(ROOT / "screenshots" / "drive-counterexample.png"))
