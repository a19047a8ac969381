"""The CPU-hotplug core, as kernel functions (kernel/cpu.c; k-cpu-hotplug-rst, k-cpu-c, k-cpuhotplug-h).

* A CPU comes online under ``cpus_write_lock()``: it enters cpu_online_mask, then its ONLINE callbacks run
  in its hotplug thread in ascending state order (KVM's static CPUHP_AP_KVM_ONLINE before every dynamic
  state; dynamic states in slot order), with IRQs on; only then is it active (dec-online-vs-active). If a callback fails,
  the states already passed are torn down in reverse and the CPU goes back offline.
* A CPU goes offline under ``cpus_write_lock()``: teardown callbacks in reverse order. The dynamic states
  (CPUHP_AP_ONLINE_DYN, where 6.16's ``kvm/cpu/tdx:online`` and 7.1's ``virt/tdx:online`` live) come first;
  then ``CPUHP_AP_WORKQUEUE_ONLINE`` unbinds the CPU's per-CPU workers and ``CPUHP_AP_SCHED_WAIT_EMPTY``
  waits until tasks have left it; only then KVM's static ``CPUHP_AP_KVM_ONLINE`` (VMXOFF in v19 and 6.16)
  runs (k-cpuhotplug-h: those two states lie above CPUHP_AP_KVM_ONLINE, and teardown runs from high to low).
  In the model the tasks on the CPU (a ``kworker/N`` of ``smp_call_on_cpu()``, ``modprobe``, a second user)
  move to another active CPU at that point, and work queued for the CPU afterwards runs there too
  (:class:`SmpCallOnCpu`; inferred from the order, research facts-fidelity 3.1: the kernel's unbound pool
  may run it on any CPU, the model takes the lowest-numbered active one). IPIs still pending run on the CPU
  before it leaves cpu_online_mask, after the static teardown (they are flushed in the dying section,
  below CPUHP_TEARDOWN_CPU). If a teardown refuses, the states already torn down are brought back up
  (the workers rebound if the refusal came below the workqueue state) and the CPU stays online.
* Each step looks its callbacks up when it runs (``cpuhp_invoke_callback()`` reads
  ``cpuhp_get_step(state)`` every time; kernel/cpu.c at k-cpu-c): a state registered while a CPU is on its
  way up is run when that CPU reaches it, one removed meanwhile is skipped. Nothing is snapshotted when
  the operation starts.
* ``cpuhp_setup_state()`` takes ``cpus_read_lock()`` itself, installs the callbacks and runs the startup
  callback, in that CPU's hotplug thread, one CPU at a time, on every CPU whose hotplug state is at or
  above the new state (an online CPU, or one mid-hotplug that has passed it); if one fails, teardown runs
  on the CPUs already done, in ascending order (``cpuhp_rollback_install()``), and the state is removed.
  ``cpuhp_setup_state_cpuslocked()`` is the same for a
  caller that already holds the lock (lore-sean-2024-04-23: calling the plain one under the lock deadlocks once a writer
  waits). ``cpuhp_remove_state*()`` run teardown on the same CPUs (none for ``_nocalls``).

Simplification: the writer (an administrator writing /sys/devices/system/cpu/cpuN/online) and the target
CPU's hotplug thread are one context, ``cpu_up/N`` or ``cpu_down/N`` (its ``cpus_write_lock()`` is not
held off by what runs on CPU N: it is the writer's, see tdxlab.kernel.machine); callbacks that ``cpuhp_setup_state()``
runs on CPU N run in ``cpuhp/N``. PREPARE and STARTING sections are not modelled. Offlining the last online
CPU is not refused as ``_cpu_down()`` does (-EBUSY); the shipped scenarios never offline every CPU.

Reductions: the per-step lookup and the tasks' move are local statements that read the registered states,
the contexts and the CPUs' hotplug states. That is sound for the checker's sleep sets
(tdxlab.check.sleep) because every step that writes those (a registration, a hotplug state change, a
spawn, a context's return) runs the design's Python or hands a value on, and so reads everything.
"""
from __future__ import annotations

from tdxlab.kernel.lang import (Call, Do, Goto, If, KFunc, Label, Lock, Ret, SpawnOn, Unlock, WaitChild,
                                WaitUntil, WriteLockAcquire, WriteLockAnnounce, WriteUnlock, AssertCpusHeld)
