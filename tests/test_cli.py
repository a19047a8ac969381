"""Every verb of the `tdxlab` command line, with good and bad input; random arguments never crash it."""
import contextlib
import io
import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tdxlab.cli import main

TDXLAB = [sys.executable, "-m", "tdxlab"]


def run(*args):
    """Run the real command in a subprocess: (exit status, stdout, stderr)."""
    p = subprocess.run(TDXLAB + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def run_in_process(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("verb,names", [
    ("designs", ["v7-2022", "kvm-v18-2024", "v19-2024", "kvm-v18-kai-irqsave", "kvm-6.16", "core-7.1"]),
    ("mutations", ["no-hotplug-lock", "irqs-on", "second-user", "no-vmxon", "no-kvm-lock", "kvm-lock-first",
                   "plain-setup-state"]),
    ("properties", ["vmx-before-seamcall", "lp-init-before-seamcall", "init-succeeds", "online-cpus-ready",
                    "package-keys", "cpu-online-succeeds", "no-spurious-error", "no-deadlock", "lock-order",
                    "kernel-asserts"]),
    ("scenarios", ["nosmt-old-rule", "irq-race-second-user", "core-7.1-hotplug"]),
])
def test_listing_verbs_one_per_line_with_a_description(verb, names):
    code, out, err = run_in_process([verb])
    assert code == 0 and not err
    lines = [line for line in out.splitlines() if line[:1].strip()]  # (a description's further lines are indented)
    first_words = [line.split()[0] for line in lines]
    for n in names:
        assert n in first_words
        line = lines[first_words.index(n)]
        assert len(line.split()) > 3  # a short description follows the name
    if verb in ("designs", "mutations", "properties"):  # every one, in the registry's order (later chapters add more)
        from tdxlab.check.properties import PROPERTIES
        from tdxlab.designs import DESIGNS
        from tdxlab.mutations import MUTATIONS

        registry = {"designs": DESIGNS, "mutations": MUTATIONS, "properties": PROPERTIES}[verb]
        assert first_words[:len(registry)] == list(registry) and first_words[:len(names)] == names


def test_check_exit_codes():
    assert run_in_process(["check", "--scenario", "core-7.1-hotplug"])[0] == 0
    assert run_in_process(["check", "--scenario", "irq-race-second-user"])[0] == 1
    assert run_in_process(["check", "--scenario", "core-7.1-hotplug", "--max-states", "20"])[0] == 3
    code, out, _ = run_in_process(["check", "kvm-6.16", "--topology", "1x1x2", "--nosmt", "--rule", "old",
                                   "--json"])
    obj = json.loads(out)
    assert code == 1 and obj["properties"]["init-succeeds"]["holds"] is False
    assert obj["topology"] == "1x1x2" and obj["rule"] == "old" and obj["complete"] is True


def test_check_every_flag():
    code, out, err = run_in_process(["check", "kvm-v18-kai-irqsave", "--rule", "relaxed", "--topology", "1x2x1",
                                     "--offline", "1", "--hotplug", "--mutate", "irqs-on", "--event",
                                     "create-vm", "--option", "pass_vmxon=true", "--max-states", "100000"])
    assert code == 1 and "kernel-asserts" in out and "VIOLATED" in out


@pytest.mark.parametrize("args,needle", [
    (["check", "v8-2023"], "'v8-2023'"),
    (["check", "kvm-6.16", "--topology", "2x2"], "'2x2'"),
    (["check", "kvm-6.16", "--topology", "0x1x1"], "0 CPUs"),
    (["check", "kvm-6.16", "--topology", "8x8x2"], "more than"),
    (["check", "kvm-6.16", "--mutate", "bogus"], "'bogus'"),
    (["check", "core-7.1", "--mutate", "irqs-on"], "does not apply"),
    (["check", "kvm-6.16", "--max-states", "0"], "--max-states: the state budget '0' is out of range"),
    (["check", "kvm-6.16", "--max-states", "lots"], "'lots'"),
    (["check", "kvm-6.16", "--offline", "9"], "out of range"),
    (["check", "kvm-6.16", "--rule", "strict"], "invalid choice"),
    (["check", "--scenario", "nope"], "'nope'"),
    (["check", "--scenario", "nosmt-old-rule", "--hotplug"], "drop hotplug"),
    (["check"], "name a design"),
    (["trace", "kvm-6.16", "--property", "fast"], "'fast'"),
    (["trace", "kvm-6.16"], "--property"),
    (["graph", "kvm-6.16", "--kind", "pie", "--out", "x.svg"], "invalid choice"),
    (["graph", "kvm-6.16", "--out", "x.gif"], "'x.gif'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    code, out, err = run_in_process(args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


def test_trace_formats():
    code, out, _ = run_in_process(["trace", "--scenario", "irq-race-second-user", "--property",
                                   "no-spurious-error", "--format", "json"])
    obj = json.loads(out)
    assert code == 1 and obj["counterexample"][-1]["result"] == "TDX_SYS_LP_INIT_DONE"
    code, out, _ = run_in_process(["trace", "--scenario", "irq-race-second-user", "--property",
                                   "no-spurious-error", "--format", "csv"])
    assert code == 1 and out.splitlines()[0].startswith("step,cpu,context,function,action")
    code, out, _ = run_in_process(["trace", "--scenario", "irq-race-second-user", "--property",
                                   "no-spurious-error"])
    assert code == 1 and "TDX_SYS_LP_INIT_DONE" in out
    code, out, err = run_in_process(["trace", "--scenario", "core-7.1-hotplug", "--property", "no-deadlock"])
    assert code == 0 and "holds" in err


@pytest.mark.parametrize("kind", ["states", "module", "locks", "lanes"])
@pytest.mark.parametrize("suffix", [".svg", ".dot", ".png"])
def test_graph_kinds_and_formats(tmp_path, kind, suffix):
    out = tmp_path / f"g{suffix}"
    code, stdout, err = run_in_process(["graph", "--scenario", "kvm-lock-inversion", "--kind", kind,
                                        "--out", str(out)])
    assert code == 0, err
    data = out.read_bytes()
    assert {".svg": b"<svg", ".dot": b"digraph", ".png": b"\x89PNG"}[suffix] in data[:400]


def test_decode_through_the_real_command():
    code, out, err = run("decode", "0x8000FF0000000006")
    assert code == 0 and "TDX_SEAMCALL_UD" in out and "-EACCES" in out
    code, out, err = run("decode", "-0x5")
    assert code == 2 and "negative" in err and len(err.strip().splitlines()) == 1


def test_python_dash_m_and_console_script_agree():
    a = run("designs")
    b = subprocess.run([sys.executable.replace("python", "tdxlab"), "designs"], capture_output=True, text=True)
    assert a[0] == 0 and a[1] == b.stdout


WORDS = st.sampled_from(["check", "trace", "graph", "designs", "decode", "kvm-6.16", "core-7.1", "v19-2024",
                         "v7-2022", "bogus", "--rule", "old", "relaxed", "--topology", "1x1x2", "1x2x1",
                         "2x1x1", "0x1x1", "65x1x1", "1x", "--nosmt", "--offline", "1", "0", "7", "1-0",
                         "--hotplug", "--mutate", "irqs-on", "no-vmxon", "second-user", "plain-setup-state",
                         "kvm-lock-first", "--event", "create-td", "create-vm", "online:1", "offline:1@init",
                         "--property", "no-deadlock", "lock-order", "--format", "csv", "--json", "--scenario",
                         "nosmt-old-rule", "--kind", "module", "--option", "pass_vmxon=false", "x=1", "0x5",
                         "--max-states", "-3", "", "--max-seconds", "nan"])


@settings(max_examples=120, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(WORDS, min_size=1, max_size=9))
def test_random_arguments_never_crash(argv):
    if "graph" in argv:
        argv = [a for a in argv if a != "graph"]  # graph would need --out; covered above
    argv = argv + ["--max-states", "3000"] if argv and argv[0] in ("check", "trace") else argv
    code, out, err = run_in_process(argv)
    assert code in (0, 1, 2, 3)
    assert "Traceback" not in err
    if code == 2:
        assert len(err.strip().splitlines()) == 1


def test_progress_line_shows_the_shortest_counterexample_search(capsys):
    from tdxlab.cli_model import _Progress

    p = _Progress(1000)
    p.on = True  # (a terminal)
    p(10, 12, 3, 0.5)
    p.phase("shortest counterexample (no reductions): 0/20,000 states, 0.0/5.0 s")
    err = capsys.readouterr().err
    assert "10 states" in err and "\rshortest counterexample (no reductions): 0/20,000 states" in err
    p.on = False  # not a terminal: nothing
    p.phase("anything")
    assert capsys.readouterr().err == ""


def listed(block: str, names) -> dict[str, str]:
    """A listing's text by name, checked to line up: each description starts in one column, just past the
    longest of ``names``, and its further lines start there too; no line is wider than the listing's columns;
    the names come in the order of ``names``."""
    from tdxlab.cli_model import LISTING_COLUMNS

    col = max(map(len, names)) + 2
    got: dict[str, list[str]] = {}
    for line in block.splitlines():
        assert len(line) <= LISTING_COLUMNS, line
        name, text = line[:col].strip(), line[col:]
        assert text and not text[0].isspace() and (name in names or not name), line
        if name:
            got[name] = [text]
        else:
            got[list(got)[-1]].append(text)
    assert list(got) == list(names)
    assert any(len(parts) > 1 for parts in got.values())  # a long one wrapped
    return {n: " ".join(parts) for n, parts in got.items()}


@pytest.mark.parametrize("argv", [["designs"], ["designs", "--what-ifs"]])
def test_designs_listing_lines_up_and_wraps(argv):
    """The designs' listing lines up and wraps (listed()); the text is the design's era and summary, whole."""
    from tdxlab.designs import DESIGNS
    from tdxlab.designs.whatifs import WHATIF_DESIGNS

    code, out, err = run(*argv)  # a pipe, not a terminal: LISTING_COLUMNS wide
    assert code == 0 and not err
    blocks = out.split("\n\n")
    wanted = [{n: f"{d.era}: {d.summary}" for n, d in DESIGNS.items()}]
    if "--what-ifs" in argv:
        wanted.append({n: d.summary for n, d in WHATIF_DESIGNS.items()})
        blocks[1] = blocks[1].split("\n", 1)[1]  # (the what-ifs' heading)
    assert len(blocks) == len(wanted)
    for block, names in zip(blocks, wanted):
        assert listed(block, names) == {n: " ".join(t.split()) for n, t in names.items()}


def test_designs_listing_says_each_era_once():
    """`tdxlab designs` prints "era: summary": a summary does not repeat its design's date."""
    from tdxlab.designs import DESIGNS

    for name, d in DESIGNS.items():
        when = d.era.split(" (")[0]  # "April 2024", "Linux 6.16", "Feb to Apr 2024"
        assert when not in d.summary, name


def test_mutations_properties_scenarios_listings_line_up_and_wrap():
    """The other listings line up and wrap the same way, however long their longest name (a scenario's is
    far longer than a design's); each text is whole: a mutation's with the designs it applies to, a
    property's with its chapter and sources, a scenario's the first sentence of its story."""
    from tdxlab.check.properties import PROPERTIES
    from tdxlab.designs import DESIGNS
    from tdxlab.mutations import MUTATIONS
    from tdxlab.scenario import list_scenarios

    outs = {}
    for verb in ("mutations", "properties", "scenarios"):
        code, outs[verb], err = run(verb)
        assert code == 0 and not err
    for name, text in listed(outs["mutations"], MUTATIONS).items():
        where = [d for d, cls in DESIGNS.items() if name in cls.mutation_notes]
        assert text == f"{' '.join(MUTATIONS[name].split())} [applies to: {', '.join(where)}]"
    for name, text in listed(outs["properties"], PROPERTIES).items():
        p = PROPERTIES[name]
        assert text == " ".join(f"[{p.chapter or 'every design'}] {p.summary} ({p.fact})".split())
    scenarios = list_scenarios({})
    assert max(map(len, scenarios)) > 30  # (wider than the old fixed column)
    for name, text in listed(outs["scenarios"], scenarios).items():
        story = " ".join((scenarios[name].story or "").split())
        assert story.startswith(text) if story else text == scenarios[name].title()


def test_listing_wraps_to_the_width_it_is_given():
    from tdxlab.cli_model import listing

    rows = [("a", "one two three four five six seven"), ("a-longer-name", "x")]
    text = listing(rows, columns=32)
    assert text.splitlines() == ["a              one two three four",
                                 "               five six seven",
                                 "a-longer-name  x"]
