"""Two designs side by side on the same platform: both verdicts per property, which differ, and which
kernel functions differ between them (``tdxlab diff A B``, :func:`tdxlab.diff`).

>>> r = diff("kvm-6.16", "core-7.1", topology="1x1x2")
>>> r.same
True
>>> "tdx_online_cpu" in r.changed
True

A property that applies to one side only (another chapter's, :func:`tdxlab.check.properties.applies`) is
shown as "n/a" on the other side, and never counts as a difference.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from tdxlab.errors import BadInput

SCENARIO_KEYS = ("rule", "topology", "nosmt", "offline", "hotplug", "events")


@dataclass
class DiffResult:
    a: object  # CheckResult of design A
    b: object
    only_a: list = field(default_factory=list)  # kernel functions only A has
    only_b: list = field(default_factory=list)
    changed: list = field(default_factory=list)  # in both, written differently

    @property
    def names(self) -> tuple[str, str]:
        """Each side's design, with its mutations (``kvm-6.16 +irqs-on``)."""
        return tuple(r.scenario.design_name + "".join(f" +{m}" for m in r.scenario.mutations)
                     for r in (self.a, self.b))

    @property
    def properties(self) -> list[str]:
        """The properties that apply to either side, in PROPERTIES order."""
        from tdxlab.check.properties import PROPERTIES
        return [p for p in PROPERTIES if p in self.a.verdicts or p in self.b.verdicts]

    @property
    def differing(self) -> list[str]:
        """The properties that apply to both sides and whose verdicts differ."""
        return [p for p in self.a.verdicts if p in self.b.verdicts
                and self.a.verdicts[p].holds != self.b.verdicts[p].holds]

    @property
    def same(self) -> bool:
        return not self.differing

    @property
    def exit_code(self) -> int:
        if not (self.a.complete and self.b.complete) and any(
                v.holds is None for r in (self.a, self.b) for v in r.verdicts.values()):
            return 3
        return 0 if self.same else 1

    def to_json_obj(self) -> dict:
        na, nb = self.names
        return {"a": self.a.scenario.design_name, "b": self.b.scenario.design_name,
                "mutations": {"a": list(self.a.scenario.mutations), "b": list(self.b.scenario.mutations)},
                "topology": str(self.a.scenario.topology), "rule": self.a.scenario.rule,
                # a side the property does not apply to (another chapter's) has "n/a"
                "properties": {p: {"a": _holds(self.a, p), "b": _holds(self.b, p),
                                   "differs": p in self.differing} for p in self.properties},
                "functions": {"only_a": self.only_a, "only_b": self.only_b, "changed": self.changed},
                "states": {"a": self.a.states, "b": self.b.states},
                "complete": self.a.complete and self.b.complete}

    def to_json(self) -> str:
        return json.dumps(self.to_json_obj(), indent=2)

    def __str__(self) -> str:
        na, nb = self.names
        sa = self.a.scenario
        platform = ", ".join(b for b in sa.title().split(", ")[1:] if not b.startswith("+"))
        out = [f"{na} vs {nb} ({platform})"]
        w = max(len(p) for p in self.properties)
        wa = max(len(na), 8)
        out.append(f"  {'property':<{w}}  {na:<{wa}}  {nb}")

        for p in self.properties:
            va, vb = _word(self.a, p), _word(self.b, p)
            mark = "   <- differs" if p in self.differing else ""
            out.append(f"  {p:<{w}}  {va:<{wa}}  {vb}{mark}")
        if any(p not in r.verdicts for r in (self.a, self.b) for p in self.properties):
            out.append("  (n/a: the property is of a chapter that design is not in, so it is not checked there)")
        funcs = [f"{f} (changed)" for f in self.changed] + [f"{f} (only in {na})" for f in self.only_a] + \
                [f"{f} (only in {nb})" for f in self.only_b]
        out.append("kernel functions that differ: " + (", ".join(funcs) if funcs else "none"))
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        import html
        na, nb = (html.escape(n) for n in self.names)

        rows = "".join(
            f"<tr style='{'background:#fde2e2;font-weight:600' if p in self.differing else ''}'>"
            f"<td style='text-align:left'>{html.escape(p)}</td><td style='text-align:left'>{_word(self.a, p)}</td>"
            f"<td style='text-align:left'>{_word(self.b, p)}</td>"
            f"<td style='text-align:left'>{'differs' if p in self.differing else ''}</td></tr>"
            for p in self.properties)
        funcs = [f"<code>{html.escape(f)}()</code> changed" for f in self.changed] + \
                [f"<code>{html.escape(f)}()</code> only in {na}" for f in self.only_a] + \
                [f"<code>{html.escape(f)}()</code> only in {nb}" for f in self.only_b]
        th = "<th style='text-align:left'>"
        return (f"<div class='tdxlab-diff'><table><tr>{th}property</th>{th}{na}</th>{th}{nb}</th><th></th></tr>"
                f"{rows}</table><p>Kernel functions that differ: {', '.join(funcs) or 'none'}.</p></div>")


