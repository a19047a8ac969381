"""The TDX module's system state machine (m-dispatcher, lore-tglx-2022-11-22b), and where a model state stands in it.

States SYSINIT_PENDING -> SYSINIT_DONE -> SYSCONFIG_DONE -> SYS_READY (-> SYS_SHUTDOWN), with the leaf on
every edge: TDH.SYS.INIT once, TDH.SYS.CONFIG once, the last package's TDH.SYS.KEY.CONFIG; per-LP
TDH.SYS.LP.INIT and per-package KEY.CONFIG as self-loops; TDH.SYS.TDMR.INIT in SYS_READY. Under the *old*
rule LP.INIT is accepted only in SYSINIT_DONE and CONFIG waits for every BIOS-enabled LP (m-sys-config); under the
*relaxed* rule LP.INIT is also accepted later (k-tdx-rst-618): those loops are dashed and say so.

Given a ``State``, the current system state is lit, and a table below shows each package's KEY.CONFIG and
each LP's LP.INIT (with the CPU's hotplug state).
"""
from __future__ import annotations

from tdxlab.errors import BadInput
from tdxlab.module import SYS_STATE_NAMES
from tdxlab.views._dot import caption, h, lines, new_graph

LIT = "#ffd84d"
DONE = "#b9e3a6"
NOT_DONE = "#eeeeee"
RELAXED = "#1f5fa8"
CAPTION_WIDTH = 60  # characters per caption line: the picture stays narrow
LPS_PER_ROW = 4  # LP cells per table row, so a big package wraps instead of widening the picture


def _leaf(name: str) -> str:
    from tdxlab.facts import leaf_number  # a broken leaves.toml is one clear error, not a silent gap

    return f"{name} ({leaf_number(name)})"


def _topology(topology, state):
    from tdxlab.platform import Topology

    if topology is None:
        return None
    topo = getattr(topology, "topology", topology)  # a Scenario gives its topology
    topo = Topology.parse(topo) if isinstance(topo, str) else topo
    if state is not None and topo.ncpus != len(state.cpus):
        raise BadInput(f"topology {topo} has {topo.ncpus} CPUs but the state has {len(state.cpus)}")
    return topo


def module_graph(state=None, topology=None, rule: str | None = None, compact: bool = False):
    """The module's state machine as a ``graphviz.Digraph``, laid out top to bottom so it fits a notebook's
    width; with ``state`` (a model ``State``) the current system state is lit and per-package / per-LP
    progress is shown below it (``topology``: a Topology, "PxCxT" text or a Scenario, to group LPs by
    package). ``rule`` ("old"/"relaxed"; default: both). ``compact``: no caption and no progress table
    (the stepper shows those as HTML beside the picture)."""
    topo = _topology(topology, state)
    if topology is not None and rule is None:
        rule = getattr(topology, "rule", None)
    if rule not in (None, "old", "relaxed"):
        raise BadInput(f"unknown rule {rule!r}: choose old or relaxed")
    cur = state.module.sys_name if state is not None else None
    cap = "TDX module system states (m-global-data-h, lore-tglx-2022-11-22b)"
    if rule:
        cap += f", {rule} rule"
    if state is not None:
        m = state.module
        cap += f": now {cur}, {m.num_init_lps}/{m.num_lps or '?'} LPs initialized"
    g = new_graph("module_graph", rankdir="TB", label=None if compact else caption(cap, CAPTION_WIDTH),
                  nodesep="0.3", ranksep="0.35")
    g.attr("node", shape="box", style="rounded,filled", fillcolor="white", fontsize="10", width="1.9")
    for i, name in enumerate(SYS_STATE_NAMES):
        attrs = {}
        text = f"{i} {name}"
        if name == cur:
            attrs.update(fillcolor=LIT, penwidth="3")
            text = f"▶ {text} (now)"
        if name == "SYS_SHUTDOWN":
            attrs.update(style="rounded,dashed,filled" if name == cur else "rounded,dashed", fontcolor="#555555")
        g.node(name, lines(text), **attrs)
    relaxed_only = {"style": "dashed", "color": RELAXED, "fontcolor": RELAXED}

    loops: dict[str, list[str]] = {}

    def edge(a, b, *label, **attrs):
        if compact and a == b:  # one loop per state, one line per leaf: the picture stays narrow
            leaf = label[0].split(" per ")[0].replace("TDH.SYS.", "", 1)  # "KEY.CONFIG (31)"
            loops.setdefault(a, []).append(leaf + (", relaxed rule" if "relaxed" in " ".join(label) else ""))
            return
        g.edge(a, b, lines(*label[:1]) if compact else lines(*label), **attrs)

    edge("SYSINIT_PENDING", "SYSINIT_DONE", _leaf("TDH.SYS.INIT"), "once, on any CPU", penwidth="1.5")
    edge("SYSINIT_DONE", "SYSINIT_DONE", _leaf("TDH.SYS.LP.INIT") + " per LP", "on that LP")
    edge("SYSINIT_DONE", "SYSCONFIG_DONE", _leaf("TDH.SYS.CONFIG"),
         "once" + ("; old rule: after every" if rule != "relaxed" else ""),
         "LP's LP.INIT" if rule != "relaxed" else "", penwidth="1.5")
    edge("SYSCONFIG_DONE", "SYSCONFIG_DONE", _leaf("TDH.SYS.KEY.CONFIG") + " per package", "on a CPU of it")
    edge("SYSCONFIG_DONE", "SYS_READY", "last package's " + _leaf("TDH.SYS.KEY.CONFIG"), penwidth="1.5")
    edge("SYS_READY", "SYS_READY", _leaf("TDH.SYS.TDMR.INIT") + " per TDMR", "(1 GiB chunks)")
    if rule != "old":
        for s in ("SYSCONFIG_DONE", "SYS_READY"):
            edge(s, s, _leaf("TDH.SYS.LP.INIT"), "relaxed rule only (k-tdx-rst-618)", tailport="w", headport="w",
                 **relaxed_only)  # on the left: two loops on one side draw over each other's labels
    # the runtime update (7.2, notebook 09): SHUTDOWN, the P-SEAMLDR's INSTALL of a new module, its
    # TDH.SYS.INIT and LP.INITs, then TDH.SYS.UPDATE from the old module's handoff data
    # (drawn in the module's whole state machine, and for a scenario only where its design can update)
    design = getattr(topology, "design", None)
    if design is None or "update" in getattr(design, "chapters", ()):
        update = {"style": "dashed", "color": "#777777", "fontcolor": "#555555"}
        edge("SYS_READY", "SYS_SHUTDOWN", _leaf("TDH.SYS.SHUTDOWN") + " (runtime update)", **update)
        edge("SYS_SHUTDOWN", "SYSINIT_PENDING", "SEAMLDR.INSTALL", constraint="false", tailport="e",
             headport="e", **update)
        edge("SYSINIT_DONE", "SYS_READY", "UPDATE (53)", constraint="false", tailport="se", headport="ne",
             **update)
    else:  # SYS_SHUTDOWN stays below SYS_READY, the picture a column
        g.edge("SYS_READY", "SYS_SHUTDOWN", style="invis")
    for s, leaves in loops.items():
        g.edge(s, s, lines(*leaves))
    if state is not None and not compact:
        g.node("progress", _progress(state, topo), shape="plaintext", style="")
        g.edge("SYS_SHUTDOWN", "progress", style="invis")
    return g


