"""The checker: budgets, progress, shortest counterexamples that replay, determinism across processes."""
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import Scenario, explore, get_scenario

from tdxlab.errors import BadInput

TDXLAB = [sys.executable, "-m", "tdxlab"]


def test_state_budget_stops_early_and_says_so():
    r = explore(get_scenario("core-7.1-hotplug"), max_states=50)
    assert not r.complete and "state budget of 50" in r.stopped
    assert r.exit_code == 3
    assert all(v.holds is None for v in r.verdicts.values())


def test_bad_budgets_are_refused():
    sc = get_scenario("kvm-6.16-boot")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(BadInput, match="state budget"):
            explore(sc, max_states=bad)
    with pytest.raises(BadInput, match="time budget"):
        explore(sc, max_seconds=0)


def test_progress_callback_sees_growing_counts():
    seen = []
    r = explore(get_scenario("v19-2024-boot"), progress=lambda *a: seen.append(a), progress_every=40)
    assert len(seen) >= 3
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    assert seen[-1][0] == r.states and seen[-1][1] == r.transitions


def test_phase_callback_hears_the_shortest_counterexample_search():
    heard = []
    r = explore(get_scenario("kvm-lock-inversion"), phase=heard.append)
    assert r.violated and heard
    assert all(h.startswith("shortest counterexample") and "(no reductions)" in h for h in heard)
    assert heard[0].startswith(("shortest counterexample (no reductions): 0/",
                                "shortest counterexamples (no reductions): 0/")) and heard[0].endswith("0.0 s")
    quiet = []
    r = explore(get_scenario("v19-2024-boot"), phase=quiet.append)
    assert not r.violated and quiet == []  # nothing violated: no such search, nothing heard


def test_counterexamples_are_shortest():
    # breadth-first: no path to the same violation is shorter; check by a depth-bounded search
    sc = get_scenario("kvm-lock-inversion")
    r = explore(sc)
    n = len(r.verdicts["no-deadlock"].path)
    frontier = {sc.initial()}
    for _ in range(n - 1):
        nxt = set()
        for s in frontier:
            for info, s2 in sc.successors(s):
                nxt.add(s2)
        frontier = nxt
        assert not any(s.threads and not [k for k, _ in sc.enabled(s) if not k.startswith("event:")]
                       for s in frontier)


def test_every_counterexample_replays_in_the_stepping_api():
    for name in ("irq-race-second-user", "offline-without-hotplug-lock", "kvm-lock-inversion",
                 "online-after-init-old-rule"):
        sc = get_scenario(name)
        r = explore(sc)
        for prop in r.violated:
            steps = r.counterexample(prop)
            assert len(steps) == len(r.verdicts[prop].path) + 1


def test_json_has_the_contract_keys():
    r = explore(get_scenario("irq-race-second-user"))
    obj = json.loads(r.to_json())
    assert list(obj)[:9] == ["design", "rule", "topology", "mutations", "states", "transitions", "complete",
                             "seconds", "properties"]
    p = obj["properties"]["no-spurious-error"]
    assert p["holds"] is False
    assert set(p["counterexample"][0]) == {"step", "cpu", "context", "function", "action", "result"}
    assert obj["properties"]["vmx-before-seamcall"] == {"holds": True, "counterexample": None}