from tdxlab.kernel.state import HARDIRQ, HOTPLUG, TASK, CpuState
from tdxlab.platform import IN_ONLINE_MASK, OFFLINE, ONLINE, UP, DOWN

_new = tuple.__new__  # a NamedTuple from a tuple, without _replace's cost (the checker's hot path)

KVM_STATIC_ORDER = 10  # CPUHP_AP_KVM_ONLINE: static, right after CPUHP_AP_ONLINE_IDLE (k-cpuhotplug-h)
WORKQUEUE_ORDER = 50  # CPUHP_AP_SCHED_WAIT_EMPTY .. CPUHP_AP_WORKQUEUE_ONLINE: above KVM's state, below DYN
DYN_BASE = 100  # CPUHP_AP_ONLINE_DYN .. _END: first free slot (k-cpuhotplug-h)
CPUHP_ONLINE = 1000  # the top: a CPU that is online and active is here
BELOW_ALL = -1  # CPUHP_OFFLINE


def _callback(x, name, which):
    start, teardown = x.m.design.cpuhp[name][1:]
    return start if which == "startup" else teardown


def _set_hp(x, hp, vmx_reset=False):
    c = x.cpu
    cs = x.cpus[c]
    x.set_cpu(c, _new(CpuState, (hp, 0 if vmx_reset else cs[1], cs[2], cs[3])))  # hp (and vmx) replaced
    if hp == OFFLINE and not x.m.offline_keeps_lp_init and x.module.lp_done(c):
        # dec-offline-keeps-lp-init, the other reading: the LP loses its LP.INIT when it goes offline (the kernel's
        # tdx_lp_initialized flag is never cleared, k-tdx-c-618, so nothing redoes it)
        x.module = x.module._replace(lp_init=x.module.lp_init & ~(1 << c))
        x.note(f"the module forgets CPU{c}'s LP.INIT (offline_keeps_lp_init = false, dec-offline-keeps-lp-init)")


# --- where a CPU is in its hotplug states ----------------------------------------------------------------
# A cpu_up/N or cpu_down/N frame's locals are (pos, err, name): the state it runs (or last ran), the error
# to return after a rollback, and the name of the state it is about to run (None when it has none left).
def _frame_loc(x, name):
    if name == x.name:
        return x.stk[0].loc if x.stk else x.loc
    t = x.st.thread(name)
    return t.stack[0].loc if t is not None and t.stack else None


def hotplug_position(x, c) -> int:
    """CPU ``c``'s ``st->state`` as the cpuhp core sees it: the top for an online CPU, the bottom for an
    offline one, the state its hotplug operation is at for one on its way up or down."""
    hp = x.cpus[c].hp
    if hp == ONLINE:
        return CPUHP_ONLINE
    if hp == UP:
        loc = _frame_loc(x, f"cpu_up/{c}")
        return loc[0] if loc else BELOW_ALL
    if hp == DOWN:
        loc = _frame_loc(x, f"cpu_down/{c}")
        # a teardown moves st->state below the state it runs (cpuhp_next_state())
        return loc[0] - 1 if loc else CPUHP_ONLINE
    return BELOW_ALL


def workers_unbound(st, c) -> bool:
    """CPU ``c`` is going down and past CPUHP_AP_WORKQUEUE_ONLINE: its per-CPU workers are unbound."""
    if st.cpus[c].hp != DOWN:
        return False
    t = st.thread(f"cpu_down/{c}")
    loc = t.stack[0].loc if t is not None and t.stack else None
    return bool(loc) and loc[0] <= WORKQUEUE_ORDER


def _other_active_cpu(x, c):
    """Where work and tasks leaving CPU ``c`` go: the lowest-numbered active CPU (the scheduler's choice in
    the kernel; the model's is fixed)."""
    cpus = x.cpus
    for o, cs in enumerate(cpus):
        if o != c and cs.hp == ONLINE:
            return o
    for o, cs in enumerate(cpus):
        if o != c and cs.hp in IN_ONLINE_MASK:
            return o
    return None


