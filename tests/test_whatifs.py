"""The what-ifs reviewers asked (issue 15 item 5, tdxlab/designs/whatifs.py): each verdict, and the mechanism
its counterexample (or its control) shows: the status the module answered, the lock, the context."""
import re
import tomllib
from pathlib import Path

import pytest

from helpers import counterexample, explore, get_scenario
from tdxlab.check.properties import PROPERTIES, applicable
from tdxlab.designs import DESIGNS, SHIPPED, get_design
from tdxlab.designs.whatifs import WHATIF_DESIGNS, WHATIFS
from tdxlab.facts import data_dir

REPO = Path(__file__).resolve().parent.parent
MANIFEST = tomllib.loads((data_dir() / "expected.toml").read_text())


def violated(name):
    r = explore(get_scenario(name))
    assert r.complete
    return {p for p, v in r.verdicts.items() if not v.holds}


def replay_until_blocked(sc, keys):
    """Replay a schedule of another scenario on ``sc``; return the steps taken and the first key that is not
    enabled (None if the whole schedule replays)."""
    st = sc.initial()
    steps = []
    for k in keys:
        if k not in {key for key, _ in sc.enabled(st)}:
            return steps, st, k
        info, st = sc.step_info(st, k)
        steps.append((info, st))
    return steps, st, None


# --- the registry -------------------------------------------------------------------------------------------------
def test_whatifs_are_found_by_name_but_are_not_shipped_designs():
    for name, cls in WHATIF_DESIGNS.items():
        assert get_design(name) is cls
        assert name not in SHIPPED and name not in DESIGNS
        assert cls.base in SHIPPED  # each is a patch over a shipped design (design_over)
    assert [w.number for w in WHATIFS] == list(range(1, 9))
    scenarios = {s for w in WHATIFS for s in w.scenarios}
    for s in scenarios:
        assert s in MANIFEST, f"{s} has no entry in data/expected.toml"
    assert {get_scenario(s).design_name for s in scenarios} >= set(WHATIF_DESIGNS)


def test_every_whatif_verdict_in_the_manifest_is_explained():
    text = (data_dir() / "expected.toml").read_text()
    for w in WHATIFS:
        for s in (s for s in w.scenarios if s.startswith("whatif-")):  # (irq-race-second-user is not ours)
            table = text.split(f'["{s}"]', 1)[1].split("\n[", 1)[0]
            lines = {x.split('"')[1]: x for x in table.splitlines() if x.startswith('"')}
            assert set(lines) == set(applicable(get_scenario(s).design))  # its design's chapters only
            for line in lines.values():
                if "violated" in line:
                    assert re.search(r"# \d+ steps: .*\b(k|kc|m|lore|dec)-[a-z0-9]", line), line


# --- 1. two callers of tdx_enable() --------------------------------------------------------------------------------
def test_two_tdx_enable_callers_with_tdx_module_lock_hold():
    assert "mutex_lock(tdx_module_lock)" in get_design("whatif-two-tdx-enable").function_source("tdx_enable")
    assert violated("whatif-two-tdx-enable") == set()


def test_two_tdx_enable_callers_without_the_lock_both_configure_the_module():
    assert "tdx_module_lock" not in "".join(s.text() for s in get_design("whatif-two-tdx-enable-no-lock")().
                                            kernel_sources().values() if s.name == "tdx_enable")
    assert violated("whatif-two-tdx-enable-no-lock") == {"init-succeeds", "lp-init-before-seamcall"}
    _, steps = counterexample(get_scenario("whatif-two-tdx-enable-no-lock"), "init-succeeds")
    configs = [(i.context, i.result) for i, _ in steps[1:] if i.leaf == "TDH.SYS.CONFIG"]
    assert {c for c, _ in configs} == {"modprobe", "tdx-user2"}  # both callers are in init_tdx_module()
    assert ("TDX_SUCCESS" in {r for _, r in configs}) and ("TDX_SYS_CONFIG_NOT_PENDING" in {r for _, r in configs})


