"""Bad input gets one clear error from a tdxlab error class, naming the offending value."""
import pytest

from tdxlab.errors import (BadInput, NotApplicable, ScenarioError, StepNotEnabled, TdxlabError,
                           UnknownName)
from tdxlab.scenario import Scenario, get_scenario, list_scenarios, load_scenario_file


def one_line(e: Exception) -> str:
    s = str(e)
    assert "\n" not in s and s
    return s


@pytest.mark.parametrize("kw,cls,needle", [
    (dict(design="v8-2023"), UnknownName, "'v8-2023'"),
    (dict(design="kvm-6.16", rule="strict"), UnknownName, "'strict'"),
    (dict(design="kvm-6.16", mutations=["no-such"]), UnknownName, "'no-such'"),
    (dict(design="kvm-6.16", topology="0x1x1"), BadInput, "0 CPUs"),
    (dict(design="kvm-6.16", topology="2x8x8"), BadInput, "128 logical CPUs"),
    (dict(design="kvm-6.16", topology="2x2"), BadInput, "'2x2'"),
    (dict(design="kvm-6.16", topology="1x1x2", offline="5"), BadInput, "5"),
    (dict(design="kvm-6.16", topology="1x1x2", offline="0"), BadInput, "CPU 0"),
    (dict(design="kvm-6.16", topology="1x1x2", events=["offline:7"]), BadInput, "7"),
    (dict(design="kvm-6.16", events=["reboot"]), UnknownName, "'reboot'"),
    (dict(design="kvm-6.16", events=["create-vm"]), UnknownName, "'create-vm'"),
    (dict(design="core-7.1", mutations=["second-user"]), NotApplicable, "static"),
    (dict(design="kvm-6.16", options={"pass_vmxon": False}), NotApplicable, "pass_vmxon"),
])
def test_bad_scenario_arguments(kw, cls, needle):
    with pytest.raises(cls) as ei:
        Scenario(**kw)
    assert needle in one_line(ei.value)
    assert isinstance(ei.value, TdxlabError)


def test_step_that_is_not_enabled():
    sc = Scenario("kvm-6.16", topology="1x1x2")
    with pytest.raises(StepNotEnabled) as ei:
        sc.step(sc.initial(), "IPI/1")
    msg = one_line(ei.value)
    assert "'IPI/1'" in msg and "enabled: modprobe" in msg


def test_schedule_step_error_names_the_step_number():
    sc = Scenario("kvm-6.16", topology="1x1x2")
    with pytest.raises(StepNotEnabled, match=r"schedule step 2: step 'cpuhp/9'"):
        sc.replay(["modprobe", "cpuhp/9"])


@pytest.mark.parametrize("text,needle", [
    ('design = "kvm-6.16"\ntopology = \n', "malformed"),
    ('design = "kvm-6.16"\ncolour = "red"\n', "unknown field(s) colour"),
    ('topology = "1x1x2"\n', "missing field 'design'"),
    ('design = "kvm-6.16"\nevents = "create-td\n', "malformed"),
    ('design = "kvm-6.16"\noffline = 3\n', "'offline' must be a string or a list"),
    ('design = "kvm-6.16"\ntopology = "1x1x0"\n', "0 CPUs"),
])
def test_malformed_scenario_files(tmp_path, text, needle):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ScenarioError) as ei:
        load_scenario_file(p)
    msg = one_line(ei.value)
    assert needle in msg and "bad.toml" in msg


def test_yaml_scenarios_are_read_safely(tmp_path):
    p = tmp_path / "ok.yaml"
    p.write_text("design: core-7.1\ntopology: 1x1x2\nevents: [create-td]\n")
    sc = load_scenario_file(p)
    assert sc.design_name == "core-7.1" and sc.events == ("create-td",)
    q = tmp_path / "evil.yaml"
    q.write_text("design: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ScenarioError, match="malformed"):
        load_scenario_file(q)


def test_unknown_scenario_name():
    with pytest.raises(UnknownName, match="'no-such-scenario'"):
        get_scenario("no-such-scenario")


def test_every_scenario_file_loads_and_tells_a_story():
    scs = list_scenarios()
    assert len(scs) >= 8
    for name, sc in scs.items():
        assert sc.name == name and len(sc.story.split()) >= 8, name
    needed = {"nosmt-old-rule", "online-after-init-old-rule", "irq-race-second-user",
              "offline-without-hotplug-lock", "seamcall-before-vmxon", "setup-state-under-lock",
              "kvm-lock-inversion", "core-7.1-hotplug"}
    assert needed <= set(scs)


def test_describe_says_what_a_blocked_context_waits_for():
    sc = get_scenario("kvm-lock-inversion")
    from tdxlab.check.explore import explore

    r = explore(sc)
    st = sc.replay(r.verdicts["no-deadlock"].path)[-1][1]
    d = sc.describe(st)
    waits = {c["name"]: c["waits"] for c in d["contexts"]}
    assert "waits for kvm_lock, held by create-vm" in waits["cpu_up/1"]
    assert "cpu_hotplug_lock" in waits["create-vm"]
    locks = {l["lock"]: l for l in d["locks"]}
    assert locks["kvm_lock"]["holder"] == "create-vm" and locks["kvm_lock"]["waiters"] == ["cpu_up/1"]