def _cell(text: str, done: bool, port: str = "", more: str = "") -> str:
    p = f' PORT="{port}"' if port else ""
    mark = "✓ " if done else "· "  # a symbol as well as a colour
    second = f"<BR/>{h(more)}" if more else ""
    return f'<TD{p} BGCOLOR="{DONE if done else NOT_DONE}">{h(mark + text)}{second}</TD>'


def progress(state, topology=None) -> dict:
    """Where the module stands per package and per LP: {"packages": [(package, keyed, [(cpu, lp_done,
    hotplug state)])], "summary": text}. ``topology`` groups the LPs by package (without it, a single
    package holds every LP)."""
    topo = _topology(topology, state)
    m = state.module
    n = len(state.cpus)
    if topo is not None:
        groups = [(p, topo.cpus_of_package(p)) for p in range(topo.packages)]
    else:
        npk = max(m.num_pkgs, m.pkg_keyed.bit_length(), 1)
        groups = [(p, tuple(range(n)) if p == 0 else ()) for p in range(npk)]
    pkgs = [(p, m.pkg_done(p), [(c, m.lp_done(c), state.cpus[c].hp) for c in cpus]) for p, cpus in groups]
    summary = (f"num_of_lps {m.num_lps} (0 before TDH.SYS.INIT), LP.INIT done on {m.num_init_lps}; "
               f"TDMR initialized: {'yes' if m.tdmr_done else 'no'}")
    return {"packages": pkgs, "summary": summary}


def _progress(state, topo):
    pr = progress(state, topo)
    width = min(LPS_PER_ROW, max((len(c) for _, _, c in pr["packages"]), default=1) or 1)
    cols = 2 + width
    head = "#dddddd"
    rows = [f'<TR><TD BGCOLOR="{head}"><B>package</B></TD><TD BGCOLOR="{head}"><B>KEY.CONFIG</B></TD>'
            f'<TD BGCOLOR="{head}" COLSPAN="{width}"><B>LPs: LP.INIT</B></TD></TR>']
    for p, keyed, cpus in pr["packages"]:
        chunks = [cpus[i:i + width] for i in range(0, len(cpus), width)] or [[]]
        span = f' ROWSPAN="{len(chunks)}"' if len(chunks) > 1 else ""
        for k, chunk in enumerate(chunks):
            cells = "".join(_cell(f"CPU{c} {'done' if done else 'no'}", done, f"cpu{c}", hp)
                            for c, done, hp in chunk)
            if len(chunk) < width:
                cells += f'<TD COLSPAN="{width - len(chunk)}"></TD>'
            lead = "" if k else (f"<TD{span}>pkg {p}</TD>"
                                 + _cell("configured" if keyed else "no", keyed, f"pkg{p}").replace("<TD", f"<TD{span}", 1))
            rows.append(f"<TR>{lead}{cells}</TR>")
    rows.append(f'<TR><TD COLSPAN="{cols}" ALIGN="LEFT">{h(pr["summary"])}</TD></TR>')
    title = f'<TR><TD COLSPAN="{cols}" BORDER="0" ALIGN="LEFT"><B>{h("the module per package and per LP")}</B></TD></TR>'
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">' + title + "".join(rows)
            + "</TABLE>>")