def test_71_has_no_second_caller_of_tdx_enable():
    core = get_design("core-7.1")
    assert "tdx_module_lock" not in core.function_source("tdx_enable")
    assert [r[0] for r in core(platform=get_scenario("core-7.1-hotplug").platform).roots(None)] == ["init"]


# --- 2. KVM beside 7.1's TDX ------------------------------------------------------------------------------------
def test_kvm_without_the_refcount_turns_vmx_off_under_tdx():
    assert violated("whatif-7.1-kvm-no-refcount") == {"vmx-before-seamcall"}
    _, steps = counterexample(get_scenario("whatif-7.1-kvm-no-refcount"), "vmx-before-seamcall")
    offs = [i for i, _ in steps[1:] if i.function == "kvm_offline_cpu" and "VMXOFF" in i.action]
    assert offs  # KVM's unload did VMXOFF
    last = steps[-1][0]
    assert (last.context, last.leaf, last.result) == ("tdx-user", "TDH.SYS.RD", "TDX_SEAMCALL_UD")


def test_kvm_with_the_refcount_leaves_vmx_on_for_tdx_in_the_same_interleaving():
    assert violated("whatif-7.1-kvm-refcount") == set()
    r = explore(get_scenario("whatif-7.1-kvm-no-refcount"))
    keys = [k for k in r.verdicts["vmx-before-seamcall"].path]
    steps, _, blocked = replay_until_blocked(get_scenario("whatif-7.1-kvm-refcount"), keys)
    assert blocked is None
    assert any(i.function == "kvm_offline_cpu" and "VMX users 2 -> 1" in i.action for i, _ in steps)
    last = steps[-1][0]
    assert (last.leaf, last.result) == ("TDH.SYS.RD", "TDX_SUCCESS")


def test_kvm_with_its_old_vmxon_cannot_load_beside_tdx():
    assert violated("whatif-7.1-kvm-own-vmxon") == {"no-spurious-error"}  # vmx-before-seamcall holds: TDX keeps VMX
    _, steps = counterexample(get_scenario("whatif-7.1-kvm-own-vmxon"), "no-spurious-error")
    last = steps[-1][0]
    assert last.function == "kvm_online_cpu" and "CR4.VMXE already set: -EBUSY" in last.action


# --- 3. hardware_enable_all() without cpus_read_lock() -------------------------------------------------------------
def test_enable_all_without_cpus_lock_and_without_the_guard_enables_a_cpu_twice():
    code = [x.split("#")[0].strip() for x in
            get_design("whatif-enable-all-no-cpus-lock").function_source("hardware_enable_all").splitlines()]
    assert "mutex_lock(kvm_lock)" in code and "cpus_read_lock()" not in code
    assert violated("whatif-enable-all-no-cpus-lock-no-guard") == {"cpu-online-succeeds", "no-spurious-error"}
    _, steps = counterexample(get_scenario("whatif-enable-all-no-cpus-lock-no-guard"), "cpu-online-succeeds")
    ipi = [n for n, (i, _) in enumerate(steps[1:]) if i.context == "IPI/1" and i.function == "hardware_enable_nolock"]
    busy = [n for n, (i, _) in enumerate(steps[1:]) if i.context == "cpu_up/1" and "-EBUSY" in i.action]
    assert ipi and busy and ipi[0] < busy[0]  # the IPI enabled CPU1 before its own kvm_online_cpu() tried
    assert "online of CPU1 failed with -EIO" in str(steps[-1][0].events)


def test_enable_all_without_cpus_lock_the_guard_makes_the_second_enable_a_no_op():
    assert violated("whatif-enable-all-no-cpus-lock") == set()
    r = explore(get_scenario("whatif-enable-all-no-cpus-lock-no-guard"))
    steps, _, blocked = replay_until_blocked(get_scenario("whatif-enable-all-no-cpus-lock"),
                                             r.verdicts["cpu-online-succeeds"].path)
    assert blocked is None
    assert any(i.context == "cpu_up/1" and "this_cpu_read(hardware_enabled): true" in i.action for i, _ in steps)
    assert not any("-EBUSY" in i.action for i, _ in steps)


