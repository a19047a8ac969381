"""The kernel layer's rules, each test naming the fact it stands on (docs/facts.md)."""
from helpers import Scenario, counterexample, events_of, get_scenario

from tdxlab.kernel.state import HARDIRQ
from tdxlab.platform import OFFLINE, ONLINE, PARKED, UP


def test_4_2_seamcall_without_vmxon_is_ud_and_the_module_never_sees_it():
    sc = get_scenario("seamcall-before-vmxon")
    r, steps = counterexample(sc, "vmx-before-seamcall")
    info, st = steps[-1]
    before = steps[-2][1]
    assert info.leaf == "TDH.SYS.INIT" and info.result == "TDX_SEAMCALL_UD" and info.errno == "-EACCES"
    assert st.module == before.module  # the module's state did not move
    assert st.cpus[info.cpu].vmx == 0


def test_4_2_no_module_is_vmfailinvalid_enodev():
    sc = get_scenario("no-module-loaded")
    steps = sc.run_first()
    calls = [i for i, _ in steps[1:] if i.leaf]
    assert calls[0].result == "TDX_SEAMCALL_VMFAILINVALID" and calls[0].errno == "-ENODEV"
    assert steps[-1][1].kern.init_ret == -19


def test_7_4_ipi_handler_runs_only_while_irqs_on_and_then_owns_the_cpu():
    sc = Scenario("v19-2024", topology="1x1x2")
    s = sc.initial()
    # run modprobe until it has sent its IPIs (on_each_cpu() then runs tdx_on() locally with IRQs off)
    while not s.ipis:
        s = sc.step(s, "modprobe")
    keys = [k for k, _ in sc.enabled(s)]
    assert any(k.startswith("ipi:1:") for k in keys)
    s = sc.step(s, next(k for k in keys if k.startswith("ipi:1:")))
    irq = s.thread("IPI/1")
    assert irq.kind == HARDIRQ and sc.describe(s)["cpus"][1]["irqs"] == "off"
    assert not any(k.startswith("ipi:1:") for k, _ in sc.enabled(s))


def test_2_1_spinlock_from_an_ipi_on_its_own_cpu_deadlocks():
    sc = get_scenario("irq-race-second-user")
    r, steps = counterexample(sc, "no-deadlock")
    st = steps[-1][1]
    assert sc.enabled(st) == []
    d = {c["name"]: c for c in sc.describe(st)["contexts"]}
    assert "sysinit_lock" in d["second-user"]["locks"]
    assert d["IPI/1"]["waits"].startswith("spins on sysinit_lock, held by second-user")
    assert d["second-user"]["waits"].startswith("CPU1 is taken: IPI/1")


def test_2_1_flag_race_gives_lp_init_done():
    sc = get_scenario("irq-race-second-user")
    r, steps = counterexample(sc, "no-spurious-error")
    assert steps[-1][0].result == "TDX_SYS_LP_INIT_DONE"


def test_7_2_a_waiting_writer_blocks_new_readers_and_a_recursive_read_deadlocks():
    sc = get_scenario("setup-state-under-lock")
    r, steps = counterexample(sc, "no-deadlock")
    st = steps[-1][1]
    w, readers, waiting = st.locks[0]
    assert waiting == "cpu_down/1" and readers == ("modprobe",)
    d = {c["name"]: c["waits"] for c in sc.describe(st)["contexts"]}
    assert "a waiting writer blocks new readers" in d["modprobe"] and "deadlock" in d["modprobe"]


def test_7_1_online_callbacks_ascending_teardown_reverse():
    sc = Scenario("kvm-6.16", topology="1x2x1", events=["offline:1@after", "online:1@after"])
    steps = sc.run_first()
    fns = [i.function for i, _ in steps[1:] if i.context.startswith(("cpu_up/", "cpu_down/"))]
    down = [f for f in fns if f in ("tdx_offline_cpu", "kvm_offline_cpu")]
    up = [f for f in fns if f in ("kvm_online_cpu", "tdx_online_cpu")]
    assert down.index("tdx_offline_cpu") < down.index("kvm_offline_cpu")  # reverse order (k-cpu-hotplug-rst)
    assert up.index("kvm_online_cpu") < up.index("tdx_online_cpu")  # static KVM state first


