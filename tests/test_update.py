"""The runtime-update chapter (issue 17 item 3): update-7.2 read beside the merged seamldr.c, its what-ifs,
and the module's update leaves. Test names carry the source keys they check (data/sources.toml)."""
import pytest
from helpers import Scenario, counterexample, events_of, explore, get_scenario

from tdxlab import facts, module
from tdxlab.kernel.state import LOCK_INDEX
from tdxlab.kernel.update import STOPPER
from tdxlab.update_view import ARGUMENTS, in_order, leaves_table, verdict_text

UPDATE = "update-7.2"


def run_in_order(sc, events=()):
    """Run ``sc`` context by context, firing ``events`` in this order (tdxlab.update_view.in_order), as
    [(StepInfo, State)]; every event must have fired."""
    schedule = in_order(sc, events)
    assert [k for k in schedule if k.startswith("event:")] == [f"event:{e}" for e in events]
    return sc.replay(schedule)


def seamcalls(steps):
    return [(info.cpu, info.context, info.leaf, info.result) for info, _ in steps[1:] if info.leaf]


# --- the merged design -----------------------------------------------------------------------------------
def test_k_seamldr_c_72_lockstep_shutdown_install_init_update():
    sc = Scenario(UPDATE, topology="1x1x2", events=["update"])
    steps = run_in_order(sc, ["update"])
    calls = seamcalls(steps)
    start = next(i for i, c in enumerate(calls) if c[2] == module.SYS_SHUTDOWN_LEAF)
    upd = calls[start:]
    leaves = [c[2] for c in upd]
    # CPU 0 shuts down, every CPU installs (one at a time), every CPU does LP.INIT, CPU 0 updates
    assert upd[0][:3] == (0, f"{STOPPER}0", module.SYS_SHUTDOWN_LEAF)
    installs = [c for c in upd if c[2] == module.SEAMLDR_INSTALL]
    assert sorted(c[0] for c in installs) == [0, 1]
    assert leaves.index(module.SEAMLDR_INSTALL) < leaves.index(module.SYS_INIT) < leaves.index(module.SYS_UPDATE)
    assert sorted(c[0] for c in upd if c[2] == module.LP_INIT) == [0, 1]
    up = next(c for c in upd if c[2] == module.SYS_UPDATE)
    assert up[:2] == (0, f"{STOPPER}0") and up[3] == "TDX_SUCCESS"
    # every update leaf ran in a stopper, and every SEAMCALL succeeded
    assert all(c[1].startswith(STOPPER) for c in upd if c[2] in module.UPDATE_STEP)
    assert all(c[3] == "TDX_SUCCESS" for c in calls)
    final = steps[-1][1]
    assert final.module.sys == module.SYS_READY and final.module.gen == 1 and final.module.upd == module.UPD_NONE
    assert final.kern.tdx_module_status == "INITIALIZED" and not final.threads
    assert all(cs.lp_flag for cs in final.cpus)


def test_k_seamldr_c_72_tdx_lp_initialized_cleared_for_every_possible_cpu():
    # CPU1 is offline during the update: the lead clears its flag too, so its online callback does
    # LP.INIT on the new module afterwards (tdx_online_cpu() -> tdx_cpu_enable())
    sc = Scenario(UPDATE, topology="1x1x2", events=["offline:1", "online:1", "update"])
    steps = run_in_order(sc, ["offline:1", "update", "online:1"])
    shut = next(i for i, (info, _) in enumerate(steps[1:], 1) if info.leaf == module.SYS_SHUTDOWN_LEAF)
    after = steps[shut + 1:]
    cleared = [info for info, _ in after if info.function == "tdx_module_shutdown" and "per_cpu(" in info.action]
    assert {"per_cpu(tdx_lp_initialized, CPU0) = False", "per_cpu(tdx_lp_initialized, CPU1) = False"} <= \
        {a.strip() for info in cleared for a in info.action.split(";")}
    online_init = [info for info, _ in after if info.leaf == module.LP_INIT and info.cpu == 1]
    assert online_init and online_init[-1].context == "cpu_up/1" and online_init[-1].result == "TDX_SUCCESS"
    assert steps[-1][1].module.lp_done(1) and steps[-1][1].module.gen == 1


