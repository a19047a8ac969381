"""tdxlab.views: real content of every view (what the pictures and tables say) and determinism."""
from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest

from tdxlab import render
from tdxlab.check.explore import explore
from tdxlab.errors import BadInput, RenderError
from tdxlab.scenario import Scenario
from tdxlab.views import (lanes, lock_graph, module_graph, save_trace, save_view, state_graph, to_svg,
                          trace_frame, trace_styler)
from tdxlab.views._dot import DOT_WIDTH, KIND_BORDER, KIND_FILL, RED, fold_dot, with_alt
from tdxlab.views.modulegraph import LIT
from tdxlab.views.trace import CHANGED_CSS, COLUMNS, ERROR_CSS

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")


def second_user():
    return Scenario("v19-2024", topology="1x1x2", mutations=["second-user"], options={"pass_vmxon": False})


def kvm_lock_first():
    return Scenario("v19-2024", topology="1x1x2", hotplug=True, events=["create-vm"], mutations=["kvm-lock-first"])


def nosmt_old():
    return Scenario("kvm-6.16", rule="old", topology="1x2x2", nosmt=True)


@pytest.fixture(scope="module")
def race():
    sc = second_user()
    r = explore(sc, keep_graph=True)
    return sc, r, r.counterexample("no-spurious-error")


@pytest.fixture(scope="module")
def nosmt():
    sc = nosmt_old()
    return sc, explore(sc, keep_graph=True)


def text(src: str) -> str:
    """DOT source with label line breaks turned back into spaces."""
    return re.sub(r"\\l|\\n|<BR/>", " ", src)


def red_edges(src: str) -> list[str]:
    return [ln for ln in src.splitlines() if "->" in ln and f'color="{RED}"' in ln]


# ---- trace table -----------------------------------------------------------------------------------
def test_trace_frame_rows_and_columns(race):
    sc, r, steps = race
    df = trace_frame(sc, steps)
    assert list(df.columns) == COLUMNS
    assert len(df) == len(steps) - 1 == len(r.verdicts["no-spurious-error"].path)
    assert list(df["step"]) == list(range(1, len(df) + 1))
    assert list(df["key"]) == list(r.verdicts["no-spurious-error"].path)
    last = df.iloc[-1]
    assert (last["context"], last["seamcall"], last["result"], last["errno"]) == \
        ("IPI/1", "TDH.SYS.LP.INIT", "TDX_SYS_LP_INIT_DONE", "-EIO")
    assert (last["cpu"], last["IRQs"], last["LP.INIT"], last["module state"]) == (1, "off", "done", "SYSINIT_DONE")
    init = df[df["seamcall"] == "TDH.SYS.INIT"].iloc[0]
    assert init["context"] == "second-user" and init["locks held"] == "sysinit_lock"
    assert init["module state"] == "SYSINIT_DONE"
    assert df.iloc[0]["locks held"] == "cpu_hotplug_lock"  # modprobe's cpus_read_lock()


def test_trace_styler_highlights_changes_and_errors(race):
    sc, _, steps = race
    df = trace_frame(sc, steps)
    ctx = trace_styler(df)._compute().ctx
    col = {c: i for i, c in enumerate(df.columns)}

    def css(row, name):
        return "; ".join(f"{k}: {v}" for k, v in ctx.get((row, col[name]), []) if k != "white-space")

    race_row = df.index[df["result"] == "TDX_SYS_LP_INIT_DONE"][0]
    assert css(race_row, "result") == ERROR_CSS
    for i, res in enumerate(df["result"]):
        assert (css(i, "result") == ERROR_CSS) == (res not in ("", "TDX_SUCCESS"))
    # what each step changed: TDH.SYS.INIT moves the module, LP.INIT sets CPU1's bit, on_each_cpu turns
    # CPU0's IRQs off, the IPI's entry turns CPU1's IRQs off
    init = df.index[df["seamcall"] == "TDH.SYS.INIT"][0]
    assert css(init, "module state") == CHANGED_CSS
    lp = df.index[(df["seamcall"] == "TDH.SYS.LP.INIT") & (df["result"] == "TDX_SUCCESS")][0]
    assert css(lp, "LP.INIT") == CHANGED_CSS and css(lp, "module state") == ""
    assert css(1, "IRQs") == CHANGED_CSS and css(0, "IRQs") == ""
    ipi = df.index[df["key"].str.startswith("ipi:")][0]
    assert css(ipi, "IRQs") == CHANGED_CSS
    lock = df.index[df["action"].str.startswith("raw_spin_lock")][0]
    assert css(lock, "locks held") == CHANGED_CSS
    # a step that changes nothing tracked is not highlighted
    quiet = df.index[df["action"].str.contains("CR4.VMXE is already set")][0]
    assert all(css(quiet, c) == "" for c in ("locks held", "IRQs", "VMX", "LP.INIT", "module state"))


