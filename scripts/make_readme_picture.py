#!/usr/bin/env python3
"""Draw the README's picture: the TDX module's system states during bring-up, with the SEAMCALL leaves
that move it (or that it accepts) on the edges. Leaf numbers and states come from data/leaves.toml.

    .venv/bin/python scripts/make_readme_picture.py        # writes docs/img/module-states.svg
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tdxlab import facts, render  # noqa: E402


def module_state_dot() -> str:
    n = facts.LEAF_NUMBERS
    states = facts.MODULE_STATES

    def leaf(name: str, note: str = "") -> str:
        text = f"{name} ({n[name]})"
        return f"{text}\\n{note}" if note else text

    lines = [
        "digraph module_states {",
        '  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.5, ranksep=0.9,',
        '         label="TDX module system states during bring-up (TDX 1.5 module, old LP.INIT rule)",',
        "         labelloc=t];",
        '  node  [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#3b5b92",',
        '         fontname="Helvetica", fontsize=11];',
        '  edge  [fontname="Helvetica", fontsize=9, color="#3b5b92"];',
    ]
    for s in states:
        fill = ', fillcolor="#dff0d8", color="#3c763d"' if s == "SYS_READY" else ""
        lines.append(f"  {s} [label=\"{s}\"{fill}];")
    edges = [
        ("SYSINIT_PENDING", "SYSINIT_DONE", leaf("TDH.SYS.INIT", "once, any CPU")),
        ("SYSINIT_DONE", "SYSINIT_DONE", leaf("TDH.SYS.LP.INIT", "on every LP")),
        ("SYSINIT_DONE", "SYSCONFIG_DONE", leaf("TDH.SYS.CONFIG", "once, after all LPs")),
        ("SYSCONFIG_DONE", "SYSCONFIG_DONE", leaf("TDH.SYS.KEY.CONFIG", "per package")),
        ("SYSCONFIG_DONE", "SYS_READY", leaf("TDH.SYS.KEY.CONFIG", "last package")),
        ("SYS_READY", "SYS_READY", leaf("TDH.SYS.TDMR.INIT", "per TDMR, repeated")),
    ]
    for a, b, label in edges:
        lines.append(f'  {a} -> {b} [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    out = ROOT / "docs" / "img" / "module-states.svg"
    out.parent.mkdir(parents=True, exist_ok=True)
    render.save(module_state_dot(), out)
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