def test_k_stop_machine_c_stoppers_own_every_online_cpu():
    sc = Scenario(UPDATE, topology="1x1x2", events=["update"])
    steps = run_in_order(sc, ["update"])
    mid = next(st for info, st in steps[1:] if info.leaf == module.SYS_SHUTDOWN_LEAF)
    stoppers = [t for t in mid.threads if t.name.startswith(STOPPER)]
    assert sorted(t.cpu for t in stoppers) == [0, 1] and all(t.irqs_off for t in stoppers)
    # the caller sleeps in stop_machine_cpuslocked(), holding cpu_hotplug_lock for read
    caller = mid.thread("fw_upload")
    assert "cpu_hotplug_lock" in mid.holds("fw_upload") and caller.stack[-1].fn == "seamldr_install_module"
    # nothing but the stoppers may run (their CPUs are held with IRQs off)
    assert all(k.startswith(STOPPER) for k in (e.key for e in sc.enabled(mid)))


def test_k_seamldr_c_72_cpus_read_lock_holds_an_online_off():
    # update-7.2: CPU1 may come online at any time; it waits for the update or the update waits for it
    r = explore(get_scenario(UPDATE))
    assert r.verdicts["update-cpus-stable"].holds and r.verdicts["no-deadlock"].holds


# --- the what-ifs --------------------------------------------------------------------------------------------
def test_k_stop_machine_c_without_cpus_read_lock_a_cpu_joins_mid_update():
    sc = get_scenario("update-no-hotplug-lock")
    _, steps = counterexample(sc, "kernel-asserts")
    assert any("lockdep_assert_cpus_held() in stop_machine_cpuslocked()" in d for _, d in events_of(steps))
    _, steps = counterexample(sc, "update-cpus-stable")
    last = steps[-1][1]
    assert last.cpus[1].hp != "offline" and not any(t.name == f"{STOPPER}1" for t in last.threads)
    assert "cpu_hotplug_lock" not in last.holds("fw_upload")
    # num_online_cpus() counts CPU1, which never acknowledges: the stoppers spin forever
    _, steps = counterexample(sc, "no-deadlock")
    last = steps[-1][1]
    assert last.cpus[1].hp == "online" and [t.cpu for t in last.threads if t.name.startswith(STOPPER)] == [0]
    assert "spins" in sc.machine.blocked_reason(last, last.thread(f"{STOPPER}0"))


def test_lore_chao_2026_05_20_no_lp_reset_fails_tdh_sys_update():
    _, steps = counterexample(get_scenario("update-no-lp-reset"), "update-after-lp-init")
    info = steps[-1][0]
    assert info.leaf == module.SYS_UPDATE and info.result == "TDX_SYS_STATE_INCORRECT" and info.errno == "-EIO"
    # no LP.INIT and no TDH.SYS.INIT reached the new module: the stale flags returned 0 at once
    shut = max(i for i, (inf, _) in enumerate(steps[1:], 1) if inf.leaf == module.SYS_SHUTDOWN_LEAF)
    assert not [inf for inf, _ in steps[shut:] if inf.leaf in (module.SYS_INIT, module.LP_INIT)]


def test_lore_chao_2026_01_23_online_only_reset_leaves_a_stale_flag():
    _, steps = counterexample(get_scenario("update-lp-reset-online-only"), "online-cpus-ready")
    keys = [inf.key for inf, _ in steps[1:]]
    assert keys.index("event:offline:1") < keys.index("event:update")
    # CPU1 comes back only after the shutdown cleared the online CPUs' flags, and does no LP.INIT then
    shut = next(i for i, (inf, _) in enumerate(steps) if inf is not None and inf.leaf == module.SYS_SHUTDOWN_LEAF)
    back = next(i for i, (_, st) in enumerate(steps) if i > shut and st.cpus[1].hp == "online")
    assert steps[shut][1].cpus[1].hp == "offline"
    assert not [inf for inf, _ in steps[shut:] if inf.leaf == module.LP_INIT and inf.cpu == 1]
    assert back > shut
    final = steps[-1][1]
    assert final.cpus[1].lp_flag and not final.module.lp_done(1) and final.module.gen == 1


def test_lore_chao_2026_05_20_abort_stops_every_cpu_at_the_failed_step():
    r = explore(get_scenario("update-stale-sysinit"))
    assert r.verdicts["update-stops-on-failure"].holds and r.verdicts["update-after-lp-init"].holds
    _, steps = counterexample(get_scenario("update-stale-sysinit"), "lp-init-before-seamcall")
    assert steps[-1][0].leaf == module.LP_INIT and steps[-1][0].result == "TDX_SYS_LP_INIT_NOT_PENDING"
    # without the abort (v10 14/25) the same failure is followed by TDH.SYS.UPDATE
    _, steps = counterexample(get_scenario("update-no-abort"), "update-stops-on-failure")
    leaves = [(inf.leaf, inf.result) for inf, _ in steps[1:] if inf.leaf]
    assert (module.LP_INIT, "TDX_SYS_LP_INIT_NOT_PENDING") in leaves
    assert leaves[-1][0] == module.SYS_UPDATE


