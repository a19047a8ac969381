"""The stepper and the other widgets without a browser: what the widget shows follows the model."""
from __future__ import annotations

import re

import pytest

from tdxlab.check.explore import explore
from tdxlab.scenario import get_scenario
from tdxlab.widgets import DecodeWidget, Stepper, TopologyPicker, check, show_function
from tdxlab.widgets.source import function_listing


def text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_replay_step_back_reset_follow_the_trace():
    s = Stepper("irq-race-second-user")
    sc = s.scenario
    trace = sc.run_first()
    assert len(s.steps) == len(trace)
    assert s.index == 0 and s.info is None and s.state == sc.initial()
    first_table, first_svg = s.table.value, s.svg.value
    s.step()
    assert s.index == 1 and s.state == trace[1][1]
    assert s.info.key == trace[1][0].key
    assert s.describe() == sc.describe(trace[1][1], trace[1][0])
    assert s.info.action in text(s.last_html.value).replace("&#x27;", "'") or s.info.context in s.last_html.value
    assert s.table.value != first_table  # modprobe now holds cpu_hotplug_lock
    for _ in range(5):
        s.step()
    assert s.index == 6 and s.state == trace[6][1]
    s.back()
    assert s.index == 5 and s.state == trace[5][1]
    s.reset()
    assert s.index == 0 and s.table.value == first_table and s.svg.value == first_svg
    assert s.message.value == ""


def test_slider_and_displayed_step_agree():
    s = Stepper("nosmt-old-rule")
    n = len(s.steps) - 1
    assert s.slider.max == n and s.play.max == n
    for i in (3, n, 0, 7):
        s.slider.value = i  # what the browser (or Play, through jslink) does
        assert s.index == i
        assert f"step {i} of {n}" in text(s.last_html.value) or (i == 0 and "step 0 of" in text(s.last_html.value))
        assert s.state == s.steps[i][1]
        assert s.state.module.sys_name in s.svg.value  # the lit node's name is in the picture
    s.step()
    assert s.slider.value == 8


def test_the_end_of_a_trace_is_a_note_not_an_error():
    s = Stepper("no-module-loaded")
    s.goto(len(s.steps) - 1)
    s.step()
    assert "end" in s.message_text
    assert s.index == len(s.steps) - 1


def test_scheduler_buttons_equal_enabled_steps():
    s = Stepper("irq-race-second-user", mode="scheduler")
    sc = s.scenario
    assert len(s.steps) == 1
    for key in ("modprobe", "modprobe", "second-user", "second-user"):
        want = sc.enabled(s.state)
        assert [b._tdx_key for b in s.buttons] == [st.key for st in want]
        assert [b.description for b in s.buttons] == [st.label[:80] if len(st.label) <= 80 else st.label[:79] + "…"
                                                      for st in want]
        assert all("tdxlab-sched-button" in b._dom_classes for b in s.buttons)
        assert s.take(key)
    # an IPI is offered as a button once modprobe's on_each_cpu() sent it
    keys = [b._tdx_key for b in s.buttons]
    assert any(k.startswith("ipi:") for k in keys), keys
    b = next(b for b in s.buttons if b._tdx_key.startswith("ipi:"))
    b.click()
    assert s.info.key == b._tdx_key and s.info.context.startswith("IPI/")


def test_scheduler_mode_says_why_a_context_is_blocked():
    sc = get_scenario("irq-race-second-user")
    res = explore(sc)
    path = res.verdicts["no-deadlock"].path
    s = Stepper(sc, schedule=path, mode="scheduler")
    s.goto(len(s.steps) - 1)
    assert s.buttons == []
    assert "spins on sysinit_lock" in s.blocked.value or "waits" in s.blocked.value
    assert "No step is enabled" in s.sched_help.value
    assert "sysinit_lock" in s.table.value


def test_going_back_and_choosing_again_forgets_the_future():
    s = Stepper("irq-race-second-user", mode="scheduler")
    s.take("modprobe")
    s.take("modprobe")
    s.back()
    assert s.index == 1
    s.take("second-user")
    assert len(s.steps) == 3 and s.schedule == ["modprobe", "second-user"]
    s.reset()
    assert len(s.steps) == 1 and s.slider.max == 0


def test_bad_scenario_name_is_a_message():
    s = Stepper("no-such-scenario")
    assert "unknown scenario 'no-such-scenario'" in s.message_text
    assert "\n" not in s.message_text and "Traceback" not in s.message_text
    s.step()
    s.back()
    s.reset()
    s.take("modprobe")  # nothing raises
    assert s.message_text