# --- 4. cpuhp_setup_state() inside a hotplug callback ---------------------------------------------------------------
def test_setup_state_inside_a_hotplug_callback_deadlocks_on_the_operations_own_write_lock():
    assert violated("whatif-setup-state-in-callback") == {"no-deadlock", "lock-order"}
    _, steps = counterexample(get_scenario("whatif-setup-state-in-callback"), "no-deadlock")
    st = steps[-1][1]
    writer = st.locks[0][0]  # cpu_hotplug_lock: its writer
    assert writer == "cpu_up/1"
    t = st.thread("cpu_up/1")
    assert any(f.fn == "tdx_online_cpu" for f in t.stack)
    assert any(f.fn.startswith("cpuhp_setup_state") for f in t.stack)


# --- 5. a KeyID allocated before cpus_read_lock() -----------------------------------------------------------------
def test_keyid_before_cpus_lock_counts_a_keyid_with_a_package_empty_then_fails_with_eio():
    assert violated("whatif-keyid-before-cpus-lock") == {"package-keys"}
    sc = get_scenario("whatif-keyid-before-cpus-lock")
    _, steps = counterexample(sc, "package-keys")
    info, st = steps[-1]
    assert (info.context, info.action) == ("create-td", "nr_configured_hkid = True")
    assert st.thread("create-td") is not None and not any(c.hp == "online" for c in st.cpus[2:])
    # let TD creation run on: the check under cpus_read_lock() fails it and frees the KeyID
    notes = []
    for _ in range(100):
        if st.thread("create-td") is None:
            break
        keys = [k for k, _ in sc.enabled(st) if not k.startswith("event:")]
        key = "create-td" if "create-td" in keys else keys[0]  # (a hotplug in progress finishes first)
        info, st = sc.step_info(st, key)
        notes.append(info.action)
    assert any("All packages need to have online CPU" in a for a in notes)
    assert any("returns -EIO" in a for a in notes) and not st.kern.keyids_in_use


# --- 6. hotplug while 7.1's initcall is in init_tdx_module() ------------------------------------------------------
def test_offline_during_71_init_leaves_a_package_unkeyed():
    assert "init-succeeds" in violated("whatif-7.1-hotplug-during-init")
    assert violated("core-7.1-hotplug") == set()  # the shipped scenario: no hotplug during initcalls
    _, steps = counterexample(get_scenario("whatif-7.1-hotplug-during-init"), "init-succeeds")
    assert any(i.key == "event:offline:1@init" for i, _ in steps[1:])
    leaves = [(i.leaf, i.result) for i, _ in steps[1:] if i.leaf]
    assert leaves[-1][1] != "TDX_SUCCESS"  # the last SEAMCALL of init_tdx_module() failed
    assert not any(leaf == "TDH.SYS.KEY.CONFIG" and res == "TDX_SUCCESS" and i.cpu == 1
                   for (leaf, res), i in zip(leaves, [i for i, _ in steps[1:] if i.leaf]))


def test_online_during_71_init_does_its_lp_init_under_the_relaxed_rule():
    sc = get_scenario("whatif-7.1-online-during-init")
    assert sc.rule == "relaxed" and violated("whatif-7.1-online-during-init") == set()
    # one interleaving: CPU1 comes online inside init_tdx_module(), after TDH.SYS.CONFIG, and does LP.INIT
    st, seen = sc.initial(), []
    for _ in range(400):
        keys = [k for k, _ in sc.enabled(st)]
        if not keys:
            break
        configured = any(i.leaf == "TDH.SYS.CONFIG" for i in seen)
        key = "event:online:1@init" if configured and "event:online:1@init" in keys else \
            next((k for k in keys if k.startswith("cpu_up/")), next(k for k in keys if not k.startswith("event:")))
        info, st = sc.step_info(st, key)
        seen.append(info)
    lp = [i for i in seen if i.leaf == "TDH.SYS.LP.INIT" and i.cpu == 1]
    assert lp and lp[0].result == "TDX_SUCCESS"
    configs = [n for n, i in enumerate(seen) if i.leaf == "TDH.SYS.CONFIG"]
    assert configs and seen.index(lp[0]) > configs[0]  # after TDH.SYS.CONFIG: only the relaxed rule allows it


