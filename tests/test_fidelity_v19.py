"""The KVM TDX series v16 to v19 and Kai Huang's proposal, modelled as posted (issue 15 item 2;
docs/research/facts-fidelity.md 1.1 to 1.7). Each test is named after the patch or message it checks."""
import re

import pytest
from helpers import Scenario, counterexample, explore, get_scenario

from tdxlab import exercises, sources
from tdxlab.designs import DESIGNS, design_over, get_design
from tdxlab.kernel.source import DesignError, Patch, kfunc

ONLINE_LATER = dict(topology="1x1x2", offline="1", events=["create-vm", "online:1"])


def _calls(design, fn: str) -> set[str]:
    """The design's kernel functions ``fn`` can reach (``fn`` included), read off their source text."""
    cls = get_design(design)
    own = {src.name for src in cls.sources}
    seen, todo = set(), [fn]
    while todo:
        f = todo.pop()
        if f in seen or f not in own:
            continue
        seen.add(f)
        text = cls.function_source(f)
        todo += [m for m in own if m != f and re.search(rf"\b{re.escape(m)}\b", text)]
    return seen


def _with(design: str, name: str, patch: Patch):
    """A registered design over ``design`` with ``patch``; the caller pops it from DESIGNS."""
    d = design_over(design, name, patch)
    DESIGNS[name] = d
    return d


# ---- v19 023/130: no LP.INIT at CPU online ----------------------------------------------------------------
def test_v19_023_130_online_does_not_lp_init():
    # 023/130: .hardware_enable = vmx_hardware_enable; "TDX cpu enablement is done by tdx_hardware_setup()"
    assert "tdx_cpu_enable" not in _calls("v19-2024", "kvm_online_cpu")
    assert "tdx_cpu_enable" not in _calls("v19-2024", "hardware_enable_nolock")
    assert "tdx_cpu_enable" in _calls("v19-2024", "tdx_hardware_setup")
    sc = get_scenario("v19-2024-online-later")
    r, steps = counterexample(sc, "online-cpus-ready")
    assert "CPU1 never did TDH.SYS.LP.INIT" in r.verdicts["online-cpus-ready"].detail
    on_cpu1 = [info for info, _ in steps[1:] if info.cpu == 1]
    assert any(info.function == "kvm_online_cpu" and "VMXON" in info.action for info in on_cpu1)
    assert not any(info.leaf for info in on_cpu1)  # no SEAMCALL at all on CPU1: no LP.INIT
    final = steps[-1][1]
    assert final.cpus[1].vmx and not final.cpus[1].lp_flag and not final.module.lp_done(1)
    # the gap, not an IRQ problem: nothing else breaks
    assert set(r.violated) == {"online-cpus-ready"}
    # the same events on v18 (vt_hardware_enable) give CPU1 its LP.INIT: the test can tell them apart
    assert explore(Scenario("kvm-v18-2024", **ONLINE_LATER)).verdicts["online-cpus-ready"].holds


def test_v19_design_cites_the_posted_patches():
    import tdxlab.designs.v19_2024 as v19_module

    v19 = DESIGNS["v19-2024"]
    assert "lore-isaku-2024-02-26" in v19.fact
    text = v19.function_source("kvm_offline_cpu") + v19.function_source("tdx_offline_cpu")
    assert "lore-isaku-2024-02-26-041" in text
    for key in ("lore-isaku-2024-01-22", "lore-isaku-2024-02-26-041", "lore-kai-2024-03-21",
                "lore-isaku-2024-03-22", "lore-kai-2024-04-23", "lore-sean-2024-04-23"):
        assert sources.url(key).startswith("https://lore.kernel.org/r/"), key
        assert key in v19_module.__doc__, key
    assert sources.function_link("tdx_on", "v19-2024") == sources.url("lore-isaku-2024-02-26")
    assert sources.function_link("vt_hardware_enable", "kvm-v18-2024") == sources.url("lore-isaku-2024-01-22")
    assert sources.function_link("kvm_online_cpu", "kvm-v18-kai-irqsave") == sources.url("lore-kai-2024-04-23")


# ---- v19's vmx_off: VMXOFF only where VMXON succeeded ------------------------------------------------------
def test_v19_vmx_off_skips_cpus_whose_vmxon_failed():
    # tdxlab check v19-2024 --topology 1x1x2 --mutate second-user: the second user's VMXON on CPU1 can win,
    # tdx_on()'s VMXON there fails (-EBUSY), CPU1 stays out of the cpumask and vmx_off leaves its VMX alone
    kw = dict(topology="1x1x2", mutations=["second-user"])
    r = explore(Scenario("v19-2024", **kw))
    assert r.verdicts["vmx-before-seamcall"].holds is True
    assert r.verdicts["no-spurious-error"].holds is False  # the double VMXON itself is still reported
    assert "-EBUSY" in r.verdicts["no-spurious-error"].detail
    # the same design with v14's unconditional vmx_off (every CPU): the #UD through that VMXOFF is back
    name = "v19-2024-vmx-off-everywhere"
    _with("v19-2024", name, Patch("v14-vmx-off").replace(
        "vmx_off", "if cpumask_test_cpu(smp_processor_id(), enabled):", "vmx_hardware_disable()"))
    try:
        r14 = explore(Scenario(name, **kw))
    finally:
        DESIGNS.pop(name)
    assert r14.verdicts["vmx-before-seamcall"].holds is False
    assert "TDX_SEAMCALL_UD" in str(r14.counterexample("vmx-before-seamcall")[-1][0])


