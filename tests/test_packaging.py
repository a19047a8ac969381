"""tdxlab as a package: the wheel carries its data and works installed without `-e`, the core installs and
imports light (no pandas, ipywidgets or IPython), and the command line keeps its exit-code contract under
pipes, full disks, Ctrl-C, memory errors and its own bugs."""
from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tdxlab import cli, cli_model
from tdxlab.check import explore as explore_mod

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
HEAVY = ("pandas", "ipywidgets", "IPython", "jupyterlab", "notebook")


# A module removed from the source long ago, as setuptools' default build directory would still hold it (one name
# per test process, so two runs at once never remove each other's file).
STALE = f"stale_removed_module_{os.getpid()}.py"


@contextlib.contextmanager
def _stale_build_dir():
    """STALE planted where setuptools builds a wheel by default: build/lib (its copy of the package, never
    emptied) and build/bdist.<platform>/wheel (left behind by an interrupted build). Afterwards only the
    planted files and the directories made for them are removed; nothing else in build/ is touched."""
    made, planted = [], []
    try:
        for sub in (("build", "lib", "tdxlab"), ("build", f"bdist.{sysconfig.get_platform()}", "wheel", "tdxlab")):
            d = REPO  # (a fresh clone has no build/ at all: every directory on the way is made, then removed)
            for part in sub:
                d = d / part
                if not d.exists():
                    d.mkdir()
                    made.append(d)
            (d / STALE).write_text("raise ImportError('removed from the source')\n")
            planted.append(d / STALE)
        yield
    finally:
        for f in planted:
            f.unlink(missing_ok=True)
        for d in reversed(made):
            with contextlib.suppress(OSError):  # not empty: something else wrote there meanwhile
                d.rmdir()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel as `pip wheel .` builds it, with a stale build/ directory in the repository."""
    out = tmp_path_factory.mktemp("wheel")
    with _stale_build_dir():
        r = subprocess.run([PY, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                           capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("tdxlab-*.whl")
    return whl


def test_the_wheel_ships_only_the_source_tree(wheel):
    """The wheel is built in a fresh directory (fresh_build.py), never from build/ in the repository: a module
    left there by an earlier build is not shipped, and every file of the package in the wheel is in the source."""
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.endswith(STALE)]
    package = [n for n in names if n.startswith("tdxlab/")]
    assert "tdxlab/cli.py" in package
    assert [n for n in package if not (REPO / n).is_file()] == []


def test_the_wheel_carries_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("leaves.toml", "status_codes.toml", "exercises.toml", "expected.toml"):
        assert f"tdxlab/data/{f}" in names
    shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith("tdxlab/data/scenarios/")}
    on_disk = {p.name for p in (REPO / "tdxlab" / "data" / "scenarios").iterdir()}
    assert shipped == on_disk and shipped
    assert not any(n.startswith(("data/", "tests/", "notebooks/")) for n in names)


def test_data_at_the_top_is_the_package_data():
    top = REPO / "data"
    assert top.is_symlink() and top.resolve() == (REPO / "tdxlab" / "data").resolve()


def _fresh_venv(where: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    return where / "bin"


@pytest.fixture(scope="module")
def core_install(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed as a user would, without -e: the core and its two
    dependencies from PyPI, nothing else."""
    bin_ = _fresh_venv(tmp_path_factory.mktemp("core") / "venv")
    r = subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "-q", str(wheel)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return bin_


