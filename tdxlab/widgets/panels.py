"""The stepper's panels as plain HTML and SVG text: no widgets here, so they are easy to test and cache.

* :func:`lanes_html`: one column per CPU (context, IRQs, VMX, LP.INIT, the kernel's flag, locks held, what
  each context waits for), cells coloured by value;
* :func:`locks_html`: each lock with its kind, holder, readers and waiters;
* :func:`last_step_html`: the last step in words: context, kernel function, SEAMCALL and its decoded
  status (tdxlab.decode), the sources it stands on (links, tdxlab.sources), and any property it broke;
* :func:`blocked_html`: why each blocked context cannot run;
* :func:`module_svg`: views.module_graph of the state, rendered through tdxlab.render (cached by DOT source);
* :func:`inline_svg`, :func:`stack_svgs`: SVG text ready for an HTML widget / one picture of several.
"""
from __future__ import annotations

import html
import re

from tdxlab import sources
from tdxlab.platform import IN_ONLINE_MASK

# colours shared with tdxlab.views (_dot.KIND_FILL) so the stepper and the pictures agree. The palette is
# read by colour-blind viewers too: good and bad differ in lightness as well as hue (a bluish green tint and a
# dark vermillion, after Okabe and Ito), and every verdict also carries a symbol and a word.
KIND_FILL = {"task": "#dbe9f6", "hotplug": "#e3f1dc", "hardirq": "#fde3c8", "admin": "#eeeeee"}
GOOD, BAD, OFF, WARN, LOCK = "#cdebdf", "#f9cdb8", "#eeeeee", "#fff0b3", "#e6e0f5"
INK = "#1a1a1a"  # text on every coloured cell, in the light and the dark theme alike
VERDICT = {  # verdict -> (background, text colour, symbol)
    "holds": ("#cdebdf", "#00452f", "\u2713"),
    "violated": ("#a83400", "#ffffff", "\u2717"),
    "unknown": ("#fff0b3", "#4d3900", "?"),
}

_S = ":is(.tdxlab-stepper, .tdxlab-check, .tdxlab-frames)"
CSS = ("""
<style>
S {font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 13px;
  background: #ffffff; color: INK; border-radius: 4px; padding: 4px 6px; box-sizing: border-box; max-width: 100%;}
S .tdxlab-title {font-size: 15px; font-weight: 600; margin: 2px 0 0 0;}
S .tdxlab-story {color: #3a3a3a; margin: 2px 0 4px 0; max-width: 70em; font-weight: normal;
  font-size: 13px; line-height: 1.35;}
S code {font-size: 12px; color: INK; background: #f2f2f2;}
S table.tdxlab-lanes, S table.tdxlab-locks {border-collapse: collapse; font-size: 12px; margin: 4px 0; color: INK;}
S table.tdxlab-lanes th, S table.tdxlab-lanes td, S table.tdxlab-locks th, S table.tdxlab-locks td {
  border: 1px solid #b8b8b8; padding: 3px 6px; text-align: left; vertical-align: top; color: INK;}
S table.tdxlab-lanes th, S table.tdxlab-locks th {background: #e4e4e4;}
S table.tdxlab-lanes th.row {background: #f3f3f3; font-weight: 600; white-space: nowrap;}
S .ctx {display: inline-block; border-radius: 3px; padding: 0 4px; margin: 1px 0; border: 1px solid #999;}
S .ctx.run {border: 2px solid #00704f;}
S .ctx.wait {border: 2px dashed #a83400;}
S .lockchip, S .chip {display: inline-block; background: #e6e0f5; border: 1px solid #7a63b5;
  border-radius: 3px; padding: 0 4px; margin: 1px 2px 1px 0;}
S .chip.yes {background: GOOD; border-color: #00704f;}
S .chip.no {background: #eeeeee; border-color: #999999;}
S .waits {color: #8a2b00;}
S .last {border-left: 4px solid #4a7fb5; background: #f5f8fc; padding: 4px 8px; margin: 4px 0;}
S .last.err {border-left-color: #a83400; background: #fdf0ea;}
S .broke {color: #8a2b00; font-weight: 600;}
S .muted {color: #555555;}
S .tdxlab-message {color: #8a2b00; font-weight: 600;}
S .tdxlab-svg {flex: 0 0 auto; max-width: 100%;}
S .tdxlab-svg svg {max-width: 100%; height: auto; display: block;}
S .history {font-size: 12px; color: #333; max-height: 9em; overflow-y: auto;}
S .history .cur {background: #fff3b0; font-weight: 600;}
S .tdxlab-keys {font-size: 12px; color: #555555;}
S .tdxlab-code {display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start;}
S .tdxlab-code-ctx {border: 1px solid #c8c8c8; border-radius: 3px; padding: 3px 6px; max-width: 100%;}
S table.tdxlab-listing {border-collapse: collapse; font-size: 12px; margin-top: 2px;}
S table.tdxlab-listing td {padding: 0 4px; vertical-align: top; color: INK; text-align: left;}
S table.tdxlab-listing td.pc {color: #555555; text-align: right;}
S table.tdxlab-listing tr.local td {color: #555555;}
S table.tdxlab-listing tr.label td {font-style: italic; color: #555555;}
S table.tdxlab-listing tr.cur td {background: #fff0b3; font-weight: 600; color: INK;}
S:focus, S:focus-within {outline: 2px solid #4a7fb5; outline-offset: 1px;}
S .widget-label, S .widget-readout, S .widget-button, S .jupyter-button, S select, S .widget-html,
S .widget-html-content, S .widget-inline-hbox, S summary, S .lm-AccordionPanel, S .jupyter-widget-Collapse-header,
S .jupyter-widget-Collapse-contents {color: INK; background-color: transparent;}
S select, S .widget-dropdown select {background-color: #ffffff; border: 1px solid #999999;}
S .jupyter-button {background: #eeeeee;}
S .jupyter-button.mod-primary {background: #1f5fa8; color: #ffffff;}
S .jupyter-button.mod-warning {background: #b35900; color: #ffffff;}
S .jupyter-button.mod-info {background: #1f6f8b; color: #ffffff;}
S .jupyter-button.mod-danger {background: #a83400; color: #ffffff;}
</style>
""").replace("S ", _S + " ").replace("S:", _S + ":").replace("S {", _S + " {").replace("INK", INK).replace(
    "GOOD", GOOD)