def _next_state(up: bool, bound: int):
    """``cpuhp_next_state()`` with the lookup of ``cpuhp_get_step()``: the next registered state after the
    frame's position (up to ``bound`` going up, down to just above it going down), read now."""
    def step(x):
        pos, err, _ = x.loc
        best = None
        for o, n in x.kern.cpuhp_states:
            if up and pos < o <= bound and (best is None or o < best[0]):
                best = (o, n)
            elif not up and bound < o < pos and (best is None or o > best[0]):
                best = (o, n)
        # none left: the CPU has passed every state up to the bound (st->state = target), so a state
        # registered from now on is run on it by the registration, as kernel/cpu.c does for cpustate >= state
        x.set_loc((best[0], err, best[1]) if best else (bound if up else bound + 1, err, None))
    return step


def _walk(which: str, up: bool, bound: int, label: str, on_error: str | None = None, why: str = "") -> list:
    """Run the ``which`` callback of every registered state between the frame's position and ``bound``,
    each looked up when its turn comes; on a non-zero return go to ``on_error`` (with ``on_error=None``,
    errors are ignored: a rollback)."""
    return [
        Label(label),
        Do("", _next_state(up, bound), local=True),
        If(lambda x: x.loc[2] is None, f"{label}/done"),
        If(lambda x: _callback(x, x.loc[2], which) is None, label),  # an empty step: the next one
        Call(lambda x: _callback(x, x.loc[2], which)),
        *([If(lambda x: x.retval != 0, on_error, why)] if on_error else []),
        Goto(label),
        Label(f"{label}/done"),
    ]


def _start_rollback(x) -> None:
    """Roll back from the failed state, remembering the error to return."""
    x.set_loc((x.loc[0], x.retval, None))


def _tasks_leave(x) -> None:
    """CPUHP_AP_WORKQUEUE_ONLINE and CPUHP_AP_SCHED_WAIT_EMPTY on the way down: the CPU's workers are
    unbound and its tasks pushed to another CPU (k-cpuhotplug-h; the move itself inferred, research 3.1)."""
    c = x.cpu
    x.set_loc((WORKQUEUE_ORDER, x.loc[1], None))
    to = _other_active_cpu(x, c)
    if to is None:
        return
    moved = []
    me = x.name
    if x._th is not None or any(u[1] == c and u[2] == TASK and u[0] != me for u in x.st.threads):
        # (only then the other contexts' table: building it makes the step's state build them all anew)
        for name, u in list(x.threads.items()):
            if u.cpu == c and u.kind == TASK:
                x.threads[name] = u._replace(cpu=to)
                moved.append(name)
    if not x.quiet:
        x.note(f"workqueue_offline_cpu(): CPU{c}'s workers are unbound; sched_cpu_wait_empty(): "
               + (f"{', '.join(moved)} move to CPU{to}" if moved else "no task is left on it"))


def _rebind(x) -> None:
    """The rollback passed CPUHP_AP_WORKQUEUE_ONLINE going up: the CPU's workers are bound to it again."""
    x.set_loc((WORKQUEUE_ORDER, x.loc[1], None))
    x.note(f"workqueue_online_cpu(): CPU{x.cpu}'s workers are bound to it again")


# --- onlining and offlining a CPU ---------------------------------------------------------------------------
def _core(body: list) -> list:
    """Mark the hotplug core's own non-local steps (Do, WaitUntil) of ``body`` (Instr.hotplug_core)."""
    for ins in body:
        if type(ins) in (Do, WaitUntil) and not ins.local:
            ins.hotplug_core = True
    return body


def cpu_up() -> KFunc:
    return KFunc("_cpu_up", "k-cpu-c", _core([
        WriteLockAnnounce(),
        WriteLockAcquire(),
        Do("CPU enters cpu_online_mask; ONLINE callbacks run in its hotplug thread",
           lambda x: (_set_hp(x, UP), x.set_loc((BELOW_ALL, 0, None))), "k-cpu-hotplug-rst, dec-online-vs-active"),
        *_walk("startup", True, CPUHP_ONLINE, "up", "rollback", "a startup callback failed: roll back"),
        Do("CPU is active: tasks (and TDX users) may run on it", lambda x: _set_hp(x, ONLINE), "dec-online-vs-active"),
        WriteUnlock(),
        Ret(0),
        Label("rollback"),
        Do("", _start_rollback, local=True),
        *_walk("teardown", False, BELOW_ALL, "undo"),
        Do("CPU leaves cpu_online_mask: the online request fails", lambda x: _set_hp(x, OFFLINE, True), "k-cpu-hotplug-rst"),
        WriteUnlock(),
        Ret(lambda x: x.loc[1]),
    ]))


