"""Sleep sets (tdxlab.check.sleep): footprints that tell the truth, and the same verdicts with and without."""
import pytest
from helpers import Scenario, explore, get_scenario

from tdxlab.check.sleep import Footprints, independent
from tdxlab.scenario import scenario_files

# small enough to check every pair of steps in every state of the unreduced graph
DIAMOND_SCENARIOS = [
    ("v7-2022", dict(topology="1x2x2", hotplug=True)),  # old-rule LP.INITs in IPI handlers
    ("v19-2024", dict(topology="1x2x2", hotplug=True)),
    ("kvm-6.16", dict(topology="1x2x2", hotplug=True)),
    # (core-7.1's steps all run the design's own code, which reads everything: no independent pairs)
    ("kvm-v18-kai-irqsave", dict(topology="1x2x2", mutations=["irqs-on"])),
    ("kvm-6.16", dict(topology="1x2x2", hotplug=True, mutations=["second-user"])),
]


def _states_of(sc):
    r = explore(sc, reduce=False, keep_graph=True, graph_limit=10**6)
    assert r.complete and not r.graph[2]
    return sc.machine, r.graph[0]


def _step(m, fps, st, key):
    info, s2 = m._take(st, key, "")
    return info, s2, fps.of(st, m.last_x, m.last_main)


def _diff(fps, st, s2) -> int:
    """What changed from ``st`` to ``s2``, by value, as footprint bits (contexts and their CPU rules aside)."""
    w = 0
    for c, (a, b) in enumerate(zip(st.cpus, s2.cpus)):
        if a != b:
            w |= fps.CPU[c]
    for k, (a, b) in enumerate(zip(st.locks, s2.locks)):
        if a != b:
            w |= fps.LOCK[k]
    a, b = st.module, s2.module
    if a._replace(lp_init=0) != b._replace(lp_init=0):
        w |= fps.MODULE
    w |= (a.lp_init ^ b.lp_init) << fps.LP_SHIFT
    if st.kern != s2.kern:
        w |= fps.KERN
    if st.kern.cpuhp_states != s2.kern.cpuhp_states:
        w |= fps.CPUHP
    if st.phase != s2.phase:
        w |= fps.PHASE
    if st.events != s2.events:
        w |= fps.EVENTS
    for c, _, _ in set(st.ipis) ^ set(s2.ipis):
        w |= fps.IPI[c]
    old, new = {t.name: t for t in st.threads}, {t.name: t for t in s2.threads}
    for name in old.keys() | new.keys():
        if old.get(name) != new.get(name):
            w |= fps.ctx(name)
    return w


@pytest.mark.parametrize("design,kw", DIAMOND_SCENARIOS)
def test_footprints_cover_what_a_step_changes(design, kw):
    sc = Scenario(design, **kw)
    m, states = _states_of(sc)
    fps = Footprints(m)
    steps = 0
    for st in states:
        for key, _ in m.enabled(st):
            info, s2, (r, w) = _step(m, fps, st, key)
            changed = _diff(fps, st, s2)
            assert changed & ~w == 0, f"{key} from {st} changes {bin(changed & ~w)} it does not declare"
            assert w & ~r == 0  # a step reads what it writes
            steps += 1
    assert steps > 100


@pytest.mark.parametrize("design,kw", DIAMOND_SCENARIOS)
def test_independent_steps_commute(design, kw):
    """Every pair of steps that the footprints call independent, in every state: either order is enabled,
    ends in the same state, and each step does the same (events, SEAMCALL result) in both orders."""
    sc = Scenario(design, **kw)
    m, states = _states_of(sc)
    fps = Footprints(m)
    pairs = 0
    for st in states:
        en = [k for k, _ in m.enabled(st)]
        took = {k: _step(m, fps, st, k) for k in en}
        for i, a in enumerate(en):
            for b in en[i + 1:]:
                ia, sa, fa = took[a]
                ib, sb, fb = took[b]
                if not independent(fa, fb):
                    continue
                pairs += 1
                en_a = [k for k, _ in m.enabled(sa)]
                en_b = [k for k, _ in m.enabled(sb)]
                assert b in en_a and a in en_b, f"{a} and {b} disable each other in {st}"
                ib2, sab, _ = _step(m, fps, sa, b)
                ia2, sba, _ = _step(m, fps, sb, a)
                assert sab == sba, f"{a} and {b} do not commute in {st}"
                for x, y in ((ia, ia2), (ib, ib2)):
                    assert (x.events, x.leaf, x.result, x.errno) == (y.events, y.leaf, y.result, y.errno)
    assert pairs > 20  # the scenario has independent steps to check


def _verdicts(r):
    return {p: (v.holds, None if v.path is None else len(v.path)) for p, v in r.verdicts.items()}


SAME_VERDICT_SCENARIOS = [("scenario", name) for name in scenario_files()] + [
    ("args", dict(design=d, topology="2x1x2", hotplug=True)) for d in
    ("core-7.1", "kvm-6.16", "v19-2024", "v7-2022")] + [
    ("args", dict(design=d, topology="1x2x2", hotplug=True, mutations=[mut])) for d, mut in
    (("v7-2022", "no-hotplug-lock"), ("kvm-v18-kai-irqsave", "irqs-on"), ("kvm-6.16", "second-user"),
     ("v19-2024", "no-kvm-lock"), ("v19-2024", "kvm-lock-first"), ("core-7.1", "no-vmxon"))]


@pytest.mark.parametrize("how,what", SAME_VERDICT_SCENARIOS,
                         ids=[w if h == "scenario" else f"{w['design']}-{w['topology']}-{w.get('mutations')}"
                              for h, w in SAME_VERDICT_SCENARIOS])