# The model's instruction classes that have no text of their own are shown as the kernel writes them.
ASSERT_TEXT = {
    "AssertIrqsDisabled": "lockdep_assert_irqs_disabled()",
    "AssertCpusHeld": "lockdep_assert_cpus_held()",
    "WarnVmxeClear": "WARN_ON_ONCE(!(cr4_read_shadow() & X86_CR4_VMXE))",
}
_ASSERT_RE = re.compile(r"\b(" + "|".join(ASSERT_TEXT) + r")\b")


def readable(text: str) -> str:
    """``text`` with the model's internal spellings replaced by the kernel's (class names of
    instructions such as ``WarnVmxeClear``)."""
    return _ASSERT_RE.sub(lambda m: ASSERT_TEXT[m.group(1)], str(text))


def esc(x: object) -> str:
    return html.escape(str(x), quote=True)


def _cell(text: str, bg: str | None = None, title: str = "") -> str:
    style = f' style="background:{bg}"' if bg else ""
    t = f' title="{esc(title)}"' if title else ""
    return f"<td{style}{t}>{text}</td>"


HP_COLOUR = {"online": GOOD, "offline": OFF}


def lanes_html(desc: dict) -> str:
    """The per-CPU lanes of ``Scenario.describe(state)`` as an HTML table (one column per CPU)."""
    cpus = desc["cpus"]
    ctx_by_name = {c["name"]: c for c in desc["contexts"]}
    by_cpu: dict[int, list[dict]] = {}
    for c in desc["contexts"]:
        by_cpu.setdefault(c["cpu"], []).append(c)
    head = "".join(f"<th>CPU{c['cpu']}<br><span class='muted'>pkg {c['package']} core {c['core']} "
                   f"thr {c['thread']}</span></th>" for c in cpus)
    rows = []

    def row(name: str, cells: list[str], title: str = "") -> None:
        t = f' title="{esc(title)}"' if title else ""
        rows.append(f"<tr><th class='row'{t}>{esc(name)}</th>{''.join(cells)}</tr>")

    row("hotplug", [_cell(esc(c["state"]), HP_COLOUR.get(c["state"], WARN)) for c in cpus],
        "the CPU's hotplug state (k-cpu-hotplug-rst)")
    ctx_cells = []
    for c in cpus:
        parts = []
        for ctx in by_cpu.get(c["cpu"], []):
            running = ctx["waits"] is None
            cls = "ctx run" if running else "ctx wait"
            bg = KIND_FILL.get(ctx["kind"], "#ffffff")
            stack = " › ".join(ctx["stack"])
            parts.append(f"<span class='{cls}' style='background:{bg}' title='{esc(ctx['kind'])}: {esc(stack)}'>"
                         f"{esc(ctx['name'])}</span> <span class='muted'>{esc(ctx['function'])}()</span>"
                         f"<br><span class='muted'>next: {esc(readable(ctx['next']))}</span>")
        ctx_cells.append(_cell("<br>".join(parts) or "<span class='muted'>idle</span>"))
    row("contexts", ctx_cells, "contexts on this CPU: solid green border = may run now, dashed red = blocked")
    row("IRQs", [_cell(c["irqs"], GOOD if c["irqs"] == "on" else WARN) for c in cpus],
        "local interrupts (k-tdx-c-618, k-smp-c)")
    row("VMX", [_cell("on" if c["vmx"] == 1 else ("off" if c["vmx"] <= 0 else f"on (refs {c['vmx']})"),
                      GOOD if c["vmx"] > 0 else OFF) for c in cpus],
        "post-VMXON? A SEAMCALL without it raises #UD (k-tdxcall-s)")
    row("LP.INIT", [_cell("done" if c["lp_init"] else "no", GOOD if c["lp_init"] else OFF) for c in cpus],
        "has the module seen TDH.SYS.LP.INIT on this LP (m-sys-lp-init, lore-tglx-2022-11-22b)")
    if any(c["tdx_lp_initialized"] is not None for c in cpus):  # v7 had no such flag: no row
        row("tdx_lp_initialized", [_cell("set" if c["tdx_lp_initialized"] else "clear",
                                         GOOD if c["tdx_lp_initialized"] else OFF) for c in cpus],
            "the kernel's per-CPU flag (k-tdx-c-618); it can disagree with the module's LP.INIT")
    lock_cells, wait_cells = [], []
    for c in cpus:
        held, waits = [], []
        for ctx in by_cpu.get(c["cpu"], []):
            for lk in ctx["locks"]:
                held.append(f"<span class='lockchip' title='held by {esc(ctx['name'])}'>{esc(lk)}</span>")
            if ctx["waits"]:
                waits.append(f"<b>{esc(ctx['name'])}</b> {esc(ctx['waits'])}")
        lock_cells.append(_cell(" ".join(held) or "<span class='muted'>none</span>", LOCK if held else None))
        wait_cells.append(_cell("<br>".join(f"<span class='waits'>{w}</span>" for w in waits)
                                or "<span class='muted'>-</span>", BAD if waits else None))
    row("locks held", lock_cells, "locks held by the contexts of this CPU (k-kvm-locking-rst)")
    row("waits for", wait_cells, "why a context cannot take a step now")
    del ctx_by_name
    return f"<table class='tdxlab-lanes'><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def locks_html(desc: dict) -> str:
    """Each lock: kind, holder (or readers), waiters. Locks nobody touches are shown grey."""
    rows = []
    for lk in desc["locks"]:
        holder = lk["holder"] or ""
        readers = ", ".join(lk["readers"])
        who = holder + (" (write)" if holder and lk["kind"] == "percpu-rwsem" else "")
        if readers:
            who = (who + "; " if who else "") + f"readers: {readers}"
        waiting = list(lk["waiters"])
        if lk["waiting_writer"] and lk["waiting_writer"] not in waiting:
            waiting.append(f"{lk['waiting_writer']} (writer)")
        busy = bool(who or waiting)
        style = "" if busy else " class='muted'"
        rows.append(f"<tr{style}><td><code>{esc(lk['lock'])}</code></td><td>{esc(lk['kind'])}</td>"
                    + _cell(esc(who) or "free", LOCK if who else None)
                    + _cell(esc(", ".join(waiting)) or "-", BAD if waiting else None) + "</tr>")
    return ("<table class='tdxlab-locks'><tr><th>lock</th><th>kind</th><th>held by</th><th>waiting</th></tr>"
            + "".join(rows) + "</table>")