def test_bad_mode_and_bad_schedule_are_messages():
    assert "unknown stepper mode" in Stepper("nosmt-old-rule", mode="fast").message_text
    s = Stepper("nosmt-old-rule", schedule=["modprobe", "no-such-step"])
    assert "schedule step 2" in s.message_text


def test_non_enabled_step_is_a_message_and_changes_nothing():
    s = Stepper("irq-race-second-user", mode="scheduler")
    before = s.state
    assert s.take("IPI/1") is False
    assert "not enabled" in s.message_text and "\n" not in s.message_text
    assert s.state == before and s.index == 0
    assert s.take("modprobe") and s.message_text == ""


def test_mimebundle_has_svg_widget_view_and_text():
    s = Stepper("nosmt-old-rule")
    s.goto(10)
    b = s._repr_mimebundle_()
    assert b["image/svg+xml"].lstrip().startswith("<svg") and "SYSINIT_DONE" in b["image/svg+xml"]
    assert "application/vnd.jupyter.widget-view+json" in b
    assert "step 10/" in b["text/plain"]
    bad = Stepper("nope")._repr_mimebundle_()
    assert bad["image/svg+xml"].startswith("<svg") and "unknown scenario" in bad["image/svg+xml"]


def test_css_classes_for_browser_tests():
    s = Stepper("irq-race-second-user", mode="scheduler")
    classes = {c for w in (s, s.play, s.step_button, s.back_button, s.reset_button, s.slider, s.svg, s.table,
                           s.message, *s.buttons) for c in w._dom_classes}
    for c in ("tdxlab-stepper", "tdxlab-play", "tdxlab-step", "tdxlab-back", "tdxlab-reset", "tdxlab-slider",
              "tdxlab-svg", "tdxlab-table", "tdxlab-sched-button", "tdxlab-message"):
        assert c in classes


def test_last_step_decodes_the_seamcall():
    s = Stepper("seamcall-before-vmxon")
    i = next(i for i, (info, _) in enumerate(s.steps) if info is not None and info.result == "TDX_SEAMCALL_UD")
    s.goto(i)
    v = s.last_html.value
    assert "TDX_SEAMCALL_UD" in v and "0x8000FF0000000006" in v and "-EACCES" in v
    assert "never saw the call" in v


def test_from_counterexample_and_explore_progress():
    res = explore(get_scenario("irq-race-second-user"))
    s = Stepper.from_counterexample(res, "no-spurious-error")
    path = list(res.verdicts["no-spurious-error"].path)
    assert len(s.steps) - 1 == len(path) and s.schedule == path  # it opens at the violating step
    assert s.info.result == "TDX_SYS_LP_INIT_DONE"
    assert "no-spurious-error" in s.last_html.value
    holds = Stepper.from_counterexample(res, "package-keys")
    assert "holds" in holds.message_text
    unknown = Stepper.from_counterexample(res, "no-such-property")
    assert "unknown property" in unknown.message_text
    phases = []
    s.progress.observe(lambda ch: phases.append(ch["new"]), names="description")
    r2 = s.explore()
    assert r2.states == res.states and s.progress.value == res.states and s.progress.bar_style == "success"
    assert "VIOLATED" in s.result_html.value
    # the bar says when the search for shortest counterexamples runs, then that it is done
    assert phases[-2:] == ["shortest", "explored"] and "states" in s.progress_text.value


def test_check_view_shows_the_shortest_counterexample_search():
    from tdxlab.widgets.progress import CheckView

    v = CheckView(1000)
    v.phase("shortest counterexample (no reductions): 0/20,000 states, 0.0/5.0 s")
    assert v.bar.description == "shortest" and "0/20,000 states" in v.status.value
    res = check("kvm-lock-inversion", display=False)
    assert res.violated


def test_panels_are_cached_per_state():
    s = Stepper("kvm-6.16-boot")
    for i in range(len(s.steps)):
        s.goto(i)
    n = len(s._cache)
    for i in reversed(range(len(s.steps))):
        s.goto(i)
    assert len(s._cache) == n


def test_check_helper_and_bad_name():
    res = check("irq-race-second-user", display=False)
    assert res is not None and "no-spurious-error" in res.violated
    assert check("nope", display=False) is None


def test_topology_picker_builds_a_stepper():
    p = TopologyPicker(design="v7-2022", rule="old", topology="1x2x2", nosmt=True)
    st = p.stepper
    assert st.scenario.nosmt and str(st.scenario.topology) == "1x2x2"
    results = [info.result for info, _ in st.steps if info is not None and info.leaf == "TDH.SYS.CONFIG"]
    assert results == ["TDX_SYS_CONFIG_NOT_PENDING"]
    p.rule.value = "relaxed"
    assert st.scenario.rule == "relaxed"
    p.offline.value = "0"
    assert "boot CPU" in st.message_text
    p.offline.value = ""
    assert st.message_text == "" and st.steps


