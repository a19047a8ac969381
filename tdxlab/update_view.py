"""The runtime-update chapter's tables and runs, computed from the model (notebook 09, tests/test_update.py).

* :func:`arguments` and :func:`html_table`: each argument from the threads, the update-* scenario that puts
  it to the checker, and what the check says (every property holds, or which are violated);
* :func:`leaves_table`: the leaves and statuses the update uses, from data/leaves.toml and
  data/status_codes.toml;
* :func:`in_order`: a schedule that runs a scenario context by context and fires its events in a given
  order, for a stepper.
"""
from __future__ import annotations

import html
from functools import lru_cache
from typing import NamedTuple

from tdxlab import facts, sources


class Argument(NamedTuple):
    question: str
    scenario: str
    change: str  # what the scenario changes against the merged design
    keys: str  # the sources the argument stands on


ARGUMENTS = (
    Argument("Does the merged update keep every property?", "update-7.2",
             "none: CPU1 may come online at any time", "k-seamldr-c-72, k-stop-machine-c"),
    Argument("Why stop_machine() and not a lock?", "update-rwlock",
             "an rwlock and IPIs; an interrupt handler makes a SEAMCALL", "lore-chao-2026-05-20, lore-chao-2025-10-01-12"),
    Argument("Why cpus_read_lock() around it?", "update-no-hotplug-lock",
             "no cpus_read_lock(); CPU1 may come online", "k-seamldr-c-72, k-stop-machine-c"),
    Argument("Why clear tdx_lp_initialized at shutdown?", "update-no-lp-reset",
             "no reset of the flags", "lore-chao-2026-05-20"),
    Argument("Why for every possible CPU, not the online ones?", "update-lp-reset-online-only",
             "only online CPUs reset (before v6); CPU1 offline during the update",
             "lore-chao-2026-02-12, lore-chao-2026-01-23"),
    Argument("Why stop every CPU at a failed step?", "update-stale-sysinit",
             "TDH.SYS.INIT never runs on the new module", "lore-chao-2026-05-20"),
    Argument("... and without the abort?", "update-no-abort",
             "the same failure in v10 14/25's skeleton", "lore-chao-2026-05-20"),
    Argument("Why CPU 0 as the lead?", "update-lead-offline",
             "the lead is CPU1, offline at boot", "k-seamldr-c-72"),
    Argument("Does preempt_disable() hold an update off?", "update-hold-off",
             "a reader of the version during the update", "k-seamldr-c-72, k-tdx-host-c-72"),
    Argument("... and without it?", "update-no-hold-off",
             "the reader without seamldr_lock_module_update()", "k-tdx-host-c-72"),
    Argument("What if a CPU is offline (old rule)?", "update-offline-old-rule",
             "CPU1 offlined before the update; TDX_1.5.01's LP count", "m-sys-update, dec-update-lp-count"),
)


@lru_cache(maxsize=None)
def verdicts(scenario: str) -> tuple[tuple[str, int], ...]:
    """The properties ``scenario`` violates, with their shortest counterexample's length."""
    from tdxlab.check.explore import explore
    from tdxlab.scenario import get_scenario

    r = explore(get_scenario(scenario))
    return tuple((p, len(v.path)) for p, v in r.verdicts.items() if v.holds is False)


def verdict_text(scenario: str) -> str:
    bad = verdicts(scenario)
    if not bad:
        return "every property holds"
    return "violated: " + ", ".join(f"{p} ({n} steps)" for p, n in bad)


def arguments() -> list[tuple[Argument, str]]:
    """Each argument with what its scenario's check says."""
    return [(a, verdict_text(a.scenario)) for a in ARGUMENTS]


