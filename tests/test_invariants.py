"""Random schedules through every design and mutation keep the model's own invariants at every step."""
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tdxlab.designs import DESIGNS
from tdxlab.kernel.lang import WriteLockAcquire, WriteLockAnnounce
from tdxlab.kernel.state import HARDIRQ, LOCKS
from tdxlab.platform import IN_ONLINE_MASK
from tdxlab.kernel.source import DesignError
from tdxlab.scenario import Scenario


@st.composite
def scenarios(draw):
    design = draw(st.sampled_from(sorted(DESIGNS)))
    cls = DESIGNS[design]
    muts = draw(st.lists(st.sampled_from(sorted(cls.mutation_notes) or [None]), max_size=2, unique=True))
    muts = [m for m in muts if m]
    topo = draw(st.sampled_from(["1x1x2", "1x2x1", "2x1x1", "2x1x2", "1x2x2"]))
    events = ["create-td"] + (["create-vm", "create-vm2"] if design == "v19-2024" else [])
    try:
        return Scenario(design, draw(st.sampled_from(["old", "relaxed"])), topo,
                        nosmt=draw(st.booleans()), hotplug=draw(st.booleans()),
                        events=draw(st.lists(st.sampled_from(events), unique=True)), mutations=muts,
                        offline_keeps_lp_init=draw(st.booleans()))
    except DesignError as e:  # two what-ifs that rewrite the same code differently: refused, in one line
        assert "cannot be combined" in str(e) and "\n" not in str(e), e
        assume(False)


def check_invariants(sc, s):
    names = {t.name for t in s.threads}
    assert len(names) == len(s.threads)
    # a lock's holders and waiters agree with the contexts
    for lname, (w, readers, ww) in zip(LOCKS, s.locks):
        for who in [w, ww, *readers]:
            assert who is None or who in names, (lname, who)
    d = sc.describe(s)
    for lock in d["locks"]:
        for waiter in lock["waiters"]:
            ctx = next(c for c in d["contexts"] if c["name"] == waiter)
            assert ctx["waits"], waiter
    for t in s.threads:
        assert t.irqs_off >= 0 and t.preempt_off >= 0 and t.stack
    # a CPU runs one context at a time (a hotplug writer's cpus_write_lock() is the writer process's, on
    # another CPU: machine._cpu_gates)
    m = sc.machine
    for cpu in d["cpus"]:
        here = [t for t in s.threads if t.cpu == cpu["cpu"] and s.cpus[t.cpu].hp in IN_ONLINE_MASK]
        assert sum(t.kind == HARDIRQ for t in here) <= 1
        if any(t.irqs_off or t.preempt_off or t.kind == HARDIRQ for t in here):
            running = [n for n in cpu["running"]
                       if type(m.instr(s.thread(n))) not in (WriteLockAnnounce, WriteLockAcquire)]
            assert len(running) <= 1, cpu
    # IPIs are only pending for CPUs in cpu_online_mask
    for c, _, sender in s.ipis:
        assert s.cpus[c].hp in IN_ONLINE_MASK and sender in names


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(scenarios(), st.randoms(use_true_random=False))
def test_random_walks_keep_the_invariants(sc, rnd):
    s = sc.initial()
    check_invariants(sc, s)
    steps = 0
    while steps < 400:
        enabled = sc.enabled(s)
        if not enabled:
            break
        steps += 1
        key = rnd.choice(enabled).key
        if key.startswith("ipi:"):
            cpu = int(key.split(":")[1])
            # a hardirq runs only where IRQs were on
            assert sc.describe(s)["cpus"][cpu]["irqs"] == "on"
        info, s2 = sc.step_info(s, key)
        assert info.key == key and s2 != s
        assert sc.step(s, key) == s2  # taking a step is deterministic
        s = s2
        check_invariants(sc, s)
    assert steps >= 3  # every design has a bring-up path of several steps