def _decoded(result: str) -> str:
    try:
        from tdxlab import facts
        from tdxlab.decode import decode

        d = decode(facts.status_value(result))
    except Exception:  # noqa: BLE001 - a name the data does not know: show the name only
        return esc(result)
    bits = [f"<code>{esc(d.hex)}</code>", esc(d.class_bits())]
    if d.meaning:
        bits.append(esc(d.meaning))
    if d.origin == "kernel-sw":
        bits.append("made by the kernel's SEAMCALL code: the TDX module never saw the call")
    bits.append(f"kernel returns {esc(d.kernel_returns())}")
    return f"<b>{esc(d.name or result)}</b>: " + "; ".join(bits)


def last_step_html(info, index: int, total: int, mode: str = "replay") -> str:
    """The last step in words; ``info`` is a StepInfo or None (the initial state). ``mode``: the stepper's
    ("scheduler": the steps are the learner's own choices; "static": a page with no kernel)."""
    if info is None:
        if mode == "scheduler" and total == 0:
            hint = "Pick what runs next with the buttons below."
        elif mode == "scheduler":
            hint = f"You made {total} choices: step &#9654; (or the right arrow) walks through them."
        elif mode == "static":
            hint = f"Move the slider (or press the right arrow) to see the {total} steps."
        else:
            hint = "Press step &#9654; (or the right arrow, or Play) to run the next step."
        return f"<div class='last'><b>step 0 of {total}</b>: the initial state. {hint}</div>"
    err = bool(info.result) and info.result != "TDX_SUCCESS"
    where = f"CPU{info.cpu}" if info.cpu is not None else "the administrator"
    parts = [f"<b>step {index} of {total}</b>: <code>{esc(info.context)}</code> on {esc(where)} in "
             f"<code>{esc(info.function)}()</code>: {esc(readable(info.action))}"]
    if info.leaf:
        parts.append(f"SEAMCALL <b>{esc(info.leaf)}</b> returned {_decoded(info.result or '')}"
                     + (f"; the kernel sees <code>{esc(info.errno)}</code>" if info.errno else ""))
    if info.fact:
        parts.append(f"<span class='muted'>source {sources.cite(info.fact, 'notebooks')}</span>")
    for kind, detail in info.events:
        parts.append(f"<span class='broke'>&#9888; {esc(kind)}: {esc(detail)}</span>")
    cls = "last err" if err or info.events else "last"
    return f"<div class='{cls}'>" + "<br>".join(parts) + "</div>"


