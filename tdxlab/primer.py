"""The primer's pictures: one small Graphviz picture for each idea a reader new to TDX needs (notebook 00).

Each function returns a ``View`` (displayed in Jupyter as SVG through tdxlab.render). The numbers and names
in them come from the package, not from typing: leaf numbers from ``data/leaves.toml``, the system states
from tdxlab.module, the contexts' colours from the swimlanes.

* :func:`trust_domain` -- a TD beside ordinary VMs: who can read its memory
* :func:`seam_and_module` -- the privilege picture: host kernel, SEAM, the TDX module
* :func:`seamcall` -- one SEAMCALL: leaf number in RAX, status back in RAX, #UD without VMX
* :func:`vmx_operation` -- VMXON and VMXOFF per CPU, and what SEAMCALL needs
* :func:`tdmr_and_pamt` -- physical memory, TDMRs (1 GiB aligned) and their PAMTs
* :func:`keyids_and_packages` -- KeyIDs split by the BIOS; the global KeyID programmed per package
* :func:`logical_processors` -- packages, cores and threads (LPs), and what LP.INIT is per LP
* :func:`contexts` -- the lanes of tdxlab's pictures: modprobe, cpuhp/N, IPI/N, kworker/N
* :func:`bringup` -- the bring-up sequence as the module sees it

:data:`PICTURES` lists them in the primer's order, with the glossary anchor each one explains.
"""
from __future__ import annotations

from tdxlab import facts
from tdxlab.views._dot import KIND_BORDER, KIND_FILL, RED, caption, h, new_graph

__all__ = ["trust_domain", "seam_and_module", "seamcall", "vmx_operation", "tdmr_and_pamt",
           "keyids_and_packages", "logical_processors", "contexts", "bringup", "PICTURES"]

GREY = "#eeeeee"
BLUE = KIND_FILL["task"]
GREEN = KIND_FILL["hotplug"]
ORANGE = KIND_FILL["hardirq"]
SECRET = "#f3e5f5"
SECRET_BORDER = "#7b3f8c"


def _box(g, name: str, title: str, body: str = "", fill: str = GREY, border: str = "#888888", **kw) -> None:
    label = f"<<b>{h(title)}</b>" + (f"<br/>{body}" if body else "") + ">"
    g.node(name, label, shape="box", style="rounded,filled", fillcolor=fill, color=border, **kw)


def _strip(g, name: str, cells: list[tuple[str, str]]) -> None:
    """A row of cells (text, fill), such as memory ranges or KeyIDs, as one node."""
    row = "".join(f"<td bgcolor='{fill}'>{text}</td>" for text, fill in cells)
    g.node(name, f"<<table border='0' cellborder='1' cellspacing='0' cellpadding='6'><tr>{row}</tr></table>>",
           shape="plaintext")


def trust_domain():
    """A TD and an ordinary VM on one host: the host can read the VM's memory, not the TD's."""
    g = new_graph("primer_td", rankdir="TB", nodesep="0.5", ranksep="0.5", label=caption(
        "A Trust Domain (TD) is a virtual machine whose memory the host cannot read: it is encrypted with the "
        "TD's own key, and only the TDX module, not KVM or the host kernel, handles that key.", 70))
    _box(g, "vm", "ordinary VM", "memory readable by the host", fill=BLUE, border=KIND_BORDER["task"])
    _box(g, "td", "Trust Domain", "memory encrypted with the TD's key", fill=SECRET, border=SECRET_BORDER)
    _box(g, "host", "host kernel and KVM", "create, run and stop both")
    _box(g, "module", "TDX module", "holds the TD's key; checks every<br/>change KVM asks for", fill=SECRET,
         border=SECRET_BORDER)
    g.edge("host", "vm", "reads and writes")
    g.edge("host", "module", "asks (SEAMCALL)")
    g.edge("module", "td", "runs, adds pages")
    g.edge("host", "td", "cannot read", color=RED, fontcolor=RED, style="dashed")
    return g


def seam_and_module():
    """Where the TDX module runs: SEAM, entered only through SEAMCALL."""
    g = new_graph("primer_seam", rankdir="TB", nodesep="0.4", ranksep="0.45", label=caption(
        "SEAM (Secure Arbitration Mode) is a CPU mode that only the TDX module runs in. The host kernel, in VMX "
        "root operation, enters it only with SEAMCALL; the module returns with its status.", 70))
    _box(g, "user", "user space", "qemu, modprobe, echo 1 &gt; .../online")
    _box(g, "kernel", "host kernel (VMX root operation)", "KVM, arch/x86/virt/vmx/tdx/tdx.c", fill=BLUE,
         border=KIND_BORDER["task"])
    _box(g, "seam", "SEAM: the TDX module", "TDH.* leaves; its own memory and keys", fill=SECRET,
         border=SECRET_BORDER)
    _box(g, "tdg", "TD guests (SEAM non-root)", "run only through the module", fill=SECRET, border=SECRET_BORDER)
    g.edge("user", "kernel", "system calls")
    g.edge("kernel", "seam", "SEAMCALL")
    g.edge("seam", "kernel", "status in RAX", style="dashed")
    g.edge("seam", "tdg", "enter / exit")
    return g


