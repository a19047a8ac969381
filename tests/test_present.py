"""Presenting: the static HTML site and the reveal.js slides (built once per session into a temporary folder,
opened in headless Chromium with every non-file request aborted), the Voilà app of the design review, and
the design review in JupyterLab (click a verdict-matrix cell, see its counterexample in the stepper).

Screenshots go to screenshots/ (git-ignored). Known-harmless network requests are listed in HARMLESS: only
Voilà's Font Awesome stylesheet (icons only; jupyter-stack-notes.md).
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browserlib import (NOTEBOOK, ROOT, SCREENSHOTS, SIZES, VENV_BIN, chromium_available, chromium_page,
                              free_port, leaked_names, legibility_problems, stop_group,
                              jupyter_server, open_notebook, run_all)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not chromium_available(), reason="/usr/bin/chromium is not installed "
                                 "(apt-get install -y chromium; scripts/setup.sh test mode does it)")]

NB_DIR = ROOT / "notebooks"
STEMS = sorted(p.stem for p in NB_DIR.glob("*.ipynb"))
HARMLESS = [re.compile(r"^https://cdn\.jsdelivr\.net/npm/@fortawesome/fontawesome-free@[^/]+/css/")]
LOCAL = ("file:", "data:", "blob:", "about:")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """Execute every notebook once and export both the HTML site and the slides."""
    from tdxlab import present

    present.check_assets()  # a clear message if scripts/fetch-js.sh has not run
    out = tmp_path_factory.mktemp("present")
    t0 = time.perf_counter()
    lines = []
    present.build(("html", "slides"), {"html": out / "html", "slides": out / "slides"}, log=lines.append)
    out.joinpath("seconds").write_text(f"{time.perf_counter() - t0:.1f}")
    out.joinpath("log").write_text("\n".join(map(str, lines)))
    return out


@pytest.fixture(scope="module")
def offline_page():
    """A page whose every request that is not file:/data: is aborted and recorded."""
    with chromium_page(1400, 900) as page:
        page.attempted = []
        page.errors = []

        def route(r):
            if r.request.url.startswith(LOCAL):
                return r.continue_()
            page.attempted.append(r.request.url)
            return r.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        yield page


def _fresh(page):
    page.attempted.clear()
    page.errors.clear()


def pictures(page) -> int:
    return page.locator("svg, img[src^='data:image/svg']").count()


# ------------------------------------------------------------------------------------------ slide layout
def test_slide_layout_gives_a_stepper_its_own_slide_and_cuts_marked_outputs():
    import nbformat

    from tdxlab import present
    from tdxlab.widgets.stepper import NEXT_SLIDE

    def out(html):
        return nbformat.v4.new_output("display_data", data={"text/html": html})

    nb = nbformat.v4.new_notebook()
    checked, stepper = out("<b>checked</b>"), out("<div class='tdxlab-frames'>x</div>")
    c1 = nbformat.v4.new_code_cell("check(); Stepper()", outputs=[checked, stepper])
    c2 = nbformat.v4.new_markdown_cell("the text after it")
    c3 = nbformat.v4.new_code_cell("m", outputs=[out(f"<div class='tdxlab-review-static'>m{NEXT_SLIDE}y</div>")])
    nb.cells = [c1, c2, c3]
    present.slide_layout(nb)
    kinds = [(c.cell_type, c.metadata.get("slideshow", {}).get("slide_type", "-"),
              [o["data"]["text/html"] for o in c.get("outputs", [])]) for c in nb.cells]
    assert kinds == [("code", "-", ["<b>checked</b>"]),
                     ("code", "subslide", ["<div class='tdxlab-frames'>x</div>"]),
                     ("markdown", "subslide", []),
                     ("code", "subslide", ["<div class='tdxlab-review-static'>m</div>"]),
                     ("code", "subslide", ["<div class='tdxlab-review-static'>y</div>"])]  # each part whole
    assert len({c.get("id") for c in nb.cells}) == len(nb.cells)  # cell ids stay unique


def test_long_prose_and_text_are_cut_into_slides_that_fit():
    """A Markdown cell too tall for a slide goes on over subslides, cut between paragraphs (every paragraph
    once, in order, a heading never last); a short cell that no longer fits its slide starts the next one
    with the "...:" sentence that introduces it; printed text is cut between lines."""
    import nbformat

    from tdxlab import present

    paras = [f"Paragraph {i}: " + "the module checks the caller's state before it moves on. " * 6 for i in range(14)]
    source = "## Terms\n\n" + "\n\n".join(paras[:7]) + "\n\n## More terms\n\n" + "\n\n".join(paras[7:])
    assert present.md_height(source) > 2 * present.ROOM  # the case: far taller than a slide
    picture = '<svg width="400pt" height="250pt"><text>x</text></svg>'
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(source, metadata={"slideshow": {"slide_type": "slide"}}),
                nbformat.v4.new_markdown_cell("The picture:"),
                nbformat.v4.new_code_cell("p", outputs=[nbformat.v4.new_output("display_data",
                                                                               data={"image/svg+xml": picture})]),
                nbformat.v4.new_code_cell("print", outputs=[nbformat.v4.new_output(
                    "stream", name="stdout", text="".join(f"line {i}\n" for i in range(80)))])]
    present.slide_layout(nb)
    slides, cur = [], None
    for c in nb.cells:
        if c.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide") or cur is None:
            cur = []
            slides.append(cur)
        cur.append(c)
    assert all(sum(present.cell_height(c) for c in sl) <= present.SLIDE_ROOM + 8 * len(sl) for sl in slides)
    prose = [c.source for c in nb.cells if c.cell_type == "markdown" and "Paragraph" in c.source]
    assert len(prose) >= 3
    assert re.findall(r"Paragraph \d+", "\n".join(prose)) == [f"Paragraph {i}" for i in range(14)]
    assert not any(p.rstrip().split("\n")[-1].startswith("#") for p in prose)
    lead = next(i for i, c in enumerate(nb.cells) if c.source == "The picture:")
    assert nb.cells[lead + 1].outputs[0]["data"].get("image/svg+xml") == picture  # the sentence, then its picture
    assert all(nb.cells[lead + 1] in sl and nb.cells[lead] in sl for sl in slides if nb.cells[lead] in sl)
    printed = [c.outputs[0]["text"] for c in nb.cells if c.get("outputs") and "text" in c.outputs[0]]
    assert len(printed) > 1 and "".join(printed) == "".join(f"line {i}\n" for i in range(80))
    assert len({c.get("id") for c in nb.cells}) == len(nb.cells)


def test_cutting_html_keeps_each_part_whole():
    from tdxlab.present import balance

    parts = balance(["<div class='a'><script>if (a<b) f();</script><p>one", "two</p><br><b>x</b></div>"])
    assert parts == ["<div class='a'><script>if (a<b) f();</script><p>one</p></div>",
                     "<div class='a'><p>two</p><br><b>x</b></div>"]


def test_a_table_too_tall_for_a_slide_is_cut_with_its_header_on_each_part():
    import pandas as pd

    from tdxlab import present

    df = pd.DataFrame({"name": [f"TDH.SYS.LEAF{i}" for i in range(40)], "note": ["a few words"] * 40})
    html = df.style.to_html()
    parts = present.split_table(html)
    assert len(parts) > 1
    assert all(p.count("<thead>") == 1 and p.startswith(html[:html.index("<tbody>")]) for p in parts)
    rows = [re.findall(r"TDH\.SYS\.LEAF\d+", p) for p in parts]
    assert sum(rows, []) == list(df["name"])  # every row once, in order
    short = df.head(5).style.to_html()
    assert present.split_table(short) == [short]  # it fits: as it is
    assert present.split_table("<p>text</p>") == ["<p>text</p>"]
    plain = "<table><tr><th>key</th></tr>" + "".join(f"<tr><td>{'x' * 80} {i}</td></tr>" for i in range(30)) + "</table>"
    cut = present.split_table(plain)  # a table without <tbody>: its first row is the header
    assert len(cut) > 1 and all(p.startswith("<table><tr><th>key</th></tr>") and p.endswith("</table>") for p in cut)
    assert sum(p.count("<td>") for p in cut) == 30


# ------------------------------------------------------------------------------------------ the files
def test_every_notebook_is_exported(built):
    for stem in STEMS:
        assert (built / "html" / f"{stem}.html").is_file(), stem
        assert (built / "slides" / f"{stem}.slides.html").is_file(), stem
    assert (built / "html" / "index.html").is_file() and (built / "slides" / "index.html").is_file()
    assert (built / "html" / "_static" / "require.js").is_file()
    assert (built / "slides" / "_static" / "reveal.js" / "dist" / "reveal.js").is_file()


def test_the_build_log_speaks_plainly(built):
    """What `make html` / `make slides` print names no internals (no count of "static widgets")."""
    log = (built / "log").read_text()
    assert "executed" in log and "widget" not in log, log


@pytest.mark.parametrize("kind", ["html", "slides"])
def test_no_remote_script_style_or_font(built, kind):
    """No <script src>, <link href>, @import or url() points at a network host (plain <a href> links to
    sources are fine: they are not requests)."""
    bad = []
    pat = re.compile(r"""(<script[^>]+src=["']https?:|<link[^>]+href=["']https?:|@import\s+url\(["']?https?:|"""
                     r"""import\s[^;]*from\s+["']https?:)""", re.I)
    for f in (built / kind).glob("*.html"):
        for m in pat.finditer(f.read_text(encoding="utf-8")):
            bad.append(f"{f.name}: {m.group(0)[:80]}")
    assert not bad, bad


def test_widgets_are_static_in_the_export(built):
    """No widget view is left (no widget JavaScript is needed), and the steppers became pictures."""
    text = (built / "html" / "05-design-review.html").read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-view+json" not in text
    assert "tdxlab-review-static" in text  # the verdict matrix's static fallback
    assert "data:image/svg+xml;base64" in (built / "html" / "04-locking.html").read_text(encoding="utf-8")
    ex = (built / "html" / "06-exercises.html").read_text(encoding="utf-8")
    assert len(re.findall(r"""<details class=["']tdxlab-solution["']>""", ex)) >= 10


# ------------------------------------------------------------------------------------------ in the browser
@pytest.mark.parametrize("stem", STEMS)
def test_static_page_offline(built, offline_page, stem):
    page = offline_page
    _fresh(page)
    page.goto((built / "html" / f"{stem}.html").as_uri())
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    n = pictures(page)
    if stem in ("05-design-review", "04-locking"):
        page.screenshot(path=str(SCREENSHOTS / f"static-{stem}.png"))
    assert page.attempted == [], page.attempted
    assert n > 0, f"{stem}.html shows no SVG picture"
    assert not page.errors, page.errors
    problems = []
    try:
        for w, h in SIZES:  # what a reader of the page sees: everything fits, nothing under 11 px, alt text
            page.set_viewport_size({"width": w, "height": h})
            page.wait_for_timeout(300)
            problems += [f"{w}x{h}: {p}" for p in legibility_problems(page, "body")]
    finally:
        page.set_viewport_size({"width": 1400, "height": 900})
    assert not problems, "\n".join(problems[:30])
    assert not leaked_names(page, "body"), f"internal names on {stem}.html"


def _frames(page) -> list[dict]:
    return page.eval_on_selector_all(".tdxlab-frames", """els => els.map(e => ({
        at: e.dataset.at, mode: e.dataset.mode, fail: e.dataset.fail,
        total: e.querySelectorAll('.tdxlab-frame').length - 1,
        shown: [...e.querySelectorAll('.tdxlab-frame:not([hidden]), .tdxlab-frame-svg:not([hidden])')]
                 .map(f => f.innerHTML).join('|')}))""")


@pytest.mark.parametrize("stem", [s for s in STEMS if s[:2] in ("00", "01", "02", "03", "04", "05", "06")])
def test_static_steppers_open_where_it_matters_and_step(built, offline_page, stem):
    """Every stepper of a page is exported with all its steps (no kernel): a replay or counterexample
    opens at the step that matters (never its initial state), no two show the same picture, and the
    buttons, the slider and the keys step through the pre-rendered frames."""
    page = offline_page
    _fresh(page)
    page.goto((built / "html" / f"{stem}.html").as_uri())
    page.wait_for_load_state("load")
    frames = _frames(page)
    assert frames, f"{stem}.html has no stepper"
    for f in frames:
        if f["mode"] != "scheduler":
            assert int(f["at"]) > 0, f"a {f['mode']} stepper opens at its initial state"
        if f["fail"]:
            assert int(f["fail"]) <= f["total"]
    shown = [f["shown"] for f in frames]
    assert len(set(shown)) == len(shown), "two steppers of one page show the same step"
    block = page.locator(".tdxlab-frames").first
    block.scroll_into_view_if_needed()
    block.locator(".tdxlab-frames-controls button[data-go='0']").click()
    assert block.get_attribute("data-at") == "0" and block.locator(".tdxlab-frames-at").inner_text().startswith("step 0 of")
    block.locator(".tdxlab-keys").click()  # the focus, for the keys
    page.keyboard.press("ArrowRight")
    assert block.get_attribute("data-at") == "1"
    page.keyboard.press("End")
    total = frames[0]["total"]
    assert block.get_attribute("data-at") == str(total)
    assert block.locator("input[type=range]").input_value() == str(total)
    page.keyboard.press("Home")
    page.keyboard.press("ArrowLeft")  # stays at 0
    assert block.get_attribute("data-at") == "0"
    block.locator("input[type=range]").fill(str(min(2, total)))
    assert block.get_attribute("data-at") == str(min(2, total))
    assert block.locator(".tdxlab-frame:not([hidden])").count() == 1
    assert f"step {min(2, total)} of {total}" in block.locator(".tdxlab-frame:not([hidden]) .last").inner_text()
    if frames[0]["fail"]:
        page.keyboard.press("f")
        assert block.get_attribute("data-at") == frames[0]["fail"]
    block.screenshot(path=str(SCREENSHOTS / f"static-stepper-{stem}.png"))
    assert page.attempted == [] and not page.errors, (page.attempted, page.errors)


def test_static_links_between_pages(built, offline_page):
    page = offline_page
    _fresh(page)
    page.goto((built / "html" / "index.html").as_uri())
    page.click("a[href='05-design-review.html']")
    page.wait_for_load_state("load")
    assert page.url.endswith("05-design-review.html")
    assert page.locator(".tdxlab-review-static > table").count() == 1
    assert page.attempted == []


@pytest.mark.parametrize("stem", STEMS)
def test_slides_offline(built, offline_page, stem):
    page = offline_page
    _fresh(page)
    page.goto((built / "slides" / f"{stem}.slides.html").as_uri())
    page.wait_for_selector(".reveal.ready", timeout=20_000)  # reveal.js initialized
    sections = page.locator(".reveal .slides section").count()
    n = pictures(page)
    if stem in ("05-design-review", "index"):
        page.screenshot(path=str(SCREENSHOTS / f"slides-{stem}.png"))
    assert page.attempted == [], page.attempted
    assert sections > 1, "reveal.js did not make slides"
    assert n > 0, f"{stem}.slides.html shows no SVG picture"
    assert not leaked_names(page, ".reveal .slides"), f"internal names in {stem}.slides.html"
    assert not page.errors, page.errors


SLIDE = (1280, 720)


@pytest.mark.parametrize("stem", STEMS)
def test_slides_fit_16_9(built, offline_page, stem):
    """At 1280x720 (16:9) every slide shows all it holds: its content is no taller than the slide (long prose,
    a long table or long text is cut over several slides by tdxlab.present.slide_layout; nothing scrolls).
    Every slide is measured, also those reveal.js keeps hidden (display: none) while they are far away."""
    page = offline_page
    _fresh(page)
    page.set_viewport_size({"width": SLIDE[0], "height": SLIDE[1]})
    try:
        page.goto((built / "slides" / f"{stem}.slides.html").as_uri())
        page.wait_for_selector(".reveal.ready", timeout=20_000)
        tall = page.evaluate("""(h) => {
            const all = [...document.querySelectorAll('.reveal .slides section')];
            const saved = all.map(s => [s.style.display, s.hidden]);
            all.forEach(s => { s.style.display = 'block'; s.hidden = false; });
            const r = all.map((s, i) => [i, s.scrollHeight, s.innerText.trim().slice(0, 60).replace(/\\s+/g, ' ')])
                         .filter((r, i) => !all[i].querySelector('section') && r[1] > h + 4);
            all.forEach((s, i) => { s.style.display = saved[i][0]; s.hidden = saved[i][1]; });
            return r; }""", SLIDE[1])
    finally:
        page.set_viewport_size({"width": 1400, "height": 900})
    assert not tall, f"slides taller than {SLIDE[1]} px (section index, height, text): {tall}"


@pytest.mark.parametrize("stem", STEMS)
def test_slides_read_at_16_9(built, offline_page, stem):
    """Every slide at 1280x720, as reveal.js scales it: no text under 11 px, no picture or table wider than
    its slide, words for every picture."""
    page = offline_page
    _fresh(page)
    page.set_viewport_size({"width": SLIDE[0], "height": SLIDE[1]})
    url = (built / "slides" / f"{stem}.slides.html").as_uri()
    problems = []
    try:
        page.goto(url)
        page.wait_for_selector(".reveal.ready", timeout=20_000)
        shape = page.evaluate("""() => [...document.querySelectorAll('.reveal .slides > section')]
            .map(s => Math.max(1, s.querySelectorAll(':scope > section').length))""")
        for h, n in enumerate(shape):
            for v in range(n):
                page.goto(f"{url}#/{h}/{v}")
                page.wait_for_timeout(150)
                problems += [f"slide {h}/{v}: {p}" for p in
                             legibility_problems(page, ".reveal .slides section.present:not(.stack)")]
    finally:
        page.set_viewport_size({"width": 1400, "height": 900})
    assert not problems, "\n".join(problems[:30])


def test_slides_step_a_stepper_without_changing_slide(built, offline_page):
    page = offline_page
    _fresh(page)
    page.goto((built / "slides" / "03-irq-safety.slides.html").as_uri())
    page.wait_for_selector(".reveal.ready", timeout=20_000)
    block = page.locator(".tdxlab-frames").nth(1)
    hv = page.evaluate("""e => { const leaf = e.closest('section'); const top = leaf.parentElement.closest('section') || leaf;
        const h = [...document.querySelectorAll('.reveal .slides > section')].indexOf(top);
        const v = top === leaf ? 0 : [...top.children].filter(c => c.tagName === 'SECTION').indexOf(leaf);
        return h + '/' + v; }""", block.element_handle())
    page.goto((built / "slides" / "03-irq-safety.slides.html").as_uri() + "#/" + hv)
    page.wait_for_selector(".reveal.ready", timeout=20_000)
    page.wait_for_timeout(500)
    url = page.url
    at = block.get_attribute("data-at")
    block.locator(".tdxlab-frames-at").click()
    page.keyboard.press("ArrowLeft")
    assert block.get_attribute("data-at") == str(int(at) - 1)
    assert page.url == url, "the arrow key changed the slide"
    page.screenshot(path=str(SCREENSHOTS / "slides-stepper.png"))
    assert page.attempted == [] and not page.errors


def test_slides_navigate(built, offline_page):
    page = offline_page
    _fresh(page)
    page.goto((built / "slides" / "05-design-review.slides.html").as_uri())
    page.wait_for_selector(".reveal.ready", timeout=20_000)
    first = page.locator(".reveal .slides > section.present").first.inner_text()[:60]
    page.keyboard.press("ArrowRight")
    page.wait_for_function("t => { const s = document.querySelector('.reveal .slides > section.present');"
                           " return s && !s.innerText.startsWith(t); }", arg=first, timeout=5_000)
    assert "#/1" in page.url
    assert page.attempted == []


# ------------------------------------------------------------------------------------------ Voilà
@contextlib.contextmanager
def voila_app(notebook: Path, timeout: float = 60.0):
    port, token = free_port(), secrets.token_hex(12)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"tdxlab-voila-{port}.log"
    fh = open(log, "wb")
    proc = subprocess.Popen([str(VENV_BIN / "voila"), str(notebook), "--no-browser", "--Voila.ip=127.0.0.1",
                             f"--port={port}", f"--token={token}"],
                            stdout=fh, stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True,
                            env=dict(os.environ, PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}"))
    try:
        deadline = time.monotonic() + timeout
        while True:  # the readiness probe: a static file (starts no kernel), with a timeout
            if proc.poll() is not None:
                raise RuntimeError(f"voila exited with {proc.returncode}; log: {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/voila/static/voila.js", timeout=3) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"voila did not answer within {timeout:.0f} s; log: {log}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/?token={token}"
    finally:
        stop_group(proc, fh)


def _click_cell_and_see_the_stepper_change(page, scope: str, shot: str) -> None:
    review = page.locator(f"{scope} .tdxlab-review").first
    review.locator(".tdxlab-matrix-cell").first.wait_for(timeout=60_000)
    stepper = review.locator(".tdxlab-stepper").first
    svg = stepper.locator(".tdxlab-svg").first
    svg.locator("svg").first.wait_for(state="attached", timeout=30_000)
    stepper.scroll_into_view_if_needed()
    page.wait_for_function("el => { const d = el.querySelector('.tdxlab-title'); return d && d.textContent.trim(); }",
                           arg=stepper.element_handle(), timeout=30_000)
    last = stepper.locator(".tdxlab-last").first
    title0, last0 = stepper.locator(".tdxlab-title").first.text_content().strip(), last.inner_html()
    # the default cell: the first red cell of the first row that has one (the 2024 rows come first)
    assert re.match(r"(kvm-v18-2024|v19-2024) \+kvm-lock-first / no-deadlock", title0), title0
    # a violated cell in another row: v7-2022's first red cell
    cell = review.locator(".tdxlab-matrix-cell.violated").first
    cell.scroll_into_view_if_needed()
    cell.click()
    try:
        # the title's div is re-created when its HTML widget changes: query it inside the stepper each time
        page.wait_for_function("([el, t]) => { const d = el.querySelector('.tdxlab-title');"
                               " return d && !d.textContent.trim().startsWith(t); }",
                               arg=[stepper.element_handle(), title0[:40]], timeout=20_000)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / f"{shot}-failed.png"))
        raise AssertionError(f"clicking {cell.inner_text()!r} did not load its counterexample: title was {title0[:60]!r}, now "
                             f"{stepper.locator('.tdxlab-title').first.inner_text()[:100]!r}") from None
    # the step in words changes (the module's picture may not: both runs can end in the same module state)
    page.wait_for_function("([el, s]) => el.innerHTML !== s", arg=[last.element_handle(), last0], timeout=20_000)
    assert "shortest counterexample" in stepper.locator(".tdxlab-title").first.inner_text()
    assert "chosen" in (cell.get_attribute("class") or "")
    # the counterexample plays: first, then step forward; the lanes table changes
    table = stepper.locator(".tdxlab-table").first
    stepper.locator(".tdxlab-first").first.click()
    page.wait_for_function("el => el.innerText.trim() === '0'",
                           arg=stepper.locator(".tdxlab-slider .widget-readout").first.element_handle(),
                           timeout=10_000)
    t0 = table.inner_html()
    stepper.locator(".tdxlab-step").first.click()
    page.wait_for_function("([el, s]) => el.innerHTML !== s", arg=[table.element_handle(), t0], timeout=10_000)
    review.screenshot(path=str(SCREENSHOTS / f"{shot}.png"))


