"""Bad input of every kind is refused in one line with exit status 2, within bounded memory and time: scenario
files (YAML aliases, deep nesting, wrong types, unknown fields, non-UTF-8, FIFOs, directories, escape codes),
flags (huge numbers, huge CPU ranges, newlines, `1e3`), corrupted data files, and misuse of the Python API in
notebooks and IPython."""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tdxlab import facts
from tdxlab.errors import BadInput, TdxlabError

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tdxlab" / "data"
MEMORY_LIMIT = 1536 * 1024 * 1024  # address space per run: a blow-up shows as MemoryError (exit 4), not a pass


def _limit():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def tdxlab(*args, env=None, cwd=REPO) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "tdxlab", *args], capture_output=True, cwd=cwd, env=e,
                          timeout=300, preexec_fn=_limit)


def refused(r: subprocess.CompletedProcess, *words: str) -> str:
    err = r.stderr.decode("utf-8", "replace")
    lines = err.strip().splitlines()
    assert r.returncode == 2, (r.returncode, err[-1000:])
    assert len(lines) == 1 and "Traceback" not in err, err[-1000:]
    assert len(lines[0]) <= 500 and "\x1b" not in lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


BILLION_LAUGHS = "\n".join(
    ["design: kvm-6.16", "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
       f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)]
    + ["name: *i"]) + "\n"