def test_decode_widget():
    d = DecodeWidget("0x8000FF0000000006")
    assert "TDX_SEAMCALL_UD" in d.out.value
    d.text.value = "not a number"
    assert "not a decimal number" in d.message.value
    d.text.value = "0xC000050C00000000"
    assert "TDX_SYS_CONFIG_NOT_PENDING" in d.out.value and d.message.value == ""


def test_show_function_lists_the_model():
    lst = function_listing("irq-race-second-user", "tdx_cpu_enable")
    texts = [r[2] for r in lst.rows]
    assert texts[0] == "lockdep_assert_irqs_disabled()"
    assert any("tdx_lp_initialized" in t for t in texts)
    assert "SEAMCALL TDH.SYS.LP.INIT" in texts
    assert "tdx_cpu_enable" in lst._repr_html_()
    bad = show_function("irq-race-second-user", "nope")
    assert "no kernel function 'nope'" in str(bad) and "no kernel function" in bad._repr_html_()
    with pytest.raises(Exception):
        function_listing("irq-race-second-user", "nope")


def test_goto_before_display_moves_play_too():
    """Play and the slider are jslinked in the browser; a goto() must move both or be undone on display."""
    from tdxlab.widgets import Stepper

    s = Stepper("v7-2022-boot")
    s.goto(5)
    assert s.slider.value == 5 and s.play.value == 5 and s.index == 5


# ---- presenting: keys, speed, the failure, exports, plain names ------------------------------------------
def test_bad_widget_arguments_are_refused_in_one_line():
    from tdxlab.errors import BadInput

    for bad in ("x", -5, 0, True, None, 10**9):
        with pytest.raises(BadInput, match="play_interval") as e:
            Stepper("v7-2022-boot", play_interval=bad)
        assert "\n" not in str(e.value)
    s = Stepper("v7-2022-boot", play_interval="fast")
    assert s.play.interval == 300 and s.speed.value == 300
    s.speed.value = 100  # the speed control sets Play's interval
    assert s.play.interval == 100
    for kw in ({"max_states": -1}, {"max_states": "10"}, {"max_states": True}, {"max_seconds": 0},
               {"show": 5}):
        with pytest.raises(BadInput):
            s.explore(**kw)
    assert "step 'x'" in (s.goto("x") or s.message_text)


def test_first_last_and_the_failure():
    res = explore(get_scenario("irq-race-second-user"))
    s = Stepper.from_counterexample(res, "no-spurious-error")
    last = len(s.steps) - 1
    assert s.failure_index() == last and s.failure_button.layout.display is None
    s.first()
    assert s.index == 0
    assert s.goto_failure() and s.index == last
    s.first()
    s.last()
    assert s.index == last
    plain = Stepper("v7-2022-boot")  # a run where nothing fails
    assert plain.failure_index() is None and plain.failure_button.layout.display == "none"
    assert plain.goto_failure() is False and "no step" in plain.message_text
    ud = Stepper("seamcall-before-vmxon")  # no property event, but a failed SEAMCALL
    i = ud.failure_index()
    assert i is not None and (ud.steps[i][0].events or ud.steps[i][0].result not in (None, "TDX_SUCCESS"))
    assert all(not info.events and info.result in (None, "TDX_SUCCESS") for info, _ in ud.steps[1:i])


def test_scheduler_mode_reads_right_and_has_no_play():
    s = Stepper("irq-race-second-user", mode="scheduler")
    assert s.play_box.layout.display == "none" and s.reset_button.layout.display is None
    head = text(s.last_html.value)
    assert "step 0 of 0" in head and "Play" not in head and "buttons below" in head
    s.take("modprobe")
    s.take("second-user")
    s.first()  # looking back keeps the choices
    assert len(s.steps) == 3 and "your 2 choices" in s.sched_help.value
    assert "You made 2 choices" in text(s.last_html.value)
    s.step()
    assert s.index == 1 and len(s.steps) == 3
    replay = Stepper("v7-2022-boot")
    assert replay.play_box.layout.display is None and replay.reset_button.layout.display == "none"


def test_keyboard_is_bound_to_the_stepper_buttons():
    s = Stepper("v7-2022-boot")
    html = s.keys_html.value
    assert "onerror=" in html and "data-lm-suppress-shortcuts" in html
    for cls in ("tdxlab-step", "tdxlab-back", "tdxlab-first", "tdxlab-end", "tdxlab-failure"):
        assert cls in html
        assert any(cls in b._dom_classes for b in (s.step_button, s.back_button, s.first_button, s.end_button,
                                                   s.failure_button))


