"""The design language (tdxlab.kernel.source): what a statement compiles to, the atomicity rule, dead
locals, patches, a design's own locks, per-CPU data and globals, and designs from files."""
# ruff: noqa: F821
import json
import subprocess
import sys
import textwrap

import pytest
from helpers import Scenario

from tdxlab.check.explore import explore
from tdxlab.designs import DESIGNS, design_over, get_design, register
from tdxlab.designs.base import Design
from tdxlab.errors import BadInput
from tdxlab.kernel.lang import Call, If, Lock, Unlock
from tdxlab.kernel.ops import Seamcall, Vmxon
from tdxlab.kernel.source import DesignError, Global, Patch, compile_design, kfunc
from tdxlab.kernel.state import LOCK_KIND


class _Bare(Design):
    name = "bare-test"
    loader_function = "f"


def _compile(*srcs, design=None):
    d = design or _Bare(frozenset(), {}, None)
    return {k.name: k for k in compile_design(d, list(srcs))}


def _steps(kf):
    """The instructions of ``kf`` that are steps: (class name, percpu) for each non-local one."""
    return [(type(i).__name__, bool(i.percpu)) for i in kf.body if not i.local]


# --- the atomicity rule ------------------------------------------------------------------------------------
@kfunc("k-tdx-c-618")
def locals_only():
    ret = 0
    if ret:
        goto .out
    ret = ret + 1
    label .out
    return ret


@kfunc("k-tdx-c-618")
def percpu_read():
    if this_cpu_read(tdx_lp_initialized):
        return 0
    this_cpu_write(tdx_lp_initialized, True)
    return 1


@kfunc("k-tdx-c-618")
def guarded():
    raw_spin_lock(sysinit_lock)
    if sysinit_done:
        goto .out
    sysinit_ret = seamcall_prerr(TDH_SYS_INIT)
    sysinit_done = True
    label .out
    ret = sysinit_ret
    raw_spin_unlock(sysinit_lock)
    return ret


@kfunc("k-tdx-c-618")
def unguarded_writer():
    sysinit_done = True


def test_a_function_of_locals_only_is_one_step():
    assert _steps(_compile(locals_only)["locals_only"]) == []


def test_per_cpu_data_is_a_per_cpu_step():
    kf = _compile(percpu_read)["percpu_read"]
    assert _steps(kf) == [("If", True), ("Do", True)]


def test_a_guarded_global_is_local_under_its_lock_and_a_step_once_anyone_writes_it_without():
    kf = _compile(guarded)["guarded"]
    assert _steps(kf) == [("Lock", False), ("Seamcall", False), ("Unlock", False)]
    both = _compile(guarded, unguarded_writer)
    assert ("If", False) in _steps(both["guarded"])  # the read of sysinit_done is a step now
    assert _steps(both["unguarded_writer"]) == [("Do", False)]


@kfunc("k-tdx-c-618")
def caller_holds():
    mutex_lock(tdx_module_lock)
    callee_writes()
    mutex_unlock(tdx_module_lock)


@kfunc("k-tdx-c-618")
def callee_writes():
    if tdx_module_status == TDX_MODULE_UNINITIALIZED:
        return 1
    return 0


def test_a_lock_held_at_every_call_is_held_in_the_callee():
    fns = _compile(caller_holds, callee_writes)
    assert _steps(fns["callee_writes"]) == []  # the guarded read is local: the caller holds the lock


def test_a_statement_with_a_seamcall_and_a_global_is_one_step():
    kf = _compile(guarded)["guarded"]
    sc = [i for i in kf.body if isinstance(i, Seamcall)]
    assert len(sc) == 1 and sc[0].then is not None


# --- dead locals -------------------------------------------------------------------------------------------
@kfunc("k-tdx-c-618")
def dead_local():
    ret = vmx_hardware_enable()
    if ret:
        return ret
    mutex_lock(kvm_lock)
    mutex_unlock(kvm_lock)
    return 0


