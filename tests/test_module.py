"""The TDX module's rules, one test each, named after the fact it stands on (docs/facts.md)."""
import pytest

from tdxlab import module as M
from tdxlab.errors import UnknownName

KW = dict(num_lps=2, num_pkgs=1, package=0)


def call(m, leaf, cpu=0, rule="relaxed", **kw):
    return M.call(m, leaf, cpu, rule=rule, **{**KW, **kw})


def init(rule="relaxed", lps=(0, 1), num_pkgs=1):
    s, m = call(M.ModuleState(), M.SYS_INIT, rule=rule, num_pkgs=num_pkgs)
    for c in lps:
        s, m = call(m, M.LP_INIT, c, rule=rule)
    return m


def test_1_1_sys_init_once_then_not_pending():
    s, m = call(M.ModuleState(), M.SYS_INIT)
    assert s == "TDX_SUCCESS" and m.sys == M.SYSINIT_DONE and m.num_lps == 2
    assert call(m, M.SYS_INIT)[0] == "TDX_SYS_INIT_NOT_PENDING"


def test_1_1_sys_init_contended_global_lock_is_busy():
    assert call(M.ModuleState(), M.SYS_INIT, global_lock_busy=True)[0] == "TDX_SYS_BUSY"


def test_1_1_lp_init_twice_gives_lp_init_done():
    m = init(lps=(0,))
    assert call(m, M.LP_INIT, 0)[0] == "TDX_SYS_LP_INIT_DONE"


@pytest.mark.parametrize("rule", ["old", "relaxed"])
def test_10_3_lp_init_before_sys_init_is_refused(rule):
    assert call(M.ModuleState(), M.LP_INIT, rule=rule)[0] == "TDX_SYS_LP_INIT_NOT_PENDING"


def test_1_1_sys_rd_needs_lp_init_on_the_calling_lp():
    m = init(lps=(0,))
    assert call(m, M.SYS_RD, 1)[0] == "TDX_SYS_LP_INIT_NOT_DONE"
    assert call(m, M.SYS_RD, 0)[0] == "TDX_SUCCESS"


def test_5_1_old_rule_config_needs_every_bios_enabled_lp():
    m = init("old", lps=(0,))
    assert call(m, M.SYS_CONFIG, 0, "old")[0] == "TDX_SYS_CONFIG_NOT_PENDING"
    s, m = call(m, M.LP_INIT, 1, "old")
    assert call(m, M.SYS_CONFIG, 0, "old")[0] == "TDX_SUCCESS"


def test_5_1_old_rule_lp_init_only_in_sysinit_done():
    m = init("old")
    s, m = call(m, M.SYS_CONFIG, 0, "old")
    assert s == "TDX_SUCCESS"
    assert call(m, M.LP_INIT, 1, "old")[0] == "TDX_SYS_LP_INIT_NOT_PENDING"


def test_5_3_relaxed_rule_lp_init_after_config_and_config_does_not_count_lps():
    m = init("relaxed", lps=(0,))
    s, m = call(m, M.SYS_CONFIG, 0)
    assert s == "TDX_SUCCESS"
    s, m = call(m, M.LP_INIT, 1)
    assert s == "TDX_SUCCESS" and m.lp_done(1)


def test_10_3_relaxed_rule_other_seamcalls_need_lp_init_on_that_lp():
    m = init("relaxed", lps=(0,))
    assert call(m, M.SYS_CONFIG, 1)[0] == "TDX_SYS_LP_INIT_NOT_DONE"


def test_10_4_failed_config_leaves_sysinit_done():
    m = init("old", lps=(0,))
    s, m2 = call(m, M.SYS_CONFIG, 0, "old")
    assert s == "TDX_SYS_CONFIG_NOT_PENDING" and m2.sys == M.SYSINIT_DONE


def test_1_1_key_config_per_package_last_makes_sys_ready():
    m = init(lps=(0, 1), num_pkgs=2)
    s, m = call(m, M.SYS_CONFIG, 0, num_pkgs=2)
    s, m = M.call(m, M.KEY_CONFIG, 0, rule="relaxed", num_lps=2, num_pkgs=2, package=0)
    assert s == "TDX_SUCCESS" and m.sys == M.SYSCONFIG_DONE
    assert M.call(m, M.KEY_CONFIG, 0, rule="relaxed", num_lps=2, num_pkgs=2,
                  package=0)[0] == "TDX_KEY_CONFIGURED"
    s, m = M.call(m, M.KEY_CONFIG, 1, rule="relaxed", num_lps=2, num_pkgs=2, package=1)
    assert s == "TDX_SUCCESS" and m.sys == M.SYS_READY


def test_1_1_key_config_outside_sysconfig_done():
    m = init()
    assert call(m, M.KEY_CONFIG, 0)[0] == "TDX_SYS_KEY_CONFIG_NOT_PENDING"


def test_1_1_concurrent_key_config_is_busy():
    m = init()
    s, m = call(m, M.SYS_CONFIG, 0)
    assert call(m, M.KEY_CONFIG, 0, global_lock_busy=True)[0] == "TDX_SYS_BUSY"


def test_1_1_tdmr_init_before_sys_ready_is_not_ready_then_once():
    m = init()
    assert call(m, M.TDMR_INIT, 0)[0] == "TDX_SYS_NOT_READY"
    s, m = call(m, M.SYS_CONFIG, 0)
    s, m = call(m, M.KEY_CONFIG, 0)
    assert m.sys == M.SYS_READY
    s, m = call(m, M.TDMR_INIT, 0)
    assert s == "TDX_SUCCESS"
    assert call(m, M.TDMR_INIT, 0)[0] == "TDX_TDMR_ALREADY_INITIALIZED"


def test_1_1_shutdown_answers_every_leaf():
    m = M.ModuleState(sys=M.SYS_SHUTDOWN)
    for leaf in M.LEAVES:
        assert call(m, leaf)[0] == "TDX_SYS_SHUTDOWN"


def test_every_status_the_module_returns_is_in_data():
    from tdxlab import facts

    names = set(facts.status_codes()["name"])
    assert M.RULE_ERRORS <= names and M.RACE_RESULTS <= names
    assert {"TDX_SYS_NOT_READY", "TDX_SYS_SHUTDOWN", "TDX_TDMR_ALREADY_INITIALIZED",
            "TDX_SYS_KEY_CONFIG_NOT_PENDING"} <= names


def test_unknown_leaf_and_rule():
    with pytest.raises(UnknownName, match="TDH.SYS.FOO"):
        call(M.ModuleState(), "TDH.SYS.FOO")
    with pytest.raises(UnknownName, match="'strict'"):
        M.check_rule("strict")
