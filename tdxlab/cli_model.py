"""The model's verbs of the `tdxlab` command: designs, mutations, properties, scenarios, check, trace, graph.

Names, flags, JSON keys and exit codes are a contract (see tdxlab.cli): exit 0 when every property holds,
1 when one is violated, 2 for bad input, 3 when the budget ran out before a verdict, 4 when tdxlab could not
finish, 130 on Ctrl-C (after printing what was found so far).
"""
from __future__ import annotations

import argparse
import json
import sys

from tdxlab.errors import BadInput
from tdxlab.inputs import printable, whole_number

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3
#: `tdxlab graph --kind lanes` draws at most this many steps, and at most MAX_LANES_CELLS table cells (steps
#: times CPU lanes): a longer trace is cut, and the command says so and exits 3. Graphviz's layout of
#: thousands of table rows on dozens of lanes takes minutes and gigabytes.
MAX_LANES_STEPS = 200
MAX_LANES_CELLS = 4000


def lanes_cap(ncpus: int) -> int:
    """How many steps `graph --kind lanes` draws on a machine of ``ncpus`` CPUs."""
    return max(20, min(MAX_LANES_STEPS, MAX_LANES_CELLS // (ncpus + 1)))


def _scenario_options(p) -> None:
    p.add_argument("design", nargs="?", help="a design by name, e.g. core-7.1 (`tdxlab designs` lists them; "
                   "`tdxlab designs --what-ifs` adds the what-ifs), or FILE.py: a Python file that defines one "
                   "design (docs/authoring.md); loading it runs it as Python, as `python FILE.py` would")
    p.add_argument("--scenario", metavar="NAME", help="a scenario of data/scenarios (see `tdxlab scenarios`) "
                                                      "or a .toml/.yaml file")
    p.add_argument("--rule", choices=("old", "relaxed"), help="the module's LP.INIT rule "
                                                              "(default: old for v7-2022, else relaxed)")
    p.add_argument("--topology", metavar="PxCxT", help="packages x cores x threads (default 2x1x2)")
    p.add_argument("--nosmt", action="store_true", help="boot with nosmt: SMT siblings parked")
    p.add_argument("--offline", metavar="CPUS", help="CPUs offline from boot, e.g. 2,3 or 2-3")
    p.add_argument("--hotplug", action="store_true", help="an administrator may offline (or online) each "
                                                          "CPU but CPU0 once, at any time")
    p.add_argument("--event", action="append", default=[], metavar="EVENT",
                   help="another environment event: online:N, offline:N, create-td, or one of the design's "
                   "own, e.g. create-vm (the 2024 KVM designs), kexec, crash (teardown-7.2), update "
                   "(update-7.2); an event the design lacks is refused with the list of its events")
    p.add_argument("--mutate", action="append", default=[], metavar="NAME", help="a mutation (repeatable; "
                                                                                 "see `tdxlab mutations`)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="a design option, e.g. pass_vmxon=false for v19-2024")
    p.add_argument("--max-states", type=_int, default=None, metavar="N",
                   help="state budget, for every phase of the search (default 500000; 1e6 is accepted)")
    p.add_argument("--max-seconds", type=_seconds, default=None, metavar="S",
                   help="time budget (default: none, so that the result does not depend on the machine's speed)")
    p.add_argument("--max-memory", type=_mib, default=None, metavar="MIB",
                   help="memory budget in MiB: stop once the process's peak size passes it (default 8192)")
    p.add_argument("--no-reduce", action="store_true", help="explore without the partial-order reductions "
                   "(persistent events, owned-CPU steps, spinning IPIs, sleep sets): same verdicts and "
                   "counterexamples, more states")


def _int(text: str) -> int:
    try:
        return whole_number(text, "the state budget", lo=1, hi=10**12)
    except BadInput as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _mib(text: str) -> int:
    try:
        return whole_number(text, "the memory budget (MiB)", lo=64, hi=10**8)
    except BadInput as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _seconds(text: str) -> float:
    try:
        v = float(text) if len(text) < 40 else float("nan")
    except ValueError:
        v = float("nan")
    if not 0 < v < 10**9:
        raise argparse.ArgumentTypeError(f"{printable(text[:40])!r} is not a positive number "
                                         f"of seconds")
    return v


def _option_value(key: str, v: str):
    """A --option value: true/false (yes/no, on/off, 1/0), or a whole number; anything else stays text and
    the design says whether it accepts it."""
    low = v.strip().lower()
    if low in ("true", "yes", "1", "on"):
        return True
    if low in ("false", "no", "0", "off"):
        return False
    if not low:
        raise BadInput(f"--option {key}= has no value: write {key}=true or {key}=false")
    return v


def scenario_from_args(args):
    from tdxlab.scenario import Scenario, get_scenario

    if args.scenario:
        given = [f for f in ("design", "rule", "topology", "offline") if getattr(args, f)]
        given += [f for f in ("nosmt", "hotplug") if getattr(args, f)]
        given += [f for f in ("event", "mutate", "option") if getattr(args, f)]
        if given:
            raise BadInput(f"--scenario already fixes the design and platform; drop {', '.join(given)}")
        return get_scenario(args.scenario)
    if not args.design:
        raise BadInput("name a design (see `tdxlab designs`) or a --scenario")
    opts = {}
    for o in args.option:
        k, eq, v = o.partition("=")
        if not eq or not k:
            raise BadInput(f"--option {o!r} is not KEY=VALUE")
        opts[k] = _option_value(k, v)
    return Scenario(args.design, args.rule, args.topology or "2x1x2", nosmt=args.nosmt,
                    offline=args.offline or (), hotplug=args.hotplug, events=args.event,
                    mutations=args.mutate, options=opts)


def _budget(args) -> dict:
    kw = {}
    if args.max_states is not None:
        if args.max_states < 1:
            raise BadInput(f"--max-states {args.max_states}: the state budget must be at least 1")
        kw["max_states"] = args.max_states
    if args.max_seconds is not None:
        kw["max_seconds"] = args.max_seconds
    if args.max_memory is not None:
        kw["max_memory_mib"] = args.max_memory
    return kw


class _Progress:
    """A progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, budget: int):
        self.budget = budget
        self.on = sys.stderr.isatty()

    def __call__(self, states, transitions, frontier, seconds):
        if not self.on:
            return
        frac = min(states / self.budget, 1.0)
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r[{bar:<30}] {states} states, {transitions} transitions, {seconds:.1f} s".ljust(80))
        sys.stderr.flush()

    def phase(self, text: str) -> None:
        """What runs after the exploration (the search for shortest counterexamples), on the same line."""
        if self.on:
            sys.stderr.write("\r" + text[:79].ljust(79))
            sys.stderr.flush()

    def done(self):
        if self.on:
            sys.stderr.write("\r" + " " * 79 + "\r")


def run_check(args, keep_graph=False):
    from tdxlab.check.explore import DEFAULT_MAX_STATES, explore

    sc = scenario_from_args(args)
    kw = _budget(args)
    prog = _Progress(kw.get("max_states", DEFAULT_MAX_STATES))
    try:
        res = explore(sc, progress=prog, phase=prog.phase, keep_graph=keep_graph, reduce=not args.no_reduce,
                      **kw)
    finally:
        prog.done()
    return sc, res


def cmd_check(args) -> int:
    sc, res = run_check(args)
    if args.json:
        print(res.to_json())
        return res.exit_code
    print(sc.title())
    extra = res.seconds - res.search_seconds
    print(f"{res.states} states, {res.transitions} transitions, {res.seconds:.2f} s"
          + (f" ({extra:.2f} s of it finding the shortest counterexamples)" if extra >= 0.01 else "")
          + ("" if res.complete else f", INCOMPLETE: {res.stopped}"))
    if res.interrupted:
        print("interrupted (Ctrl-C): the verdicts below are what was found so far")
    w = max(len(n) for n in res.verdicts)
    for row in res.summary_rows():
        steps = ""
        if row["verdict"] == "VIOLATED":
            steps = (f" (shortest counterexample: {row['steps']} steps)" if row["shortest"] else
                     f" (counterexample: {row['steps']} steps; the search for a shorter one ran out of budget)")
        print(f"  {row['property']:<{w}}  {row['verdict']}{steps}")
        if row["verdict"] == "VIOLATED":
            print(f"  {'':<{w}}    {row['why']}")
    from tdxlab.check.properties import not_applicable_line
    na = not_applicable_line(sc.design, res.not_applicable)
    if na:
        print(na)
    if res.violated:
        print(f"see one: tdxlab trace ... --property {res.violated[0]}")
    from tdxlab.check.coverage import unreached_line
    for line in unreached_line(res):
        print(line)
    return res.exit_code


def require_applicable(args) -> None:
    """``--property P`` of a chapter the design is not in: one line (NotApplicable, exit 2), before any
    search."""
    from tdxlab.check.properties import applies, check_property, why_not
    from tdxlab.errors import NotApplicable

    check_property(args.property)
    sc = scenario_from_args(args)
    if not applies(args.property, sc.design):
        raise NotApplicable(why_not(args.property, sc.design))


def cmd_trace(args) -> int:
    require_applicable(args)
    sc, res = run_check(args)
    v = res.verdicts[args.property]
    if v.holds is not False:
        msg = "holds on every interleaving" if v.holds else f"has no verdict ({res.stopped})"
        print(f"{args.property} {msg}: no counterexample", file=sys.stderr)
        return res.exit_code if res.interrupted else (EXIT_OK if v.holds else EXIT_INCOMPLETE)
    if not v.shortest:
        print(f"note: {res.budget_note()}", file=sys.stderr)
    steps = res.counterexample(args.property)
    rows = [{"step": i + 1, "cpu": info.cpu, "context": info.context, "function": info.function,
             "action": info.action, "result": info.result} for i, (info, _) in enumerate(steps[1:])]
    if args.format == "lkml":
        from tdxlab.lkml import format_lkml
        sys.stdout.write(format_lkml(sc, args.property, v.detail, steps))
    elif args.format == "json":
        print(json.dumps({"property": args.property, "detail": v.detail, "counterexample": rows}, indent=2))
    else:
        from tdxlab.views.trace import COLUMNS, trace_rows

        table, _ = trace_rows(sc, steps)
        if args.format == "csv":
            import csv

            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow(COLUMNS)
            w.writerows([r[c] for c in COLUMNS] for r in table)
        else:
            print(f"{args.property} VIOLATED: {v.detail}")
            print(text_table(table, COLUMNS))
    if res.interrupted:
        return res.exit_code
    return EXIT_VIOLATED


def text_table(rows: list[dict], columns: list[str], max_width: int = 70) -> str:
    """A plain-text table, left-aligned, each cell cut to ``max_width`` characters (no pandas needed)."""
    def cell(v) -> str:
        t = " ".join(str(v).split())
        return t if len(t) <= max_width else t[:max_width - 3] + "..."

    body = [[cell(r[c]) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths)).rstrip() for b in body]
    return "\n".join(lines)


def cmd_graph(args) -> int:
    from pathlib import Path

    from tdxlab import views
    from tdxlab.check.properties import check_property

    out = Path(args.out)
    if out.suffix not in (".svg", ".png", ".dot"):
        raise BadInput(f"--out {args.out!r}: choose a .svg, .png or .dot file")
    if args.property:
        check_property(args.property)
        if args.kind != "module":
            require_applicable(args)
    kind = args.kind
    partial = []  # why the picture is not the whole story (exit 3)
    code = EXIT_OK
    if kind == "module" and not args.property:
        sc = scenario_from_args(args)
        _, last = sc.run_first()[-1]
        g = views.module_graph(last, sc.topology)
    else:
        sc, res = run_check(args, keep_graph=(kind == "states"))
        if res.interrupted:
            return res.exit_code
        if not res.complete:
            partial.append(f"the search stopped early ({res.stopped}): the picture shows what was explored")
        prop = args.property or (res.violated[0] if res.violated else None)
        if kind == "states":
            g = views.state_graph(res, highlight=prop)
        elif kind == "locks":
            g = views.lock_graph(res)
        else:
            steps = res.counterexample(prop) if prop and res.verdicts[prop].holds is False else sc.run_first()
            if kind == "module":
                g = views.module_graph(steps[-1][1], sc.topology)
            else:
                cap = lanes_cap(sc.topology.ncpus)
                if len(steps) - 1 > cap:
                    partial.append(f"the trace has {len(steps) - 1:,} steps: the lanes show the first {cap}")
                    steps = steps[:cap + 1]
                g = views.lanes(sc, steps)
    views.save_view(g, out)
    print(f"wrote {out}")
    for why in partial:
        print(f"tdxlab: incomplete: {why}", file=sys.stderr)
        code = EXIT_INCOMPLETE
    return code


#: A listing is wrapped to this many columns, or to a narrower terminal's width (never narrower than
#: LISTING_MIN_COLUMNS): the same text whether printed to a file, a pipe or a wide terminal.
LISTING_COLUMNS = 100
LISTING_MIN_COLUMNS = 60


def listing_columns() -> int:
    """The width a listing wraps to: LISTING_COLUMNS, less on a narrower terminal."""
    if not sys.stdout.isatty():
        return LISTING_COLUMNS
    import shutil

    return max(LISTING_MIN_COLUMNS, min(LISTING_COLUMNS, shutil.get_terminal_size((LISTING_COLUMNS, 24)).columns))


def listing(rows: list[tuple[str, str]], columns: int = LISTING_COLUMNS) -> str:
    """Names in a column as wide as the longest, each description beside its name, wrapped to ``columns``
    with its further lines under its first."""
    import textwrap

    w = max(len(name) for name, _ in rows)
    out = []
    for name, text in rows:
        lines = textwrap.wrap(" ".join(text.split()), max(20, columns - w - 2), break_long_words=False,
                              break_on_hyphens=False) or [""]
        out.append(f"{name:<{w}}  {lines[0]}".rstrip())
        out += [f"{'':<{w}}  {line}" for line in lines[1:]]
    return "\n".join(out)


def cmd_designs(args) -> int:
    from tdxlab.designs import DESIGNS

    cols = listing_columns()
    print(listing([(name, f"{d.era}: {d.summary}") for name, d in DESIGNS.items()], cols))
    if getattr(args, "what_ifs", False):
        from tdxlab.designs.whatifs import WHATIF_DESIGNS

        print("\nwhat-ifs reviewers asked (not kernels that shipped; docs/whatifs.md):")
        print(listing([(name, d.summary) for name, d in WHATIF_DESIGNS.items()], cols))
    return EXIT_OK


def cmd_mutations(args) -> int:
    from tdxlab.designs import DESIGNS
    from tdxlab.mutations import MUTATIONS

    rows = []
    for name, text in MUTATIONS.items():
        where = ", ".join(d for d, cls in DESIGNS.items() if name in cls.mutation_notes)
        rows.append((name, f"{text} [applies to: {where}]"))
    print(listing(rows, listing_columns()))
    return EXIT_OK


def cmd_properties(args) -> int:
    from tdxlab.check.properties import PROPERTIES

    # each one's [chapter]: the chapter whose designs it applies to
    print(listing([(name, f"[{p.chapter or 'every design'}] {p.summary} ({p.fact})")
                   for name, p in PROPERTIES.items()], listing_columns()))
    return EXIT_OK


def cmd_scenarios(args) -> int:
    from tdxlab.scenario import list_scenarios

    bad: dict[str, str] = {}
    rows = []
    for name, sc in list_scenarios(bad).items():
        story = " ".join((sc.story or "").split())
        first = story.split(". ")[0].rstrip(".") if story else sc.title()
        rows.append((printable(name), printable(first)))
    if rows:
        print(listing(rows, listing_columns()))
    for fname, why in bad.items():
        print(f"tdxlab: error: skipped {printable(fname)}: {why}", file=sys.stderr)
    return EXIT_BAD_INPUT if bad else EXIT_OK


def add_verbs(sub) -> None:
    for name, fn, text in (("designs", cmd_designs, "list the designs, 2022 to 2026"),
                           ("mutations", cmd_mutations, "list the mutations (what-ifs)"),
                           ("properties", cmd_properties, "list the properties the checker decides"),
                           ("scenarios", cmd_scenarios, "list the scenarios in data/scenarios")):
        p = sub.add_parser(name, help=text)
        p.set_defaults(func=fn)
        if name == "designs":
            p.add_argument("--what-ifs", action="store_true",
                           help="also list the what-if designs (issue 15's review questions, docs/whatifs.md)")
    p = sub.add_parser("check", help="check every property on every interleaving")
    _scenario_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("trace", help="print the shortest counterexample of a property")
    _scenario_options(p)
    p.add_argument("--property", required=True, metavar="NAME", help="see `tdxlab properties`")
    p.add_argument("--format", choices=("table", "json", "csv", "lkml"), default="table",
                   help="lkml: plain text for a mailing-list reply, 80 columns, one column per CPU")
    p.set_defaults(func=cmd_trace)
    p = sub.add_parser("graph", help="draw a state graph, the module's states, the lock graph or lanes")
    _scenario_options(p)
    p.add_argument("--kind", choices=("states", "module", "locks", "lanes"), default="states")
    p.add_argument("--property", metavar="NAME", help="whose counterexample to highlight (default: the "
                                                      "first violated)")
    p.add_argument("--out", required=True, metavar="FILE", help=".svg, .png or .dot")
    p.set_defaults(func=cmd_graph)
    from tdxlab.compare import add_verb as add_diff
    add_diff(sub)
