"""The TDX module's system state machine (tdx-facts §1.1, §5), and where a model state stands in it.

States SYSINIT_PENDING -> SYSINIT_DONE -> SYSCONFIG_DONE -> SYS_READY (-> SYS_SHUTDOWN), with the leaf on
every edge: TDH.SYS.INIT once, TDH.SYS.CONFIG once, the last package's TDH.SYS.KEY.CONFIG; per-LP
TDH.SYS.LP.INIT and per-package KEY.CONFIG as self-loops; TDH.SYS.TDMR.INIT in SYS_READY. Under the *old*
rule LP.INIT is accepted only in SYSINIT_DONE and CONFIG waits for every BIOS-enabled LP (§5.1); under the
*relaxed* rule LP.INIT is also accepted later (§5.3): those loops are dashed and say so.

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


def _leaf(name: str) -> str:
    try:
        from tdxlab.facts import leaf_number

        return f"{name} ({leaf_number(name)})"
    except Exception:  # noqa: BLE001 - the picture does not need the number
        return name


def _topology(topology, state):
    from tdxlab.platform import Topology

    if topology is None:
        return None
    topo = getattr(topology, "topology", topology)  # a Scenario gives its topology
    topo = Topology.parse(topo) if isinstance(topo, str) else topo
    if state is not None and topo.ncpus != len(state.cpus):
        raise BadInput(f"topology {topo} has {topo.ncpus} CPUs but the state has {len(state.cpus)}")
    return topo


def module_graph(state=None, topology=None, rule: str | None = None):
    """The module's state machine as a ``graphviz.Digraph``; with ``state`` (a model ``State``) the
    current system state is lit and per-package / per-LP progress is shown (``topology``: a Topology,
    "PxCxT" text or a Scenario, to group LPs by package). ``rule`` ("old"/"relaxed"; default: both)."""
    topo = _topology(topology, state)
    if topology is not None and rule is None:
        rule = getattr(topology, "rule", None)
    if rule not in (None, "old", "relaxed"):
        raise BadInput(f"unknown rule {rule!r}: choose old or relaxed")
    cur = state.module.sys_name if state is not None else None
    cap = "TDX module system states (tdx-facts §1.1, §5)"
    if rule:
        cap += f", {rule} rule"
    if state is not None:
        m = state.module
        cap += f": now {cur}, {m.num_init_lps}/{m.num_lps or '?'} LPs initialized"
    g = new_graph("module_graph", rankdir="LR", label=caption(cap), nodesep="0.5")
    g.attr("node", shape="box", style="rounded,filled", fillcolor="white", fontsize="10")
    for i, name in enumerate(SYS_STATE_NAMES):
        attrs = {}
        if name == cur:
            attrs.update(fillcolor=LIT, penwidth="3")
        if name == "SYS_SHUTDOWN":
            attrs.update(style="rounded,dashed,filled" if name == cur else "rounded,dashed", fontcolor="#666666")
        g.node(name, lines(f"{i} {name}"), **attrs)
    relaxed_only = {"style": "dashed", "color": "#4a7fb5", "fontcolor": "#4a7fb5"}
    g.edge("SYSINIT_PENDING", "SYSINIT_DONE", lines(_leaf("TDH.SYS.INIT"), "once, on any CPU"), penwidth="1.5")
    g.edge("SYSINIT_DONE", "SYSINIT_DONE", lines(_leaf("TDH.SYS.LP.INIT"), "per LP, on that LP"))
    g.edge("SYSINIT_DONE", "SYSCONFIG_DONE",
           lines(_leaf("TDH.SYS.CONFIG"), "once" + ("; old rule: after every LP's LP.INIT" if rule != "relaxed"
                                                   else "")), penwidth="1.5")
    g.edge("SYSCONFIG_DONE", "SYSCONFIG_DONE", lines(_leaf("TDH.SYS.KEY.CONFIG"), "per package, on a CPU of it"))
    g.edge("SYSCONFIG_DONE", "SYS_READY", lines("last package's", _leaf("TDH.SYS.KEY.CONFIG")), penwidth="1.5")
    g.edge("SYS_READY", "SYS_READY", lines(_leaf("TDH.SYS.TDMR.INIT"), "per TDMR (1 GiB chunks)"))
    if rule != "old":
        for s in ("SYSCONFIG_DONE", "SYS_READY"):
            g.edge(s, s, lines(_leaf("TDH.SYS.LP.INIT"), "relaxed rule only (§5.3)"), **relaxed_only)
    g.edge("SYS_READY", "SYS_SHUTDOWN", lines(_leaf("TDH.SYS.SHUTDOWN"), "(not modelled)"),
           style="dashed", color="#999999", fontcolor="#666666")
    if state is not None:
        g.node("progress", _progress(state, topo), shape="plaintext", style="")
        with g.subgraph() as same:  # the table sits under the middle of the machine
            same.attr(rank="same")
            same.node("SYSCONFIG_DONE")
            same.node("progress")
        g.edge("SYSCONFIG_DONE", "progress", style="invis")
    return g


def _cell(text: str, done: bool, port: str = "") -> str:
    p = f' PORT="{port}"' if port else ""
    return f'<TD{p} BGCOLOR="{DONE if done else NOT_DONE}">{h(text)}</TD>'


def _progress(state, topo):
    m = state.module
    n = len(state.cpus)
    if topo is not None:
        pkgs = [(p, topo.cpus_of_package(p)) for p in range(topo.packages)]
    else:
        npk = max(m.num_pkgs, m.pkg_keyed.bit_length(), 1)
        pkgs = [(p, tuple(range(n)) if npk == 1 else ()) for p in range(npk)]
    width = max((len(c) for _, c in pkgs), default=1) or 1
    rows = [f'<TR><TD BGCOLOR="#dddddd"><B>package</B></TD><TD BGCOLOR="#dddddd"><B>KEY.CONFIG</B></TD>'
            f'<TD BGCOLOR="#dddddd" COLSPAN="{width}"><B>LPs: LP.INIT</B></TD></TR>']
    for p, cpus in pkgs:
        keyed = m.pkg_done(p)
        cells = "".join(_cell(f"CPU{c} {'done' if m.lp_done(c) else 'no'} ({state.cpus[c].hp})", m.lp_done(c),
                              f"cpu{c}") for c in cpus)
        if not cpus:
            cells = f'<TD COLSPAN="{width}">{h("(give topology= to group LPs)")}</TD>'
        elif len(cpus) < width:
            cells += f'<TD COLSPAN="{width - len(cpus)}"></TD>'
        rows.append(f"<TR><TD>pkg {p}</TD>{_cell('configured' if keyed else 'no', keyed, f'pkg{p}')}{cells}</TR>")
    if topo is None and len(pkgs) > 1:
        cells = "".join(_cell(f"CPU{c} {'done' if m.lp_done(c) else 'no'} ({state.cpus[c].hp})", m.lp_done(c))
                        for c in range(n))
        rows.append(f'<TR><TD>all LPs</TD><TD></TD>{cells}</TR>')
    tail = (f"num_of_lps {m.num_lps} (0 before TDH.SYS.INIT), LP.INIT done on {m.num_init_lps}; "
            f"TDMR initialized: {'yes' if m.tdmr_done else 'no'}")
    cols = 2 + max(width, n if topo is None and len(pkgs) > 1 else 0)
    rows.append(f'<TR><TD COLSPAN="{cols}" ALIGN="LEFT">{h(tail)}</TD></TR>')
    title = f'<TR><TD COLSPAN="{cols}" BORDER="0" ALIGN="LEFT"><B>{h("the module per package and per LP")}</B></TD></TR>'
    return ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">' + title + "".join(rows)
            + "</TABLE>>")
