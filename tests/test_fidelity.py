"""The model read again beside the kernel source (issue 15 items 3 and 4; docs/research/facts-fidelity.md
sections 2 to 7). Each test is named after the source it checks the model against."""
from __future__ import annotations

import re
from collections import deque
from pathlib import Path

from tdxlab import facts, sources
from tdxlab.designs import DESIGNS
from tdxlab.kernel import cpuhp
from tdxlab.platform import DOWN, ONLINE, UP

from helpers import Scenario, counterexample, explore, get_scenario

REPO = Path(__file__).resolve().parent.parent
DECISIONS = (REPO / "docs" / "decisions.md").read_text(encoding="utf-8")
FACTS = (REPO / "docs" / "facts.md").read_text(encoding="utf-8")


def notebook(name: str) -> str:
    """A notebook's text with its links read as their words and its lines joined."""
    text = (REPO / "notebooks" / f"{name}.md").read_text(encoding="utf-8")
    text = re.sub(r"\[([^\]\n]*)\]\([^)\s]*\)", r"\1", text)
    return re.sub(r"\s+", " ", text)


def reachable(sc, limit: int = 20_000):
    """Every (state, step, next state) of ``sc``, breadth first, at most ``limit`` states (bounded by states)."""
    start = sc.initial()
    seen = {start}
    q = deque([start])
    while q:
        st = q.popleft()
        for info, s2 in sc.successors(st):
            yield st, info, s2
            if s2 not in seen and len(seen) < limit:
                seen.add(s2)
                q.append(s2)


# --- 6.16: __tdx_bringup() at 3829d81b6958 -----------------------------------------------------------------
def test_3829d81b6958_tdx_bringup_failure_disables_virtualization():
    """tdx_enable() fails: the TDX state is removed with cpuhp_remove_state_nocalls_cpuslocked() (no teardown
    callback runs), then kvm_disable_virtualization() turns VMX off on every online CPU."""
    _, steps = counterexample(Scenario("kvm-6.16", rule="old", topology="1x2x1", offline=[1]), "init-succeeds")
    assert any(info.leaf == "TDH.SYS.CONFIG" and info.errno for info, _ in steps[1:])  # tdx_enable() failed
    functions = [info.function for info, _ in steps[1:]]
    nocalls = functions.index("cpuhp_remove_state_nocalls_cpuslocked:kvm/cpu/tdx:online")
    disable = functions.index("kvm_disable_virtualization")
    assert nocalls < disable
    # no TDX teardown ran: tdx_offline_cpu() never appears after the failure
    assert "tdx_offline_cpu" not in functions[nocalls:]
    vmxoff = [info.cpu for info, _ in steps[disable + 1:] if info.function == "kvm_offline_cpu"]
    final = steps[-1][1]
    assert sorted(vmxoff) == [c for c, cs in enumerate(final.cpus) if cs.hp == ONLINE]
    assert all(cs.vmx == 0 for cs in final.cpus), "VMX stays on somewhere after a failed bring-up"
    assert final.kern.cpuhp_states == () and final.kern.kvm_usage_count == 0


def test_3829d81b6958_the_failed_bring_up_leaves_a_later_cpu_without_vmx_or_lp_init():
    """Notebook 02's story: under the old rule CONFIG fails, bring-up undoes VMX, and CPU1 onlined later gets
    no KVM callback at all."""
    sc = get_scenario("old-rule-offline-at-boot")
    final = sc.run_first()[-1][1]
    assert final.kern.init_ret != 0
    assert final.cpus[1].hp == ONLINE and final.cpus[1].vmx == 0 and not final.module.lp_done(1)
    text = notebook("02-lp-init-old-vs-relaxed")
    assert "cpuhp_remove_state_nocalls_cpuslocked()" in text and "kvm_disable_virtualization()" in text
    assert "comes online with VMX on" not in text


def test_3829d81b6958_kvm_virtualization_enabled_guard_is_never_decisive():
    """6.16's per-CPU virtualization_enabled guard is left out (dec-kvm-616-omissions): on every modelled path
    kvm_online_cpu() runs only where VMX is off and kvm_offline_cpu() only where it is on."""
    for name in ("kvm-6.16-hotplug-any-time", "kvm-6.16-hotplug-td", "no-module-loaded"):
        sc = get_scenario(name)
        for st, info, s2 in reachable(sc, 6000):
            if info.function == "kvm_online_cpu" and "VMXON" in info.action:
                assert st.cpus[info.cpu].vmx == 0, (name, info)
            if info.function == "kvm_offline_cpu" and "VMXOFF" in info.action:
                assert st.cpus[info.cpu].vmx > 0, (name, info)
    doc = DESIGNS["kvm-6.16"].__module__
    import importlib
    assert "virtualization_enabled" in importlib.import_module(doc).__doc__
    assert 'id="dec-kvm-616-omissions"' in DECISIONS and "virtualization_enabled" in DECISIONS
    assert "virtualization_enabled" in notebook("02-lp-init-old-vs-relaxed")


