"""Fuzzing the command line, scenario files and the Python API with hypothesis: whatever comes in, tdxlab
answers with an exit status of 0, 1, 2 or 3 (never 4, its "internal error"), with exactly one line on stderr
for 2, never a traceback, and within bounded memory and time (every search has a small state budget).
The runs are derandomized: the same examples every time, on every machine."""
from __future__ import annotations

import contextlib
import io
import json
import resource
import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tdxlab.cli import main
from tdxlab.designs import DESIGNS as _DESIGNS
from tdxlab.errors import TdxlabError
from tdxlab.scenario import FIELDS, Scenario

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
BUDGET = ["--max-states", "300"]
DESIGNS = list(_DESIGNS)  # every shipped design, the 2026 chapters' too


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse's --help
            code = e.code
    return code, out.getvalue(), err.getvalue()


def assert_contract(argv, code, err):
    assert code in (0, 1, 2, 3), (argv, code, err[-500:])
    assert "Traceback" not in err, (argv, err[-1000:])
    if code == 2:
        assert len(err.strip().splitlines()) == 1, (argv, err[-1000:])
        assert "\x1b" not in err


weird_text = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=string.digits, min_size=1, max_size=6000),
    st.sampled_from(["", "-", "--", "-0x5", "0x", "1e3", "1e400", "nan", "-1", "0", "1-100000000", "2x2x2",
                     "0x1x1", "9" * 5000 + "x1x1", "a\nb", "\x1b[31m", "online:1", "offline:0", "create-td@init",
                     "kexec", "crash@init", "update", "version-read",
                     "pass_vmxon=maybe", "pass_vmxon=", "=", "irqs-on", "no-deadlock", "x.svg", "x.gif", "lkml",
                     "table", "csv", "json", "lanes", "locks"]),
)
flag = st.sampled_from(["--rule", "--topology", "--offline", "--event", "--mutate", "--option", "--max-states",
                        "--max-seconds", "--max-memory", "--scenario", "--property", "--format", "--kind",
                        "--json", "--nosmt", "--hotplug", "--no-reduce", "--help", "--bogus"])


@st.composite
def cli_args(draw):
    verb = draw(st.sampled_from(["check", "trace", "graph", "diff", "decode", "scenarios", "designs", "mutations",
                                 "properties", "frobnicate", ""]))
    argv = [verb] if verb else []
    if verb in ("check", "trace", "graph", "diff"):
        argv.append(draw(st.one_of(st.sampled_from(DESIGNS), weird_text, st.sampled_from(
            ["/nonexistent.py", "/dev/null", "/etc/hostname", "x.py", "/tmp"]))))
    if verb == "diff":
        argv.append(draw(st.one_of(st.sampled_from(DESIGNS), weird_text)))
    for _ in range(draw(st.integers(0, 5))):
        argv.append(draw(flag))
        if draw(st.booleans()):
            argv.append(draw(weird_text))
    if verb == "graph":
        argv += ["--out", "/dev/null/x.dot"]  # nothing is written: an unwritable path is bad input too
    if verb in ("check", "trace", "graph", "diff") and "--max-states" not in argv:
        argv += BUDGET
    if "--max-seconds" in argv:  # a time budget would make the outcome depend on the machine
        argv.remove("--max-seconds")
    if "--help" in argv:
        argv.remove("--help")
    if "--max-memory" in argv:
        argv.remove("--max-memory")
    return argv


@SETTINGS
@given(cli_args())
def test_fuzz_command_line(argv):
    if "--max-states" in argv:  # keep every search small, whatever value the fuzzer put there
        i = argv.index("--max-states")
        argv = argv[:i] + argv[i + 2:] + BUDGET if i + 1 < len(argv) else argv[:i] + BUDGET
    code, out, err = run(argv)
    assert_contract(argv, code, err)


# ---- scenario files ----------------------------------------------------------------------------------
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.integers(min_value=10**30),
                    st.floats(allow_nan=False), st.text(max_size=10), st.sampled_from(DESIGNS),
                    st.sampled_from(["old", "relaxed", "2x1x2", "1x2x2", "1-3", "create-td", "online:1"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)
field_names = st.one_of(st.sampled_from(sorted(FIELDS)), st.text(max_size=10))
tables = st.dictionaries(field_names, values, max_size=8)


def to_toml(table: dict) -> str:
    """A small TOML writer for the fuzzer (strings as JSON strings, which TOML mostly accepts)."""
    def val(v):
        if v is None:
            return '""'
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return "{" + ", ".join(f"{json.dumps(k)} = {val(x)}" for k, x in v.items()) + "}"
    return "".join(f"{json.dumps(k)} = {val(v)}\n" for k, v in table.items())


@st.composite
def scenario_files(draw):
    table = draw(tables)
    if draw(st.booleans()):
        table.setdefault("design", draw(st.sampled_from(DESIGNS)))
    kind = draw(st.sampled_from(["toml", "yaml", "yaml-alias", "bytes", "deep"]))
    if kind == "toml":
        return ".toml", to_toml(table).encode("utf-8", "surrogatepass")
    if kind == "yaml":
        return ".yaml", yaml.safe_dump(table, allow_unicode=True).encode("utf-8", "surrogatepass")
    if kind == "yaml-alias":
        n = draw(st.integers(1, 9))
        lines = ["design: kvm-6.16", "a0: &a0 [x, x, x, x, x, x, x, x]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 8) + "]" for i in range(1, n)]
        return ".yaml", ("\n".join(lines) + "\n").encode()
    if kind == "deep":
        depth = draw(st.integers(10, 5000))
        return draw(st.sampled_from([".toml", ".yaml"])), b"design = 1\nx = " + b"[" * depth + b"]" * depth
    return draw(st.sampled_from([".toml", ".yaml"])), draw(st.binary(max_size=200))


@SETTINGS
@given(scenario_files())
def test_fuzz_scenario_files(tmp_path, file):
    suffix, content = file
    p = tmp_path / ("fuzz" + suffix)
    p.write_bytes(content)
    argv = ["check", "--scenario", str(p), *BUDGET]
    code, out, err = run(argv)
    assert_contract(argv, code, err)


# ---- the Python API ----------------------------------------------------------------------------------
@SETTINGS
@given(tables)
def test_fuzz_scenario_api(kwargs):
    kwargs = {k: v for k, v in kwargs.items() if k.isidentifier()}
    try:
        Scenario(**{"design": "kvm-6.16", **kwargs})
    except TdxlabError as e:
        assert "\n" not in str(e) and len(str(e)) <= 400
    except TypeError as e:  # an argument Scenario() does not take: Python's own error, named
        assert "unexpected keyword argument" in str(e)


def test_the_fuzzers_stay_within_bounded_memory():
    """Run after the fuzzers (file order): the whole test process never grew past 3 GiB."""
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mib < 3072, peak_mib

