"""Count the machine instructions the checker spends per explored state: a measure of its speed that does not
depend on how busy the machine is.

    python benchmarks/bench_instructions.py                       # every shipped design, 2x2x2 --hotplug
    python benchmarks/bench_instructions.py --states 5000 kvm-6.16 core-7.1
    python benchmarks/bench_instructions.py --checkout /path/to/an/older/tdxlab   # the same, for another checkout

Each design's search runs twice under valgrind's callgrind (``PYTHONHASHSEED=0``, so the count is the same
run after run): once bounded to one state (start-up: imports, compiling the designs) and once to
``--states`` states, each after a warm-up search on one CPU (what is loaded on first use is then loaded);
the difference, divided by the states, is the cost of one state (its scan, its
transitions, its property checks). The shortest-counterexample search after the exploration is left out.
``states/s`` in ``bench_checker.py`` is wall time on whatever else the machine runs; this is the number to
compare two versions of the checker on a shared machine. Needs valgrind (``apt install valgrind``).
Record the table in benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys
import tdxlab.check.explore as E
from tdxlab.scenario import Scenario
E.shortest_paths = lambda *a, **k: set()  # the exploration only
E.explore(Scenario(sys.argv[1], topology="1x1x1"))  # warm up: what is loaded on first use (status codes, ...)
sc = Scenario(sys.argv[1], topology=sys.argv[2], hotplug=True)
r = E.explore(sc, max_states=int(sys.argv[3]))
print(r.states, r.transitions)
"""


def instructions(checkout: Path, design: str, topology: str, states: int) -> tuple[int, int, int]:
    """(instructions, states, transitions) of one bounded search under callgrind."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        env = dict(os.environ, PYTHONHASHSEED="0", PYTHONPATH=str(checkout))
        p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c",
                            CHILD, design, topology, str(states)],
                           capture_output=True, text=True, env=env, cwd=tmp)
        if p.returncode != 0:
            raise SystemExit(f"{design}: the search failed under valgrind: "
                             f"{(p.stderr.strip().splitlines() or ['?'])[-1]}")
        m = re.search(r"I\s+refs:\s+([\d,]+)", p.stderr)
        n, t = (int(v) for v in p.stdout.split())
        return int(m.group(1).replace(",", "")), n, t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("designs", nargs="*", help="design names (default: every shipped design)")
    ap.add_argument("--states", type=int, default=10_000, help="states to explore (default 10,000)")
    ap.add_argument("--topology", default="2x2x2")
    ap.add_argument("--checkout", type=Path, default=ROOT, help="the tdxlab checkout to measure")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("bench_instructions: valgrind is not installed (apt install valgrind)", file=sys.stderr)
        return 2
    if args.states < 2:
        print("bench_instructions: --states must be at least 2", file=sys.stderr)
        return 2
    if not (args.checkout / "tdxlab" / "__init__.py").is_file():
        print(f"bench_instructions: {args.checkout} is not a tdxlab checkout", file=sys.stderr)
        return 2
    designs = args.designs
    if not designs:
        sys.path.insert(0, str(args.checkout))
        from tdxlab.designs import SHIPPED
        designs = list(SHIPPED)
    rev = subprocess.run(["git", "-C", str(args.checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip() or "?"
    print(f"instructions per explored state, {args.topology} --hotplug, first {args.states:,} states, "
          f"checkout {rev}")
    print("| design | states | transitions | start-up (M instr.) | per state (k instr.) | per transition (k) |")
    print("|---|---:|---:|---:|---:|---:|")
    for d in designs:
        base, _, _ = instructions(args.checkout, d, args.topology, 1)
        total, n, t = instructions(args.checkout, d, args.topology, args.states)
        work = total - base
        print(f"| {d} | {n:,} | {t:,} | {base / 1e6:,.0f} | {work / max(n - 1, 1) / 1e3:,.1f} | "
              f"{work / max(t, 1) / 1e3:,.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