def _no_work_left(st, t):
    c = t.cpu
    return not any(ic == c for ic, _, _ in st.ipis) and \
        not any(u.cpu == c and u.name != t.name and u.kind in (HARDIRQ, "task") for u in st.threads)


def cpu_down() -> KFunc:
    return KFunc("_cpu_down", "k-cpu-c", _core([
        WriteLockAnnounce(),
        WriteLockAcquire(),
        Do("CPU starts going down: teardown callbacks in reverse order",
           lambda x: (_set_hp(x, DOWN), x.set_loc((CPUHP_ONLINE, 0, None))), "k-cpu-hotplug-rst"),
        *_walk("teardown", False, WORKQUEUE_ORDER, "down", "rollback",
               "a teardown callback refused: the CPU stays online"),
        Do("", _tasks_leave, local=True),
        *_walk("teardown", False, BELOW_ALL, "down-static", "rollback",
               "a teardown callback refused: the CPU stays online"),
        WaitUntil(_no_work_left, "the IPIs queued on this CPU to run",
                  effect=lambda x: _set_hp(x, OFFLINE, True), fact="k-cpu-hotplug-rst",
                  text="CPU leaves cpu_online_mask and is offline (its VMX state is gone)"),
        WriteUnlock(),
        Ret(0),
        Label("rollback"),
        Do("", _start_rollback, local=True),
        If(lambda x: x.loc[0] > WORKQUEUE_ORDER, "redo"),
        *_walk("startup", True, WORKQUEUE_ORDER, "redo-static"),
        Do("", _rebind, local=True),
        *_walk("startup", True, CPUHP_ONLINE, "redo"),
        Do("CPU stays online: the offline request fails", lambda x: _set_hp(x, ONLINE), "k-cpu-hotplug-rst"),
        WriteUnlock(),
        Ret(lambda x: x.loc[1]),
    ]))


class SmpCallOnCpu(SpawnOn):
    """``smp_call_on_cpu(cpu, fn, NULL, true)`` (kernel/smp.c): -ENXIO if ``cpu`` is not in cpu_online_mask,
    else queue the work on ``cpu``'s per-CPU workqueue and wait. Once ``cpu`` is going down past
    CPUHP_AP_WORKQUEUE_ONLINE its pool is unbound and the work runs on another CPU (inferred, research
    facts-fidelity 3.1): the worker keeps the pool's name, ``kworker/N``."""

    def run(self, x):
        cpu = self.cpu(x, x.t)
        if x.cpus[cpu].hp == DOWN and workers_unbound(x.st, cpu):
            to = _other_active_cpu(x, cpu)
            if to is not None:
                callee = self.callee(x) if callable(self.callee) else self.callee
                x.pc += 1
                name = f"kworker/{cpu}"
                x.spawn(name, to, self.kind, callee, parent=x.name)
                if not x.quiet:
                    x.note(f"{self.api}(CPU{cpu}, {callee}): CPU{cpu} is going down and its workers are "
                           f"unbound: {name} runs it on CPU{to}")
                return
        super().run(x)


# --- registering a state ----------------------------------------------------------------------------------
def _register(x, name):
    static = x.m.design.cpuhp[name][0]
    if static is not None:
        order = static
    else:
        used = {o for o, _ in x.kern.cpuhp_states}
        order = next(o for o in range(DYN_BASE, DYN_BASE + 40) if o not in used)
    x.set_kern(cpuhp_states=tuple(sorted(x.kern.cpuhp_states + ((order, name),))))
    x.set_loc((_cpus_at_or_above(x, order), (), 0))


def _order_of(x, name):
    for o, n in x.kern.cpuhp_states:
        if n == name:
            return o
    return None


def _cpus_at_or_above(x, order) -> tuple:
    """The CPUs whose hotplug state is at or above ``order`` (``cpustate >= state`` in kernel/cpu.c)."""
    if order is None:
        return ()
    return tuple(c for c in range(len(x.cpus)) if hotplug_position(x, c) >= order)


