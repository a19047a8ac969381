"""The locks of TDX bring-up and KVM's enabling, as tables and pictures for notebook 04 (k-kvm-locking-rst).

* :func:`documented_orders`: the documented lock orders over time (before 6.12, the kvm_usage_lock fix,
  6.12 on), a DataFrame;
* :func:`kvm_usage_lock_deadlock`: the three-CPU cycle lockdep reported in 2024 that led to
  ``kvm_usage_lock`` (lore-sean-2024-06-08), a wait-for picture (graphviz);
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
    """The cycle lockdep found across three CPUs (Sean, "KVM: Use dedicated mutex to protect
    kvm_usage_count to avoid deadlock", 2024; lore-sean-2024-06-08) as a wait-for graph: each CPU box lists what
    it holds, each red edge what it waits for and who holds it. The rwsem's fairness (a queued hotplug
    writer blocks new readers) closes the cycle."""
    g = new_graph("kvm_usage_lock_deadlock", rankdir="TB", nodesep="0.5", ranksep="1.0", label=caption(
        "The 2024 lockdep cycle that led to kvm_usage_lock (lore-sean-2024-06-08). Boxes: what each CPU holds; red "
        "edges: what it waits for. CPU2's read of cpu_hotplug_lock waits because a hotplug writer is queued "
        "(rwsem fairness), and the writer waits for CPU1's read hold: a real deadlock, not only a lockdep "
        "report.", 80))
    cpu = dict(shape="box", style="rounded,filled", fillcolor="#dbe9f6", color="#4a7fb5")
    g.node("cpu1", lines("CPU1: set_nx_huge_pages()", "holds cpu_hotplug_lock (read)", "holds kvm_lock",
                         "wants kvm->slots_lock"), **cpu)
    g.node("cpu0", lines("CPU0: memslot update", "holds kvm->slots_lock", "waits in synchronize_srcu(&kvm->srcu)"),
           **cpu)
    g.node("cpu2", lines("CPU2: KVM_SET_MSR", "holds vcpu->mutex, kvm->srcu (read)",
                         "static_key_slow_inc() wants cpu_hotplug_lock (read)"), **cpu)
    g.node("writer", lines("a CPU hotplug operation", "queued for cpu_hotplug_lock (write)"), shape="box",
           style="dashed,filled", fillcolor="#eeeeee", color="#888888")
    with g.subgraph() as left:
        left.attr(rank="same")
        left.node("cpu1")
        left.node("cpu0")
    with g.subgraph() as right:
        right.attr(rank="same")
        right.node("writer")
        right.node("cpu2")
    red = dict(color=RED, fontcolor=RED, penwidth="2.2")
    g.edge("cpu1", "cpu0", lines("slots_lock is held", "by CPU0"), **red)
    g.edge("cpu0", "cpu2", lines("srcu waits for CPU2's", "read section"), **red)
    g.edge("writer", "cpu2", lines("new readers queue", "behind the writer"), dir="back", **red)
    g.edge("cpu1", "writer", lines("the writer waits for", "CPU1's read hold"), dir="back", **red)
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
