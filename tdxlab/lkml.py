"""A counterexample as plain text for a mailing-list reply (``tdxlab trace ... --format lkml``).

At most 80 columns; one column per CPU that takes part, in the manner of lockdep's "CPU0 / CPU1"
scenario reports; each step with its kernel function and what it did; the failing SEAMCALL status
decoded; the design and topology in a header line::

    tdxlab: core-7.1, relaxed rule, 1x1x2: online-cpus-ready violated in 26 steps

           CPU0                                CPU1
           ----                                ----
      1    init: cpuhp_setup_state:virt/tdx:online()
           cpus_read_lock(): CPU hotplug is held off
      ...
"""
from __future__ import annotations

import textwrap

WIDTH = 80
GUTTER = 5  # the step number
GAP = 2  # between columns


def lkml(result, prop: str) -> str:
    """The shortest counterexample of ``prop`` in a check result, in lkml form (``print()`` it)."""
    from tdxlab.errors import BadInput

    v = result.verdicts.get(prop)
    if v is None and prop in getattr(result, "not_applicable", ()):
        return result.counterexample(prop)  # raises NotApplicable: the property is of another chapter
    if v is None or v.holds is not False:
        raise BadInput(f"{prop!r} is not violated in this result: no counterexample to print")
    return format_lkml(result.scenario, prop, v.detail, result.counterexample(prop))


def format_lkml(sc, prop: str, detail: str, steps) -> str:
    """The counterexample ``steps`` (as ``Scenario.replay`` gives them) of ``prop`` in lkml form."""
    from tdxlab import facts
    from tdxlab.decode import decode

    infos = [info for info, _ in steps[1:]]
    cols = sorted({info.cpu for info in infos if info.cpu is not None})
    out = _wrap(f"tdxlab: {sc.title()}: {prop} violated in {len(infos)} steps", WIDTH, "", "    ")
    out.append("")
    out += _wrap(detail, WIDTH, "  ", "  ")
    out.append("")
    avail = WIDTH - GUTTER
    colw = (avail - GAP * (len(cols) - 1)) // len(cols) if cols else avail
    one = colw < 24  # too many CPUs side by side: one column, each step says its CPU
    if one:
        colw = avail
    else:
        out.append(" " * GUTTER + (" " * GAP).join(f"CPU{c}".ljust(colw) for c in cols).rstrip())
        out.append(" " * GUTTER + (" " * GAP).join(("-" * len(f"CPU{c}")).ljust(colw) for c in cols).rstrip())
    failing = None
    last_head: dict = {}
    for n, info in enumerate(infos, 1):
        if info.cpu is None:  # an administrator's request: across the page
            text = _wrap(f"-- {info.action} --", avail, "", "   ")
            i, width = 0, avail
        else:
            head = f"{info.context}: {info.function}()"
            if one:
                head = f"CPU{info.cpu} {head}"
            text = [] if last_head.get(info.cpu) == head else _wrap(head, colw, "", "  ")
            last_head[info.cpu] = head
            text += _wrap(info.action or "", colw, "  ", "  ")
            i, width = (0 if one else cols.index(info.cpu)), colw
        if info.leaf:
            if info.leaf not in (info.action or ""):
                text += _wrap(f"{info.leaf} -> {info.result} ({info.errno})", width, "  ", "  ")
            if info.result not in (None, "TDX_SUCCESS"):
                failing = info
        for k, line in enumerate(text):
            num = f"{n:>3}  " if k == 0 else " " * GUTTER
            out.append((num + " " * ((colw + GAP) * i) + line).rstrip())
    if failing is not None:
        d = decode(facts.status_value(failing.result))
        out.append("")
        out += _wrap(f"{failing.result} = {d.hex}: {d.meaning or d.class_bits()}; the kernel returns "
                     f"{d.errno}.", WIDTH, "", "")
    out.append("")
    out.append(f"(found by tdxlab {_version()})".replace(" )", ")"))
    return "\n".join(line[:WIDTH] for line in out) + "\n"


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """Wrapped at spaces; a word longer than the width is cut (no line is ever wider)."""
    lines = textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                          break_long_words=False, break_on_hyphens=False)
    out = []
    for line in lines:
        while len(line) > width:
            out.append(line[:width])
            line = rest + line[width:]
        out.append(line)
    return out


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("tdxlab")
    except Exception:  # noqa: BLE001 - not installed: no version to say
        return ""