@contextlib.contextmanager
def another_page(page, width: int = 1500, height: int = 1000):
    """A new page in the browser of ``page`` (playwright's sync API allows one instance per thread)."""
    ctx = page.context.browser.new_context(viewport={"width": width, "height": height})
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


def test_voila_design_review_app(offline_page):
    nb = NB_DIR / "05-design-review.ipynb"
    with voila_app(nb) as url, another_page(offline_page) as page:
        attempted = []

        def route(r):
            u = r.request.url
            if u.startswith(("http://127.0.0.1", "ws://127.0.0.1")) or u.startswith(LOCAL):
                return r.continue_()
            attempted.append(u)
            return r.abort()

        page.route("**/*", route)
        page.goto(url, timeout=60_000)
        _click_cell_and_see_the_stepper_change(page, "body", "voila-review")
        page.screenshot(path=str(SCREENSHOTS / "voila-page.png"))
    unexpected = [u for u in attempted if not any(h.match(u) for h in HARMLESS)]
    assert not unexpected, unexpected


# ------------------------------------------------------------------------------------------ JupyterLab
@pytest.fixture(scope="module")
def lab(offline_page):
    with jupyter_server(NB_DIR) as srv, another_page(offline_page, 1500, 1100) as page:
        yield srv, page


def test_lab_verdict_matrix_replays_a_counterexample(lab):
    srv, page = lab
    open_notebook(page, srv, "05-design-review.ipynb")
    run_all(page)
    _click_cell_and_see_the_stepper_change(page, NOTEBOOK, "lab-review-matrix")
    # on a 768 px screen the matrix scrolls inside its box and keeps its header row on screen
    page.set_viewport_size({"width": 1366, "height": 768})
    try:
        grid = page.locator(f"{NOTEBOOK} .tdxlab-matrix").first
        grid.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        moved = page.evaluate("""g => { if (g.scrollHeight <= g.clientHeight) return null;
            g.scrollTop = g.scrollHeight; const h = g.querySelector('.tdxlab-matrix-headcell');
            return [h.getBoundingClientRect().top - g.getBoundingClientRect().top, g.scrollTop]; }""",
                              grid.element_handle())
        assert moved is not None, "the matrix does not scroll in its own box at 1366x768"
        assert moved[1] > 0 and abs(moved[0]) <= 2, moved  # scrolled, and the header is still at the top
        grid.screenshot(path=str(SCREENSHOTS / "lab-matrix-scrolled.png"))
    finally:
        page.set_viewport_size({"width": 1500, "height": 1100})


