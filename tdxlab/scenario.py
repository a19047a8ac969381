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
    offline_keeps_lp_init = true   # dec-offline-keeps-lp-init: does a soft-offlined LP keep its LP.INIT in the module?
    parked_siblings_counted = true # dec-nosmt-lp-count: do parked nosmt siblings count in the module's num_of_lps?
    mutations = []
    options = {}             # design options (v19-2024: pass_vmxon)
    schedule = ["modprobe", "..."]   # optional: one interleaving
"""
from __future__ import annotations

import stat
import tomllib
from pathlib import Path
from typing import Iterable, NamedTuple

from tdxlab.designs import DESIGNS, get_design
from tdxlab.errors import BadInput, NotApplicable, ScenarioError, TdxlabError, UnknownName
from tdxlab.inputs import cut, printable
from tdxlab.kernel.lang import KFunc
from tdxlab.kernel.machine import Machine
from tdxlab.kernel.state import LOCKS, CpuState, Frame, State, StepInfo, Thread
from tdxlab.module import ModuleState, check_rule
from tdxlab.mutations import check_mutation
from tdxlab.platform import ONLINE, Platform, Topology, parse_cpu_list

DEFAULT_RULE = {"v7-2022": "old"}
#: The fields of a scenario file and the types each accepts (checked strictly: ``"false"`` is not false).
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "story": (str,), "design": (str,), "rule": (str,), "topology": (str,),
    "nosmt": (bool,), "offline": (str, list), "hotplug": (bool,), "events": (list,), "mutations": (list,),
    "options": (dict,), "schedule": (list,), "module_loaded": (bool,), "offline_keeps_lp_init": (bool,),
    "parked_siblings_counted": (bool,),
}
FIELDS = set(FIELD_TYPES)
#: A scenario file larger than this is refused before it is parsed (the shipped ones are under 2 KiB).
MAX_SCENARIO_BYTES = 64 * 1024
#: Nesting deeper than this is refused (a scenario is a table of scalars and short lists).
MAX_NESTING = 8
_TYPE_WORDS = {str: "a string", bool: "true or false", list: "a list", dict: "a table", int: "a whole number"}


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
        if not isinstance(design, str):
            raise BadInput(f"design {cut(design)} is not a design name: choose one of {', '.join(DESIGNS)}")
        cls = get_design(design)
        self.design_name = design = cls.name  # (a design file's path gives the name it defines)
        if rule is not None and not isinstance(rule, str):
            raise BadInput(f"rule {cut(rule)} must be 'old' or 'relaxed'")
        self.rule = check_rule(rule if rule is not None else DEFAULT_RULE.get(design, "relaxed"))
        self.topology = Topology.parse(topology)
        if not isinstance(nosmt, bool) or not isinstance(hotplug, bool):
            raise BadInput("nosmt and hotplug must be true or false")
        self.nosmt, self.hotplug = nosmt, hotplug
        if isinstance(offline, bool) or isinstance(offline, int):
            raise BadInput(f"offline={offline!r}: give a CPU list such as '2,3' or '2-3', or a list such as [2, 3]")
        self.offline = parse_cpu_list(offline, self.topology)
        self.platform = Platform(self.topology, nosmt, self.offline)
        muts = [mutations] if isinstance(mutations, str) else _strings(mutations, "mutations")
        self.mutations = tuple(sorted({check_mutation(m) for m in muts}))
        self.options = _check_options(cls, options)
        self.design = cls(frozenset(self.mutations), self.options, self.platform)
        for what, v in (("name", name), ("story", story)):
            if not isinstance(v, str):
                raise BadInput(f"{what} {cut(v)} must be a string")
        self.name, self.story = name, story
        if not isinstance(module_loaded, bool):
            raise BadInput(f"module_loaded {cut(module_loaded)} must be true or false")
        self.module_loaded = module_loaded
        if not isinstance(offline_keeps_lp_init, bool):
            raise BadInput("offline_keeps_lp_init must be true or false")
        self.offline_keeps_lp_init = offline_keeps_lp_init
        if not isinstance(parked_siblings_counted, bool):
            raise BadInput("parked_siblings_counted must be true or false")
        self.parked_siblings_counted = parked_siblings_counted
        self.events = self._events(events)
        self.schedule = tuple(_strings(schedule, "schedule")) if schedule is not None else None
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
        events = [events] if isinstance(events, str) else _strings(events, "events")
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
            cpus.append(CpuState(hp, d.initial_vmx(c, hp), False, d.initial_percpu(c)))
        threads = tuple(sorted(Thread(n, cpu, kind, (Frame(fn, 0, None),))
                               for n, cpu, kind, fn in d.roots(self.topology)))
        return State("boot" if d.boot_time else "user", tuple(cpus), ModuleState(), d.initial_kern(),
                     tuple((None, (), None) for _ in LOCKS[:self.machine.n_locks()]), threads, (),
                     self.events)

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
    """A Scenario from a table of fields (a parsed scenario file), every field's type checked strictly and
    unknown fields refused, each problem one line naming ``where``."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: expected a table of fields, got {type(data).__name__}")
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise ScenarioError(f"{where}: field names must be strings, not {cut(bad_keys[0])}")
    unknown = set(data) - FIELDS
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(printable(u[:30]) for u in sorted(unknown)[:5])}; "
                            f"known: {', '.join(sorted(FIELDS))}")
    if "design" not in data:
        raise ScenarioError(f"{where}: missing field 'design' (one of {', '.join(DESIGNS)})")
    for k, v in data.items():
        types = FIELD_TYPES[k]
        if not isinstance(v, types) or (bool not in types and isinstance(v, bool)):
            want = " or ".join(_TYPE_WORDS[t] for t in types)
            raise ScenarioError(f"{where}: field {k!r} must be {want}, not {cut(v)}")
    try:
        return Scenario(**data)
    except ScenarioError:
        raise
    except TdxlabError as e:
        raise ScenarioError(f"{where}: {e}") from None