def test_no_class_names_on_buttons_or_in_listings():
    s = Stepper("kvm-6.16-hotplug-any-time", mode="scheduler")
    labels = []
    for _ in range(40):
        labels += [b.description + b.tooltip for b in s.buttons]
        if not s.buttons:
            break
        s.take(s.buttons[-1]._tdx_key)
    assert labels and not any(re.search(r"\bWarnVmxeClear\b|\bAssert[A-Z]", t) for t in labels)
    assert all(not b.description.endswith("…") or b.description[-2] != " " for b in s.buttons)
    rows = function_listing("irq-race-second-user", "try_init_module_global").rows
    assert all(r[2] not in ("Do", "Ret") for r in rows)
    texts = [r[2] for r in function_listing("irq-race-second-user", "tdx_cpu_enable").rows]
    assert not any(a == b == "return" for a, b in zip(texts, texts[1:]))


def test_exported_frames_open_at_the_step_that_matters(monkeypatch):
    monkeypatch.setenv("TDXLAB_EXPORT", "1")
    res = explore(get_scenario("irq-race-second-user"))
    ce = Stepper.from_counterexample(res, "no-spurious-error")
    ce.first()  # a presenter went back to the start: the export keeps the violating step (nothing moved)
    assert ce.export_index() == len(ce.steps) - 1
    html = ce._repr_mimebundle_()["text/html"]
    assert "image/svg+xml" not in ce._repr_mimebundle_()
    assert html.count("class='tdxlab-frame'") == len(ce.steps)
    assert html.count("<div class='tdxlab-frame' data-svg") - html.count(" hidden>") <= 1
    assert f"data-at='{len(ce.steps) - 1}'" in html and "data-fail=" in html and "<script>" in html
    replay = Stepper("nosmt-old-rule")
    assert replay.export_index() == len(replay.steps) - 1  # never moved: its last step
    replay.goto_first(leaf="TDH.SYS.CONFIG")
    named = replay.index
    assert 0 < named < len(replay.steps) - 1 and replay.export_index() == named
    sched = Stepper("irq-race-second-user", mode="scheduler")
    h = sched.frames_html()
    assert "data-at='0'" in h and "first enabled step each time" in h and h.count("class='tdxlab-frame'") > 1
    # the same module picture is written once however many steps show it
    assert h.count("class='tdxlab-frame-svg'") < h.count("class='tdxlab-frame'")


def test_the_code_beside_the_step_marks_each_contexts_next_line():
    s = Stepper("irq-race-second-user")
    s.goto(8)
    st = s.state
    code = s.code.value
    for t in st.threads:
        if not t.stack:
            continue
        frame = t.stack[-1]
        rows = function_listing(s.scenario, frame.fn).rows
        nxt = next(text for pc, _, text, _, _ in rows if pc == frame.pc)
        assert f"{t.name}</b>" in code and f"<code>{frame.fn}()</code>" in code
        assert re.search(rf"<tr class='cur[^']*'><td>&#9654;</td><td class='pc'>{frame.pc}</td><td><code>"
                         rf"{re.escape(panels_esc(nxt))}</code>", code), (t.name, nxt)
    assert code.count("class='cur") == sum(1 for t in st.threads if t.stack)
    # each function the kernel really has links to its source at the commit of the design's era
    from tdxlab.sources import function_link

    for t in st.threads:
        href = function_link(t.stack[-1].fn, s.scenario.design_name) if t.stack else None
        if href:
            assert f"<a href='{panels_esc(href)}'" in code
    s.step()
    assert s.code.value != code


def panels_esc(x):
    from tdxlab.widgets.panels import esc

    return esc(x)


def test_other_widgets_refuse_wrong_arguments_in_one_line():
    from tdxlab.errors import BadInput
    from tdxlab.widgets import at_step

    for kw in ({"topology": "2x"}, {"topology": "0x1x1"}, {"design": "nope"}, {"rule": "weird"},
               {"mode": "fast"}):
        with pytest.raises(BadInput) as e:
            TopologyPicker(**kw)
        assert "\n" not in str(e.value)
    for kw in ({"max_states": -1}, {"max_states": "many"}, {"max_seconds": -2}):
        with pytest.raises(BadInput):
            check("v7-2022-boot", display=False, **kw)
    assert "a listing needs a scenario" in str(show_function(None, "tdx_cpu_enable"))
    assert "named by text" in str(show_function("irq-race-second-user", 5))
    with pytest.raises(BadInput):
        at_step(Stepper("v7-2022-boot"), "x")