def seamcall():
    """One SEAMCALL: leaf number in, status out; #UD when the CPU is not in VMX operation."""
    lp_init = facts.leaf_number("TDH.SYS.LP.INIT")
    ud = facts.status_value("TDX_SEAMCALL_UD")
    g = new_graph("primer_seamcall", rankdir="LR", nodesep="0.35", ranksep="0.45", label=caption(
        f"SEAMCALL: the leaf number goes in RAX (TDH.SYS.LP.INIT is {lp_init}), arguments in other registers; "
        "the module's status comes back in RAX and the kernel turns it into an errno. On a CPU that is not "
        f"post-VMXON the instruction raises #UD: the kernel reports 0x{ud:016X} (TDX_SEAMCALL_UD), -EACCES.",
        70))
    _box(g, "call", "kernel", f"RAX = {lp_init}<br/>SEAMCALL", fill=BLUE, border=KIND_BORDER["task"])
    _box(g, "mod", "TDX module", "runs the leaf,<br/>checks its state", fill=SECRET, border=SECRET_BORDER)
    _box(g, "ok", "RAX = status", "0: success<br/>else: an error code", fill=GREEN, border=KIND_BORDER["hotplug"])
    _box(g, "ud", "#UD", "CPU not post-VMXON:<br/>the module never runs", fill="#fbe4e4", border=RED)
    g.edge("call", "mod", "VMX on")
    g.edge("mod", "ok")
    g.edge("call", "ud", "VMX off", color=RED, fontcolor=RED)
    return g


def vmx_operation():
    """VMX operation is per CPU: VMXON on each CPU before any SEAMCALL there."""
    g = new_graph("primer_vmx", rankdir="LR", nodesep="0.3", ranksep="0.45", label=caption(
        "VMX operation is per CPU. VMXON (after setting CR4.VMXE) puts one CPU into it, VMXOFF takes it out. "
        "SEAMCALL works only on a CPU that is post-VMXON, so every CPU that makes a TDX call needs VMXON first: "
        "KVM did it until 7.1, the core kernel does it from 7.1.", 70))
    _box(g, "off", "CPU n: VMX off", "SEAMCALL raises #UD")
    _box(g, "on", "CPU n: post-VMXON", "SEAMCALL reaches the module", fill=GREEN, border=KIND_BORDER["hotplug"])
    g.edge("off", "on", "VMXON")
    g.edge("on", "off", "VMXOFF")
    return g


def tdmr_and_pamt():
    """Physical memory, the TDMRs the kernel describes to the module, and their PAMTs."""
    g = new_graph("primer_tdmr", rankdir="TB", nodesep="0.3", ranksep="0.4", label=caption(
        "TDMR: a 1 GiB-aligned range of memory the kernel gives the module at TDH.SYS.CONFIG as usable for TDs. "
        "PAMT: the module's metadata for every page of a TDMR, in memory the kernel allocates. "
        "TDH.SYS.TDMR.INIT initializes a TDMR's PAMT; then TDs may use its pages.", 70))
    _strip(g, "mem", [("first 1 MiB<br/>(not TDX memory)", "#dddddd"), ("TDMR 0<br/>(1 GiB aligned)", GREEN),
                      ("TDMR 1", GREEN), ("PAMTs<br/>(inside a TDMR,<br/>reserved)", SECRET)])
    _box(g, "config", "TDH.SYS.CONFIG", "the list of TDMRs and their PAMTs")
    _box(g, "init", "TDH.SYS.TDMR.INIT", "once per TDMR, in chunks")
    g.edge("config", "mem", "describes")
    g.edge("init", "mem", "initializes the PAMT")
    return g


def keyids_and_packages():
    """The KeyID split and the global KeyID, programmed into each package's memory controller."""
    g = new_graph("primer_keyids", rankdir="TB", nodesep="0.35", ranksep="0.45", label=caption(
        "KeyIDs number memory-encryption keys. The BIOS gives some to ordinary memory encryption (MKTME) and the "
        "rest to TDX. The kernel keeps the first TDX KeyID as the global KeyID and has TDH.SYS.KEY.CONFIG program "
        "it into every package, one CPU of that package doing it; the other TDX KeyIDs go to TDs. A package "
        "with no online CPU cannot be configured.", 70))
    _strip(g, "ids", [("KeyID 0<br/>(the default key)", "#ffffff"), ("MKTME KeyIDs", "#ffffff"),
                      ("global KeyID<br/>(first TDX KeyID)", SECRET), ("TD KeyIDs", SECRET)])
    for p in (0, 1):
        _box(g, f"pkg{p}", f"package {p}", "memory controller<br/>with its key table", fill=BLUE,
             border=KIND_BORDER["task"])
        g.edge("ids", f"pkg{p}", f"TDH.SYS.KEY.CONFIG\non a CPU of package {p}")
    return g