def _depth(value, limit: int, d: int = 0) -> int:
    """How deep ``value`` nests (lists and tables), stopping once past ``limit``."""
    if d > limit or not isinstance(value, (dict, list)):
        return d
    items = value.values() if isinstance(value, dict) else value
    return max([_depth(v, limit, d + 1) for v in items] or [d + 1])


def _yaml_load(text: str, name: str):
    """YAML with ``yaml.safe_load``, after refusing anchors and aliases (a few hundred bytes of aliases
    expand to gigabytes: "billion laughs") and nesting deeper than MAX_NESTING, from the event stream,
    before anything is built."""
    import yaml

    depth = 0
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(ev, yaml.AliasEvent) or getattr(ev, "anchor", None) is not None:
            raise ScenarioError(f"scenario file {name}: YAML anchors and aliases (& and *) are not allowed")
        if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_NESTING:
                raise ScenarioError(f"scenario file {name}: nested more than {MAX_NESTING} levels deep")
        elif isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return yaml.safe_load(text)


def read_scenario_data(path: "str | Path"):
    """The parsed contents of a scenario file (TOML, or YAML by suffix), or one ScenarioError line: the
    path must be a regular file (not a directory, FIFO or device) of at most MAX_SCENARIO_BYTES of UTF-8."""
    p = Path(path)
    name = printable(p.name)
    try:
        st = p.stat()
    except OSError as e:
        raise ScenarioError(f"cannot read scenario file {printable(p)}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ScenarioError(f"scenario file {printable(p)} is {kind}")
    if st.st_size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"scenario file {name} is {st.st_size:,} bytes: a scenario is at most "
                            f"{MAX_SCENARIO_BYTES:,}")
    try:
        with p.open("rb") as f:
            raw = f.read(MAX_SCENARIO_BYTES + 1)
    except OSError as e:
        raise ScenarioError(f"cannot read scenario file {printable(p)}: {e.strerror}") from None
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"scenario file {name} is over {MAX_SCENARIO_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ScenarioError(f"scenario file {name} is not UTF-8 text (byte {e.start})") from None
    try:
        if p.suffix in (".yaml", ".yml"):
            data = _yaml_load(text, name)
        else:
            data = tomllib.loads(text)
    except ScenarioError:
        raise
    except RecursionError:
        raise ScenarioError(f"scenario file {name} is nested too deep") from None
    except Exception as e:  # noqa: BLE001 - any parser error is a malformed file
        raise ScenarioError(f"scenario file {name} is malformed: {' '.join(str(e).split())}") from None
    if _depth(data, MAX_NESTING) > MAX_NESTING:
        raise ScenarioError(f"scenario file {name}: nested more than {MAX_NESTING} levels deep")
    return data