# --- CPU offline ordering: include/linux/cpuhotplug.h ---------------------------------------------------------
def test_cpuhotplug_h_work_leaves_a_dying_cpu_before_kvm_vmxoff():
    """CPUHP_AP_WORKQUEUE_ONLINE and CPUHP_AP_SCHED_WAIT_EMPTY lie above CPUHP_AP_KVM_ONLINE: no smp_call_on_cpu()
    worker runs KEY.CONFIG on the dying CPU after KVM's VMXOFF; work queued after the unbind runs elsewhere."""
    assert cpuhp.KVM_STATIC_ORDER < cpuhp.WORKQUEUE_ORDER < cpuhp.DYN_BASE
    sc = get_scenario("offline-without-hotplug-lock")
    r = explore(sc)
    assert r.verdicts["vmx-before-seamcall"].holds is True
    # the wrong package instead: KEY.CONFIG for CPU1's package runs on CPU0
    _, steps = counterexample(sc, "no-spurious-error")
    last = steps[-1][0]
    assert last.leaf == "TDH.SYS.KEY.CONFIG" and last.result == "TDX_KEY_CONFIGURED" and last.cpu == 0
    assert last.context == "kworker/1"
    moved = False
    for st, info, s2 in reachable(sc):
        if info.leaf and info.cpu is not None:
            assert not (st.cpus[info.cpu].hp == DOWN and st.cpus[info.cpu].vmx == 0), info
        if info.function == "do_global_key_config" and info.context == "kworker/1" and info.cpu == 0:
            moved = True
    assert moved
    assert "CPUHP_AP_WORKQUEUE_ONLINE" in DECISIONS and "after the TDX teardown it finds VMX gone" not in DECISIONS
    text = notebook("04-locking")
    assert "CPUHP_AP_SCHED_WAIT_EMPTY" in text and "TDX_KEY_CONFIGURED" in text


def test_cpuhotplug_h_tasks_move_off_a_dying_cpu():
    """A task still running on a CPU that goes down moves to another CPU before KVM's VMXOFF there."""
    sc = Scenario("kvm-6.16", topology="1x1x2", mutations=["second-user"], events=["offline:1@after"])
    found = False
    for st, info, s2 in reachable(sc, 6000):
        before, after = st.thread("second-user"), s2.thread("second-user")
        if before is not None and after is not None and before.cpu == 1 and after.cpu == 0:
            assert info.context == "cpu_down/1" and s2.cpus[1].hp == DOWN and cpuhp.workers_unbound(s2, 1)
            # past the dynamic states, before KVM's static CPUHP_AP_KVM_ONLINE: VMX as it was
            assert "kvm_offline_cpu" not in info.action and s2.cpus[1].vmx == st.cpus[1].vmx
            found = found or st.cpus[1].vmx > 0
    assert found
    # the bring-up task stays on CPU0, which the model never offlines (dec-bringup-task-cpu)
    assert 'id="dec-bringup-task-cpu"' in DECISIONS


# --- kernel/cpu.c: callbacks looked up per step ----------------------------------------------------------------
def test_cpu_c_cpuhp_callbacks_are_looked_up_per_step():
    """A state registered while a CPU is on its way up runs on that CPU (cpuhp_invoke_callback() reads
    cpuhp_get_step() each time; registration covers CPUs whose state is at or above it)."""
    sc = Scenario("kvm-6.16", topology="1x1x2", offline=[1], mutations=["no-hotplug-lock"], events=["online:1@load"])
    registered_mid_up = 0
    for st, info, s2 in reachable(sc):
        if 'install "kvm/cpu/tdx:online"' in info.action and st.cpus[1].hp == UP:
            registered_mid_up += 1
    assert registered_mid_up, "no interleaving registers the TDX state while CPU1 is coming up"
    assert explore(sc).verdicts["online-cpus-ready"].holds is True


# --- v7 04/20 (lore-kai-2022-11-21) -----------------------------------------------------------------------------
def test_lore_kai_2022_11_21_vmxon_is_the_callers_and_tdx_enable_takes_the_hotplug_lock():
    sc = get_scenario("v7-2022-boot")
    steps = sc.run_first()
    vmxon = [(info, s) for info, s in steps[1:] if "VMXON" in info.action]
    assert vmxon
    for info, _ in vmxon:
        assert "k-tdx-c-71" not in sources.keys_in(info.fact), info
    order = [info.action for info, _ in steps[1:] if info.context == "modprobe"]
    i_mutex = next(i for i, a in enumerate(order) if "mutex_lock(&tdx_module_lock)" in a)
    i_read = next(i for i, a in enumerate(order) if "cpus_read_lock()" in a)
    i_vmxon = next(i for i, a in enumerate(order) if "on_each_cpu(cpu_vmxon_ipi)" in a)
    assert i_vmxon < i_mutex < i_read
    # VMXON runs in the caller, outside tdx_enable(); the hotplug lock is taken inside it
    d = DESIGNS["v7-2022"]
    assert "cpus_read_lock" not in d.function_source("tdx_enable_caller")
    assert "cpu_vmxon_ipi" not in d.function_source("tdx_enable")
    assert "cpus_read_lock()" in d.function_source("__tdx_enable")