def test_trace_styler_html_is_deterministic(race):
    sc, _, steps = race
    a = trace_styler(trace_frame(sc, steps)).to_html()
    b = trace_styler(trace_frame(sc, sc.replay(list(trace_frame(sc, steps)["key"])))).to_html()
    assert a == b and 'id="T_tdxlab"' in a and "TDX_SYS_LP_INIT_DONE" in a.replace("<wbr>", "")
    assert "TDX_<wbr>SYS_<wbr>LP_<wbr>INIT_<wbr>DONE" in a  # breaks after _ only, never mid-word


def test_trace_of_a_run_with_admin_events_leaves_cpu_columns_empty():
    sc = Scenario("kvm-6.16", topology="1x1x2", hotplug=True)
    df = trace_frame(sc, sc.replay(["event:offline:1"]))
    assert df.iloc[0][["cpu", "IRQs", "VMX", "LP.INIT"]].tolist() == ["", "", "", ""]


def test_save_trace_by_suffix(race, tmp_path):
    sc, _, steps = race
    df = trace_frame(sc, steps)
    assert pd.read_csv(save_trace(df, tmp_path / "t.csv")).shape[0] == len(df)
    rows = json.loads((save_trace(df, tmp_path / "t.json")).read_text())
    assert rows[-1]["result"] == "TDX_SYS_LP_INIT_DONE"
    html = save_trace(df, tmp_path / "t.html").read_text()
    assert "TDX_SYS_LP_INIT_DONE" in html.replace("<wbr>", "") and "#f9d0d0" in html
    md = save_trace(df, tmp_path / "t.md").read_text().splitlines()
    assert md[0].startswith("| step | cpu | context") and len(md) == len(df) + 2
    assert save_view(df, tmp_path / "v.csv").exists()
    with pytest.raises(BadInput, match="suffix"):
        save_trace(df, tmp_path / "t.xlsx")
    with pytest.raises(BadInput, match="counterexample"):
        trace_frame(sc, None)


# ---- state graph -----------------------------------------------------------------------------------
def test_state_graph_highlights_the_counterexample(nosmt):
    sc, r = nosmt
    path = r.verdicts["init-succeeds"].path
    g = state_graph(r, highlight="init-succeeds")
    src = g.source
    assert len(red_edges(src)) == len(path) > 0
    assert src.count("\ts") >= len(r.graph[0])  # one node per state
    assert "QUOTIENT" not in src
    assert "SYSINIT_PENDING" in src and "CPU1: parked" in src  # the nosmt sibling
    assert "modprobe in" in src  # contexts and the function each is in
    plain = state_graph(r)
    assert not red_edges(plain.source)


def test_state_graph_quotient_above_max_nodes(race):
    sc, r, _ = race
    n = len(r.graph[0])
    assert n > 100
    q = state_graph(r, highlight="no-spurious-error", max_nodes=100)
    src = text(q.source)
    assert "QUOTIENT" in src and f"{n} states is more than max_nodes=100" in src
    groups = re.findall(r"^\tq\d+ \[", src, re.M)
    assert 1 < len(groups) < n
    counts = [int(x) for x in re.findall(r"(\d+) states? \(first #", src)]
    assert sum(counts) == n  # every state is in exactly one group
    assert red_edges(src)  # the counterexample, through the groups
    full = state_graph(r, highlight="no-spurious-error", max_nodes=n)
    assert "QUOTIENT" not in full.source
    assert len(red_edges(full.source)) == len(r.verdicts["no-spurious-error"].path)