def test_dead_locals_are_forgotten_before_a_step():
    class D(_Bare):
        name = "dead-local-test"
        loader_function = "dead_local"
        sources = [dead_local]
    register(D)
    try:
        sc = Scenario("dead-local-test", topology="1x1x1")
        steps = sc.run_first()
        # waiting at mutex_lock(kvm_lock): ret (0) is dead, so the frame keeps no locals
        at_lock = [s for _, s in steps if s.threads and isinstance(
            sc.machine.instr(s.threads[0]), Lock)]
        assert at_lock and all(s.threads[0].stack[-1].loc is None for s in at_lock)
    finally:
        DESIGNS.pop("dead-local-test")


# --- what the language refuses -----------------------------------------------------------------------------
@kfunc("k-tdx-c-618")
def bad_lock_kind():
    mutex_lock(sysinit_lock)


@kfunc("k-tdx-c-618")
def bad_name():
    if no_such_thing:
        return 1


@kfunc("k-tdx-c-618")
def bad_statement():
    try:
        tdx_cpu_enable()
    finally:
        pass


@pytest.mark.parametrize("src,msg", [(bad_lock_kind, "mutex_lock() on sysinit_lock, which is a raw-spinlock"),
                                     (bad_name, "unknown name 'no_such_thing'"),
                                     (bad_statement, "not in the language")])
def test_an_error_names_the_file_line_and_function(src, msg):
    with pytest.raises(DesignError) as e:
        _compile(src)
    text = str(e.value)
    assert msg in text and "test_lang.py:" in text and f"{src.name}()" in text and "\n" not in text


# --- patches -----------------------------------------------------------------------------------------------
def test_the_shipped_mutations_are_patches_in_the_language():
    for name, cls in DESIGNS.items():
        if name in ("v7-2022", "v19-2024", "kvm-6.16", "core-7.1"):
            assert set(cls.patches) == set(cls.mutation_notes), name
            for p in cls.patches.values():
                assert isinstance(p, Patch) and p.ops


def test_a_patch_deletes_replaces_and_inserts_statements():
    base = {s.name: s for s in get_design("kvm-6.16").sources}
    p = (Patch("t").delete("tdx_online_cpu", "local_irq_save(flags)")
         .replace("tdx_online_cpu", "local_irq_restore(flags)", "pr_info('done')")
         .insert_before("tdx_online_cpu", "r = tdx_cpu_enable()", "pr_info('start')"))
    text = p.apply(base)["tdx_online_cpu"].text()
    assert "local_irq_save" not in text and "local_irq_restore" not in text
    assert text.index("start") < text.index("tdx_cpu_enable") < text.index("done")
    assert "local_irq_save" in base["tdx_online_cpu"].text()  # the base is left alone


def test_a_patch_that_misses_or_is_ambiguous_is_one_clear_error():
    base = {s.name: s for s in get_design("core-7.1").sources}
    with pytest.raises(DesignError, match=r"no statement 'nothing\(\)'"):
        Patch("t").delete("tdx_online_cpu", "nothing()").apply(base)
    with pytest.raises(DesignError, match="2 statements 'if ret:'"):
        Patch("t").delete("tdx_online_cpu", "if ret:").apply(base)
    with pytest.raises(DesignError, match=r"no kernel function nowhere\(\)"):
        Patch("t").delete("nowhere", "x()").apply(base)


def test_a_design_over_another_changes_only_what_its_patch_changes():
    d = design_over("kvm-6.16", "kvm-6.16-irqs-on-test", get_design("kvm-6.16").patches["irqs-on"])
    register(d)
    try:
        a = explore(Scenario("kvm-6.16-irqs-on-test", topology="1x2x1", offline="1", events=["online:1@after"]))
        b = explore(Scenario("kvm-6.16", topology="1x2x1", offline="1", events=["online:1@after"],
                             mutations=["irqs-on"]))
        assert (a.states, a.transitions) == (b.states, b.transitions)
        assert {p: v.holds for p, v in a.verdicts.items()} == {p: v.holds for p, v in b.verdicts.items()}
        assert a.verdicts["kernel-asserts"].holds is False
    finally:
        DESIGNS.pop("kvm-6.16-irqs-on-test")


def test_register_refuses_a_shipped_name_and_a_design_without_functions():
    with pytest.raises(BadInput, match="taken by a shipped design"):
        register(design_over("core-7.1", "core-7.1"))
    with pytest.raises(BadInput, match="no kernel functions"):
        register(type("Empty", (Design,), {"name": "empty-test"}))


