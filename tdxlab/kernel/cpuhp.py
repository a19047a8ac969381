"""The CPU-hotplug core, as kernel functions (kernel/cpu.c; k-cpu-hotplug-rst, k-cpu-c).

* A CPU comes online under ``cpus_write_lock()``: it enters cpu_online_mask, then its ONLINE callbacks run
  in its hotplug thread in ascending state order (KVM's static CPUHP_AP_KVM_ONLINE before every dynamic
  state; dynamic states in slot order), with IRQs on; only then is it active (dec-online-vs-active). If a callback fails,
  the states already passed are torn down in reverse and the CPU goes back offline.
* A CPU goes offline under ``cpus_write_lock()``: teardown callbacks in reverse order; if one fails, the
  ones already torn down are brought back up and the CPU stays online.
* ``cpuhp_setup_state()`` takes ``cpus_read_lock()`` itself, installs the callbacks and runs the startup
  callback on every online CPU in that CPU's hotplug thread, one CPU at a time; if one fails, teardown runs
  on the CPUs already done and the state is removed. ``cpuhp_setup_state_cpuslocked()`` is the same for a
  caller that already holds the lock (lore-sean-2024-04-23: calling the plain one under the lock deadlocks once a writer
  waits). ``cpuhp_remove_state*()`` run teardown on the online CPUs.

Simplification: the writer (an administrator writing /sys/devices/system/cpu/cpuN/online) and the target
CPU's hotplug thread are one context, ``cpu_up/N`` or ``cpu_down/N`` (its ``cpus_write_lock()`` is not
held off by what runs on CPU N: it is the writer's, see tdxlab.kernel.machine); callbacks that ``cpuhp_setup_state()``
runs on CPU N run in ``cpuhp/N``. PREPARE and STARTING sections are not modelled.
"""
from __future__ import annotations

from tdxlab.kernel.lang import (Call, Do, Goto, If, KFunc, Label, Lock, Ret, SpawnOn, Unlock, WaitChild,
                                WaitUntil, WriteLockAcquire, WriteLockAnnounce, WriteUnlock, AssertCpusHeld)
from tdxlab.kernel.state import HARDIRQ, HOTPLUG
from tdxlab.platform import OFFLINE, ONLINE, UP, DOWN

KVM_STATIC_ORDER = 10  # CPUHP_AP_KVM_ONLINE: static, right after CPUHP_AP_ONLINE_IDLE (k-cpuhotplug-h)
DYN_BASE = 100  # CPUHP_AP_ONLINE_DYN .. _END: first free slot (k-cpuhotplug-h)


def _states(x, reverse=False):
    names = [n for _, n in x.kern.cpuhp_states]
    return tuple(reversed(names)) if reverse else tuple(names)


def _callback(x, name, which):
    start, teardown = x.m.design.cpuhp[name][1:]
    return start if which == "startup" else teardown


def _set_hp(x, hp, vmx_reset=False):
    c = x.cpu
    cs = x.cpus[c]
    x.set_cpu(c, cs._replace(hp=hp, vmx=0 if vmx_reset else cs.vmx))
    if hp == OFFLINE and not x.m.offline_keeps_lp_init and x.module.lp_done(c):
        # dec-offline-keeps-lp-init, the other reading: the LP loses its LP.INIT when it goes offline (the kernel's
        # tdx_lp_initialized flag is never cleared, k-tdx-c-618, so nothing redoes it)
        x.module = x.module._replace(lp_init=x.module.lp_init & ~(1 << c))
        x.note(f"the module forgets CPU{c}'s LP.INIT (offline_keeps_lp_init = false, dec-offline-keeps-lp-init)")


def _pop(x):
    rem, done, err = x.loc
    x.set_loc((rem[1:], done + (rem[0],), err))


def _has(which):
    return lambda x: _callback(x, x.loc[0][0], which) is None