def test_k_seamldr_c_72_lead_that_can_go_offline_skips_shutdown_and_update():
    _, steps = counterexample(get_scenario("update-lead-offline"), "online-cpus-ready")
    leaves = [inf.leaf for inf, _ in steps[1:] if inf.leaf]
    assert module.SEAMLDR_INSTALL in leaves
    assert module.SYS_SHUTDOWN_LEAF not in leaves and module.SYS_UPDATE not in leaves
    final = steps[-1][1]
    assert final.kern.tdx_module_status == "INITIALIZED" and final.module.upd == module.UPD_NO_HANDOFF


def test_m_sys_update_counts_every_lp_under_the_old_rule():
    sc = get_scenario("update-offline-old-rule")
    steps = run_in_order(sc, ["offline:1", "update"])
    up = [inf for inf, _ in steps[1:] if inf.leaf == module.SYS_UPDATE]
    assert [(u.result, u.errno) for u in up] == [("TDX_SYS_STATE_INCORRECT", "-EIO")]
    final = steps[-1][1]
    assert final.kern.tdx_module_status != "INITIALIZED" and final.module.sys == module.SYSINIT_DONE
    # the relaxed rule does not count the offline LP (dec-update-lp-count)
    relaxed = Scenario(UPDATE, topology="1x1x2", events=["offline:1", "update"])
    steps = run_in_order(relaxed, ["offline:1", "update"])
    assert [inf.result for inf, _ in steps[1:] if inf.leaf == module.SYS_UPDATE] == ["TDX_SUCCESS"]


# --- the module's update leaves (m-sys-shutdown, m-sys-update, m-dispatcher) ---------------------------------
def _ready():
    return module.ModuleState(module.SYS_READY, num_lps=2, num_pkgs=1, lp_init=0b11, pkg_keyed=1, tdmr_done=True)


def test_m_sys_shutdown_then_every_other_leaf_gets_tdx_sys_shutdown():
    kw = dict(rule="relaxed", num_lps=2, num_pkgs=1, package=0)
    st, m = module.call(_ready(), module.SYS_SHUTDOWN_LEAF, 0, **kw)
    assert st == "TDX_SUCCESS" and m.sys == module.SYS_SHUTDOWN and m.upd == module.UPD_SHUT_DOWN
    assert module.call(m, module.SYS_RD, 1, **kw)[0] == "TDX_SYS_SHUTDOWN"
    assert module.call(m, module.LP_INIT, 1, **kw)[0] == "TDX_SYS_SHUTDOWN"
    # SHUTDOWN before SYS_READY: not on the dispatcher's whitelist
    assert module.call(module.ModuleState(module.SYSINIT_DONE), module.SYS_SHUTDOWN_LEAF, 0, **kw)[0] == \
        "TDX_SYS_NOT_READY"


def test_m_sys_update_needs_sysinit_done_and_the_handoff():
    kw = dict(rule="old", num_lps=2, num_pkgs=1, package=0)
    _, m = module.call(_ready(), module.SYS_SHUTDOWN_LEAF, 0, **kw)
    _, m = module.call(m, module.SEAMLDR_INSTALL, 0, **kw)
    assert (m.sys, m.gen, m.lp_init, m.upd) == (module.SYSINIT_PENDING, 1, 0, module.UPD_INSTALLED)
    _, m = module.call(m, module.SEAMLDR_INSTALL, 1, **kw)
    assert module.call(m, module.SYS_UPDATE, 0, **kw)[0] == "TDX_SYS_STATE_INCORRECT"
    _, m = module.call(m, module.SYS_INIT, 0, **kw)
    _, m = module.call(m, module.LP_INIT, 0, **kw)
    assert module.call(m, module.SYS_UPDATE, 0, **kw)[0] == "TDX_SYS_STATE_INCORRECT"  # LP 1 missing
    _, m = module.call(m, module.LP_INIT, 1, **kw)
    st, m2 = module.call(m, module.SYS_UPDATE, 0, **kw)
    assert st == "TDX_SUCCESS" and m2.sys == module.SYS_READY and m2.pkg_keyed == 1 and m2.tdmr_done
    # a module installed over one nobody shut down has no handoff
    _, n = module.call(_ready(), module.SEAMLDR_INSTALL, 0, **kw)
    _, n = module.call(n, module.SYS_INIT, 0, **kw)
    _, n = module.call(n, module.LP_INIT, 0, **kw)
    _, n = module.call(n, module.LP_INIT, 1, **kw)
    assert module.call(n, module.SYS_UPDATE, 0, **kw)[0] == "TDX_SYS_INVALID_HANDOFF"


