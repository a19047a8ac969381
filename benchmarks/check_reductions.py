"""Check that the checker's reductions keep every verdict and every counterexample length.

    python benchmarks/check_reductions.py          # manifest, scaling series, mutations (a few minutes)
    python benchmarks/check_reductions.py --quick  # the manifest only

For each configuration it explores twice, without reductions and with them, and prints the two state
counts and any difference: a verdict that differs, or a counterexample of another length. The last line
says how many configurations differ; the exit code is 1 if any does. Too slow for the test suite, which
checks the manifest and three larger configurations (tests/test_checker.py); run this after changing a
reduction or the model. v19-2024 2x2x2 with hotplug is left out: without reductions it does not finish.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tdxlab.check.explore import explore  # noqa: E402
from tdxlab.errors import NotApplicable  # noqa: E402
from tdxlab.scenario import Scenario, list_scenarios  # noqa: E402

TOPOLOGIES = ["1x1x2", "1x2x1", "2x1x1", "1x2x2", "2x1x2", "2x2x1", "2x2x2"]
DESIGNS = ["core-7.1", "kvm-6.16", "v19-2024", "v7-2022"]
MUTATIONS = ["no-hotplug-lock", "irqs-on", "second-user", "no-vmxon", "no-kvm-lock", "kvm-lock-first"]
BUDGET = dict(max_states=2_000_000, max_seconds=600)


def configurations(quick: bool):
    yield from list_scenarios().items()
    if quick:
        return
    for d in DESIGNS:
        for topo in TOPOLOGIES:
            for hotplug in (False, True):
                if not (topo == "2x2x2" and hotplug and d == "v19-2024"):
                    yield f"{d} {topo}{' hotplug' if hotplug else ''}", Scenario(d, topology=topo, hotplug=hotplug)
        for mut in MUTATIONS:
            try:
                yield f"{d} 2x1x2 hotplug {mut}", Scenario(d, topology="2x1x2", hotplug=True, mutations=[mut])
            except NotApplicable:
                pass


def differences(a, b) -> list[str]:
    out = []
    for p, va in a.verdicts.items():
        vb = b.verdicts[p]
        if va.holds != vb.holds:
            out.append(f"{p}: {va.holds} without, {vb.holds} with")
        elif va.path is not None and p != "lock-order" and len(va.path) != len(vb.path):
            out.append(f"{p}: counterexample of {len(va.path)} steps without, {len(vb.path)} with")
    if not (a.complete and b.complete):
        out.append("incomplete")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the manifest scenarios only")
    args = ap.parse_args()
    print("| configuration | states without | states with | differences |\n|---|---:|---:|---|")
    bad = 0
    for name, sc in configurations(args.quick):
        a, b = explore(sc, reduce=False, **BUDGET), explore(sc, reduce=True, **BUDGET)
        diff = differences(a, b)
        bad += bool(diff)
        print(f"| {name} | {a.states} | {b.states} | {'; '.join(diff) or 'none'} |", flush=True)
    print(f"\n{bad} configuration(s) differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