def test_state_graph_quotient_when_truncated():
    sc = second_user()
    r = explore(sc, keep_graph=True, graph_limit=30)
    src = text(state_graph(r, max_nodes=1000).source)
    assert "QUOTIENT" in src and "truncated" in src and f"of its {r.states} states" in src


def test_state_graph_needs_a_kept_graph_and_a_known_property(nosmt):
    sc, r = nosmt
    with pytest.raises(BadInput, match="keep_graph=True"):
        state_graph(explore(sc))
    with pytest.raises(BadInput, match="unknown property"):
        state_graph(r, highlight="no-such-property")


@needs_dot
def test_state_graph_is_deterministic():
    a = state_graph(explore(second_user(), keep_graph=True), highlight="no-deadlock")
    b = state_graph(explore(second_user(), keep_graph=True), highlight="no-deadlock")
    assert a.source == b.source
    render.clear_cache()
    sa = to_svg(a)
    render.clear_cache()
    assert to_svg(b) == sa and "<svg" in sa


@needs_dot
def test_a_saved_state_graph_fits_a_terminal_and_draws_the_same(race, tmp_path):
    """`tdxlab graph --kind states --out FILE.dot` writes lines of at most 100 columns (tabs as 8): long
    labels continue by DOT's backslash-newline, attributes go on lines of their own; dot draws the very same
    picture from the folded file. The other views' files draw the same too."""
    sc, r, steps = race
    for g in (state_graph(r, highlight="no-spurious-error"), state_graph(r, max_nodes=50)):
        assert max(len(ln.expandtabs(8)) for ln in g.source.splitlines()) > DOT_WIDTH  # the case
        saved = save_view(g, tmp_path / "s.dot").read_text()
        assert max(len(ln.expandtabs(8)) for ln in saved.splitlines()) <= DOT_WIDTH
        assert render.render_svg(saved) == render.render_svg(g.source)
    for g in (module_graph(steps[-1][1], sc.topology), lanes(sc, steps)):
        assert render.render_svg(fold_dot(g.source)) == render.render_svg(g.source)


# ---- module graph ----------------------------------------------------------------------------------
def _filled(src: str, node: str) -> bool:
    return any(re.match(rf"\t{node} \[.*fillcolor=\"{LIT}\"", ln) for ln in src.splitlines())


def test_module_graph_machine_without_state():
    src = module_graph().source
    for a, b, leaf in (("SYSINIT_PENDING", "SYSINIT_DONE", "TDH.SYS.INIT (33)"),
                       ("SYSINIT_DONE", "SYSCONFIG_DONE", "TDH.SYS.CONFIG (45)"),
                       ("SYSCONFIG_DONE", "SYS_READY", "TDH.SYS.KEY.CONFIG (31)"),
                       ("SYSINIT_DONE", "SYSINIT_DONE", "TDH.SYS.LP.INIT (35)"),
                       ("SYS_READY", "SYS_READY", "TDH.SYS.TDMR.INIT (36)")):
        assert any(ln.startswith(f"\t{a} -> {b} ") and leaf in ln for ln in src.splitlines()), (a, b)
    assert "SYS_SHUTDOWN" in src and LIT not in src
    assert "relaxed rule only" in src and "relaxed rule only" not in module_graph(rule="old").source


def test_module_graph_lights_the_current_state(race):
    sc, _, steps = race
    st = steps[-1][1]  # the race: TDH.SYS.INIT done, CPU1's LP.INIT done
    src = text(module_graph(st, sc).source)
    assert _filled(src, "SYSINIT_DONE")
    assert not any(_filled(src, n) for n in ("SYSINIT_PENDING", "SYSCONFIG_DONE", "SYS_READY"))
    assert "· CPU0 no online" in src and "✓ CPU1 done online" in src  # a symbol besides the colour
    assert "1/2 LPs initialized" in src
    assert _filled(module_graph(steps[0][1]).source, "SYSINIT_PENDING")


