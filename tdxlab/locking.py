"""The locks of TDX bring-up and KVM's enabling, as tables and pictures for notebook 04 (k-kvm-locking-rst).

* :func:`documented_orders`: the documented lock orders over time (before 6.12, the kvm_usage_lock fix,
  6.12 on), a DataFrame;
* :func:`kvm_usage_lock_deadlock`: the 2024 deadlock lockdep's report pointed at, which led to
  ``kvm_usage_lock`` (lore-sean-2024-06-08), a wait-for picture of the five contexts it takes (graphviz);
* :func:`order_graph`: the documented order of 6.12 on as a small picture, with the model's locks.
"""
from __future__ import annotations

import pandas as pd

from tdxlab.views._dot import RED, caption, lines, new_graph

ORDERS = [
    ("before 6.12 (after 0bf50497f03b)", "cpus_read_lock() -> kvm_lock",
     "kvm_lock guards vm_list, kvm_usage_count and enable/disable; hardware_enable_all() takes "
     "cpus_read_lock() then kvm_lock; kvm_online_cpu() takes kvm_lock under the hotplug writer", "k-kvm-main-c-68"),
    ("the deadlock fix (6.12 window, 44d174596260)", "cpus_read_lock() -> kvm_lock, kvm_usage_lock",
     "kvm_usage_lock takes over kvm_usage_count and enabling; kvm_lock keeps only vm_list", "kc-44d17459626, lore-sean-2024-06-08"),
    ("6.12 on (9a798b1337af)", "kvm_usage_lock -> cpus_read_lock() -> kvm_lock",
     "enabling calls cpuhp_setup_state() (which takes cpus_read_lock()) while holding kvm_usage_lock; "
     "the online/offline callbacks take no lock at all", "k-kvm-locking-rst, lore-sean-2024-08-30b"),
    ("TDX core 6.8 to 7.0", "cpus_read_lock() -> tdx_module_lock",
     "tdx_enable() asserts the caller holds cpus_read_lock() and takes tdx_module_lock itself", "k-tdx-c-618"),
    ("7.1", "(no hotplug lock around init_tdx_module())",
     "a subsys initcall: it runs before user space can request hotplug; cpuhp_setup_state() takes the "
     "read lock itself", "k-tdx-c-71"),
]


def documented_orders() -> pd.DataFrame:
    """The documented lock orders, oldest first (A -> B: A is taken outside B)."""
    return pd.DataFrame(ORDERS, columns=["when", "order (outside -> inside)", "what it means", "fact"])


