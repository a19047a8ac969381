"""The explored state graph of a scenario (``explore(sc, keep_graph=True)``), or its quotient.

Every node is one reachable state: the module's system state and the kernel's ``tdx_module_status``, one
compact line per CPU (``CPU1: online VMX LP``: hotplug state, post-VMXON, TDH.SYS.LP.INIT done) and the
contexts alive with the function each is in. Every edge is one step, labelled with its step key. The
shortest counterexample of a property (``highlight``) is drawn bold red from the initial state.

Above ``max_nodes`` states (or when the exploration kept only part of its graph) the picture is a
*quotient*: states with the same (module state, tdx_module_status, per-CPU (hotplug state, VMX on,
LP.INIT done)) become one node that says how many states it stands for; edges carry their multiplicity.
"""
from __future__ import annotations

from collections import Counter, defaultdict

from tdxlab.errors import BadInput, UnknownName
from tdxlab.views._dot import RED, caption, esc, new_graph

HP_SHORT = {"online": "on", "offline": "off", "parked": "parked", "up": "up", "down": "down"}


def _graph_of(result):
    g = getattr(result, "graph", None)
    if g is None:
        raise BadInput("this check result has no state graph: run explore(scenario, keep_graph=True)")
    return g


def _cpu_line(c: int, hp: str, vmx: bool, lp: bool) -> str:
    bits = [HP_SHORT.get(hp, hp)]
    if vmx:
        bits.append("VMX")
    if lp:
        bits.append("LP")
    return f"CPU{c}: " + " ".join(bits)


def _state_label(i: int, st) -> str:
    head = f"#{i}  {st.module.sys_name}"
    lines = [head, f"kernel: {st.kern.tdx_module_status}"]
    for c, cs in enumerate(st.cpus):
        lines.append(_cpu_line(c, cs.hp, cs.vmx > 0, st.module.lp_done(c)))
    if st.threads:
        ctx = [f"{t.name} in {t.stack[-1].fn}" for t in st.threads]
        lines += ctx[:4] + ([f"... +{len(ctx) - 4} contexts"] if len(ctx) > 4 else [])
    return "".join(esc(ln) + "\\l" for ln in lines)


def path_edges(edges, path) -> list[tuple[int, int, str]]:
    """Follow the step keys of ``path`` from state 0 through ``edges``: the edges taken, in order.
    Stops early where the kept graph ends (an exploration's ``graph_limit``)."""
    out_by = defaultdict(dict)
    for s, d, k in edges:
        out_by[s].setdefault(k, d)
    cur, out = 0, []
    for k in path or ():
        d = out_by.get(cur, {}).get(k)
        if d is None:
            break
        out.append((cur, d, k))
        cur = d
    return out


def _highlight_path(result, highlight):
    if highlight is None:
        return None, None
    v = result.verdicts.get(highlight)
    if v is None and highlight in getattr(result, "not_applicable", ()):
        from tdxlab.check.properties import why_not
        from tdxlab.errors import NotApplicable
        raise NotApplicable(why_not(highlight, result.scenario.design))
    if v is None:
        raise UnknownName(f"unknown property {highlight!r}: choose one of {', '.join(result.verdicts)}")
    return v, v.path


def group_key(st) -> tuple:
    """The quotient's grouping of a state."""
    return (st.module.sys, st.kern.tdx_module_status,
            tuple((cs.hp, cs.vmx > 0, st.module.lp_done(c)) for c, cs in enumerate(st.cpus)))