def test_module_graph_per_package_rows():
    sc = Scenario("kvm-6.16", topology="2x1x2")
    st = sc.run_first()[-1][1]
    assert st.module.sys_name == "SYS_READY"
    src = module_graph(st, sc).source
    assert _filled(src, "SYS_READY")
    assert src.count(">✓ configured<") == 2 and "pkg 1" in src and "CPU3 done" in src
    with pytest.raises(BadInput, match="CPUs"):
        module_graph(st, "1x1x2")


# ---- lock graph ------------------------------------------------------------------------------------
def test_lock_graph_red_cycle_for_kvm_lock_first():
    r = explore(kvm_lock_first())
    src = text(lock_graph(r).source)
    red = red_edges(src)
    assert len(red) == 2
    assert any(ln.strip().startswith("kvm_lock -> cpu_hotplug_lock") for ln in red)
    assert any(ln.strip().startswith("cpu_hotplug_lock -> kvm_lock") for ln in red)
    assert "lock-order cycle" in src and "percpu-rwsem" in src and "mutex" in src and "raw-spinlock" in src
    assert not any("tdx_module_lock" in ln for ln in red)


def test_lock_graph_without_cycle_and_from_pairs():
    src = text(lock_graph([("cpu_hotplug_lock", "tdx_module_lock")]).source)
    assert not red_edges(src) and "No cycle" in src
    src = lock_graph({("a", "b"): (), ("b", "a"): ()}).source
    assert len(red_edges(src)) == 2
    assert not red_edges(lock_graph({("a", "b"): (), ("b", "a"): ()}, cycle=False).source)


# ---- lanes -----------------------------------------------------------------------------------------
def test_lanes_of_the_race(race):
    sc, _, steps = race
    src = lanes(sc, steps).source
    assert "<B>CPU0</B>" in src and "<B>CPU1</B>" in src and "<B>admin</B>" not in src
    hard = [i for i, _ in steps[1:] if i.context.startswith("IPI/")]
    failed = [i for i in hard if i.result not in (None, "TDX_SUCCESS")]
    assert len(hard) >= 3 and len(failed) == 1  # the IPI handler's steps on CPU1; the last one fails
    assert src.count(f'BGCOLOR="{KIND_FILL["hardirq"]}" COLOR="{KIND_BORDER["hardirq"]}" BORDER="1"') == \
        len(hard) - 1
    assert src.count(f'BGCOLOR="{KIND_FILL["hardirq"]}" COLOR="{RED}" BORDER="3"') == 1  # the failed one
    assert f'<FONT COLOR="{RED}"><B>TDX_SYS_LP_INIT_DONE</B>' in src
    assert "second-user: try_init_module_global" in src
    rows = re.findall(r'<TR><TD BORDER="0" ALIGN="RIGHT">(\d+)</TD>', src)
    assert rows == [str(i) for i in range(1, len(steps))]


def test_lanes_admin_lane_and_hotplug_colour():
    sc = Scenario("kvm-6.16", topology="1x1x2", hotplug=True)
    steps = sc.replay(["event:offline:1", "cpu_down/1"])
    src = text(lanes(sc, steps).source)
    assert "<B>admin</B>" in src and "CPU1 offline requested" in src
    assert f'BGCOLOR="{KIND_FILL["hotplug"]}"' in src and f'BGCOLOR="{KIND_FILL["admin"]}"' in src


# ---- rendering, saving, determinism ------------------------------------------------------------------
def all_views():
    sc = second_user()
    r = explore(sc, keep_graph=True)
    steps = r.counterexample("no-spurious-error")
    return [state_graph(r, "no-spurious-error"), module_graph(steps[-1][1], sc),
            lock_graph(explore(kvm_lock_first())), lanes(sc, steps)]


@needs_dot
def test_every_view_renders_deterministically(tmp_path):
    a, b = all_views(), all_views()
    for x, y in zip(a, b):
        assert x.source == y.source
        render.clear_cache()
        sx = to_svg(x)
        render.clear_cache()
        assert to_svg(y) == sx and sx.lstrip().startswith(("<?xml", "<svg", "<!--"))
        assert x._repr_mimebundle_()["image/svg+xml"] == sx
    for suffix in (".svg", ".png", ".dot"):
        p = save_view(a[2], tmp_path / f"lock{suffix}")
        assert p.stat().st_size > 100
    with pytest.raises(BadInput):
        to_svg(pd.DataFrame())