def kvm_usage_lock_deadlock():
    """The deadlock behind ``kvm_usage_lock`` (commit 44d17459626, kc-44d17459626; lore-sean-2024-06-08) as a
    wait-for graph of five contexts: each box lists what it holds, each red edge what it waits for and who
    holds it. The rwsem's fairness (a queued hotplug writer blocks new readers) closes the cycle.

    Lockdep's report was one task, ``set_nx_huge_pages()``, holding ``kvm_lock`` and taking
    ``kvm->slots_lock``; the other links of the chain were dependencies that other tasks had recorded earlier
    (``kvm_lock`` taken inside ``cpu_hotplug_lock`` by ``KVM_CREATE_VM``'s ``hardware_enable_all()``). The
    changelog's three-column table merges those two tasks into one "CPU1"; no single task holds
    ``cpu_hotplug_lock`` and ``kvm_lock`` and wants ``slots_lock``, so the picture shows them apart."""
    g = new_graph("kvm_usage_lock_deadlock", rankdir="TB", nodesep="0.5", ranksep="0.8", label=caption(
        "The 2024 deadlock that led to kvm_usage_lock (kc-44d17459626). Boxes: what each context holds; red "
        "edges: what it waits for. Lockdep saw only set_nx_huge_pages() taking slots_lock under kvm_lock and "
        "joined it with dependencies other tasks had recorded; the changelog's \"CPU1\" is two tasks here. "
        "D's read of cpu_hotplug_lock waits because a hotplug writer is queued (rwsem fairness), and the "
        "writer waits for A's read hold: a real deadlock once all five meet.", 80))
    box = dict(shape="box", style="rounded,filled", fillcolor="#dbe9f6", color="#4a7fb5")
    g.node("a", lines("A: KVM_CREATE_VM, hardware_enable_all()", "holds cpu_hotplug_lock (read)",
                      "wants kvm_lock"), **box)
    g.node("b", lines("B: set_nx_huge_pages()", "holds kvm_lock", "wants kvm->slots_lock"), **box)
    g.node("c", lines("C: memslot update", "holds kvm->slots_lock", "waits in synchronize_srcu(&kvm->srcu)"), **box)
    g.node("d", lines("D: a vCPU's KVM_SET_MSR", "holds kvm->srcu (read)",
                      "static_key_slow_inc() wants cpu_hotplug_lock (read)"), **box)
    g.node("w", lines("W: a CPU hotplug operation", "queued for cpu_hotplug_lock (write)"), shape="box",
           style="dashed,filled", fillcolor="#eeeeee", color="#888888")
    with g.subgraph() as top:
        top.attr(rank="same")
        top.node("a")
        top.node("b")
    with g.subgraph() as bottom:
        bottom.attr(rank="same")
        bottom.node("w")
        bottom.node("d")
    red = dict(color=RED, fontcolor=RED, penwidth="2.2")
    g.edge("a", "b", lines("kvm_lock is held", "by B"), **red)
    g.edge("b", "c", lines("slots_lock is held", "by C"), **red)
    g.edge("c", "d", lines("srcu waits for D's", "read section"), **red)
    g.edge("w", "d", lines("new readers queue", "behind the writer"), dir="back", **red)  # keeps W left of D
    g.edge("w", "a", lines("the writer waits for", "A's read hold"), **red)
    return g


def order_graph():
    """The documented order from 6.12 on (kvm_usage_lock -> cpu_hotplug_lock -> kvm_lock) beside the TDX
    core's (cpu_hotplug_lock -> tdx_module_lock), with the inversion the model's ``kvm-lock-first``
    mutation makes drawn dashed red."""
    g = new_graph("lock_order", rankdir="LR", label=caption(
        "Documented orders (A -> B: A is taken outside B). Dashed red: the inverted edge of the "
        "kvm-lock-first mutation (hardware_enable_all() taking kvm_lock first), which closes a cycle with "
        "kvm_online_cpu() taking kvm_lock under the hotplug writer.", 90))
    kinds = {"kvm_usage_lock": ("mutex", "#dbe9f6", "box"), "cpu_hotplug_lock": ("percpu-rwsem", "#e6e0f5", "ellipse"),
             "kvm_lock": ("mutex", "#dbe9f6", "box"), "tdx_module_lock": ("mutex", "#dbe9f6", "box")}
    for n, (kind, fill, shape) in kinds.items():
        g.node(n, lines(n, kind), shape=shape, style="filled", fillcolor=fill)
    g.edge("kvm_usage_lock", "cpu_hotplug_lock", "6.12 on")
    g.edge("cpu_hotplug_lock", "kvm_lock", "always")
    g.edge("cpu_hotplug_lock", "tdx_module_lock", "6.8 to 7.0")
    g.edge("kvm_lock", "cpu_hotplug_lock", "kvm-lock-first (wrong)", color=RED, fontcolor=RED, style="dashed",
           constraint="false")
    return g


def eager_schedule(scenario, max_steps: int = 2000) -> list[str]:
    """One deterministic run in which every environment event (a CPU offline request, a VM creation) fires
    as soon as it is enabled, and otherwise the first enabled step runs: the schedule that shows what a
    request arriving "in the middle" does (for example, an offline request waiting for
    ``cpus_read_unlock()``)."""
    s = scenario.initial()
    out: list[str] = []
    for _ in range(max_steps):
        en = scenario.enabled(s)
        if not en:
            break
        ev = [st for st in en if st.key.startswith("event:")]
        key = (ev or en)[0].key
        s = scenario.step(s, key)
        out.append(key)
    return out


def documented_orders_table():
    """:func:`documented_orders` as a left-aligned, unabridged table."""
    from tdxlab.review import left_table

    return left_table(documented_orders())