@pytest.mark.parametrize("name", ["TDX_SYS_INVALID_HANDOFF", "TDX_UPDATE_COMPAT_SENSITIVE",
                                  "TDX_SYS_STATE_INCORRECT", "TDX_SYS_SHUTDOWN"])
def test_m_error_codes_h_the_update_statuses_decode(name):
    v = facts.status_value(name)
    assert facts.status_name(v) == name
    assert facts.kernel_errno(v) == "-EIO"


def test_lore_chao_2026_05_20_compat_sensitive_is_not_in_the_merged_model():
    # Dave Hansen dropped v10 22/25: the merged TDH.SYS.SHUTDOWN sets no RCX bit 16 and no status becomes
    # -EBUSY; the status is known to decode, from the posting only
    from tdxlab.designs.seamldr_72 import UPDATE_72
    text = UPDATE_72.function_source("tdx_module_shutdown") + UPDATE_72.function_source("seamldr_install_module")
    assert "EBUSY" not in text and "COMPAT" not in text
    row = facts.status_row(facts.status_value("TDX_UPDATE_COMPAT_SENSITIVE"))
    assert row["source"] == "lore-chao-2026-05-20" and "dropped" in row["cause"]
    assert module.call(_ready(), module.SYS_SHUTDOWN_LEAF, 0, rule="relaxed", num_lps=2, num_pkgs=1,
                       package=0)[0] == "TDX_SUCCESS"


# --- the notebook's tables (tdxlab.update_view) ----------------------------------------------------------------
def test_the_arguments_table_agrees_with_the_manifest():
    import tomllib
    from tdxlab.facts import data_dir
    manifest = tomllib.loads((data_dir() / "expected.toml").read_text())
    for a in ARGUMENTS:
        bad = {p for p, v in manifest[a.scenario].items() if v == "violated"}
        text = verdict_text(a.scenario)
        assert (text == "every property holds") == (not bad), a.scenario
        assert {p for p in bad if f"{p} (" not in text} == set(), a.scenario


def test_the_leaves_table_takes_its_values_from_the_data():
    df = leaves_table().set_index("name")
    assert df.loc["TDH.SYS.SHUTDOWN", "number or value"] == str(facts.leaf_number("TDH.SYS.SHUTDOWN")) == "52"
    assert df.loc["TDH.SYS.UPDATE", "number or value"] == "53"
    assert int(df.loc["TDX_SYS_INVALID_HANDOFF", "number or value"], 16) == facts.status_value("TDX_SYS_INVALID_HANDOFF")


def test_lore_chao_2026_05_20_an_irqs_off_reader_of_the_rwlock_never_gets_the_update_ipi():
    # v10 14/25: "CPUs spinning with IRQs disabled cannot be directed to perform update work"
    sc = get_scenario("update-rwlock")
    _, steps = counterexample(sc, "no-deadlock")
    last = steps[-1][1]
    user, upd = last.thread("tdx_user"), last.thread("fw_upload")
    assert user.kind == "hardirq" and user.cpu == 1
    assert last.locks[LOCK_INDEX["tdx_update_lock"]][0] == "fw_upload"
    assert "waits for tdx_update_lock" in sc.machine.blocked_reason(last, user)
    assert (1, "tdx_update_ipi", "fw_upload") in last.ipis  # queued, never delivered: IRQs are off on CPU1
    assert "spins" in sc.machine.blocked_reason(last, upd) and upd.irqs_off
    assert not sc.enabled(last)


def test_k_seamldr_c_72_preempt_disable_holds_stop_machine_off():
    sc = get_scenario("update-hold-off")
    st = sc.initial()
    while not st.kern.init_done:  # bring-up first
        st = sc.step(st, next(e.key for e in sc.enabled(st) if not e.key.startswith("event:")))
    st = sc.step(st, "event:version-read")
    for _ in range(3):  # seamldr_lock_module_update(), the initialized test, the major number
        st = sc.step(st, "cat")
    assert st.thread("cat").preempt_off == 1
    st = sc.step(st, "event:update")
    while "fw_upload" in {e.key for e in sc.enabled(st)}:
        st = sc.step(st, "fw_upload")
    fw = st.thread("fw_upload")
    assert sc.machine.instr(fw).text(st, fw).startswith("stop_machine_cpuslocked")
    assert "preemption or IRQs off" in sc.machine.blocked_reason(st, fw)
    # once the reader is done (preempt_enable()), the stoppers start
    while st.thread("cat") is not None:
        st = sc.step(st, "cat")
    st = sc.step(st, "fw_upload")
    assert {t.name for t in st.threads} >= {"migration/0", "migration/1"}
    # without the hold-off the same interleaving lets stop_machine() start inside the reader's reads
    assert explore(get_scenario("update-no-hold-off")).verdicts["update-holds-off-readers"].holds is False