def test_lore_kai_2022_11_21_v7_has_no_tdx_lp_initialized():
    from tdxlab.widgets.panels import lanes_html
    for name, shown in (("v7-2022-boot", False), ("kvm-6.16-boot", True)):
        sc = get_scenario(name)
        d = DESIGNS[sc.design_name]
        text = "".join(s.source_text() for s in d().kernel_sources().values())
        assert ("tdx_lp_initialized" in text) == shown
        info, st = sc.run_first()[-1]
        desc = sc.describe(st, info)
        assert all((c["tdx_lp_initialized"] is not None) == shown for c in desc["cpus"])
        assert ("tdx_lp_initialized" in lanes_html(desc)) == shown


# --- 7.1: the offline refusal of patches 13 and 14 ---------------------------------------------------------------
def test_eac90a5ba0aa_afe31de159bf_the_71_refusal_cites_what_is_modelled():
    assert sources.function_link("tdx_offline_cpu", "core-7.1") == sources.url("k-tdx-c-71-offline")
    fn = DESIGNS["core-7.1"].function_source("tdx_offline_cpu")
    keys = set(sources.keys_in(fn))
    assert {"k-tdx-c-71-offline", "kc-eac90a5ba0aa"} <= keys and "k-tdx-c-71" not in keys
    import tdxlab.designs.core_71 as core
    assert "kc-afe31de159bf" in core.__doc__ and "kc-eac90a5ba0aa" in core.__doc__


# --- omissions stated where the reader looks -----------------------------------------------------------------------
def test_k_hw_c_k_tdx_c_71_omissions_are_stated():
    import tdxlab.designs.core_71 as core
    import tdxlab.designs.kvm_616 as kvm
    import tdxlab.designs.v7_2022 as v7
    for words in ("syscore", "x86_virt_get_ref()", "smt/control", "CPU0"):
        assert words in core.__doc__, words
    assert "dec-core-71-omissions" in core.__doc__ and 'id="dec-core-71-omissions"' in DECISIONS
    assert "dec-kvm-616-omissions" in kvm.__doc__ and "dec-v7-omissions" in v7.__doc__
    for words in ("syscore", "-EOPNOTSUPP", "smt/control"):
        assert words in DECISIONS, words
    # the rollback of hardware_enable_all() (v19) and of kvm_enable_virtualization() (6.16) are stated
    assert "rollback" in kvm.__doc__
    assert "hardware_disable_all_nolock()" in DECISIONS
    assert "hardware_disable_all_nolock()" in notebook("04-locking")
    # the bring-up task's CPU
    assert "CPU0" in kvm.__doc__ and "CPU0" in v7.__doc__


# --- data: TDX_1.5.01 ------------------------------------------------------------------------------------------
def test_m_dispatcher_lp_shutdown_is_the_one_leaf_accepted_in_sys_shutdown():
    rows = facts.leaves().set_index("name")
    req = rows.loc["TDH.SYS.LP.SHUTDOWN", "requires"]
    assert "SYS_SHUTDOWN included" in req and "TDX_SUCCESS" in req
    for name, row in rows.iterrows():
        assert "SYS_SHUTDOWN" not in row["accepted_states"], name


def test_k_archrandom_h_sc_retry_makes_at_most_ten_calls():
    codes = facts.status_codes().set_index("name")
    cause = codes.loc["TDX_RND_NO_ENTROPY", "cause"]
    assert "10 calls in all" in cause and "re-issues up to" not in cause
    assert "10 calls in all" in FACTS


def test_m_sys_update_only_update_returns_sys_state_incorrect():
    codes = facts.status_codes().set_index("name")
    assert "no other leaf returns this status" in codes.loc["TDX_SYS_STATE_INCORRECT", "cause"]
    rows = facts.leaves()
    returning = set(rows[rows["otherwise"] == "TDX_SYS_STATE_INCORRECT"]["name"])
    assert returning <= {"TDH.SYS.UPDATE"}


def test_m_sys_rd_lp_init_is_checked_in_the_leaf_handlers_not_the_dispatcher():
    text = notebook("01-seamcall-and-the-module")
    assert "not in its dispatcher" in text
    assert not re.search(r"dispatcher (checks|rejects|refuses)[^.]*LP\.INIT", text)


# --- where the model goes beyond its sources --------------------------------------------------------------------------
def test_lore_kai_2023_03_07_the_module_version_that_relaxed_lp_init_is_unknown():
    assert "Which TDX module version relaxed the rule is not known" in notebook("02-lp-init-old-vs-relaxed")
    assert "Which module version relaxed the rule is unknown" in FACTS
    # every open decision says what the sources say about it
    rows = [ln for ln in DECISIONS.splitlines() if ln.startswith('| <a id="dec-')]
    assert len(rows) >= 10
    for ln in rows:
        header = DECISIONS[:DECISIONS.index(ln)].rsplit("| key |", 1)[1].split("\n", 1)[0]
        if "what the sources say" in header:
            assert ln.count("|") >= 7, ln[:60]
    assert "inferred from the merge window" in DECISIONS
    assert "merge window" in DESIGNS["core-7.1"].era