# --- a design's own locks, per-CPU data and globals --------------------------------------------------------
@kfunc("k-tdx-c-618")
def own_state():
    mutex_lock(my_test_lock)
    if my_count:
        my_count += 1
    else:
        my_count = 1
    mutex_unlock(my_test_lock)
    if this_cpu_read(my_flag):
        return 0
    this_cpu_write(my_flag, 7)
    return 0


class OwnState(Design):
    name = "own-state-test"
    loader_function = "own_state"
    locks = {"my_test_lock": "mutex"}
    percpu = {"my_flag": 0}
    globals = {"my_count": Global(0, guarded_by="my_test_lock")}
    sources = [own_state]


def test_a_design_declares_its_locks_per_cpu_variables_and_globals():
    assert LOCK_KIND["my_test_lock"] == "mutex"
    register(OwnState)
    try:
        sc = Scenario("own-state-test", topology="1x1x1")
        final = sc.run_first()[-1][1]
        assert final.kern.vars == (1,) and final.cpus[0].vars == (7,)
        kf = sc.machine.funcs["own_state"]
        # my_count is guarded by my_test_lock and no property reads it: its accesses are local
        assert [type(i).__name__ for i in kf.body if not i.local] == ["Lock", "Unlock", "If", "Do"]
    finally:
        DESIGNS.pop("own-state-test")


def test_a_lock_cannot_change_its_kind():
    with pytest.raises(BadInput, match="already declared as a mutex"):
        type("Clash", (Design,), {"name": "clash", "locks": {"my_test_lock": "raw-spinlock"}})
    with pytest.raises(BadInput, match="kind 'seqlock'"):
        type("Clash2", (Design,), {"name": "clash2", "locks": {"other_lock": "seqlock"}})


# --- designs from files ------------------------------------------------------------------------------------
KAI = '''
from tdxlab.designs import design_over
from tdxlab.kernel.source import Patch, kfunc


@kfunc("lore-kai-2024-04-18")
def tdx_lp_init_ipi(err):
    ret = tdx_cpu_enable()
    if ret:
        atomic_set(err, ret)


@kfunc("k-tdx-c-71")
def tdx_enable():
    err = ATOMIC_INIT(0)
    ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "virt/tdx:online", tdx_online_cpu, tdx_offline_cpu)
    if ret < 0:
        return ret
    on_each_cpu(tdx_lp_init_ipi, err, 1)
    ret = atomic_read(err)
    if ret:
        return ret
    ret = init_tdx_module()
    if ret:
        cpuhp_remove_state("virt/tdx:online")
        return ret
    tdx_module_initialized = True
    return 0


KAI = design_over("core-7.1", "core-7.1-lp-init-by-ipi-test",
                  Patch("lp-init-by-ipi").delete("tdx_online_cpu", "ret = tdx_cpu_enable()")
                  .function(tdx_lp_init_ipi).function(tdx_enable))
'''


def test_check_a_design_file_on_the_command_line(tmp_path):
    f = tmp_path / "kai.py"
    f.write_text(KAI)
    run = lambda *a: subprocess.run([sys.executable, "-m", "tdxlab", "check", str(f), "--topology", "1x1x2",  # noqa: E731
                                     *a, "--json"], capture_output=True, text=True)
    boot = run()
    assert boot.returncode == 0, boot.stderr
    later = run("--offline", "1", "--hotplug")  # a CPU onlined after init never gets LP.INIT
    out = json.loads(later.stdout)
    assert later.returncode == 1 and out["design"] == "core-7.1-lp-init-by-ipi-test"
    assert [p for p, v in out["properties"].items() if not v["holds"]] == ["online-cpus-ready"]


@pytest.mark.parametrize("body,where", [("x = (\n", ":1:"), ("import nosuchmodule\n", ":1:"),
                                        ("from tdxlab.kernel.source import kfunc\n\n@kfunc('k-tdx-c-71')\n"
                                         "def f():\n    while x:\n        pass\n", "")])
