#!/usr/bin/env python3
"""How fast the stepper feels: one update (a new state to new SVG and tables) over every step of the
scenarios the notebooks use, with empty caches (the first visit of each step), and the time for all
notebooks to run top to bottom on fresh kernels.

    .venv/bin/python benchmarks/bench_stepper.py [--no-notebooks]

Targets: median update under 100 ms; all notebooks under 90 s.
"""
from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SCENARIOS = [  # (name, mode) as the notebooks use them
    ("v7-2022-boot", "replay"), ("seamcall-before-vmxon", "replay"), ("no-module-loaded", "replay"),
    ("nosmt-old-rule", "replay"), ("nosmt-relaxed-rule", "replay"), ("old-rule-offline-at-boot", "replay"),
    ("v7-2022-online-later", "replay"), ("core-7.1-hotplug", "replay"), ("irq-race-second-user", "replay"),
]


def bench_updates() -> list[tuple[str, int, float, float]]:
    from tdxlab import render
    from tdxlab.widgets import Stepper

    rows = []
    for name, mode in SCENARIOS:
        render.clear_cache()
        s = Stepper(name, mode=mode)
        s._cache.clear()
        render.clear_cache()
        times, drawn = [], []
        for i in range(len(s.steps)):
            misses = render.cache_info()["misses"]
            t0 = time.perf_counter()
            s._render(i)  # what a slider move or a step does
            dt = time.perf_counter() - t0
            times.append(dt)
            if render.cache_info()["misses"] > misses:  # a new picture: dot ran
                drawn.append(dt)
        rows.append((name, len(times), statistics.median(times) * 1000, max(times) * 1000, len(drawn),
                     statistics.median(drawn) * 1000 if drawn else 0.0))
    return rows


def bench_notebooks() -> tuple[float, list[tuple[str, float]]]:
    import nbformat
    from nbclient import NotebookClient

    per = []
    t_all = time.perf_counter()
    for p in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(p, as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(p.parent)}}).execute()
        per.append((p.name, time.perf_counter() - t0))
    return time.perf_counter() - t_all, per


def main() -> int:
    import os

    rows = bench_updates()
    all_med = statistics.median([r[2] for r in rows])
    print(f"machine: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"date: {time.strftime('%Y-%m-%d')}")
    print()
    drawn_all = statistics.median([r[5] for r in rows if r[4]])
    print("| scenario | steps | median update (ms) | worst update (ms) | steps with a new picture | "
          "median of those (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, n, med, worst, nd, dmed in rows:
        print(f"| {name} | {n} | {med:.1f} | {worst:.1f} | {nd} | {dmed:.1f} |")
    print(f"| **all (median of medians)** | {sum(r[1] for r in rows)} | {all_med:.1f} | "
          f"{max(r[3] for r in rows):.1f} | {sum(r[4] for r in rows)} | {drawn_all:.1f} |")
    if "--no-notebooks" not in sys.argv:
        total, per = bench_notebooks()
        print()
        print("| notebook | seconds (fresh kernel, top to bottom) |")
        print("|---|---:|")
        for name, sec in per:
            print(f"| {name} | {sec:.1f} |")
        print(f"| **all notebooks** | {total:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