def test_missing_dot_gives_tdxlab_render_error(tmp_path, monkeypatch):
    g = module_graph()
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    render.clear_cache()
    for call in (lambda: to_svg(g), lambda: g._repr_mimebundle_(), lambda: g._repr_svg_(),
                 lambda: save_view(g, tmp_path / "m.svg")):
        with pytest.raises(RenderError, match="apt-get install graphviz"):
            call()
    assert save_view(g, tmp_path / "m.dot").read_text() == fold_dot(g.source)  # .dot needs no Graphviz
    render.clear_cache()


# ---- fitting a notebook, words for a screen reader --------------------------------------------------
def _size_pt(svg: str) -> tuple[float, float]:
    m = re.search(r'<svg[^>]*?width="([\d.]+)pt"[^>]*?height="([\d.]+)pt"', svg, re.S)
    return float(m.group(1)), float(m.group(2))


@needs_dot
def test_module_graphs_fit_a_notebook_beside_the_file_browser():
    """JupyterLab beside its file browser leaves a 1366-pixel screen about 930 px: the module graphs are laid
    out top to bottom to fit it at their own size (so their 9-10 pt text stays over 11 px)."""
    area_pt = 930 * 3 / 4
    sc = Scenario("kvm-6.16", topology="2x2x2")
    st = sc.run_first()[-1][1]
    for g in (module_graph(rule="old"), module_graph(rule="relaxed"), module_graph(st, sc),
              module_graph(st, sc, compact=True)):
        w, _ = _size_pt(render.render_svg(g))
        assert w <= area_pt, (g.alt, w)
    compact = module_graph(st, sc, compact=True)
    assert "progress" not in compact.source and "tdx-facts" not in compact.source  # the stepper shows them as HTML
    assert _size_pt(render.render_svg(compact))[0] < 0.5 * area_pt  # room for the lanes beside it
    big = module_graph(Scenario("kvm-6.16", topology="1x4x2").run_first()[-1][1], "1x4x2").source
    assert big.count("<TR>") >= 4  # eight LPs of one package wrap into rows of four


def test_views_carry_words_for_a_screen_reader():
    g = module_graph(rule="old")
    assert g.alt.startswith("TDX module system states")
    svg = with_alt('<svg width="1pt" height="1pt"><g id="graph0" class="graph" transform="x">\n<title>module_graph'
                   '</title></g></svg>', 'a "quoted" <alt>')
    assert 'aria-label="a &quot;quoted&quot; &lt;alt&gt;"' in svg and "<title>a &quot;quoted&quot; &lt;alt&gt;</title>" in svg
    assert svg.count('role="img"') == 1


def test_fit_wraps_a_table_and_refuses_other_things():
    from tdxlab.views import fit

    df = pd.DataFrame({"a": ["TDX_SYS_LP_INIT_DONE" * 3], "b": [1]})
    html = fit(df).to_html()
    assert "overflow-wrap: break-word" in html and "overflow-wrap: anywhere" not in html and "font-size: 12px" in html
    assert "TDX_<wbr>SYS_<wbr>LP_<wbr>INIT_<wbr>DONETDX_<wbr>" in html
    assert ">a, b<" in fit(pd.DataFrame({"t": [("a", "b")]})).to_html()  # items, not a Python tuple
    assert "overflow-wrap: anywhere" in fit(df.style).to_html()  # someone else's Styler: its cells as they are
    with pytest.raises(BadInput):
        fit([1, 2])


def test_trace_table_fits_its_columns(race):
    sc, _, steps = race
    html = trace_styler(trace_frame(sc, steps)).to_html()
    head = re.findall(r"<th [^>]*>([^<]*)</th>", html)
    assert "key" not in head and "fact" not in head and "action" in head  # hidden on screen, kept in the data
    assert "key" in trace_frame(sc, steps).columns