def load_scenario_file(path: "str | Path") -> Scenario:
    p = Path(path)
    data = read_scenario_data(p)
    data = {} if data is None else data
    if isinstance(data, dict):
        data.setdefault("name", p.stem)
    return parse_scenario(data, f"scenario file {printable(p.name)}")


def scenario_files() -> dict[str, Path]:
    d = scenario_dir()
    files = sorted([*d.glob("*.toml"), *d.glob("*.yaml"), *d.glob("*.yml")])
    return {f.stem: f for f in files}


def list_scenarios(bad: "dict[str, str] | None" = None) -> dict[str, Scenario]:
    """Every scenario of data/scenarios that loads. A file that does not is left out; with ``bad`` given,
    its one-line error is recorded there by file name (without it, the first bad file raises)."""
    out = {}
    for name, p in scenario_files().items():
        try:
            out[name] = load_scenario_file(p)
        except TdxlabError as e:
            if bad is None:
                raise
            bad[p.name] = str(e)
    return out


def get_scenario(name: "str | Path | Scenario") -> Scenario:
    """A scenario by name (one of data/scenarios), or from a .toml/.yaml file path. A Scenario is returned
    as it is."""
    if isinstance(name, Scenario):
        return name
    if isinstance(name, Path):
        name = str(name)
    if not isinstance(name, str):
        raise UnknownName(f"scenario {cut(name)} is not a scenario name: see tdxlab.scenario.scenario_files()")
    files = scenario_files()
    if name in files:
        return load_scenario_file(files[name])
    p = Path(name)
    if p.suffix in (".toml", ".yaml", ".yml") and p.exists():
        return load_scenario_file(p)
    raise UnknownName(f"unknown scenario {cut(name)}: choose one of {', '.join(files) or '(none)'}")


def _strings(values, what: str) -> list[str]:
    """``values`` as a list of strings, or one clear error."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, set, frozenset)):
        raise BadInput(f"{what} {cut(values)} must be a list of names")
    out = list(values)
    for v in out:
        if not isinstance(v, str):
            raise BadInput(f"{what}: {cut(v)} is not a name (a string)")
    return out


def _check_options(cls, options) -> dict:
    """A design's options, each a name the design documents and a value of its type (``options_types``,
    by default true/false)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise BadInput(f"options {cut(options)} must be a table of KEY = VALUE")
    types = getattr(cls, "options_types", {})
    out = {}
    for k, v in options.items():
        if not isinstance(k, str):
            raise BadInput(f"option name {cut(k)} is not a string")
        if k not in cls.options_doc:
            has = ", ".join(cls.options_doc) or "none"
            raise NotApplicable(f"design {cls.name} has no option {cut(k)} (its options: {has})")
        want = types.get(k, bool)
        if not isinstance(v, want) or (want is not bool and isinstance(v, bool)):
            raise BadInput(f"option {k} = {cut(v)} must be {_TYPE_WORDS.get(want, want.__name__)}")
        out[k] = v
    return out