def html_table(where: str = "notebooks") -> str:
    """The arguments as an HTML table: question, scenario, change, verdict, sources as links."""
    left = "text-align:left; vertical-align:top"
    rows = []
    for a, text in arguments():
        keys = ", ".join(sources.link(k, where) for k in sources.keys_in(a.keys))
        colour = "#1a7f37" if text.startswith("every") else "#b42318"
        rows.append(f"<tr><td style='{left}'>{html.escape(a.question)}</td>"
                    f"<td style='{left}'><code style='white-space:nowrap; word-break:normal'>{html.escape(a.scenario)}</code></td>"
                    f"<td style='{left}'>{html.escape(a.change)}</td>"
                    f"<td style='{left}; color:{colour}'>{html.escape(text)}</td>"
                    f"<td style='{left}'>{keys}</td></tr>")
    head = "".join(f"<th style='{left}'>{h}</th>" for h in ("question", "scenario", "what changes",
                                                            "what the checker finds", "sources"))
    return (f"<table style='font-size:13px; border-collapse:collapse'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def show_arguments():
    """The table, for a notebook cell."""
    from IPython.display import HTML
    return HTML(html_table())


# The update's leaves and statuses, with what each does in a few words (the data files say it in full).
ROWS = (
    ("TDH.SYS.SHUTDOWN", "only in SYS_READY; then SYS_SHUTDOWN, with the handoff data written"),
    ("SEAMLDR.INSTALL", "the P-SEAMLDR puts the new module in place; on every CPU, one at a time "
                        "(0x8000000000000001: bit 63 marks a P-SEAMLDR leaf, no TDX module leaf)"),
    ("TDH.SYS.UPDATE", "needs SYSINIT_DONE and the old module's handoff (TDX_1.5.01: and LP.INIT on every LP); "
                       "then SYS_READY"),
    ("TDX_SYS_SHUTDOWN", "any other leaf after SHUTDOWN, on the old module"),
    ("TDX_SYS_NOT_READY", "SHUTDOWN outside SYS_READY"),
    ("TDX_SYS_STATE_INCORRECT", "UPDATE before SYSINIT_DONE or before every LP did LP.INIT"),
    ("TDX_SYS_INVALID_HANDOFF", "UPDATE without the old module's handoff data"),
    ("TDX_UPDATE_COMPAT_SENSITIVE", "v3 to v10 only: SHUTDOWN refused during a TD build; dropped, not merged"),
)


def leaves_table():
    """The update's leaves (number) and statuses (value), one row each, with their sources from
    data/leaves.toml and data/status_codes.toml."""
    import pandas as pd

    lv = facts.leaves().set_index("name")
    st = facts.status_codes().set_index("name")
    rows = []
    for name, what in ROWS:
        if name in lv.index:
            value, src = str(lv.loc[name, "number"]), lv.loc[name, "source"]
        elif name in st.index:
            value, src = st.loc[name, "value"], st.loc[name, "source"]
        else:
            value, src = "0x8000000000000001", "k-seamldr-c-72, dec-seamldr-install"
        rows.append({"name": name, "number or value": value, "what": what, "sources": src})
    return pd.DataFrame(rows)


def show_leaves(where: str = "notebooks"):
    """:func:`leaves_table` as HTML, the sources as links."""
    from IPython.display import HTML

    left = "text-align:left; vertical-align:top"
    body = []
    for _, r in leaves_table().iterrows():
        keys = ", ".join(sources.link(k, where) for k in sources.keys_in(r["sources"]))
        body.append(f"<tr><td style='{left}'><code>{html.escape(r['name'])}</code></td>"
                    f"<td style='{left}'><code>{html.escape(r['number or value'])}</code></td>"
                    f"<td style='{left}'>{html.escape(r['what'])}</td><td style='{left}'>{keys}</td></tr>")
    head = "".join(f"<th style='{left}'>{h}</th>" for h in ("leaf or status", "number or value", "what",
                                                            "sources"))
    return HTML(f"<table style='font-size:13px; border-collapse:collapse'><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>")


def in_order(sc, events=()) -> list[str]:
    """A schedule for ``sc``: the first enabled context each time, and ``events`` fired in this order,
    each once no context can run."""
    st = sc.initial()
    out: list[str] = []
    todo = list(events)
    for _ in range(5000):
        en = [s.key for s in sc.enabled(st)]
        ctx = [k for k in en if not k.startswith("event:")]
        if ctx:
            key = ctx[0]
        elif todo and f"event:{todo[0]}" in en:
            key = f"event:{todo.pop(0)}"
        else:
            break
        st = sc.step(st, key)
        out.append(key)
    return out
