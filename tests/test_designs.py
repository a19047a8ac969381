"""Each design reaches a ready module on two packages; each mutation has a path that breaks it."""
import pytest
from helpers import Scenario, counterexample

from tdxlab import sources
from tdxlab.designs import DESIGNS
from tdxlab.module import SYS_READY


@pytest.mark.parametrize("design", list(DESIGNS))
def test_happy_path_replays_to_a_ready_module_on_two_packages(design):
    sc = Scenario(design, topology="2x1x2")
    schedule = [info.key for info, _ in sc.run_first()[1:]]
    steps = sc.replay(schedule)
    final = steps[-1][1]
    assert final.kern.tdx_module_status == "INITIALIZED" and final.kern.init_ret == 0
    assert final.module.sys == SYS_READY and final.module.tdmr_done
    assert final.module.pkg_keyed == 0b11
    assert all(final.module.lp_done(c) for c in range(4))
    assert not final.threads
    # every step names a kernel function and a fact
    for info, _ in steps[1:]:
        assert info.function and sources.keys_in(info.fact), info
        for key in sources.keys_in(info.fact):
            sources.get(key)


BREAKS = [
    # v7 takes cpus_read_lock() inside tdx_enable(), after tdx_module_lock: an offline before that fails v7 too
    # (it refuses with -EINVAL when a CPU is offline); without the lock KEY.CONFIG can land on the wrong package
    ("v7-2022", "no-hotplug-lock", dict(topology="2x1x1", events=["offline:1@init"]), "no-spurious-error"),
    ("v7-2022", "no-vmxon", dict(topology="1x1x2"), "vmx-before-seamcall"),
    ("v19-2024", "no-hotplug-lock", dict(topology="2x1x1", events=["offline:1@init"]), "init-succeeds"),
    ("kvm-v18-kai-irqsave", "irqs-on", dict(topology="1x1x2", offline="1", events=["create-vm", "online:1"]),
     "kernel-asserts"),
    ("v19-2024", "second-user", dict(topology="1x1x2", options={"pass_vmxon": False}), "no-spurious-error"),
    ("v19-2024", "no-vmxon", dict(topology="1x1x2"), "vmx-before-seamcall"),
    ("v19-2024", "no-kvm-lock", dict(topology="1x1x2", events=["create-vm", "create-vm2"]),
     "no-spurious-error"),
    ("v19-2024", "kvm-lock-first", dict(topology="1x1x2", offline="1", events=["create-vm", "online:1"]),
     "no-deadlock"),
    ("kvm-6.16", "no-hotplug-lock", dict(topology="2x1x1", events=["offline:1@init"]), "init-succeeds"),
    ("kvm-6.16", "irqs-on", dict(topology="1x2x1", offline="1", events=["online:1@after"]), "kernel-asserts"),
    ("kvm-6.16", "second-user", dict(topology="1x1x2"), "no-spurious-error"),
    ("kvm-6.16", "no-vmxon", dict(topology="1x1x2"), "vmx-before-seamcall"),
    ("kvm-6.16", "plain-setup-state", dict(topology="1x1x2", events=["offline:1@load"]), "no-deadlock"),
    ("core-7.1", "no-vmxon", dict(topology="1x1x2"), "vmx-before-seamcall"),
]


@pytest.mark.parametrize("design,mutation,kw,prop", BREAKS, ids=[f"{d}+{m}" for d, m, _, _ in BREAKS])
def test_mutation_breaks_and_the_unmutated_design_holds(design, mutation, kw, prop):
    bad = Scenario(design, mutations=[mutation], **kw)
    r, steps = counterexample(bad, prop)
    from tdxlab.check.explore import explore

    assert explore(Scenario(design, **kw)).verdicts[prop].holds is True
    # the counterexample ends where the property breaks
    if prop == "no-deadlock":
        final = steps[-1][1]
        assert final.threads and not [k for k, _ in bad.enabled(final) if not k.startswith("event:")]
    else:
        assert prop in [k for k, _ in steps[-1][0].events]


def test_every_mutation_is_covered_and_refused_where_it_does_not_apply():
    from tdxlab.errors import NotApplicable
    from tdxlab.mutations import MUTATIONS

    covered = {m for _, m, _, _ in BREAKS}
    # the later chapters' what-ifs are covered by their manifest scenarios: each changes a verdict there
    # against the same scenario without it (tests/test_teardown.py and tests/test_update.py check how)
    for m in sorted(set(MUTATIONS) - covered):
        assert _manifest_scenario_where_it_matters(m), m
        covered.add(m)
    assert covered == set(MUTATIONS)
    for name, cls in DESIGNS.items():
        for m in MUTATIONS:
            if m not in cls.mutation_notes:
                with pytest.raises(NotApplicable, match=f"'{m}' does not apply to design '{name}'"):
                    Scenario(name, mutations=[m])


# what-ifs that change no safety verdict, with what shows their effect instead
LIVENESS = {"no-lockout": "kexec never reaches machine_kexec()"}


def _manifest_scenario_where_it_matters(mutation: str) -> bool:
    """Some manifest scenario applies ``mutation`` and gets another verdict than without it (or, for the
    what-ifs of LIVENESS, loses what they take away)."""
    from tdxlab.check.explore import explore
    from tdxlab.scenario import list_scenarios

    for name, sc in sorted(list_scenarios().items()):
        if mutation not in sc.mutations:
            continue
        args = sc.args()
        args["mutations"] = [m for m in sc.mutations if m != mutation]
        without = Scenario(**args)
        if mutation in LIVENESS:
            from tdxlab.designs.teardown_72 import kexec_completes
            if kexec_completes(without) and not kexec_completes(sc):
                return True
            continue
        a, b = explore(sc).verdicts, explore(without).verdicts
        if any(a[p].holds != b[p].holds for p in a):
            return True
    return False


def test_two_what_ifs_that_rewrite_the_same_code_are_refused_in_one_line():
    # flush-before-disable removes tdx_shutdown(), which no-on-each-cpu changes: no silent mix of the two
    from tdxlab.kernel.source import DesignError

    with pytest.raises(DesignError, match="'flush-before-disable' and 'no-on-each-cpu' cannot be combined "
                                          "on design teardown-7.2") as e:
        Scenario("teardown-7.2", topology="1x1x2", mutations=["no-on-each-cpu", "flush-before-disable"])
    assert "\n" not in str(e.value)
