"""The teardown chapter (issue 17 items 1-2): TDH.SYS.DISABLE, the cache flush, kexec and kdump, and the open
bug, each test named after the source it checks the model against (keys of data/sources.toml)."""
from __future__ import annotations

import pytest

import tdxlab
from tdxlab import facts, module
from tdxlab.check.explore import explore
from tdxlab.designs import DESIGNS
from tdxlab.designs import teardown_72 as T
from tdxlab.designs.teardown_72 import KAI_FIX, TEARDOWN_72, kai_fix_design, kexec_completes
from tdxlab.kernel.state import HOTPLUG
from tdxlab.kernel.teardown import AssertPreemptionDisabled
from tdxlab.scenario import Scenario, get_scenario

NEW = ("no-seamcall-after-disable", "flushed-before-kexec", "flush-on-own-cpu", "context-asserts")


def check(name):
    r = explore(get_scenario(name))
    assert r.complete
    return r


def violated(r):
    return {p for p, v in r.verdicts.items() if v.holds is False}


# --- facts: the leaf and the statuses -----------------------------------------------------------------
def test_k_tdx_h_72_leaf_69_and_k_tdx_errno_h_72_statuses():
    assert facts.leaf_number("TDH.SYS.DISABLE") == 69
    assert facts.status_value("TDX_SYS_BUSY") == 0x8000020200000000
    assert facts.status_value("TDX_INTERRUPTED_RESUMABLE") == 0x8000000300000000
    d = tdxlab.decode(0x8000020200000000)
    assert d.name == "TDX_SYS_BUSY" and "tdx_sys_disable()" in d.cause


def test_dec_sys_disable_interrupted_once_then_done_then_everything_refused():
    m = module.ModuleState(sys=module.SYS_READY)
    kw = dict(rule="relaxed", num_lps=2, num_pkgs=1, package=0)
    s1, m = module.call(m, module.SYS_DISABLE, 0, **kw)
    s2, m = module.call(m, module.SYS_DISABLE, 0, **kw)
    assert (s1, s2) == ("TDX_INTERRUPTED_RESUMABLE", "TDX_SUCCESS")
    for leaf in module.LEAVES:
        assert module.call(m, leaf, 1, **kw)[0] == "TDX_SYS_SHUTDOWN"
    assert module.call(module.ModuleState(), module.SYS_DISABLE, 0, **kw)[0] == "TDX_SYS_NOT_READY"
    busy = module.call(module.ModuleState(sys=module.SYS_READY), module.SYS_DISABLE, 0, lockout=False, **kw)
    assert busy[0] == "TDX_SYS_BUSY" and busy[1] == module.ModuleState(sys=module.SYS_READY)


# --- kc-tdx-sys-disable: the retry loop -------------------------------------------------------------------
def kexec_steps(name):
    """The steps of the kexec context on one run of scenario ``name`` (bring-up first, then kexec)."""
    sc = get_scenario(name)
    st = sc.initial()
    out = []
    for _ in range(500):
        keys = [s.key for s in sc.enabled(st)]
        if not keys:
            break
        k = "event:kexec" if st.phase == "user" and "event:kexec" in keys else keys[0]
        info, st = sc.machine.step(st, k)
        if info.context == "kexec":
            out.append((info, st))
    return out


def test_kc_tdx_sys_disable_retries_interrupted_resumable_until_success():
    leaves = [(i.leaf, i.result) for i, _ in kexec_steps("teardown-kexec") if i.leaf]
    assert leaves == [("TDH.SYS.DISABLE", "TDX_INTERRUPTED_RESUMABLE"), ("TDH.SYS.DISABLE", "TDX_SUCCESS")]
    assert kexec_completes(get_scenario("teardown-kexec"))


def test_kc_tdx_sys_disable_loops_forever_without_the_lockout_lore_rick_2026_03_07():
    steps = kexec_steps("teardown-no-lockout")
    busy = [(i, st) for i, st in steps if i.result == "TDX_SYS_BUSY"]
    assert len(busy) >= 2 and busy[-1][1] == busy[-2][1]  # a retry returns to the state it left
    assert not kexec_completes(get_scenario("teardown-no-lockout"))
    r = check("teardown-no-lockout")
    assert r.states == r.transitions  # the one extra transition is the retry's self-loop


# --- kc-seamcall-dirty-cache, kc-percpu-wbinvd: the mark --------------------------------------------------
def test_kc_seamcall_dirty_cache_every_seamcall_marks_its_cpu():
    sc = get_scenario("teardown-offline-assert")
    st = sc.initial()
    while st.phase != "user":
        st = sc.step(st, [s.key for s in sc.enabled(st) if not s.key.startswith("event:")][0])
    mark = sc.machine.cache_mark
    assert [cs.vars[mark] for cs in st.cpus] == [True, True]  # both CPUs did TDH.SYS.LP.INIT
    assert DESIGNS["core-7.1"]().percpu == {}  # the bring-up designs do not declare it: their states unchanged


def test_kc_tdx_cache_flush_tdx_shutdown_flushes_every_cpu_after_the_disable():
    steps = kexec_steps("teardown-kexec")
    last = steps[-2][1]  # the state before machine_kexec()
    mark = get_scenario("teardown-kexec").machine.cache_mark
    assert not any(cs.vars[mark] for cs in last.cpus)
    assert last.module.disable == module.DISABLE_DONE