def test_an_error_in_a_design_file_is_one_line_naming_file_and_line(tmp_path, body, where):
    f = tmp_path / "bad.py"
    f.write_text(body)
    r = subprocess.run([sys.executable, "-m", "tdxlab", "check", str(f)], capture_output=True, text=True)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(f) in lines[0] and where in lines[0]


def test_a_file_must_define_exactly_one_design(tmp_path):
    f = tmp_path / "none.py"
    f.write_text("x = 1\n")
    with pytest.raises(BadInput, match="defines 0 designs"):
        get_design(str(f))


# --- the Python API's examples run -------------------------------------------------------------------------
@pytest.mark.parametrize("modname", ["tdxlab", "tdxlab.compare", "tdxlab.designs", "tdxlab.check", "tdxlab.check.properties"])
def test_the_api_docstring_examples_run(modname):
    import doctest
    import importlib

    import tdxlab

    mod = importlib.import_module(modname)
    before = dict(DESIGNS)
    try:
        res = doctest.testmod(mod, extraglobs={"tdxlab": tdxlab}, optionflags=doctest.ELLIPSIS)
    finally:
        DESIGNS.clear()
        DESIGNS.update(before)
    assert res.attempted > 0 and res.failed == 0


def test_lkml_trace_is_80_columns_with_a_column_per_cpu():
    r = subprocess.run([sys.executable, "-m", "tdxlab", "trace", "--scenario", "irq-race-second-user",
                        "--property", "no-spurious-error", "--format", "lkml"], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    assert r.returncode == 1 and max(len(x) for x in lines) <= 80
    assert lines[0].startswith("tdxlab: irq-race-second-user: v19-2024") and "1x1x2" in lines[0]
    head = next(x for x in lines if x.strip().startswith("CPU0"))
    assert "CPU1" in head
    text = r.stdout
    assert "TDX_SYS_LP_INIT_DONE = 0xC000050300000000" in text and "-EIO" in text  # the failing status decoded
    assert "tdx_cpu_enable()" in text


def test_diff_on_the_command_line_marks_what_differs(tmp_path):
    f = tmp_path / "kai.py"
    f.write_text(KAI)
    args = ["--topology", "1x1x2", "--offline", "1", "--hotplug"]
    r = subprocess.run([sys.executable, "-m", "tdxlab", "diff", "core-7.1", str(f), *args, "--json"],
                       capture_output=True, text=True)
    out = json.loads(r.stdout)
    assert r.returncode == 1
    assert [p for p, v in out["properties"].items() if v["differs"]] == ["online-cpus-ready"]
    assert out["functions"] == {"only_a": [], "only_b": ["tdx_lp_init_ipi"],
                                "changed": ["tdx_enable", "tdx_online_cpu"]}
    same = subprocess.run([sys.executable, "-m", "tdxlab", "diff", "core-7.1", "core-7.1", "--topology", "1x1x2"],
                          capture_output=True, text=True)
    assert same.returncode == 0 and "kernel functions that differ: none" in same.stdout
    bad = subprocess.run([sys.executable, "-m", "tdxlab", "diff", "core-7.1", "nosuch"], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_a_check_reports_unreached_statements_and_a_vacuous_mutation():
    r = explore(Scenario("v19-2024", topology="1x1x2", hotplug=True, mutations=["kvm-lock-first"]))
    un = r.unreached()
    assert {u.function for u in un} >= {"hardware_enable_all"}
    assert all(u.text and u.line > 0 for u in un)
    v = r.vacuous()
    assert v and "hardware_enable_all()" in v and "--event create-vm" in v
    r2 = explore(Scenario("v19-2024", topology="1x1x2", hotplug=True, mutations=["kvm-lock-first"],
                          events=["create-vm"]))
    from tdxlab.check.coverage import ran_functions
    assert r2.vacuous() is None and "hardware_enable_all" in ran_functions(r2)
    assert len(r2.unreached()) < len(un)
    assert r2.verdicts["no-deadlock"].holds is False
    obj = r.to_json_obj()
    assert obj["vacuous"] == v and {"function", "file", "line", "statement"} <= set(obj["unreached"][0])


# --- properties as observers ------------------------------------------------------------------------------
def test_the_kernel_layer_records_facts_and_never_names_a_property():
    from pathlib import Path

    import tdxlab
    import tdxlab.designs  # noqa: F401 - the later chapters register their properties
    from tdxlab.check.properties import SHIPPED
    from tdxlab.kernel.observe import FACTS, observers

    root = Path(tdxlab.__file__).parent
    texts = {p: p.read_text() for p in [*(root / "kernel").glob("*.py"), root / "designs" / "base.py"]}
    for prop in SHIPPED:
        for p, text in texts.items():
            assert f'"{prop}"' not in text, (prop, p.name)
    # every fact the model records is observed by some property, and only facts are observed
    assert {k for k, props in observers().items() if props} == set(FACTS)


def test_a_property_added_in_a_cell_is_decided_by_every_check():
    from tdxlab.check.properties import PROPERTIES, add_property, remove_property

    def no_keyids_before_ready(sc, st):
        if st.kern.keyids_in_use and st.kern.tdx_module_status != "INITIALIZED":
            return "a KeyID is in use before the module is ready"
        return None

    add_property("test-keyids-after-ready", "KeyIDs only once the module is ready", state=no_keyids_before_ready)
    add_property("test-no-check-fires", "no kernel check fires", observes=("kernel-check",))
    try:
        r = explore(Scenario("kvm-6.16", topology="1x2x1", offline="1", events=["online:1@after"],
                             mutations=["irqs-on"]))
        assert r.verdicts["test-keyids-after-ready"].holds is True
        assert r.verdicts["test-no-check-fires"].holds is False
        assert len(r.verdicts["test-no-check-fires"].path) == len(r.verdicts["kernel-asserts"].path)
        with pytest.raises(BadInput, match="exists already"):
            add_property("kernel-asserts", "again", observes=("kernel-check",))
        with pytest.raises(BadInput, match="unknown fact"):
            add_property("test-bad", "bad", observes=("no-such-fact",))
    finally:
        remove_property("test-keyids-after-ready")
        remove_property("test-no-check-fires")
        remove_property("test-bad")
    assert "test-no-check-fires" not in PROPERTIES
    r = explore(Scenario("kvm-6.16", topology="1x1x2"))
    assert "test-no-check-fires" not in r.verdicts


def test_the_authoring_guide_s_first_design_runs_as_it_says(tmp_path):
    """docs/authoring.md, section 1: the design file and the command it shows, with the output it quotes."""
    import re
    from pathlib import Path

    guide = (Path(__file__).resolve().parents[1] / "docs" / "authoring.md").read_text()
    code = re.search(r"```python\n(.*?)```", guide, re.S).group(1)
    console = re.search(r"```console\n\$ tdxlab check lp_init_by_ipi.py (.*?)\n(.*?)\$ ", guide, re.S)
    f = tmp_path / "lp_init_by_ipi.py"
    f.write_text(code)
    r = subprocess.run([sys.executable, "-m", "tdxlab", "check", str(f), *console.group(1).split()],
                       capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    for line in console.group(2).splitlines():
        if line.strip() and line.strip() != "...":
            assert line.strip() in r.stdout, line


def test_a_compiled_function_maps_back_to_its_source_lines():
    from tdxlab.kernel.source import line_of, source_rows

    sc = Scenario("kvm-6.16", topology="1x1x2")
    kf = sc.machine.funcs["tdx_cpu_enable"]
    rows = source_rows(kf)
    assert rows[0][1].startswith("def tdx_cpu_enable")
    steps = [text.strip().split("#")[0].strip() for _, text, pcs, step in rows if step]
    assert steps == ["if this_cpu_read(tdx_lp_initialized):", "ret = seamcall_prerr(TDH_SYS_LP_INIT)",
                     "this_cpu_write(tdx_lp_initialized, True)"]
    seamcall = next(pc for pc, ins in enumerate(kf.body) if isinstance(ins, Seamcall))
    assert line_of(kf, seamcall) == next(line for line, text, _, _ in rows if "seamcall_prerr" in text)
    assert source_rows(sc.machine.funcs["_cpu_up"]) == []  # the kernel's own hotplug core: no design source