def blocked_html(desc: dict) -> str:
    """Why each blocked context cannot run (empty when every context may run)."""
    items = [f"<li><b>{esc(c['name'])}</b> (CPU{c['cpu']}, {esc(c['function'])}()) {esc(readable(c['waits']))}</li>"
             for c in desc["contexts"] if c["waits"]]
    if not items:
        return ""
    return "<div class='waits'>Blocked:<ul style='margin:2px 0'>" + "".join(items) + "</ul></div>"


def history_html(steps, index: int) -> str:
    """The steps so far, the current one highlighted (newest last)."""
    out = []
    for i, (info, _) in enumerate(steps):
        if info is None:
            text = "initial state"
        else:
            res = f" → {info.result}" if info.result else ""
            text = f"{info.context}: {info.function}(): {readable(info.action)[:90]}{res}"
        cls = " class='cur'" if i == index else ""
        out.append(f"<div{cls}>{i}. {esc(text)}</div>")
    return "<div class='history'>" + "".join(out) + "</div>"


def module_graph_view(state, scenario, compact: bool = True):
    from tdxlab.views import module_graph

    return module_graph(state, scenario, compact=compact)


def module_svg(state, scenario, compact: bool = True) -> str:
    """The module's state graph with the current state lit, as SVG text (cached by DOT source). ``compact``
    (the stepper's): no caption and no per-LP table, which :func:`progress_html` shows beside it."""
    from tdxlab.render import render_svg

    return render_svg(module_graph_view(state, scenario, compact))


def progress_html(state, scenario) -> str:
    """The module per package and per LP (KEY.CONFIG, LP.INIT, the CPU's hotplug state) as an HTML table,
    with the system state and the LP count above it."""
    from tdxlab.views.modulegraph import progress

    pr = progress(state, scenario)
    m = state.module
    rows = []
    for p, keyed, cpus in pr["packages"]:
        lps = " ".join(f"<span class='chip {'yes' if done else 'no'}'>{'&#10003;' if done else '&middot;'} "
                       f"CPU{c} <span class='muted'>({esc(hp)})</span></span>" for c, done, hp in cpus)
        rows.append(f"<tr><td>pkg {p}</td>{_cell(('&#10003; configured' if keyed else '&middot; no'), GOOD if keyed else OFF)}"
                    f"<td>{lps}</td></tr>")
    return (f"<div class='tdxlab-progress-head'><b>module: {esc(m.sys_name)}</b>, LP.INIT done on "
            f"{m.num_init_lps} of {m.num_lps or '?'} LPs</div>"
            "<table class='tdxlab-locks'><tr><th>package</th><th>KEY.CONFIG</th><th>LPs: LP.INIT</th></tr>"
            + "".join(rows) + f"</table><div class='muted'>{esc(pr['summary'])}</div>")


_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)