# --- the open bug and Kai's fix -----------------------------------------------------------------------------
def test_bug_report_tdx_offline_cpu_reaches_the_preemption_assert_k_tdx_c_72():
    r = check("teardown-offline-assert")
    assert violated(r) == {"kernel-asserts", "context-asserts"}
    ce = r.counterexample("context-asserts")
    info, st = ce[-1]
    assert info.context == "cpu_down/1" and info.cpu == 1
    assert st.thread("cpu_down/1").kind == HOTPLUG
    assert any("lockdep_assert_preemption_disabled() in tdx_cpu_flush_cache()" in d for _, d in info.events)
    funcs = [i.function for i, _ in ce[1:]]
    assert "event:offline:1" in r.verdicts["context-asserts"].path
    assert funcs[-1] in ("tdx_offline_cpu", "tdx_cpu_flush_cache")
    # the shortest path: bring-up, the offline request, and cpu_down/1 straight to the assertion
    after = r.verdicts["context-asserts"].path[r.verdicts["context-asserts"].path.index("event:offline:1") + 1:]
    assert set(after) == {"cpu_down/1"}
    assert r.verdicts["flush-on-own-cpu"].holds  # the hotplug thread is bound to CPU1


def test_lore_kai_2026_04_08_fix_removes_the_assert_and_breaks_no_same_cpu_property():
    srcs = KAI_FIX.apply({s.name: s for s in TEARDOWN_72.sources})
    assert "lockdep_assert_preemption_disabled" not in srcs["tdx_cpu_flush_cache"].text()
    assert "__this_cpu_write(cache_state_incoherent, False)" in srcs["tdx_cpu_flush_cache"].text()
    fixed = Scenario("teardown-7.2", topology="1x1x2", events=["offline:1"], mutations=["kai-fix"])
    kf = fixed.machine.funcs["tdx_cpu_flush_cache"]
    assert not any(isinstance(i, AssertPreemptionDisabled) for i in kf.body)
    r = check("teardown-offline-kai-fix")
    assert violated(r) == set()
    assert kai_fix_design().name == "teardown-7.2-kai-fix"


def test_lore_kai_2026_03_02b_the_requirement_is_the_same_cpu_not_preemption_off():
    # the same fix, but the flush moved into the kexec task (no on_each_cpu): preemptible *and* free to migrate
    r = check("teardown-no-on-each-cpu")
    assert {"flush-on-own-cpu", "flushed-before-kexec"} <= violated(r)
    assert "context-asserts" not in violated(r)
    # the report's own fix silences the assertion as well
    assert violated(check("teardown-report-fix")) == set()


def test_k_crash_c_72_kdump_never_reaches_the_flush():
    r = check("teardown-kdump")
    assert violated(r) == set()
    funcs = {u.function for u in r.unreached()}
    assert "tdx_cpu_flush_cache" in funcs  # the [BUG] report's "and the crash path" does not hold


# --- the threads' what-ifs ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("teardown-flush-before-disable", {"flushed-before-kexec"}),            # kc-tdx-cache-flush
    ("teardown-no-shutdown-flush", {"flushed-before-kexec"}),               # kc-kvm-tdx-wbinvd
    ("teardown-no-offline-flush", set()),                                   # lore-kai-2026-03-09
    ("teardown-offline-then-kexec", set()),
    ("teardown-panic-during-kexec", {"no-seamcall-after-disable", "vmx-before-seamcall"}),
])
def test_lore_vishal_2026_03_23_what_ifs(name, expected):
    assert violated(check(name)) == expected


def test_the_new_properties_do_not_apply_to_a_bring_up_scenario():
    """core-7.1 has no teardown: the chapter's properties are not decided there (not "holds", vacuously)."""
    r = check("core-7.1-hotplug")
    assert not set(NEW) & set(r.verdicts) and set(NEW) <= set(r.not_applicable)


def test_kc_tdx_cache_flush_the_marks_clear_one_cpu_at_a_time_in_the_ipis():
    sc = get_scenario("teardown-kexec")
    table = T.cache_marks(sc, T.first_run(sc))
    assert table["SEAMCALL"].iloc[0] == "TDH.SYS.DISABLE -> TDX_INTERRUPTED_RESUMABLE"
    marks = [table[f"CPU{c} mark"].tolist() for c in range(4)]
    assert all(m[0] == "set" for m in marks)  # every CPU did LP.INIT at boot
    assert all(m[-1] == "" for m in marks)  # and is flushed before machine_kexec()
    cleared = [next(i for i, v in enumerate(m) if v == "") for m in marks]
    assert cleared == sorted(cleared) and len(set(cleared)) == 4  # CPU0 locally first, then an IPI per CPU
    assert set(table["context"][table["function"] == "tdx_shutdown_cpu"]) == {"IPI/1", "IPI/2", "IPI/3"}


def test_the_threads_what_ifs_table_says_what_each_check_finds():
    from tdxlab.designs.teardown_72 import what_ifs

    rows = {r["scenario"]: r for r in what_ifs()}
    assert "flushed-before-kexec" in rows["teardown-flush-before-disable"]["violated"]
    assert rows["teardown-offline-then-kexec"]["violated"] == "nothing"
    assert rows["teardown-offline-then-kexec"]["kexec completes"] is True
    assert rows["teardown-no-lockout"]["kexec completes"] is False
    assert "no-seamcall-after-disable" in rows["teardown-panic-during-kexec"]["violated"]