def _run(args, seed):
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    return subprocess.run(TDXLAB + args, capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("scenario", ["teardown-offline-assert", "update-no-lp-reset"])
def test_the_2026_chapters_give_the_same_json_and_lkml_across_processes(scenario):
    a, b = _run(["check", "--scenario", scenario, "--json"], 5), _run(["check", "--scenario", scenario, "--json"], 6)
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    ja.pop("seconds"), jb.pop("seconds")
    assert a.returncode == b.returncode == 1 and ja == jb
    prop = next(p for p, v in ja["properties"].items() if not v["holds"])
    traces = [_run(["trace", "--scenario", scenario, "--property", prop, "--format", "lkml"], seed).stdout
              for seed in (7, 8)]
    assert traces[0] == traces[1] and "CPU0" in traces[0]


def test_same_json_and_dot_across_processes(tmp_path):
    args = ["check", "--scenario", "kvm-lock-inversion", "--json"]
    a, b = _run(args, 1), _run(args, 2)
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    ja.pop("seconds"), jb.pop("seconds")
    assert a.returncode == b.returncode == 1 and ja == jb
    dots = []
    for seed in (3, 4):
        out = tmp_path / f"g{seed}.dot"
        r = _run(["graph", "--scenario", "irq-race-second-user", "--kind", "states", "--out", str(out)], seed)
        assert r.returncode == 0, r.stderr
        dots.append(out.read_text())
    assert dots[0] == dots[1] and "digraph" in dots[0]


def test_determinism_in_process():
    sc = Scenario("v19-2024", topology="2x1x2", events=["create-vm"])
    a, b = explore(sc), explore(sc)
    assert (a.states, a.transitions) == (b.states, b.transitions)
    assert {k: v.path for k, v in a.verdicts.items()} == {k: v.path for k, v in b.verdicts.items()}


@pytest.mark.parametrize("exact", [True, False], ids=["exact-search", "minimized-only"])
def test_reductions_keep_verdicts_and_counterexample_lengths(exact, monkeypatch):
    # without the exact search (its budget cut to nothing), minimizing the reduced paths alone must
    # still give the shortest counterexamples on every manifest scenario
    import tdxlab.check.shortest as shortest
    from tdxlab.scenario import list_scenarios

    if not exact:
        monkeypatch.setattr(shortest, "EXACT_MAX_STATES", 1)

    longer = set()
    for name, sc in list_scenarios().items():
        a, b = explore(sc, reduce=False), explore(sc, reduce=True)
        assert b.states <= a.states, name
        for p in a.verdicts:
            va, vb = a.verdicts[p], b.verdicts[p]
            assert va.holds == vb.holds, (name, p)
            if va.path is not None and p != "lock-order":
                if exact or len(va.path) == len(vb.path):
                    assert len(va.path) == len(vb.path), (name, p)
                else:  # longer than the shortest: then it must not claim to be the shortest
                    assert len(vb.path) > len(va.path) and vb.shortest is False, (name, p)
                    longer.add((name, p))
            elif va.path is not None:  # a lock cycle's path may fire the scenario's requests first
                assert len(vb.path) <= len(va.path) + len(sc.events), (name, p)
    # where minimizing the reduced path alone is one step off, the exact search supplies the shortest one:
    # the update's lockstep without cpus_read_lock() (a CPU joining stop_machine() late), and nowhere else
    assert longer <= {("update-no-hotplug-lock", "vmx-before-seamcall")}, longer


@pytest.mark.parametrize("args", [
    dict(design="v19-2024", topology="2x1x2", hotplug=True),
    dict(design="v19-2024", topology="2x1x2", hotplug=True, mutations=["no-hotplug-lock"]),
    dict(design="kvm-6.16", topology="2x1x2", hotplug=True, mutations=["second-user"]),
], ids=["v19-hotplug", "v19-no-hotplug-lock", "kvm-second-user"])
def test_reductions_keep_verdicts_and_shortest_paths_beyond_the_manifest(args):
    # every reduction on against none; the no-hotplug-lock case is one where the reduced graph's own
    # shortest path is one step longer, so the exact search must supply the shortest one
    sc = Scenario(**args)
    a, b = explore(sc, reduce=False), explore(sc, reduce=True)
    assert a.complete and b.complete and b.states < a.states / 2
    for p in a.verdicts:
        va, vb = a.verdicts[p], b.verdicts[p]
        assert va.holds == vb.holds, p
        if va.path is not None and p != "lock-order":
            assert len(va.path) == len(vb.path), p
            sc.replay(vb.path)


def _states_of(sc):
    r = explore(sc, reduce=False, keep_graph=True, graph_limit=10**6)
    return sc.machine, r.graph[0]


def test_owned_cpu_step_lp_init_is_explored_alone_only_under_the_relaxed_rule():
    from tdxlab.check.reduce import owned_step
    from tdxlab.kernel.ops import Seamcall

    def lp_init_steps(sc):
        m, states = _states_of(sc)
        out = []
        for st in states:
            for t in st.threads:
                if t.kind == "hardirq" and t.name in [k for k, _ in m.enabled(st)]:
                    info, s2 = m._take(st, t.name, "")
                    if isinstance(m.last_main, Seamcall) and info.leaf == "TDH.SYS.LP.INIT":
                        out.append(owned_step(m, st, t, m.last_main, s2))
        return out

    relaxed = lp_init_steps(Scenario("v19-2024", topology="1x2x2"))
    assert relaxed and all(relaxed)
    old = lp_init_steps(Scenario("v19-2024", rule="old", topology="1x2x2"))
    assert old and not any(old)  # under the old rule LP.INIT's answer depends on the system state


def test_lockdep_sees_a_lock_taken_inside_a_merged_step():
    # the IPI's delivery, VMXON and raw_spin_lock(&sysinit_lock) are one step: lockdep must still see
    # that sysinit_lock is taken in hardirq context
    sc = Scenario("v19-2024", topology="1x1x2")
    m, states = _states_of(sc)
    seen = []
    for st in states:
        for key, _ in m.enabled(st):
            if key.startswith("ipi:"):
                m._take(st, key, "")
                seen += [(a[1], a[4]) for a in m.last_acqs or ()]
    assert ("sysinit_lock", True) in seen


def test_writers_waiting_for_the_senders_read_lock_are_held_off():
    from tdxlab.check.reduce import held_off

    def cases(mutations):
        sc = Scenario("v19-2024", topology="1x1x2", hotplug=True, mutations=mutations)
        m, states = _states_of(sc)
        for st in states:
            down = st.thread("cpu_down/1")
            if st.thread("modprobe") is None or down is None or not st.ipis:
                continue
            yield m, st, down, "cpu_down/1" in held_off(m, st, "modprobe")

    seen = 0
    for m, st, down, off in cases([]):
        # modprobe keeps cpus_read_lock() until its IPIs are handled: the writer cannot get the lock
        assert "modprobe" in st.locks[0][1] and off, m.blocked_reason(st, down)
        seen += 1
    assert seen
    seen = 0
    for m, st, down, off in cases(["no-hotplug-lock"]):
        # without the read lock nothing holds the writer off
        assert not off
        seen += 1
    assert seen


# --- the checker's fast paths agree with the stepping API they stand in for ------------------------------
FAST_PATH_SCENARIOS = [("v19-2024", dict(topology="1x2x2", hotplug=True)),
                       ("kvm-6.16", dict(topology="2x1x2", hotplug=True)),
                       ("v7-2022", dict(topology="1x2x2", hotplug=True)),
                       ("core-7.1", dict(topology="2x1x2", hotplug=True)),
                       ("kvm-v18-kai-irqsave", dict(topology="1x2x2", mutations=["irqs-on"]))]
# ... and on every scenario of the manifest (tdxlab/data/expected.toml), by name
FAST_PATH_SCENARIOS += [(name, None) for name in sorted(tomllib.loads(
    (Path(__file__).resolve().parent.parent / "tdxlab" / "data" / "expected.toml").read_text(encoding="utf-8")))]


def _fast_path_scenario(design, kw):
    return get_scenario(design) if kw is None else Scenario(design, **kw)


@pytest.mark.parametrize("design,kw", FAST_PATH_SCENARIOS)
def test_scan_gives_the_enabled_steps_and_the_contexts_lockdep_checks(design, kw):
    from tdxlab.check.properties import pending_acquisitions

    sc = _fast_path_scenario(design, kw)
    m, states = _states_of(sc)
    for st in states:
        en, waiting = m.scan(st)
        assert en == [(k, "") for k, _ in m.enabled(st)]
        allowed = m._cpu_gates(st)[0]
        want = [(t, m.instr(t).acquires()) for t in st.threads
                if t.name in allowed and m.instr(t).acquires() is not None]
        assert waiting == want
        for a in pending_acquisitions(st, waiting):
            assert a[3] == tuple(st.holds(a[0]))


@pytest.mark.parametrize("design,kw", FAST_PATH_SCENARIOS)
def test_waits_is_blocked_without_the_words(design, kw):
    sc = _fast_path_scenario(design, kw)
    m, states = _states_of(sc)
    kinds = set()
    for st in states:
        for t in st.threads:
            ins = m.instr(t)
            assert ins.waits(m, st, t) == (ins.blocked(m, st, t) is not None)
            if ins.waits(m, st, t):
                kinds.add(type(ins).__name__)
    assert kinds  # some context waited on the way


def test_the_search_runs_quiet_but_a_counterexample_is_replayed_with_words():
    sc = get_scenario("irq-race-second-user")
    m = sc.machine
    st = sc.initial()
    loud = [m._take(st, k, lab) for k, lab in m.enabled(st)]
    m.quiet = True
    try:
        quiet = [m._take(st, k, lab) for k, lab in m.enabled(st)]
    finally:
        m.quiet = False
    assert [s for _, s in loud] == [s for _, s in quiet]  # the same states
    assert [i._replace(action="") for i, _ in loud] == [i for i, _ in quiet]  # the same steps, no words
    assert all(i.action for i, _ in loud)
    r = explore(sc)
    assert not m.quiet
    trace = r.counterexample("no-deadlock")
    assert trace and all(info.action for info, _ in trace[1:])


@pytest.mark.parametrize("design,kw", FAST_PATH_SCENARIOS)
def test_remembered_pure_runs_take_the_same_steps_as_the_instructions_one_by_one(design, kw):
    # Machine._pure_run (the engine's memo of runs of pure instructions) against the reference: every
    # enabled step of every state of the unreduced graph, taken quiet both ways, gives the same step and
    # the same state, twice over (the second time from the memo)
    sc = _fast_path_scenario(design, kw)
    m, states = _states_of(sc)
    m.quiet = True
    try:
        for st in states:
            for key, _ in m.scan(st)[0]:
                m.memo = False
                ref = m._take(st, key, "")
                m.memo = True
                assert m._take(st, key, "") == ref == m._take(st, key, ""), (key, st)
    finally:
        m.quiet, m.memo = False, True


@pytest.mark.parametrize("design,kw", FAST_PATH_SCENARIOS[:5] + [
    ("v19-2024", dict(topology="2x1x2", hotplug=True, mutations=["no-hotplug-lock"]))])
def test_the_search_with_and_without_the_memo_of_pure_runs_is_the_same(design, kw):
    def run(memo):
        sc = _fast_path_scenario(design, kw)
        sc.machine.memo = memo
        return explore(sc)
    a, b = run(False), run(True)
    assert a.complete and a.states > 100
    assert (a.states, a.transitions) == (b.states, b.transitions)
    assert [u.to_json_obj() for u in a.unreached()] == [u.to_json_obj() for u in b.unreached()]
    def verdicts(r):
        return {k: (v.holds, v.path) for k, v in r.verdicts.items()}
    assert verdicts(a) == verdicts(b)


def test_only_statements_that_read_registers_alone_are_pure():
    # the memo of pure runs is sound only for these: what the atomicity rule calls local may still read
    # shared state no other context can change at that point (v19's atomic_t after on_each_cpu() returned)
    from tdxlab.kernel.source import _registers_only
    assert _registers_only("(x.loc[0] + 1)") and _registers_only("(x.retval != 0)")
    assert _registers_only("x.cpus[x.cpu].lp_flag") and _registers_only("x.m.topology.packages")
    assert not _registers_only("x.kern.on_each_cpu_err")
    assert not _registers_only("x.cpus[1].vmx") and not _registers_only("_first_online(0, x)")
    m = Scenario("v19-2024", topology="1x1x2").machine
    reads_err = [ins for ins in m.funcs["tdx_hardware_setup"].body if getattr(ins, "_stmt", (0, ""))[1]
                 == "r = atomic_read(err)"]
    assert reads_err and all(ins.local and not ins.pure for ins in reads_err)
    assert any(ins.pure for ins in m.funcs["tdx_hardware_setup"].body)