def test_lab_exercises_grade_a_guessing_learner(lab):
    """As a learner who guesses: reveal with no prediction, predict after the reveal, guess wrong."""
    srv, page = lab
    open_notebook(page, srv, "06-exercises.ipynb")
    run_all(page)
    exs = page.locator(f"{NOTEBOOK} .tdxlab-exercise")
    first, second = exs.nth(0), exs.nth(1)
    first.scroll_into_view_if_needed()
    text = first.locator(".tdxlab-solution-text").first
    assert not text.is_visible()
    # reveal without predicting: the answer shows, marked not graded, and the prediction is locked
    first.locator(".tdxlab-solution .tdxlab-solution-button").first.click()
    text.wait_for(state="visible", timeout=10_000)
    assert "revealed, not graded" in text.inner_text()
    buttons = first.locator(".tdxlab-prediction button")
    assert all(buttons.nth(i).is_disabled() for i in range(buttons.count()))
    buttons.first.click(force=True)  # predicting after the reveal changes nothing
    assert "revealed, not graded" in text.inner_text() and "right." not in text.inner_text()
    first.screenshot(path=str(SCREENSHOTS / "lab-exercise-not-graded.png"))
    # a guess, then a change of mind, then the reveal: the last guess before the reveal is graded
    second.scroll_into_view_if_needed()
    sbuttons = second.locator(".tdxlab-prediction button")
    sbuttons.nth(0).click()
    sbuttons.nth(1).click()
    check = second.locator(".tdxlab-solution .tdxlab-solution-button").first
    assert "check my prediction" in check.inner_text()
    check.click()
    stext = second.locator(".tdxlab-solution-text").first
    stext.wait_for(state="visible", timeout=10_000)
    said = stext.inner_text()
    assert "The model's answer" in said and "not graded" not in said
    assert ("right." in said) != ("not quite" in said)
    assert check.is_disabled() and sbuttons.nth(0).is_disabled()
    second.screenshot(path=str(SCREENSHOTS / "lab-exercise.png"))