def test_10_8_a_cpu_is_online_before_its_callbacks_and_active_after():
    sc = Scenario("core-7.1", topology="1x2x1", offline="1", events=["online:1"])
    s = sc.initial()
    for info, s in sc.run_first()[1:]:
        if info.context == "cpu_up/1" and info.function in ("tdx_online_cpu", "tdx_cpu_enable"):
            assert s.cpus[1].hp == UP  # in cpu_online_mask, not yet active
    assert s.cpus[1].hp == ONLINE and s.module.lp_done(1)


def test_7_1_failed_online_callback_rolls_back():
    # old rule: LP.INIT after CONFIG is refused, so 6.16's tdx_online_cpu() fails and the CPU goes back down
    sc = Scenario("kvm-6.16", "old", "1x2x1", events=["offline:1@after", "online:1@after"],
                  offline_keeps_lp_init=False)
    steps = sc.run_first()
    st = steps[-1][1]
    assert st.cpus[1].hp == ONLINE  # the flag is never cleared (k-tdx-c-618): tdx_cpu_enable() returns 0 early
    assert not st.module.lp_done(1)


def test_1_3_offline_of_a_packages_last_cpu_is_refused_while_keyids_are_in_use():
    sc = get_scenario("kvm-6.16-hotplug-td")
    run = sc.run_first()
    final = run[-1][1]
    assert final.kern.keyids_in_use
    assert [cs.hp for cs in final.cpus[2:]].count(OFFLINE) == 1  # one of CPU2/CPU3 went, one was refused
    assert any("-EBUSY" in i.action for i, _ in run[1:] if i.function == "tdx_offline_cpu")
    assert "cpu-online-succeeds" not in [k for k, _ in events_of(run)]  # the refusal is intended


def test_7_3_nosmt_sibling_online_request_gets_eperm():
    sc = Scenario("core-7.1", topology="1x1x2", nosmt=True, events=["online:1"])
    run = sc.run_first()
    assert run[0][1].cpus[1].hp == PARKED
    ev = [i for i, _ in run[1:] if i.key == "event:online:1"][0]
    assert "-EPERM" in ev.action and run[-1][1].cpus[1].hp == PARKED
    assert "cpu-online-succeeds" not in [k for k, _ in events_of(run)]


def test_6_5_vmx_is_refcounted_in_7_1():
    sc = Scenario("core-7.1", topology="1x1x1")
    run = sc.run_first()
    assert run[-1][1].cpus[0].vmx == 1
    assert any("x86_virt_get_ref(): VMX users on CPU0 0 -> 1 (VMXON)" in i.action for i, _ in run[1:])


def test_states_are_hashable_and_equal_when_they_mean_the_same():
    sc = Scenario("v19-2024", topology="1x1x2")
    a = sc.replay([k for k in [i.key for i, _ in sc.run_first()[1:]]])
    b = sc.replay([i.key for i, _ in a[1:]])
    assert [s for _, s in a] == [s for _, s in b]
    assert len({s for _, s in a}) == len(a)  # every step changes the state
    assert hash(a[-1][1]) == hash(b[-1][1])


def test_jumps_resolve_their_labels_when_the_kernel_function_is_built():
    import pytest

    from tdxlab.kernel.lang import Do, Goto, If, KFunc, Label, Ret

    f = KFunc("f", "k-smp-c", [If(lambda x: x.retval != 0, "out"), Do("work", lambda x: None), Goto("out"),
                            Label("out"), Ret(0)])
    assert f.body[0].target == f.body[2].target == f.labels["out"] == 3
    with pytest.raises(ValueError, match="goto 'nowhere'"):
        KFunc("g", "k-smp-c", [If(lambda x: True, "nowhere")])


def test_a_design_shows_its_own_locks_not_those_other_designs_declared():
    # the lock table holds every declared lock (update-7.2 adds seamldr_lock and update_ctrl.lock); the
    # stepper and lockdep's picture show a design the locks its own functions take
    import tdxlab.designs  # noqa: F401 - every design registered, so every lock declared
    from tdxlab.kernel.state import LOCKS
    from tdxlab.views.lockgraph import lock_graph
    from tdxlab.check.explore import explore

    assert "seamldr_lock" in LOCKS
    sc = Scenario("v7-2022", topology="1x1x2")
    shown = [lk["lock"] for lk in sc.machine.describe(sc.initial())["locks"]]
    assert "seamldr_lock" not in shown and "update_ctrl.lock" not in shown and "tdx_module_lock" in shown
    assert "seamldr_lock" not in lock_graph(explore(sc)).source
    up = Scenario("update-7.2", topology="1x1x2")
    assert "seamldr_lock" in [lk["lock"] for lk in up.machine.describe(up.initial())["locks"]]
