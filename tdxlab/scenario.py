"""Scenarios: a topology, a design, a rule, mutations and the environment events allowed; the stepping API.

A scenario gives an initial state; a state lists its enabled steps (``enabled``), each a stable key (the
context that runs, ``ipi:CPU:sender`` or ``event:NAME``) with a short human label; taking a step
(``step``) returns a new, immutable, hashable state. A schedule is a list of step keys that replays one
interleaving, as in OSTEP's simulators.

Scenario files live in ``data/scenarios/`` (TOML, or YAML read with ``yaml.safe_load``)::

    name = "nosmt-old-rule"
    story = "..."
    design = "kvm-6.16"
    rule = "old"
    topology = "1x2x2"
    nosmt = true
    offline = [ ]            # CPUs offline from boot
    hotplug = false          # every CPU but CPU0 may be offlined (or onlined) once, at any time
    events = ["create-td"]   # more environment events: online:N, offline:N, create-td, create-vm (v19);
                             # EVENT@load only while the bring-up path runs, EVENT@init while
                             # tdx_enable() runs, EVENT@after once bring-up returned
    offline_keeps_lp_init = true   # §10.2: does a soft-offlined LP keep its LP.INIT in the module?
    parked_siblings_counted = true # §10.9: do parked nosmt siblings count in the module's num_of_lps?
    mutations = []
    options = {}             # design options (v19-2024: pass_vmxon)
    schedule = ["modprobe", "..."]   # optional: one interleaving
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Iterable, NamedTuple

from tdxlab.designs import DESIGNS, get_design
from tdxlab.errors import BadInput, ScenarioError, TdxlabError, UnknownName
from tdxlab.kernel.lang import KFunc
from tdxlab.kernel.machine import Machine
from tdxlab.kernel.state import LOCKS, CpuState, Frame, State, StepInfo, Thread
from tdxlab.module import ModuleState, check_rule
from tdxlab.mutations import check_mutation
from tdxlab.platform import ONLINE, Platform, Topology, parse_cpu_list

DEFAULT_RULE = {"v7-2022": "old"}
FIELDS = {"name", "story", "design", "rule", "topology", "nosmt", "offline", "hotplug", "events",
          "mutations", "options", "schedule", "module_loaded", "offline_keeps_lp_init",
          "parked_siblings_counted", "max_states"}


class Step(NamedTuple):
    key: str
    label: str


class Scenario:
    """A checkable, steppable configuration. All arguments are validated with one clear error each."""

    def __init__(self, design: str, rule: str | None = None, topology="2x1x2", *, nosmt: bool = False,
                 offline: "str | Iterable[int]" = (), hotplug: bool = False, events: Iterable[str] = (),
                 mutations: Iterable[str] = (), options: dict | None = None, name: str = "", story: str = "",
                 schedule: Iterable[str] | None = None, module_loaded: bool = True,
                 offline_keeps_lp_init: bool = True, parked_siblings_counted: bool = True):
        cls = get_design(design)
        self.design_name = design
        self.rule = check_rule(rule if rule is not None else DEFAULT_RULE.get(design, "relaxed"))
        self.topology = Topology.parse(topology)
        if not isinstance(nosmt, bool) or not isinstance(hotplug, bool):
            raise BadInput("nosmt and hotplug must be true or false")
        self.nosmt, self.hotplug = nosmt, hotplug
        self.offline = parse_cpu_list(offline, self.topology)
        self.platform = Platform(self.topology, nosmt, self.offline)
        muts = [mutations] if isinstance(mutations, str) else list(mutations)
        self.mutations = tuple(sorted({check_mutation(m) for m in muts}))
        self.options = dict(options or {})
        self.design = cls(frozenset(self.mutations), self.options, self.platform)
        self.name, self.story = name, story
        self.module_loaded = bool(module_loaded)
        if not isinstance(offline_keeps_lp_init, bool):
            raise BadInput("offline_keeps_lp_init must be true or false")
        self.offline_keeps_lp_init = offline_keeps_lp_init
        if not isinstance(parked_siblings_counted, bool):
            raise BadInput("parked_siblings_counted must be true or false")
        self.parked_siblings_counted = parked_siblings_counted
        self.events = self._events(events)
        self.schedule = tuple(schedule) if schedule is not None else None
        if self.schedule is not None and not all(isinstance(s, str) for s in self.schedule):
            raise ScenarioError(f"scenario {name or design}: schedule entries must be step keys (strings)")
        funcs: dict[str, KFunc] = {}
        for f in self.design.all_functions():
            funcs[f.name] = f
        self.machine = Machine(topology=self.topology, platform=self.platform, rule=self.rule, funcs=funcs,
                               design=self.design, module_loaded=self.module_loaded,
                               offline_keeps_lp_init=offline_keeps_lp_init,
                               parked_siblings_counted=parked_siblings_counted)

    def _events(self, events) -> tuple[str, ...]:
        topo = self.topology
        out = set()
        if self.hotplug:
            for c in topo.cpus():
                if c == 0:
                    continue
                st = self.platform.boot_state(c)
                out.add(f"offline:{c}" if st == ONLINE else f"online:{c}")
        if isinstance(events, str):
            events = [events]
        allowed_extra = {"create-td", "smt-on", *self.design.extra_events}
        for ev in events:
            if not isinstance(ev, str):
                raise BadInput(f"event {ev!r} is not a string such as 'online:3' or 'create-td'")
            if ev.startswith(("online:", "offline:")):
                kind, _, cpu = ev.partition(":")
                cpu, at, when = cpu.partition("@")
                if at and when not in ("load", "init", "after"):
                    raise BadInput(f"event {ev!r}: qualifiers are @load (while bring-up runs), @init (while "
                                   f"tdx_enable() runs) and @after (once bring-up returned)")
                c = topo.check_cpu(cpu, f"event {ev!r}: CPU")
                if kind == "offline" and c == 0:
                    raise BadInput(f"event {ev!r}: CPU 0 is the boot CPU; the model does not offline it")
                out.add(f"{kind}:{c}" + (f"@{when}" if at else ""))
            elif ev.partition("@")[0] in allowed_extra and ev.partition("@")[2] in ("", "load", "init", "after"):
                out.add(ev)
            else:
                raise UnknownName(f"unknown event {ev!r} for design {self.design_name}: use online:N, "
                                  f"offline:N or {', '.join(sorted(allowed_extra))}")
        return tuple(sorted(out))

    # --- identity ---
    def args(self) -> dict:
        return {"design": self.design_name, "rule": self.rule, "topology": str(self.topology),
                "nosmt": self.nosmt, "offline": list(self.offline), "hotplug": self.hotplug,
                "events": list(self.events), "mutations": list(self.mutations), "options": dict(self.options),
                "offline_keeps_lp_init": self.offline_keeps_lp_init,
                "parked_siblings_counted": self.parked_siblings_counted}

    def title(self) -> str:
        bits = [self.design_name, f"{self.rule} rule", str(self.topology)]
        if self.nosmt:
            bits.append("nosmt")
        if self.offline:
            bits.append("offline " + ",".join(map(str, self.offline)))
        if self.hotplug:
            bits.append("hotplug")
        bits += [f"+{m}" for m in self.mutations]
        return (self.name + ": " if self.name else "") + ", ".join(bits)

    def __repr__(self):
        return f"<Scenario {self.title()}>"

    # --- the stepping API ---
    def initial(self) -> State:
        d = self.design
        cpus = []
        for c in self.topology.cpus():
            hp = self.platform.boot_state(c)
            cpus.append(CpuState(hp, d.initial_vmx(c, hp), False))
        threads = tuple(sorted(Thread(n, cpu, kind, (Frame(fn, 0, None),))
                               for n, cpu, kind, fn in d.roots(self.topology)))
        return State("boot" if d.boot_time else "user", tuple(cpus), ModuleState(), d.initial_kern(),
                     tuple((None, (), None) for _ in LOCKS), threads, (), self.events)

    def enabled(self, state: State) -> list[Step]:
        return [Step(k, lab) for k, lab in self.machine.enabled(state)]

    def step(self, state: State, key: str) -> State:
        return self.machine.step(state, key)[1]

    def step_info(self, state: State, key: str) -> tuple[StepInfo, State]:
        return self.machine.step(state, key)

    def successors(self, state: State) -> list[tuple[StepInfo, State]]:
        return self.machine.successors(state)

    def describe(self, state: State, last: StepInfo | None = None) -> dict:
        return self.machine.describe(state, last)

    def replay(self, schedule: Iterable[str] | None = None) -> list[tuple[StepInfo | None, State]]:
        """Replay a schedule (default: the scenario's own); a step that is not enabled is an error."""
        sched = self.schedule if schedule is None else tuple(schedule)
        if sched is None:
            raise ScenarioError(f"scenario {self.name or self.design_name} has no schedule to replay")
        s = self.initial()
        out: list[tuple[StepInfo | None, State]] = [(None, s)]
        for i, key in enumerate(sched):
            try:
                info, s = self.machine.step(s, key)
            except TdxlabError as e:
                raise type(e)(f"schedule step {i + 1}: {e}") from None
            out.append((info, s))
        return out

    def run_first(self, max_steps: int = 10_000) -> list[tuple[StepInfo | None, State]]:
        """Take the first enabled step until none is left: one deterministic interleaving."""
        s = self.initial()
        out: list[tuple[StepInfo | None, State]] = [(None, s)]
        for _ in range(max_steps):
            en = self.machine.enabled(s)
            if not en:
                break
            info, s = self.machine.step(s, en[0][0])
            out.append((info, s))
        return out


# --- scenario files ---------------------------------------------------------------------------------------
def scenario_dir() -> Path:
    from tdxlab.facts import data_dir

    return data_dir() / "scenarios"


def parse_scenario(data: dict, where: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a table of fields, got {type(data).__name__}")
    unknown = set(data) - FIELDS
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; known: "
                            f"{', '.join(sorted(FIELDS))}")
    if "design" not in data:
        raise ScenarioError(f"{where}: missing field 'design' (one of {', '.join(DESIGNS)})")
    kw = {k: v for k, v in data.items() if k not in ("max_states",)}
    for k in ("offline", "events", "mutations", "schedule"):
        if k in kw and not isinstance(kw[k], (list, tuple, str)):
            raise ScenarioError(f"{where}: field {k!r} must be a list, not {kw[k]!r}")
    if "options" in kw and not isinstance(kw["options"], dict):
        raise ScenarioError(f"{where}: field 'options' must be a table")
    try:
        return Scenario(**kw)
    except ScenarioError:
        raise
    except TdxlabError as e:
        raise ScenarioError(f"{where}: {e}") from None
    except TypeError as e:
        raise ScenarioError(f"{where}: {e}") from None


def load_scenario_file(path: "str | Path") -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(f"cannot read scenario file {p}: {e.strerror}") from None
    try:
        if p.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = tomllib.loads(text)
    except Exception as e:  # noqa: BLE001 - any parser error is a malformed file
        msg = " ".join(str(e).split())
        raise ScenarioError(f"scenario file {p.name} is malformed: {msg}") from None
    data = data or {}
    if isinstance(data, dict):
        data.setdefault("name", p.stem)
    return parse_scenario(data, f"scenario file {p.name}")


def scenario_files() -> dict[str, Path]:
    d = scenario_dir()
    files = sorted([*d.glob("*.toml"), *d.glob("*.yaml"), *d.glob("*.yml")])
    return {f.stem: f for f in files}


def list_scenarios() -> dict[str, Scenario]:
    return {name: load_scenario_file(p) for name, p in scenario_files().items()}


def get_scenario(name: str) -> Scenario:
    files = scenario_files()
    if name in files:
        return load_scenario_file(files[name])
    p = Path(name)
    if p.suffix in (".toml", ".yaml", ".yml") and p.exists():
        return load_scenario_file(p)
    raise UnknownName(f"unknown scenario {name!r}: choose one of {', '.join(files) or '(none)'}")