def _holds(res, p):
    """A side's verdict of ``p`` for JSON: true, false, null (no verdict) or "n/a" (does not apply)."""
    return res.verdicts[p].holds if p in res.verdicts else "n/a"


def _word(res, p) -> str:
    if p not in res.verdicts:
        return "n/a"
    v = res.verdicts[p]
    return "holds" if v.holds else ("VIOLATED" if v.holds is False else "no verdict")


def function_texts(design_cls, mutations=(), options=None) -> dict[str, str]:
    """A design's kernel functions as source text, by name (its mutations' patches applied)."""
    d = design_cls(frozenset(mutations), options or {}, None)
    return {n: s.text() for n, s in d.kernel_sources().items()}


def diff(a, b, *, mutations_a=(), mutations_b=(), max_states: int | None = None, **scenario) -> DiffResult:
    """Check designs ``a`` and ``b`` (names, design files or Design classes) on the same platform
    (``topology``, ``rule``, ``nosmt``, ``offline``, ``hotplug``, ``events``) and compare them."""
    from tdxlab.check.explore import DEFAULT_MAX_STATES, explore
    from tdxlab.designs import get_design, register
    from tdxlab.scenario import Scenario

    bad = set(scenario) - set(SCENARIO_KEYS)
    if bad:
        raise BadInput(f"diff() takes the scenario settings {', '.join(SCENARIO_KEYS)}, not {', '.join(sorted(bad))}")
    classes = []
    for d in (a, b):
        cls = get_design(d) if isinstance(d, str) else register(d)
        classes.append(cls)
    budget = {"max_states": max_states or DEFAULT_MAX_STATES}
    ra = explore(Scenario(classes[0].name, mutations=mutations_a, **scenario), **budget)
    rb = explore(Scenario(classes[1].name, mutations=mutations_b, **scenario), **budget)
    ta, tb = function_texts(classes[0], mutations_a), function_texts(classes[1], mutations_b)
    return DiffResult(ra, rb, only_a=sorted(set(ta) - set(tb)), only_b=sorted(set(tb) - set(ta)),
                      changed=sorted(n for n in set(ta) & set(tb) if ta[n] != tb[n]))


def add_verb(sub) -> None:
    """``tdxlab diff A B [scenario flags] [--json]`` (called by tdxlab.cli_model.add_verbs)."""
    p = sub.add_parser("diff", help="check two designs on the same platform and compare their verdicts",
                       description="Check designs A and B (names, or FILE.py files that define one design: "
                                   "loading one runs it as Python, as `python FILE.py` would) on the same "
                                   "platform; print both verdicts per property (n/a on a side whose design is "
                                   "not in the property's chapter), mark those that differ, and "
                                   "list the kernel functions that differ. Exit 0 when every verdict is the "
                                   "same, 1 when one differs, 2 bad input, 3 budget.")
    p.add_argument("a", metavar="A", help="a design name or FILE.py")
    p.add_argument("b", metavar="B", help="a design name or FILE.py")
    p.add_argument("--rule", choices=("old", "relaxed"), help="the module's LP.INIT rule (default: each "
                                                              "design's own)")
    p.add_argument("--topology", metavar="PxCxT", default="2x1x2", help="packages x cores x threads (default 2x1x2)")
    p.add_argument("--nosmt", action="store_true", help="boot with nosmt: SMT siblings parked")
    p.add_argument("--offline", metavar="CPUS", default="", help="CPUs offline from boot, e.g. 2,3 or 2-3")
    p.add_argument("--hotplug", action="store_true", help="an administrator may offline (or online) each CPU "
                                                          "but CPU0 once, at any time")
    p.add_argument("--event", action="append", default=[], metavar="EVENT", help="another environment event "
                                                                               "(online:N, offline:N, create-td, ...)")
    p.add_argument("--mutate-a", action="append", default=[], metavar="NAME", help="a mutation of A")
    p.add_argument("--mutate-b", action="append", default=[], metavar="NAME", help="a mutation of B")
    p.add_argument("--max-states", type=int, default=None, metavar="N", help="state budget of each check")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_diff)


def cmd_diff(args) -> int:
    kw = dict(topology=args.topology, nosmt=args.nosmt, offline=args.offline, hotplug=args.hotplug,
              events=args.event)
    if args.rule:
        kw["rule"] = args.rule
    if args.max_states is not None and args.max_states < 1:
        raise BadInput(f"--max-states {args.max_states}: give a positive number of states")
    r = diff(args.a, args.b, mutations_a=args.mutate_a, mutations_b=args.mutate_b, max_states=args.max_states,
             **kw)
    print(r.to_json() if args.json else str(r))
    return r.exit_code