# --- 7. the LP.INIT flag cleared at offline -----------------------------------------------------------------------
def test_lp_flag_cleared_at_offline_makes_the_reonline_fail():
    assert violated("whatif-lp-flag-cleared-at-offline") == {"cpu-online-succeeds", "no-spurious-error"}
    _, steps = counterexample(get_scenario("whatif-lp-flag-cleared-at-offline"), "cpu-online-succeeds")
    lp = [i for i, _ in steps[1:] if i.leaf == "TDH.SYS.LP.INIT" and i.context == "cpu_up/1"]
    assert lp and lp[-1].result in ("TDX_SYS_LP_INIT_DONE", "TDX_SYS_LP_INIT_NOT_PENDING")
    assert any("this_cpu_write(tdx_lp_initialized, False)" in i.action for i, _ in steps[1:])
    # under the opposite reading of dec-offline-keeps-lp-init, clearing the flag is what 7.1 would need
    import tdxlab
    forgets = dict(topology="1x1x2", events=["offline:1", "online:1"], offline_keeps_lp_init=False)
    assert tdxlab.check("whatif-lp-flag-cleared-at-offline", **forgets).violated == []
    assert tdxlab.check("core-7.1", **forgets).violated == ["online-cpus-ready"]


# --- 8. a second TDX user that keeps the rule ---------------------------------------------------------------------
def test_second_user_with_irqs_off_is_the_control_of_second_user():
    assert violated("whatif-second-user-irqs-off") == set()
    assert {"no-deadlock", "no-spurious-error"} <= violated("irq-race-second-user")
    # the mutation's deadlock needs an IPI while the task holds sysinit_lock: with IRQs off it is not delivered
    r = explore(get_scenario("irq-race-second-user"))
    sc = get_scenario("whatif-second-user-irqs-off")
    steps, st, blocked = replay_until_blocked(sc, r.verdicts["no-deadlock"].path)
    assert blocked is not None and blocked.startswith("ipi:")
    t = st.thread("second-user")
    assert t is not None and t.irqs_off > 0  # the second user holds its CPU with IRQs off
    assert any("local_irq_save" in i.action for i, _ in steps)


# --- what users see -------------------------------------------------------------------------------------------------
def test_the_table_is_computed_and_links_its_sources():
    from tdxlab import sources
    from tdxlab.whatifs_view import html_table, rows, verdict_text

    rs = rows()
    assert {r.scenario for r in rs} == {s for w in WHATIFS for s in w.scenarios}
    for r in rs:
        exp = {p for p in PROPERTIES if MANIFEST[r.scenario].get(p) == "violated"}
        assert {p for p, _ in r.violated} == exp
        assert (verdict_text(r) == "every property holds") == (not exp)
    h = html_table()
    for w in WHATIFS:
        for k in sources.keys_in(w.sources):
            assert f'href="{sources.url(k, "notebooks")}"' in h


def test_docs_whatifs_md_carries_the_computed_table():
    from tdxlab.whatifs_view import markdown

    text = (REPO / "docs" / "whatifs.md").read_text()
    assert markdown() in text


@pytest.mark.parametrize("name", sorted(WHATIF_DESIGNS))
def test_tdxlab_check_finds_each_whatif_by_name(name, capsys):
    from tdxlab.cli import main

    sc = next(s for w in WHATIFS for s in w.scenarios if get_scenario(s).design_name == name)
    code = main(["check", "--scenario", sc])
    assert code in (0, 1)
    assert name in capsys.readouterr().out


def test_the_cli_checks_and_lists_a_whatif_by_name(capsys):
    from tdxlab.cli import main

    code = main(["check", "whatif-lp-flag-cleared-at-offline", "--topology", "1x1x2", "--event", "offline:1",
                 "--event", "online:1"])
    out = capsys.readouterr().out
    assert code == 1 and "cpu-online-succeeds" in out
    assert main(["designs"]) == 0
    plain = capsys.readouterr().out
    assert "whatif-" not in plain  # the shipped list keeps its contract
    assert main(["designs", "--what-ifs"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in WHATIF_DESIGNS)
