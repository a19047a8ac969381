"""What a reader sees, measured in a real browser: every notebook run in JupyterLab with its file browser open,
at 1366x768 and 1920x1080, in the light and the dark theme.

* no picture or table wider than the output area, nothing hidden sideways, no text under 11 CSS px as
  displayed (an SVG's font size times its displayed/intrinsic scale), and words for every picture;
* no internal name on screen: the model's instruction class names, Python tuples, object reprs;
* in the dark theme the verdicts and the stepper's text keep their contrast (WCAG AA, 4.5:1).

Screenshots of each notebook, size and theme go to screenshots/ (git-ignored).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.browserlib import (CODE_POINTER, COLOURS_JS, NOTEBOOK, ROOT, SIZES, chromium_available, chromium_page,
                              contrast, internal_names, jupyter_server, leaked_names, legibility_problems,
                              open_notebook, run_all, screenshot)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not chromium_available(), reason="/usr/bin/chromium is not installed "
                                 "(apt-get install -y chromium; scripts/setup.sh test mode does it)")]

NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(p.name for p in NB_DIR.glob("*.ipynb"))
OUTPUTS = f"{NOTEBOOK} .jp-OutputArea-output, {NOTEBOOK} .jp-MarkdownOutput"
VERDICTS = ".tdxlab-matrix-cell, .tdxlab-verdict, .tdxlab-stepper .last, .tdxlab-stepper .tdxlab-title"
AA = 4.5
def test_the_pattern_catches_what_it_should():
    pat = internal_names()
    for bad in ("tdx_online_cpu(): WarnVmxeClear", "(SYSINIT_DONE,)", "<tdxlab.scenario.Scenario object at 0x7f>",
                "5 Do", "line\nDo\nline", "AssertIrqsDisabled"):
        assert pat.search(bad), bad
    for good in ("WARN_ON_ONCE(!(cr4_read_shadow() & X86_CR4_VMXE))", "lockdep_assert_irqs_disabled()",
                 "TDH.SYS.LP.INIT (35)", "a Do-nothing step", CODE_POINTER.sub(" ", "kernel/lang.py\n(\nSpawnOn\n)")):
        assert not pat.search(good), good
    assert pat.search(CODE_POINTER.sub(" ", "runs SpawnOn here"))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    settings = tmp_path_factory.mktemp("lab-settings")  # the theme switch is saved here, not in ~/.jupyter
    with jupyter_server(NB_DIR, extra_args=["--LabApp.expose_app_in_browser=True"],
                        env={"JUPYTERLAB_SETTINGS_DIR": str(settings),
                             "JUPYTERLAB_WORKSPACES_DIR": str(settings)}) as srv:
        yield srv


@pytest.fixture(scope="module")
def page():
    with chromium_page(*SIZES[0]) as p:
        yield p


def _theme(page, name: str) -> None:
    page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", name)
    page.wait_for_function("t => document.body.dataset.jpThemeName === t", arg=name, timeout=30_000)
    page.wait_for_timeout(800)


def _file_browser_open(page) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
    page.wait_for_selector("#filebrowser", state="visible", timeout=10_000)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_picture_and_table_reads_at_both_sizes_and_themes(server, page, name):
    stem = Path(name).stem
    page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
    open_notebook(page, server, name)
    _file_browser_open(page)
    run_all(page)
    problems = []
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        page.wait_for_timeout(1200)  # JupyterLab lays the notebook out again
        problems += [f"{w}x{h}: {p}" for p in legibility_problems(page, NOTEBOOK)]
        screenshot(page, f"legible-{stem}-{w}")
    leaks = leaked_names(page, OUTPUTS)
    for theme in ("JupyterLab Dark", "JupyterLab Light"):
        _theme(page, theme)
        for c in page.evaluate(COLOURS_JS, VERDICTS):
            ratio = contrast(c["fg"], c["bg"])
            if ratio < AA:
                problems.append(f"{theme}: {c['what'][:40]!r} {c['text']!r} has contrast {ratio:.1f} "
                                f"({c['fg']} on {c['bg']})")
        screenshot(page, f"theme-{stem}-{theme.split()[-1].lower()}")
    assert not leaks, f"internal names on screen in {name}: {leaks}"
    assert not problems, f"{name}:\n" + "\n".join(problems[:40])