def state_graph(result, highlight: str | None = None, max_nodes: int = 200):
    """The state graph of ``result`` (needs ``explore(..., keep_graph=True)``) as a ``graphviz.Digraph``;
    the counterexample of property ``highlight`` bold red; a quotient above ``max_nodes`` states or when
    the kept graph is truncated."""
    states, edges, truncated = _graph_of(result)
    if not isinstance(max_nodes, int) or isinstance(max_nodes, bool) or max_nodes < 1:
        raise BadInput(f"max_nodes {max_nodes!r} must be a whole number of at least 1")
    verdict, path = _highlight_path(result, highlight)
    sc = result.scenario
    title = sc.title() if hasattr(sc, "title") else str(sc)
    hot = path_edges(edges, path)
    if len(states) > max_nodes or truncated:
        return _quotient(result, states, edges, truncated, max_nodes, highlight, verdict, hot, title)
    hot_set = set(hot)
    hot_nodes = {0} | {d for _, d, _ in hot}
    out_deg = Counter(s for s, _, _ in edges)
    cap = f"{title}: {len(states)} states, {len(edges)} steps"
    if highlight is not None:
        cap += (f"; red: shortest counterexample of {highlight} ({len(path)} steps)" if path
                else f"; {highlight} holds: nothing to highlight")
    g = new_graph("state_graph", label=caption(cap), nodesep="0.25", ranksep="0.35")
    g.attr("node", shape="box", style="rounded,filled", fillcolor="white", fontsize="8", margin="0.06,0.03")
    g.attr("edge", fontsize="7", arrowsize="0.6")
    for i, st in enumerate(states):
        attrs = {}
        if i == 0:
            attrs.update(penwidth="2", fillcolor="#eef4fb")
        if out_deg[i] == 0:
            attrs["peripheries"] = "2"
        if i in hot_nodes and path:
            attrs.update(color=RED, penwidth="2")
        if st.module.sys_name == "SYS_READY":
            attrs.setdefault("fillcolor", "#e8f5e1")
        g.node(f"s{i}", _state_label(i, st), **attrs)
    for s, d, k in sorted(edges, key=lambda e: (e[0], e[1], e[2])):
        if (s, d, k) in hot_set:
            g.edge(f"s{s}", f"s{d}", esc(k), color=RED, fontcolor=RED, penwidth="3", style="bold")
        else:
            g.edge(f"s{s}", f"s{d}", esc(k), color="#777777")
    return g


def _quotient(result, states, edges, truncated, max_nodes, highlight, verdict, hot, title):
    gid: dict[tuple, int] = {}
    members: dict[int, list[int]] = defaultdict(list)
    of_state = []
    for i, st in enumerate(states):  # states are in discovery order: group ids are stable
        k = group_key(st)
        if k not in gid:
            gid[k] = len(gid)
        of_state.append(gid[k])
        members[gid[k]].append(i)
    mult: Counter = Counter()
    keys_of: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for s, d, k in edges:
        e = (of_state[s], of_state[d])
        mult[e] += 1
        keys_of[e][k.split(":")[0] if k.startswith(("event:", "ipi:")) else k] += 1
    hot_q = [(of_state[s], of_state[d]) for s, d, _ in hot]
    hot_set = set(hot_q)
    hot_nodes = {of_state[0]} | {d for _, d in hot_q}
    why = (f"the exploration kept only the first {len(states)} of its {result.states} states (truncated)"
           if truncated else f"{len(states)} states is more than max_nodes={max_nodes}")
    cap = (f"{title}: QUOTIENT of the state graph ({why}). Each node groups the states with the same module "
           f"state, tdx_module_status and per-CPU (hotplug, VMX, LP.INIT); {len(gid)} groups, edge labels "
           f"count the steps between groups")
    if highlight is not None:
        cap += (f"; red: the counterexample of {highlight} ({len(verdict.path)} steps, "
                f"{len(hot)} inside the kept graph)" if verdict.path else f"; {highlight} holds")
    g = new_graph("state_graph_quotient", label=caption(cap), nodesep="0.3", ranksep="0.4")
    g.attr("node", shape="box", style="rounded,filled", fillcolor="white", fontsize="8", margin="0.06,0.03")
    g.attr("edge", fontsize="7", arrowsize="0.6")
    out_q = {s for (s, d) in mult if s != d}
    for key, q in sorted(gid.items(), key=lambda kv: kv[1]):
        sys_, status, cpus = key
        n = len(members[q])
        lines = [f"{states[members[q][0]].module.sys_name}", f"kernel: {status}"]
        lines += [_cpu_line(c, hp, vmx, lp) for c, (hp, vmx, lp) in enumerate(cpus)]
        lines.append(f"{n} state{'s' if n != 1 else ''} (first #{members[q][0]})")
        attrs = {}
        if q == of_state[0]:
            attrs.update(penwidth="2", fillcolor="#eef4fb")
        if q not in out_q:
            attrs["peripheries"] = "2"
        if sys_ == 3:
            attrs.setdefault("fillcolor", "#e8f5e1")
        if q in hot_nodes and hot:
            attrs.update(color=RED, penwidth="2")
        g.node(f"q{q}", "".join(esc(ln) + "\\l" for ln in lines), **attrs)
    for (s, d), n in sorted(mult.items()):
        top = ", ".join(k for k, _ in sorted(keys_of[(s, d)].items(), key=lambda kv: (-kv[1], kv[0]))[:2])
        lab = f"x{n}  {top}" if n > 1 else top
        if (s, d) in hot_set:
            g.edge(f"q{s}", f"q{d}", esc(lab), color=RED, fontcolor=RED, penwidth="3", style="bold")
        else:
            g.edge(f"q{s}", f"q{d}", esc(lab), color="#777777", penwidth=str(min(3.0, 0.6 + n / 40)))
    return g
