"""Benchmark the checker: distinct states per second, states, transitions, seconds and peak memory.

    python benchmarks/bench_checker.py            # every manifest scenario, then the scaling series
    python benchmarks/bench_checker.py --quick    # the manifest only
    python benchmarks/bench_checker.py --no-reduce

Each configuration runs in a fresh process, so its peak memory (ru_maxrss) is its own. Prints a table;
record it, with the machine and the date, in benchmarks/RESULTS.md. Never a timed test: numbers go here.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERIES_TOPOLOGIES = ["1x1x2", "1x2x1", "2x1x1", "1x2x2", "2x1x2", "2x2x1", "2x2x2"]
SERIES_DESIGNS = ["core-7.1", "kvm-6.16", "v19-2024", "v7-2022"]
BUDGET = dict(max_states=1_000_000, max_seconds=60.0)


def one(spec: dict) -> dict:
    from tdxlab.check.explore import explore
    from tdxlab.scenario import Scenario, get_scenario

    sc = get_scenario(spec["scenario"]) if "scenario" in spec else Scenario(**spec["args"])
    r = explore(sc, reduce=spec.get("reduce", True), **BUDGET)
    return {"states": r.states, "transitions": r.transitions, "seconds": r.search_seconds,
            "shortest_seconds": r.seconds - r.search_seconds, "complete": r.complete,
            "reduction": r.reduction, "violated": len(r.violated),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run(spec: dict) -> dict:
    p = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(p.stderr)
    return json.loads(p.stdout)


def row(name: str, r: dict) -> str:
    rate = r["states"] / r["seconds"] if r["seconds"] else float("inf")
    return (f"| {name:<46} | {r['states']:>9} | {r['transitions']:>10} | {r['seconds']:>7.2f} | {rate:>9.0f} | "
            f"{r['shortest_seconds']:>8.2f} | {r['peak_mib']:>7.0f} | {'yes' if r['complete'] else 'NO'} | "
            f"{_sleep(r['reduction'])} |")


def _sleep(reduction: str) -> str:
    """The sleep-set column: kept to the end, given up after the trial (tdxlab.check.explore), or none."""
    if "sleep sets (first" in reduction:
        return "trial only"
    return "yes" if "sleep sets" in reduction else "no"


HEADER = ("| configuration                                  |    states | transitions | seconds | states/s |"
          " + shortest (s) | peak MiB | complete | sleep sets |\n|---|---:|---:|---:|---:|---:|---:|---|---|")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="the manifest scenarios only")
    ap.add_argument("--no-reduce", action="store_true", help="without the reductions (persistent events, owned-CPU steps, spinning IPIs, sleep sets)")
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(json.loads(args.one))))
        return 0
    reduce = not args.no_reduce
    from tdxlab.scenario import scenario_files

    print(f"tdxlab checker benchmark — {time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} CPUs; reduction: "
          f"{'persistent events, owned-CPU steps, spinning IPIs, sleep sets' if reduce else 'none'} (plus "
          f"statement merging, always: see tdxlab/check/reduce.py and tdxlab/check/sleep.py). 'seconds' is "
          f"the exploration; '+ shortest' the search for exact shortest counterexamples that follows when a "
          f"property is violated; 'sleep sets': kept to the end, or given up after the trial of "
          f"tdxlab/check/explore.py (SLEEP_TRIAL states) because they did not pay")
    print("\nEvery manifest scenario:\n")
    print(HEADER)
    total = total_all = 0.0
    for name in scenario_files():
        r = run({"scenario": name, "reduce": reduce})
        total += r["seconds"]
        total_all += r["seconds"] + r["shortest_seconds"]
        print(row(name, r), flush=True)
    print(f"\nWhole manifest: {total:.2f} s of exploration, {total_all:.2f} s with the shortest-path searches")
    if args.quick:
        return 0
    print("\nScaling series (budget: 1,000,000 states or 60 s each):\n")
    print(HEADER)
    for design in SERIES_DESIGNS:
        for topo in SERIES_TOPOLOGIES:
            for hotplug in (False, True):
                r = run({"args": {"design": design, "topology": topo, "hotplug": hotplug}, "reduce": reduce})
                print(row(f"{design} {topo}{' hotplug' if hotplug else ''}", r), flush=True)
                if not r["complete"]:
                    break
    return 0


if __name__ == "__main__":
    sys.exit(main())