def logical_processors(topology: str = "2x2x2"):
    """A topology of packages, cores and threads (LPs), numbered as tdxlab numbers them; LP.INIT is per LP."""
    from tdxlab.platform import Topology

    t = Topology.parse(topology)
    g = new_graph("primer_lps", rankdir="LR", nodesep="0.3", label=caption(
        f"A logical processor (LP) is one hardware thread: a CPU to Linux. Here {t.packages} packages x "
        f"{t.cores} cores x {t.threads} threads = {t.packages * t.cores * t.threads} LPs (tdxlab numbers them "
        "package by package). TDH.SYS.LP.INIT must run on every LP that will make TDX calls, on that LP "
        "itself; the module counts every LP the BIOS enabled (num_of_lps), online or not.", 70))
    cpu = 0
    for p in range(t.packages):
        rows = []
        for core in range(t.cores):
            cells = "".join(f"<td bgcolor='{GREEN if th == 0 else BLUE}'>CPU{cpu + th}</td>"
                            for th in range(t.threads))
            cpu += t.threads
            rows.append(f"<tr><td align='left'>core {core}</td>{cells}</tr>")
        g.node(f"p{p}", "<<table border='1' cellborder='1' cellspacing='0' cellpadding='6' color='#888888'>"
               f"<tr><td colspan='{t.threads + 1}'><b>package {p}</b></td></tr>{''.join(rows)}</table>>",
               shape="plaintext")
    return g


def contexts():
    """The lanes: which contexts run kernel code in tdxlab's pictures, with their colours."""
    g = new_graph("primer_contexts", rankdir="TB", label=caption(
        "tdxlab draws one lane per context that runs kernel code, coloured by kind: a task (blue), a CPU's "
        "hotplug thread (green), an IPI handler with interrupts off (orange).", 70))
    rows = [
        ("modprobe", "task", "the task loading kvm_intel: KVM's bring-up (init: 7.1's initcall at boot)"),
        ("cpuhp/N", "hotplug", "CPU N's hotplug thread: the ONLINE callbacks, interrupts on"),
        ("cpu_up/N, cpu_down/N", "hotplug", "an online or offline request for CPU N, with its callbacks"),
        ("IPI/N", "hardirq", "an on_each_cpu() handler on CPU N: hard-IRQ context, interrupts off"),
        ("kworker/N", "task", "a workqueue worker bound to CPU N, e.g. smp_call_on_cpu() for KEY.CONFIG"),
    ]
    body = "".join(f"<tr><td align='left' bgcolor='{KIND_FILL[kind]}'><b>{h(name)}</b></td>"
                   f"<td align='left' bgcolor='{KIND_FILL[kind]}'>{h(what)}</td></tr>" for name, kind, what in rows)
    g.node("lanes", f"<<table border='0' cellborder='1' cellspacing='2' cellpadding='6'>{body}</table>>",
           shape="plaintext")
    return g


def bringup():
    """The bring-up leaves in order, as the module's state moves."""
    from tdxlab.module import SYS_STATE_NAMES

    states = SYS_STATE_NAMES[:4]
    n = {name: facts.leaf_number(name) for name in
         ("TDH.SYS.INIT", "TDH.SYS.LP.INIT", "TDH.SYS.CONFIG", "TDH.SYS.KEY.CONFIG", "TDH.SYS.TDMR.INIT")}
    g = new_graph("primer_bringup", rankdir="TB", nodesep="0.4", ranksep="0.4", label=caption(
        "Bring-up as the module sees it: TDH.SYS.INIT once, TDH.SYS.LP.INIT on each LP, TDH.SYS.CONFIG once, "
        "TDH.SYS.KEY.CONFIG on each package (the last one makes the module ready), then TDH.SYS.TDMR.INIT per "
        "TDMR. The notebooks are about where the kernel issues each call, on which CPU and under which lock.",
        70))
    for s in states:
        g.node(s, s, shape="box", style="rounded,filled", fillcolor=SECRET, color=SECRET_BORDER)
    g.edge(states[0], states[1], f"TDH.SYS.INIT ({n['TDH.SYS.INIT']})")
    g.edge(states[1], states[1], f"TDH.SYS.LP.INIT ({n['TDH.SYS.LP.INIT']})\nper LP")
    g.edge(states[1], states[2], f"TDH.SYS.CONFIG ({n['TDH.SYS.CONFIG']})")
    g.edge(states[2], states[3], f"TDH.SYS.KEY.CONFIG ({n['TDH.SYS.KEY.CONFIG']})\nper package")
    g.edge(states[3], states[3], f"TDH.SYS.TDMR.INIT ({n['TDH.SYS.TDMR.INIT']})\nper TDMR")
    return g


#: (title, glossary anchor, function) in the primer's order.
PICTURES = [
    ("A Trust Domain", "td", trust_domain),
    ("SEAM and the TDX module", "seam", seam_and_module),
    ("The SEAMCALL instruction", "seamcall", seamcall),
    ("VMX operation", "vmx", vmx_operation),
    ("TDMR and PAMT", "tdmr", tdmr_and_pamt),
    ("KeyIDs and packages", "keyid", keyids_and_packages),
    ("Logical processors", "lp", logical_processors),
    ("The contexts in the lanes", "lanes", contexts),
    ("Bring-up, as the module sees it", "system-state", bringup),
]