def _unregister(x, name):
    x.set_kern(cpuhp_states=tuple(s for s in x.kern.cpuhp_states if s[1] != name))


def _pop(x):
    rem, done, err = x.loc
    x.set_loc((rem[1:], done + (rem[0],), err))


def _on_each_online_cpu(callback, label: str, on_error: str | None = None, why: str = "") -> list:
    """Run ``callback`` (a function of the design's cpuhp table) in the hotplug thread of every CPU left
    in the frame's list (``loc[0]``), one CPU at a time, waiting for each; on a non-zero return go to
    ``on_error`` (with ``on_error=None``, errors are ignored: a teardown or a rollback)."""
    target = lambda s, t: t.stack[-1].loc[0][0]  # noqa: E731
    return [
        Label(label),
        If(lambda x: not x.loc[0] or callback(x) is None, f"{label}/done"),
        SpawnOn("cpuhp_invoke_ap_callback", HOTPLUG, target, callback),
        WaitChild(),
        *([If(lambda x: x.retval != 0, on_error, why)] if on_error else []),
        Do("", _pop, local=True),
        Goto(label),
        Label(f"{label}/done"),
    ]


def _hotplug_lock(cpuslocked: bool) -> tuple[list, list]:
    """The plain calls take cpus_read_lock() themselves; the _cpuslocked ones assert it is held."""
    if cpuslocked:
        return [], []
    return [Lock("cpu_hotplug_lock", "r", "k-cpu-hotplug-rst")], [Unlock("cpu_hotplug_lock", "r", "k-cpu-hotplug-rst")]


def cpuhp_setup_state(state: str, cpuslocked: bool) -> KFunc:
    api = "cpuhp_setup_state_cpuslocked" if cpuslocked else "cpuhp_setup_state"
    startup = lambda x: x.m.design.cpuhp[state][1]  # noqa: E731
    teardown = lambda x: x.m.design.cpuhp[state][2]  # noqa: E731
    lock, unlock = _hotplug_lock(cpuslocked)
    head = [AssertCpusHeld("k-cpu-hotplug-rst")] if cpuslocked else lock
    return KFunc(f"{api}:{state}", "k-cpu-hotplug-rst", head + [
        Do(f'install "{state}"; run its startup callback on each online CPU', lambda x: _register(x, state)),
        *_on_each_online_cpu(startup, "up", "fail", "a startup callback failed: undo"),
        *unlock,
        Ret(0),
        Label("fail"),
        # cpuhp_rollback_install(): teardown on the CPUs already done, in ascending order
        Do("", lambda x: x.set_loc((x.loc[1], (), x.retval)), local=True),
        *_on_each_online_cpu(teardown, "undo"),
        Do(f'remove "{state}": the setup fails', lambda x: _unregister(x, state)),
        *unlock,
        Ret(lambda x: x.loc[2]),
    ], doc=f"{api}(CPUHP_AP_ONLINE_DYN, \"{state}\", ...)")


def cpuhp_remove_state(state: str, cpuslocked: bool, nocalls: bool = False) -> KFunc:
    api = "cpuhp_remove_state" + ("_nocalls" if nocalls else "") + ("_cpuslocked" if cpuslocked else "")
    teardown = lambda x: x.m.design.cpuhp[state][2]  # noqa: E731
    lock, unlock = _hotplug_lock(cpuslocked)
    if nocalls:  # the callbacks are not run: the state is only removed
        return KFunc(f"{api}:{state}", "k-cpu-hotplug-rst", lock + [
            Do(f'"{state}" is removed (no teardown callbacks)', lambda x: _unregister(x, state)),
            *unlock,
            Ret(0),
        ])
    return KFunc(f"{api}:{state}", "k-cpu-hotplug-rst", lock + [
        Do(f'remove "{state}": teardown on each online CPU',
           lambda x: x.set_loc((_cpus_at_or_above(x, _order_of(x, state)), (), 0))),
        *_on_each_online_cpu(teardown, "down"),
        Do(f'"{state}" is removed', lambda x: _unregister(x, state)),
        *unlock,
        Ret(0),
    ])


GENERIC = (cpu_up, cpu_down)