def test_v19_any_per_cpu_failure_fails_the_load_with_eio():
    # 023/130: r = atomic_read(&enable.err); if (!r) r = tdx_module_setup(); else r = -EIO;
    r = explore(Scenario("v19-2024", topology="1x1x2", mutations=["second-user"]))
    assert "returned -EIO" in r.verdicts["init-succeeds"].detail


def test_cpumask_primitive_is_this_cpus_bit_of_a_declared_mask():
    @kfunc("lore-isaku-2024-02-26")
    def vmx_off(_enabled):
        if cpumask_test_cpu(0, enabled):  # noqa: F821 - only smp_processor_id() is in the language
            vmx_hardware_disable()  # noqa: F821
        return 0

    with pytest.raises(DesignError, match="cpumask_test_cpu\\(smp_processor_id\\(\\), MASK\\)"):
        design_over("v19-2024", "v19-bad-mask", Patch("x").function(vmx_off))().functions()


# ---- v19 041/130: the offline refusal ---------------------------------------------------------------------
def test_v19_041_130_offline_refusal():
    sc = get_scenario("v19-2024-hotplug-td")
    r = explore(sc)
    assert r.verdicts["package-keys"].holds is True and r.verdicts["cpu-online-succeeds"].holds is True
    # the refusal runs in kvm_offline_cpu() under kvm_lock, before VMXOFF
    src = DESIGNS["v19-2024"].function_source("kvm_offline_cpu")
    assert src.index("mutex_lock(kvm_lock)") < src.index("tdx_offline_cpu(cpu)") < \
        src.index("kvm_arch_hardware_disable()") < src.index("mutex_unlock(kvm_lock)")
    # without it (v19 before 041/130) package 1 loses its last CPU under a TD
    name = "v19-2024-no-refusal"
    _with("v19-2024", name, Patch("no-refusal").replace("tdx_offline_cpu", "return -EBUSY", "return 0"))
    try:
        r2 = explore(Scenario(name, topology=sc.topology, events=list(sc.events)))
    finally:
        DESIGNS.pop(name)
    assert r2.verdicts["package-keys"].holds is False


# ---- v16 to v18: tdx_cpu_enable() at online with IRQs on ---------------------------------------------------
def test_v18_online_trips_irq_assert():
    assert "tdx_cpu_enable" in _calls("kvm-v18-2024", "kvm_online_cpu")
    assert "local_irq_save" not in DESIGNS["kvm-v18-2024"].function_source("kvm_online_cpu")
    sc = get_scenario("kvm-v18-2024-online-later")
    r, steps = counterexample(sc, "kernel-asserts")
    info, st = steps[-1]
    assert info.cpu == 1 and info.context == "cpu_up/1"
    assert "IRQs are on (hotplug context)" in r.verdicts["kernel-asserts"].detail
    stack = [f.fn for f in st.thread("cpu_up/1").stack]
    assert stack[1:] == ["kvm_online_cpu", "vt_hardware_enable", "tdx_cpu_enable"]
    # no real race: cpu_hotplug_lock keeps the online callback and the IPI passes apart (dec-lockdep-vs-race)
    assert r.verdicts["no-spurious-error"].holds and r.verdicts["no-deadlock"].holds
    assert r.verdicts["online-cpus-ready"].holds  # v18 did LP.INIT at online; v19 lost it


def test_kai_proposal_irqsave():
    kai = DESIGNS["kvm-v18-kai-irqsave"]
    assert kai.fact == "lore-kai-2024-04-23" and kai.base == "kvm-v18-2024"
    src = kai.function_source("kvm_online_cpu")
    assert src.index("local_irq_save(flags)") < src.index("vt_hardware_enable()") < src.index("local_irq_restore(flags)")
    r = explore(get_scenario("kvm-v18-kai-online-later"))
    assert not r.violated, r.violated
    # irqs-on takes Kai's two lines out again: v18 as posted, verdict for verdict
    back = explore(Scenario("kvm-v18-kai-irqsave", mutations=["irqs-on"], **ONLINE_LATER))
    v18 = explore(get_scenario("kvm-v18-2024-online-later"))
    assert {p: v.holds for p, v in back.verdicts.items()} == {p: v.holds for p, v in v18.verdicts.items()}
    assert back.verdicts["kernel-asserts"].holds is False