def test_sleep_sets_keep_every_verdict(how, what):
    def sc():
        return get_scenario(what) if how == "scenario" else Scenario(**what)

    with_sleep = explore(sc())
    without = explore(sc(), sleep_sets=False)
    assert with_sleep.complete and without.complete
    assert _verdicts(with_sleep) == _verdicts(without)
    assert with_sleep.transitions <= without.transitions
    assert with_sleep.states <= without.states
    assert "sleep sets" in with_sleep.reduction and "sleep sets" not in without.reduction


def test_sleep_sets_prune_old_rule_lp_inits_and_give_up_where_they_do_not_pay():
    v7 = Scenario("v7-2022", topology="2x2x1", hotplug=True)
    a, b = explore(v7), explore(Scenario("v7-2022", topology="2x2x1", hotplug=True), sleep_sets=False)
    # (v7's caller does its VMXON pass before tdx_enable() takes the hotplug lock, lore-kai-2022-11-21, so CPU
    # hotplug interleaves with that pass: 975 states, and sleep sets skip 531 of 1858 transitions)
    assert a.states == b.states and a.transitions < 0.85 * b.transitions
    # kvm-6.16's relaxed-rule LP.INITs are already explored alone (owned-CPU steps): after the trial the
    # search stops computing footprints, and says so
    kvm = explore(Scenario("kvm-6.16", topology="2x2x2", hotplug=True))
    assert kvm.complete and kvm.reduction.endswith("sleep sets (first 1024 states only)")
    assert a.reduction.endswith("sleep sets")


def test_sleep_sets_are_deterministic():
    runs = [explore(Scenario("v7-2022", topology="1x2x2", hotplug=True)) for _ in range(2)]
    assert (runs[0].states, runs[0].transitions) == (runs[1].states, runs[1].transitions)
    assert runs[0].to_json_obj()["properties"] == runs[1].to_json_obj()["properties"]


def test_sleep_order_keeps_states_and_verdicts_and_takes_fewer_transitions(monkeypatch):
    """While sleep sets are on, a state's steps are taken IPIs, tasks, IPI handlers, hotplug threads, events
    (tdxlab.check.explore._sleep_rank). Any order is sound: against the scan's order (every rank equal, so
    the stable sort keeps it) the same states and verdicts, and in v7-2022 with hotplug fewer transitions."""
    import tdxlab.check.explore as E
    from tdxlab.kernel.state import HARDIRQ, HOTPLUG, TASK

    def sc():  # (six CPUs: with four, the two orders take about as many transitions)
        return Scenario("v7-2022", topology="1x3x2", hotplug=True)
    ranked = explore(sc())
    monkeypatch.setattr(E, "_sleep_rank", lambda rank, st, key: rank.setdefault(key, 1))
    scan_order = explore(sc())
    assert ranked.states == scan_order.states
    assert _verdicts(ranked) == _verdicts(scan_order)
    assert ranked.transitions < scan_order.transitions
    monkeypatch.undo()
    st = sc().initial()
    kinds = {TASK: "modprobe", HARDIRQ: "h", HOTPLUG: "cpu_down/1"}
    fake = type(st)(st.phase, st.cpus, st.module, st.kern, st.locks,
                    tuple(st.threads[0]._replace(name=n, kind=k) for k, n in sorted(kinds.items(), key=lambda e: e[1])),
                    st.ipis, st.events)
    keys = ["event:offline:1", "cpu_down/1", "h", "modprobe", "ipi:1:modprobe"]
    assert sorted(keys, key=lambda k: E._sleep_rank({}, fake, k)) == [
        "ipi:1:modprobe", "modprobe", "h", "cpu_down/1", "event:offline:1"]


def _footprints_where(design, kw, pick):
    """The footprint bits of ``design``'s machine, and the footprint of every step of every state of its
    unreduced graph for which ``pick(Exec, non-local instruction)`` holds."""
    m, states = _states_of(Scenario(design, **kw))
    fps = Footprints(m)
    out = []
    for st in states:
        for key, _ in m.enabled(st):
            fp = _step(m, fps, st, key)[2]
            if pick(m.last_x, m.last_main):
                out.append(fp)
    return fps, out


def test_a_return_has_its_own_footprint_unless_the_design_has_its_own_hook():
    """A root context's return runs Design.root_finished (kernel globals, the phase, facts): its footprint is
    what it replaced, not everything, and the diamonds above check it commutes; a design that overrides the
    hook (update-7.2) keeps "everything"."""
    from tdxlab.check.sleep import ALL_FP

    def root_return(x, main):
        return x is not None and x.finished and x.parent is None and x.kind != "hardirq"
    fps, v7 = _footprints_where("v7-2022", dict(topology="1x1x2"), root_return)
    # the loader's return: kernel globals (init_done, init_ret) and the phase written, not everything
    assert v7 and all(fp != ALL_FP and fp[1] & fps.KERN for fp in v7)
    _, update = _footprints_where("update-7.2", dict(topology="1x1x2"), root_return)
    assert update and all(fp == ALL_FP for fp in update)


def test_the_hotplug_core_reads_what_it_reads_not_everything():
    """_cpu_down()'s own steps (Instr.hotplug_core) read every CPU's state, the IPIs, the LP.INIT bits and
    cpuhp_states, not everything: the loader's return (kernel globals, the phase) is independent of them."""
    from tdxlab.check.sleep import ALL
    fps, core = _footprints_where("v7-2022", dict(topology="1x1x2", hotplug=True),
                                  lambda x, main: main is not None and main.hotplug_core)
    assert core and all(r != ALL and r & fps.CPUHP and not r & (fps.KERN | fps.PHASE) for r, _ in core)
