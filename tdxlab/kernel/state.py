"""Immutable, hashable model state. Two states are equal exactly when they mean the same.

Everything is a tuple (NamedTuple), so hashing is cheap and successors are computed directly.
"""
from __future__ import annotations

from typing import NamedTuple

from tdxlab.module import ModuleState

# Contexts a kernel function runs in (k-cpu-hotplug-rst, k-smp-c):
TASK = "task"  # an ordinary task (modprobe, a kworker of smp_call_on_cpu, a second TDX user)
HOTPLUG = "hotplug"  # the CPU's per-CPU hotplug thread (cpuhp/N): ONLINE callbacks, IRQs on
HARDIRQ = "hardirq"  # an IPI handler of on_each_cpu: IRQs off, must not sleep

# Locks with their real kinds (k-kvm-locking-rst, k-cpu-c). The kernel's lock table: a design declares more with
# declare_lock() (Design.locks), which appends here, like a DEFINE_MUTEX() adds a symbol to the kernel.
LOCKS = ["cpu_hotplug_lock", "kvm_usage_lock", "kvm_lock", "tdx_module_lock", "sysinit_lock"]
LOCK_KIND = {
    "cpu_hotplug_lock": "percpu-rwsem",  # cpus_read_lock(); CPU online/offline take it for write
    "kvm_usage_lock": "mutex",
    "kvm_lock": "mutex",
    "tdx_module_lock": "mutex",
    "sysinit_lock": "raw-spinlock",  # try_init_module_global(), not the irqsave variant (k-tdx-c-618)
}
SPINNING = ("raw-spinlock", "spinlock", "rwlock")  # lock kinds that spin with preemption off; the others sleep
SLEEPING = {n for n, k in LOCK_KIND.items() if k not in SPINNING}
LOCK_INDEX = {n: i for i, n in enumerate(LOCKS)}
DECLARABLE = ("mutex", "raw-spinlock", "spinlock", "rwlock")  # (rwlock_t: tdxlab.kernel.update)


def declare_lock(name: str, kind: str) -> None:
    """Add a lock to the kernel's lock table (idempotent); a name already declared with another kind, or
    a kind the model does not have, is a :class:`tdxlab.errors.BadInput`."""
    from tdxlab.errors import BadInput
    if kind not in DECLARABLE:
        raise BadInput(f"lock {name!r}: kind {kind!r} is not one of {', '.join(DECLARABLE)}")
    if name in LOCK_KIND:
        if LOCK_KIND[name] != kind:
            raise BadInput(f"lock {name!r} is already declared as a {LOCK_KIND[name]}, not a {kind}")
        return
    if not name.replace(".", "_").isidentifier():  # (a struct's member: update_ctrl.lock)
        raise BadInput(f"lock name {name!r} is not a C identifier")
    LOCKS.append(name)
    LOCK_KIND[name] = kind
    LOCK_INDEX[name] = len(LOCKS) - 1
    if kind not in SPINNING:
        SLEEPING.add(name)

# tdx_module_status (k-tdx-c-618); 7.1's plain bool maps to UNINITIALIZED / INITIALIZED / ERROR too.
UNINITIALIZED, INITIALIZED, ERROR = "UNINITIALIZED", "INITIALIZED", "ERROR"


class CpuState(NamedTuple):
    """One logical CPU: hotplug state (platform.OFFLINE ...), VMX reference count (0 = not post-VMXON,
    CR4.VMXE clear), the kernel's per-CPU ``tdx_lp_initialized`` flag, KVM's per-CPU hardware_enabled."""

    hp: str
    vmx: int = 0
    lp_flag: bool = False
    vars: tuple = ()  # the design's own per-CPU variables (Design.percpu), in declaration order


class Frame(NamedTuple):
    fn: str  # kernel function name, as in the kernel source
    pc: int
    loc: object = None  # the frame's locals (a loop's remaining CPUs, a child's name, ...)


class Thread(NamedTuple):
    """A context: where it runs, what kind, its call stack and its last return value."""

    name: str
    cpu: int
    kind: str
    stack: tuple  # of Frame, innermost last
    ret: object = 0
    irqs_off: int = 0  # local_irq_save depth taken by this context (a hardirq always runs with IRQs off)
    preempt_off: int = 0  # preempt_disable depth (raw spinlocks held, on_each_cpu)
    parent: str | None = None  # who waits for it (smp_call_on_cpu, a cpuhp callback, an IPI's sender)


class Kern(NamedTuple):
    """Kernel globals of the designs (names as in the kernel)."""

    sysinit_done: bool = False  # try_init_module_global() (k-tdx-c-618)
    sysinit_ret: int = 0
    tdx_module_status: str = UNINITIALIZED  # k-tdx-c-618 (7.1: tdx_module_initialized)
    kvm_usage_count: int = 0  # k-kvm-main-c-68
    keyids_in_use: bool = False  # guest KeyIDs allocated (6.16 nr_configured_hkid, 7.1 !ida_is_empty)
    cpuhp_states: tuple = ()  # registered cpuhp states, (order, name), ascending = startup order (k-cpu-hotplug-rst)
    on_each_cpu_err: int = 0  # the atomic_t of v16's vmx_tdx_on (lore-isaku-2023-10-16)
    init_done: bool = False  # the bring-up path (modprobe / initcall) has returned
    init_ret: int | None = None
    vars: tuple = ()  # the design's own globals (Design.globals beyond these), in declaration order


class State(NamedTuple):
    phase: str  # "boot" (initcalls; no user-space hotplug yet) or "user"
    cpus: tuple  # of CpuState
    module: ModuleState
    kern: Kern
    locks: tuple  # per LOCKS: (holder or writer, readers tuple sorted, waiting writer)
    threads: tuple  # of Thread, sorted by name
    ipis: tuple  # pending IPIs (target cpu, function, sender), sorted
    events: tuple  # environment events not yet fired, sorted

    def thread(self, name: str) -> Thread | None:
        for t in self.threads:
            if t.name == name:
                return t
        return None

    def holds(self, name: str) -> list[str]:
        """Locks ``name`` holds, in LOCKS order (a read hold of cpu_hotplug_lock included)."""
        return list(locks_held(self.locks, name))


def locks_held(locks, name: str) -> tuple[str, ...]:
    """The locks ``name`` holds in ``locks`` (a State's ``locks``), in LOCKS order."""
    out = ()
    for i, (w, rs, _) in enumerate(locks):
        if w == name or name in rs:
            out += (LOCKS[i],)
    return out


class StepInfo(NamedTuple):
    """What one step did: for traces, the stepper and the checker's properties."""

    key: str  # the step's stable key (a schedule entry): a context name, "ipi:N" or "event:..."
    label: str  # short human label
    cpu: int | None
    context: str
    function: str  # kernel function
    action: str  # what happened, in words
    fact: str  # keys of data/sources.toml
    leaf: str | None = None  # SEAMCALL leaf, if one was issued
    result: str | None = None  # its status name (TDX_SUCCESS, TDX_SEAMCALL_UD, ...)
    errno: str | None = None  # what the kernel made of it
    events: tuple = ()  # (property-relevant kind, detail) pairs