# --- onlining and offlining a CPU ---------------------------------------------------------------------------
def _each_callback(which: str, label: str, on_error: str | None = None, why: str = "") -> list:
    """Call the ``which`` callback of every state left in the frame's list (``loc[0]``), in order; on a
    non-zero return go to ``on_error`` (with ``on_error=None``, errors are ignored: a rollback)."""
    return [
        Label(label),
        If(lambda x: not x.loc[0], f"{label}/done"),
        If(_has(which), f"{label}/skip"),
        Call(lambda x: _callback(x, x.loc[0][0], which)),
        *([If(lambda x: x.retval != 0, on_error, why)] if on_error else []),
        Label(f"{label}/skip"),
        Do("", _pop, local=True),
        Goto(label),
        Label(f"{label}/done"),
    ]


def _undo_in_reverse(x) -> None:
    """Roll back: the states done so far, in reverse, remembering the error to return."""
    x.set_loc((tuple(reversed(x.loc[1])), (), x.retval))


def cpu_up() -> KFunc:
    return KFunc("_cpu_up", "k-cpu-c", [
        WriteLockAnnounce(),
        WriteLockAcquire(),
        Do("CPU enters cpu_online_mask; ONLINE callbacks run in its hotplug thread",
           lambda x: (_set_hp(x, UP), x.set_loc((_states(x), (), 0))), "k-cpu-hotplug-rst, dec-online-vs-active"),
        *_each_callback("startup", "up", "rollback", "a startup callback failed: roll back"),
        Do("CPU is active: tasks (and TDX users) may run on it", lambda x: _set_hp(x, ONLINE), "dec-online-vs-active"),
        WriteUnlock(),
        Ret(0),
        Label("rollback"),
        Do("", _undo_in_reverse, local=True),
        *_each_callback("teardown", "undo"),
        Do("CPU leaves cpu_online_mask: the online request fails", lambda x: _set_hp(x, OFFLINE, True), "k-cpu-hotplug-rst"),
        WriteUnlock(),
        Ret(lambda x: x.loc[2]),
    ])


def _no_work_left(st, t):
    c = t.cpu
    return not any(ic == c for ic, _, _ in st.ipis) and \
        not any(u.cpu == c and u.name != t.name and u.kind in (HARDIRQ, "task") for u in st.threads)


def cpu_down() -> KFunc:
    return KFunc("_cpu_down", "k-cpu-c", [
        WriteLockAnnounce(),
        WriteLockAcquire(),
        Do("CPU starts going down: teardown callbacks in reverse order",
           lambda x: (_set_hp(x, DOWN), x.set_loc((_states(x, reverse=True), (), 0))), "k-cpu-hotplug-rst"),
        *_each_callback("teardown", "down", "rollback", "a teardown callback refused: the CPU stays online"),
        WaitUntil(_no_work_left, "the IPIs and work queued on this CPU to run",
                  effect=lambda x: _set_hp(x, OFFLINE, True), fact="k-cpu-hotplug-rst",
                  text="CPU leaves cpu_online_mask and is offline (its VMX state is gone)"),
        WriteUnlock(),
        Ret(0),
        Label("rollback"),
        Do("", _undo_in_reverse, local=True),
        *_each_callback("startup", "redo"),
        Do("CPU stays online: the offline request fails", lambda x: _set_hp(x, ONLINE), "k-cpu-hotplug-rst"),
        WriteUnlock(),
        Ret(lambda x: x.loc[2]),
    ])


# --- registering a state ----------------------------------------------------------------------------------
def _register(x, name):
    static = x.m.design.cpuhp[name][0]
    if static is not None:
        order = static
    else:
        used = {o for o, _ in x.kern.cpuhp_states}
        order = next(o for o in range(DYN_BASE, DYN_BASE + 40) if o not in used)
    x.set_kern(cpuhp_states=tuple(sorted(x.kern.cpuhp_states + ((order, name),))))
    cpus = tuple(c for c, cs in enumerate(x.cpus) if cs.hp == ONLINE)
    x.set_loc((cpus, (), 0))


def _unregister(x, name):
    x.set_kern(cpuhp_states=tuple(s for s in x.kern.cpuhp_states if s[1] != name))


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
        Do("", _undo_in_reverse, local=True),
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
           lambda x: x.set_loc((tuple(c for c, cs in enumerate(x.cpus) if cs.hp == ONLINE), (), 0))),
        *_on_each_online_cpu(teardown, "down"),
        Do(f'"{state}" is removed', lambda x: _unregister(x, state)),
        *unlock,
        Ret(0),
    ])


GENERIC = (cpu_up, cpu_down)