def _run(bin_: Path, *args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TDXLAB_DATA")}
    return subprocess.run([str(bin_ / "tdxlab"), *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=600)


def test_installed_wheel_runs_the_verbs(core_install, tmp_path):
    # run away from the repository, so nothing of it can be imported by accident
    r = _run(core_install, "decode", "0x8000FF0000000006", cwd=tmp_path)
    assert r.returncode == 0 and "TDX_SEAMCALL_UD" in r.stdout and "-EACCES" in r.stdout, r.stderr
    r = _run(core_install, "scenarios", cwd=tmp_path)
    assert r.returncode == 0 and "kvm-lock-inversion" in r.stdout, r.stderr
    r = _run(core_install, "check", "--scenario", "kvm-lock-inversion", "--json", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["properties"]["no-deadlock"]["holds"] is False
    r = _run(core_install, "trace", "--scenario", "irq-race-second-user", "--property", "no-spurious-error",
             cwd=tmp_path)
    assert r.returncode == 1 and "TDX_SYS_LP_INIT_DONE" in r.stdout, r.stderr
    where = subprocess.run([str(core_install / "python"), "-c", "import tdxlab; print(tdxlab.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path).stdout
    assert "site-packages" in where and str(REPO) not in where


def test_the_core_installs_without_the_notebook_stack(core_install, tmp_path):
    code = "import importlib.util as u; print([m for m in %r if u.find_spec(m)])" % (HEAVY,)
    r = subprocess.run([str(core_install / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_installed_wheel_serves_the_notebooks_imports(wheel, tmp_path):
    """The notebooks' imports from the wheel, with the [lab] extra's packages taken from this venv."""
    bin_ = _fresh_venv(tmp_path / "venv")
    r = subprocess.run([str(bin_ / "python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    site = next((tmp_path / "venv" / "lib").glob("python3*/site-packages"))
    import sysconfig

    (site / "zz-lab-extra.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = ("import tdxlab, tdxlab.widgets; from tdxlab import facts; from tdxlab.widgets import Stepper; "
            "from tdxlab.scenario import get_scenario; from tdxlab.check.explore import explore; "
            "print(tdxlab.__file__); print(len(facts.leaves())); "
            "print(explore(get_scenario('kvm-lock-inversion')).violated)")
    r = subprocess.run([str(bin_ / "python"), "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    first, leaves, violated = r.stdout.splitlines()
    assert str(tmp_path) in first and int(leaves) > 5 and "no-deadlock" in violated


def test_import_and_cli_stay_light():
    """`import tdxlab`, the checker and every verb of the CLI that needs no table import none of the
    notebook stack."""
    code = f"""
import sys
import tdxlab, tdxlab.facts, tdxlab.scenario, tdxlab.check.explore, tdxlab.cli
from tdxlab.cli import main
import contextlib, io, tempfile, os
with contextlib.redirect_stdout(io.StringIO()):
    main(["decode", "0x0"])
    main(["check", "--scenario", "kvm-lock-inversion"])
    main(["trace", "--scenario", "irq-race-second-user", "--property", "no-spurious-error"])
    main(["trace", "--scenario", "irq-race-second-user", "--property", "no-spurious-error", "--format", "csv"])
    d = tempfile.mkdtemp()
    main(["graph", "--scenario", "kvm-lock-inversion", "--kind", "lanes", "--out", os.path.join(d, "l.dot")])
    main(["scenarios"]); main(["designs"]); main(["properties"])
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "[]"


# ---- exit codes under pipes, full disks, Ctrl-C, MemoryError and bugs ---------------------------------
def _tdxlab(*args, **kw) -> list[str]:
    return [PY, "-m", "tdxlab", *args]


def test_a_closed_pipe_keeps_the_verdicts_exit_code():
    p = subprocess.Popen(_tdxlab("trace", "--scenario", "irq-race-second-user", "--property", "no-spurious-error"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    p.stdout.close()  # the reader is gone before anything is written (`| head -0`)
    err = p.stderr.read().decode()
    assert p.wait(timeout=600) == 1, err
    assert err == ""


def test_a_full_disk_is_one_line_and_exit_4():
    with open("/dev/full", "w") as full:
        r = subprocess.run(_tdxlab("check", "--scenario", "kvm-lock-inversion", "--json"), stdout=full,
                           stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 4
    assert r.stderr.strip().splitlines() == ["tdxlab: error: cannot write the output: No space left on device"]


def test_ctrl_c_prints_what_was_found_and_exits_130():
    """A real SIGINT, sent once the search is under way (its progress line shows on a terminal)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(_tdxlab("check", "v19-2024", "--topology", "2x2x2", "--hotplug", "--no-reduce"),
                         stdout=subprocess.PIPE, stderr=slave, cwd=REPO)
    os.close(slave)
    seen = b""
    while b"states" not in seen:
        ready, _, _ = select.select([master], [], [], 600)
        assert ready, "no progress line"
        seen += os.read(master, 4096)
    p.send_signal(signal.SIGINT)
    out = p.stdout.read().decode()
    code = p.wait(timeout=600)
    rest = b""
    try:
        while select.select([master], [], [], 0.5)[0]:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            rest += chunk
    except OSError:  # the terminal is closed once the process has exited
        pass
    os.close(master)
    assert code == 130, out
    assert "INCOMPLETE: interrupted (Ctrl-C)" in out and "vmx-before-seamcall" in out
    assert b"Traceback" not in seen + rest


def test_ctrl_c_in_process_keeps_the_partial_result(monkeypatch, capsys):
    calls = []

    def interrupt(self, states, *a):  # Ctrl-C at the first progress report of the search
        calls.append(states)
        if len(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_model._Progress, "__call__", interrupt)
    code = cli.main(["check", "v19-2024", "--topology", "2x2x2", "--hotplug", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 130 and out["complete"] is False and out["states"] == calls[0]


@pytest.mark.parametrize("exc,code,words", [
    (MemoryError(), 4, "out of memory"),
    (RuntimeError("boom"), 4, "internal error (RuntimeError: boom)"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_failures_outside_the_search_are_one_line(monkeypatch, capsys, exc, code, words):
    def fail(*a, **k):
        raise exc

    monkeypatch.setattr(explore_mod, "_explore", fail)
    monkeypatch.delenv("TDXLAB_DEBUG", raising=False)
    assert cli.main(["check", "kvm-6.16"]) == code
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err


def test_state_budget_counts_exactly(capsys):
    for n in (1, 2, 7):
        assert cli.main(["check", "kvm-6.16", "--max-states", str(n), "--json"]) == 3
        out = json.loads(capsys.readouterr().out)
        assert out["states"] == n and out["complete"] is False


def test_graph_says_when_its_picture_is_partial(tmp_path, capsys):
    out = tmp_path / "s.dot"
    code = cli.main(["graph", "v19-2024", "--topology", "1x2x2", "--max-states", "50", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3 and out.exists()
    assert "incomplete" in err and "state budget of 50 states reached" in err


def test_the_lanes_of_a_long_trace_are_cut_and_say_so(tmp_path, capsys):
    out = tmp_path / "l.dot"
    code = cli.main(["graph", "core-7.1", "--topology", "8x4x2", "--kind", "lanes", "--max-states", "20",
                     "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 3 and out.exists()
    assert f"the lanes show the first {cli_model.lanes_cap(64)}" in err and cli_model.lanes_cap(64) < 100