def test_irqs_on_applies_only_where_a_local_irq_save_is_there_to_remove():
    from tdxlab.errors import NotApplicable

    for name in ("v19-2024", "kvm-v18-2024"):
        with pytest.raises(NotApplicable):
            Scenario(name, mutations=["irqs-on"])
    Scenario("kvm-v18-kai-irqsave", mutations=["irqs-on"])


def test_designs_are_listed_in_the_order_of_their_era():
    names = list(DESIGNS)
    assert names.index("v7-2022") < names.index("kvm-v18-2024") < names.index("v19-2024") \
        < names.index("kvm-v18-kai-irqsave") < names.index("kvm-6.16")


# ---- scenario names never give an exercise's answer away ---------------------------------------------------
def test_no_scenario_name_gives_an_exercise_answer_away():
    from tdxlab.scenario import list_scenarios

    names = set(list_scenarios())
    for ex in exercises.load().values():
        if not ex.scenario:
            continue
        assert ex.scenario in names
        sol = exercises.solve(ex)
        words = {str(sol.answer).lower().replace("_", "-")}
        if ex.prop and ex.ask == "verdict":
            words |= {ex.prop, ex.prop.split("-")[-1]}  # no-deadlock: "deadlock" would say what breaks
        # a word the question itself says (kvm_lock in "takes kvm_lock before cpus_read_lock()") gives nothing away
        question = ex.question.lower().replace("_", "-")
        words = {w for w in words if len(w) > 3 and w not in question}
        assert not any(w in ex.scenario for w in words), (ex.id, ex.scenario, words)
    # the scenario named after the premise the research disproved (v19 calling tdx_cpu_enable() at online)
    assert "v19-irqs-on" not in names


def test_notebook_03s_online_matrix_is_the_models():
    """03's matrix of the CPU-online callbacks and its prose: 6.16 holds everywhere there, as Kai's proposal."""
    from pathlib import Path

    from tdxlab.review import verdict_matrix

    text = " ".join((Path(__file__).resolve().parent.parent / "notebooks" / "03-irq-safety.md")
                    .read_text(encoding="utf-8").split())
    assert "Kai's proposal online holds everywhere, and so does 6.16." in text
    rev = verdict_matrix(["kvm-v18-2024", "v19-2024", "kvm-v18-kai-irqsave", "kvm-6.16"], workloads=["cpu-online-later"])
    red = {r.label: {p for p in rev.props if rev.cell(r.label, p).holds is False} for r in rev.rows}
    assert red["kvm-6.16"] == set() == red["kvm-v18-kai-irqsave"]
    assert red["kvm-v18-2024"] == {"kernel-asserts", "lock-order"} and red["v19-2024"] == {"online-cpus-ready"}


def test_v19_023_130_a_td_created_later_would_key_a_package_on_a_cpu_without_lp_init():
    """The SEAMCALL that would trip lp-init-before-seamcall: __tdx_td_init() runs TDH.MNG.KEY.CONFIG on the first
    online CPU of each package (k-kvm-tdx-c-616). The model's create-td allocates the KeyID in one step and
    issues no SEAMCALL, so this checks the state it would run in: package 1's first online CPU is CPU3, onlined
    after load, which v19 never gave LP.INIT (2x1x2, CPU3 offline at boot; a VM; CPU3 online; CPU2 offline; a TD)."""
    from tdxlab.check.properties import add_property, remove_property
    from tdxlab.platform import IN_ONLINE_MASK

    def keyed_without_lp_init(sc, st):
        if not st.kern.keyids_in_use:
            return None
        topo = sc.machine.topology
        for pkg in range(topo.packages):
            first = next((c for c in topo.cpus_of_package(pkg) if st.cpus[c].hp in IN_ONLINE_MASK), None)
            if first is not None and not st.module.lp_done(first):
                return f"a TD's KEY.CONFIG for package {pkg} would run on CPU{first}, which never did LP.INIT"
        return None

    add_property("test-td-key-config-after-lp-init", "KEY.CONFIG only on CPUs that did LP.INIT",
                 state=keyed_without_lp_init)
    kw = dict(topology="2x1x2", offline="3", events=["create-vm", "online:3@after", "offline:2@after", "create-td"])
    try:
        v19 = explore(Scenario("v19-2024", **kw)).verdicts["test-td-key-config-after-lp-init"]
        v18 = explore(Scenario("kvm-v18-2024", **kw)).verdicts["test-td-key-config-after-lp-init"]
    finally:
        remove_property("test-td-key-config-after-lp-init")
    assert v19.holds is False and "CPU3" in v19.detail
    assert v18.holds is True  # v18's kvm_online_cpu() gave CPU3 its LP.INIT