def inline_svg(svg: str, alt: str = "") -> str:
    """SVG text without its XML prolog and DOCTYPE, with an accessible label, for an HTML widget."""
    body = _PROLOG.sub("", svg, count=1)
    if alt:
        body = body.replace("<svg", f'<svg role="img" aria-label="{esc(alt)}"', 1)
    return body


_SIZE = re.compile(r'<svg[^>]*?width="([\d.]+)pt"[^>]*?height="([\d.]+)pt"', re.S)


def _size(svg: str) -> tuple[float, float]:
    m = _SIZE.search(svg)
    if not m:
        return 400.0, 300.0
    return float(m.group(1)), float(m.group(2))


def stack_svgs(svgs: list[str], title: str = "") -> str:
    """Several SVG pictures stacked vertically into one standalone SVG document."""
    y = 0.0
    width = 0.0
    parts = []
    for s in svgs:
        w, h = _size(s)
        body = inline_svg(s)
        body = re.sub(r'width="[\d.]+pt"', f'width="{w:.0f}"', body, count=1)
        body = re.sub(r'height="[\d.]+pt"', f'height="{h:.0f}"', body, count=1)
        body = re.sub(r'<svg\b', f'<svg x="0" y="{y:.0f}"', body, count=1)
        parts.append(body)
        y += h + 8
        width = max(width, w)
    t = f"<title>{esc(title)}</title>" if title else ""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="{width:.0f}pt" height="{y:.0f}pt" viewBox="0 0 {width:.0f} {y:.0f}">{t}'
            + "".join(parts) + "</svg>")


def cpu_online(state, cpu: int) -> bool:
    return state.cpus[cpu].hp in IN_ONLINE_MASK


def _function_ref(name: str, scenario) -> str:
    """A function's name, linked to the real kernel function at the commit of the design's era when there is
    one (tdxlab.sources.function_link); the model's own helpers stay plain."""
    try:
        from tdxlab.sources import function_link

        href = function_link(name, getattr(scenario, "design_name", ""))
    except Exception:  # noqa: BLE001 - no link is better than no listing
        href = None
    code = f"<code>{esc(name)}()</code>"
    if not href:
        return code
    return (f"<a href='{esc(href)}' target='_blank' rel='noopener' title='the kernel source of this era'>"
            f"{code}</a>")


def code_html(state, scenario) -> str:
    """Where each context is, as code, in the manner of a debugger: per CPU, each context's call stack and
    its current function as the model writes it (:func:`tdxlab.widgets.source.function_listing`), the line
    it runs next marked, its name linked to the kernel source of the design's era; a blocked context says
    what it waits for."""
    from tdxlab.widgets.source import function_listing

    listings: dict[str, list] = {}
    desc = {c["name"]: c for c in scenario.describe(state)["contexts"]}
    boxes = []
    for t in sorted(state.threads, key=lambda t: (t.cpu if t.cpu is not None else 1 << 16, t.name)):
        if not t.stack:
            continue
        frame = t.stack[-1]
        if frame.fn not in listings:
            try:
                listings[frame.fn] = function_listing(scenario, frame.fn).rows
            except Exception:  # noqa: BLE001 - a function the listing cannot show: its name only
                listings[frame.fn] = []
        rows = []
        for pc, labels, text, local, _fact in listings[frame.fn]:
            for lab in labels:
                rows.append(f"<tr class='label'><td></td><td></td><td>{esc(lab)}:</td></tr>")
            cur = pc == frame.pc
            rows.append(f"<tr class='{'cur' if cur else ''}{' local' if local else ''}'>"
                        f"<td>{'&#9654;' if cur else ''}</td><td class='pc'>{pc}</td><td><code>{esc(text)}</code></td></tr>")
        c = desc.get(t.name, {})
        where = f"CPU{t.cpu}" if t.cpu is not None else "admin"
        callers = " &rsaquo; ".join(f"{esc(f.fn)}()" for f in t.stack[:-1])
        waits = (f"<div class='waits'>&#9632; blocked: {esc(readable(c['waits']))}</div>" if c.get("waits") else "")
        boxes.append(f"<div class='tdxlab-code-ctx'><div><b>{esc(where)} &middot; {esc(t.name)}</b> "
                     f"<span class='muted'>{callers}{' &rsaquo; ' if callers else ''}</span>"
                     f"{_function_ref(frame.fn, scenario)}</div>{waits}"
                     f"<table class='tdxlab-listing'>{''.join(rows)}</table></div>")
    if not boxes:
        return "<div class='muted'>No context is running kernel code now.</div>"
    return "<div class='tdxlab-code'>" + "".join(boxes) + "</div>"