SCENARIO_FILES = [
    ("laughs.yaml", BILLION_LAUGHS.encode(), "anchors and aliases"),
    ("keys.yaml", b"design: kvm-6.16\n1: 2\n", "field names must be strings"),
    ("nested.yaml", b"design: kvm-6.16\nevents: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested"),
    ("nested.toml", b"design = \"kvm-6.16\"\nevents = " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested"),
    ("latin1.toml", b"design = \"kvm-6.16\"\nstory = \"caf\xe9\"\n", "not UTF-8"),
    ("name.toml", b"design = \"kvm-6.16\"\nname = 5\n", "'name' must be a string"),
    ("story.toml", b"design = \"kvm-6.16\"\nstory = 5\n", "'story' must be a string"),
    ("loaded.toml", b"design = \"kvm-6.16\"\nmodule_loaded = \"false\"\n", "'module_loaded' must be true or false"),
    ("vmxon.toml", b"design = \"v19-2024\"\noptions = {pass_vmxon = \"false\"}\n", "must be true or false"),
    ("budget.toml", b"design = \"kvm-6.16\"\nmax_states = 10\n", "unknown field(s) max_states"),
    ("big.toml", b"design = \"kvm-6.16\"\n" + b"# padding\n" * 20000, "bytes"),
    ("events.yaml", b"design: kvm-6.16\nevents: [1, 2]\n", "is not a name"),
    ("topo.toml", b"design = \"kvm-6.16\"\ntopology = \"" + b"9" * 5000 + b"x1x1\"\n", "the model's limit"),
    ("offline.toml", b"design = \"kvm-6.16\"\noffline = \"1-100000000\"\n", "out of range"),
    ("scalar.yaml", b"just a string\n", "expected a table"),
]


@pytest.mark.parametrize("name,content,words", SCENARIO_FILES, ids=[c[0] for c in SCENARIO_FILES])
def test_malformed_scenario_files_are_refused(tmp_path, name, content, words):
    p = tmp_path / name
    p.write_bytes(content)
    refused(tdxlab("check", "--scenario", str(p)), words)


def test_a_fifo_or_a_directory_as_a_scenario(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    refused(tdxlab("check", "--scenario", str(fifo)), "not a regular file")
    d = tmp_path / "dir.toml"
    d.mkdir()
    refused(tdxlab("check", "--scenario", str(d)), "is a directory")


def test_escape_codes_in_a_scenario_name_are_not_printed_raw(tmp_path):
    p = tmp_path / "\x1b[31mred.toml"
    p.write_bytes(b"design = \"kvm-6.16\"\nrule = \"\x1b[2Jstrict\"\n")
    line = refused(tdxlab("check", "--scenario", str(p)))
    assert "\\x1b" in line


@pytest.fixture
def data_copy(tmp_path):
    d = tmp_path / "data"
    shutil.copytree(DATA, d)
    return d


def test_one_bad_scenario_file_does_not_hide_the_others(data_copy):
    (data_copy / "scenarios" / "zz-broken.toml").write_bytes(b"design = \"kvm-6.16\"\nname = 5\n")
    (data_copy / "scenarios" / "\x1b[2Jevil.yaml").write_bytes(b"design: kvm-6.16\nstory: \"\\e[2J cleared\"\n")
    r = tdxlab("scenarios", env={"TDXLAB_DATA": str(data_copy)})
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 2 and "kvm-lock-inversion" in out and "\x1b" not in out
    assert "\\x1b[2Jevil" in out and "\\x1b[2J cleared" in out  # listed, its escape codes shown as text
    assert err.strip().splitlines() == [
        "tdxlab: error: skipped zz-broken.toml: scenario file zz-broken.toml: field 'name' must be a string, not 5"]
    from tdxlab.scenario import list_scenarios

    os.environ["TDXLAB_DATA"] = str(data_copy)
    try:
        bad: dict = {}
        good = list_scenarios(bad)
        assert "kvm-lock-inversion" in good and list(bad) == ["zz-broken.toml"]
        with pytest.raises(TdxlabError, match="zz-broken.toml"):
            list_scenarios()
    finally:
        del os.environ["TDXLAB_DATA"]


@pytest.mark.parametrize("args,words", [
    (["decode", "1" * 5000], "5,000 decimal digits"),
    (["decode", "0x" + "f" * 5000], "5,000 hexadecimal digits"),
    (["decode", "--json", "-0x5"], "negative"),
    (["check", "kvm-6.16", "--topology", "9" * 5000 + "x1x1"], "the model's limit"),
    (["check", "kvm-6.16", "--offline", "9" * 5000], "out of range"),
    (["check", "kvm-6.16", "--offline", "1-100000000"], "out of range"),
    (["check", "kvm-6.16", "--max-states", "1.5"], "is not a whole number"),
    (["check", "kvm-6.16", "--max-states", "9" * 5000], "out of range"),
    (["check", "kvm-6.16", "--max-seconds", "nan"], "not a positive number"),
    (["check", "kvm-6.16", "--rule", "old\nrelaxed"], "invalid choice"),
    (["check", "kvm-6.16", "--event", "online:1\n2"], "event"),
    (["check", "v19-2024", "--option", "pass_vmxon=maybe"], "must be true or false"),
    (["check", "v19-2024", "--option", "pass_vmxon="], "has no value"),
    (["check", "kvm-6.16", "--option", "pass_vmxon=true"], "has no option"),
    (["graph", "kvm-6.16", "--out", "/nonexistent-dir/x.svg"], "x.svg"),
])
def test_bad_flags_are_refused(args, words):
    refused(tdxlab(*args), words)


def test_budgets_written_as_people_write_them():
    r = tdxlab("check", "kvm-6.16", "--max-states", "1e3")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("file,content,words", [
    ("status_codes.toml", b"[[status]]\nname = \"caf\xe9\"\n", "not UTF-8"),
    ("status_codes.toml", b"x = " + b"[" * 3000 + b"]" * 3000 + b"\n", "status_codes.toml"),
    ("status_codes.toml", None, "is missing"),
    ("leaves.toml", b"[[leaf]]\nname = 5\n", "leaves.toml"),
])
def test_corrupted_facts_are_one_line(data_copy, file, content, words):
    p = data_copy / file
    if content is None:
        p.unlink()
    else:
        p.write_bytes(content)
    env = {"TDXLAB_DATA": str(data_copy)}
    refused(tdxlab("decode", "0x0", env=env) if file == "status_codes.toml" else
            tdxlab("graph", "kvm-6.16", "--kind", "module", "--out", str(data_copy / "m.dot"), env=env), words)


def test_corrupted_exercises_are_one_line(data_copy, monkeypatch):
    from tdxlab import exercises

    (data_copy / "exercises.toml").write_bytes(b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000)
    monkeypatch.setenv("TDXLAB_DATA", str(data_copy))
    exercises.load.cache_clear()
    try:
        with pytest.raises(TdxlabError) as e:
            exercises.load()
        assert "exercises" in str(e.value)
    finally:
        exercises.load.cache_clear()
        facts.clear_cache()


# ---- the Python API ---------------------------------------------------------------------------------
def test_api_accepts_a_scenario_name_where_a_scenario_is_expected():
    from tdxlab.check.explore import explore

    r = explore("kvm-lock-inversion")
    assert "no-deadlock" in r.violated


@pytest.mark.parametrize("call", [
    lambda: __import__("tdxlab.scenario", fromlist=["x"]).get_scenario(None),
    lambda: __import__("tdxlab.scenario", fromlist=["x"]).get_scenario(["kvm-6.16"]),
    lambda: __import__("tdxlab.scenario", fromlist=["x"]).Scenario("kvm-6.16", offline=5),
    lambda: __import__("tdxlab.scenario", fromlist=["x"]).Scenario(["kvm-6.16"]),
    lambda: __import__("tdxlab.scenario", fromlist=["x"]).Scenario("kvm-6.16", topology=222),
    lambda: __import__("tdxlab.scenario", fromlist=["x"]).Scenario("kvm-6.16", events="online:1\x1b"),
    lambda: __import__("tdxlab.scenario", fromlist=["x"]).Scenario("kvm-6.16", module_loaded="false"),
    lambda: __import__("tdxlab.check.explore", fromlist=["x"]).explore("kvm-6.16-boot", max_states=-1),
    lambda: __import__("tdxlab.check.explore", fromlist=["x"]).explore("kvm-6.16-boot", max_seconds="x"),
    lambda: __import__("tdxlab.check.explore", fromlist=["x"]).explore(5),
    lambda: facts.status_value(None),
])
def test_api_misuse_is_one_clear_error(call):
    with pytest.raises(BadInput) as e:
        call()
    assert "\n" not in str(e.value) and len(str(e.value)) <= 400


def test_terminal_ipython_shows_the_error_line_as_text(tmp_path):
    ipython = Path(sys.executable).with_name("ipython")
    code = ("import tdxlab; from tdxlab.scenario import get_scenario; get_scenario('nope')\n"
            "print('after')\n")
    script = tmp_path / "s.ipy"
    script.write_text(code)
    r = subprocess.run([str(ipython), "--no-banner", "--colors=NoColor", str(script)], capture_output=True,
                       text=True, cwd=tmp_path, timeout=300)
    out = r.stdout + r.stderr
    assert "tdxlab: unknown scenario 'nope'" in out
    assert "IPython.core.display.HTML" not in out and "Traceback" not in out
