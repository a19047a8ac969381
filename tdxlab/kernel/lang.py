"""A small instruction language for kernel functions, so a design reads beside the kernel source.

A kernel function is a :class:`KFunc`: a name as in the kernel, the fact it stands on, and a list of
instructions and :class:`Label` markers. Each instruction is one step of one context, except *local*
instructions (calls, returns, jumps on the context's own registers, lockdep assertions), which touch
nothing another context can see and are merged into the neighbouring step: a sound reduction that keeps
traces short (see docs/layers.md).

The ``Exec`` object (see :mod:`tdxlab.kernel.machine`) gives instructions the state being built: the
running context's registers ``x.name``, ``x.cpu``, ``x.kind``, ``x.retval`` (its last return value) and
``x.loc`` (its frame's locals), ``x.t`` for the whole context as a ``Thread``, and ``x.cpus``,
``x.module``, ``x.kern``, ``x.locks``, ``x.ipis`` for the rest.
"""
from __future__ import annotations

import errno as _errno
from typing import Callable

from tdxlab.kernel.state import (HARDIRQ, LOCK_INDEX, LOCK_KIND, SPINNING, Thread)
from tdxlab.platform import IN_ONLINE_MASK


def E(name: str) -> int:
    """``E("ENODEV") == -19``: a negative errno, as kernel functions return them."""
    return -getattr(_errno, name)


def errno_name(v) -> str:
    if v is None:
        return ""
    if isinstance(v, int) and v < 0:
        return "-" + _errno.errorcode.get(-v, str(-v))
    return str(v)


class Label:
    def __init__(self, name: str):
        self.name = name


class KFunc:
    """A kernel function: ``KFunc("tdx_cpu_enable", "k-tdx-c-618", [...])``."""

    def __init__(self, name: str, fact: str, body: list, doc: str = ""):
        self.name, self.fact, self.doc = name, fact, doc
        self.body: list[Instr] = []
        self.labels: dict[str, int] = {}
        for item in body:
            if isinstance(item, Label):
                self.labels[item.name] = len(self.body)
            else:
                self.body.append(item)
        self.body.append(Ret())  # falling off the end returns the last value
        for ins in self.body:
            ins.fn = name
            label = ins.goto if isinstance(ins, If) else (ins.label if isinstance(ins, Goto) else None)
            if label is not None:  # a jump: its target resolved once, here
                if label not in self.labels:
                    raise ValueError(f"kernel function {name}: goto {label!r}, a label it does not define")
                ins.target = self.labels[label]
            ins.can_block = type(ins).blocked is not Instr.blocked
            if not ins.fact:
                ins.fact = fact

    def pc_of(self, label: str) -> int:
        return self.labels[label]

    def __repr__(self):
        return f"<kernel function {self.name} ({len(self.body)} steps)>"


class Instr:
    """One instruction. ``local`` ones are merged into the neighbouring step."""

    local = False
    can_block = False  # it defines blocked(): it may wait (set per instruction by KFunc)
    # percpu: touches only the running CPU's per-CPU state (VMX, tdx_lp_initialized). While the context
    # owns its CPU (a hardirq, or IRQs or preemption off) nothing else can see it, so it is local then.
    percpu = False
    fact = ""
    fn = ""
    # owner_holds_off: a context that owns the CPU (runs there with IRQs or preemption off) holds this
    # one off. Not a hotplug writer's cpus_write_lock(), which runs in the writer's process on another CPU
    # (machine.py).
    owner_holds_off = True
    # pure: a local instruction that reads and writes the running context's registers only (its frames,
    # locals, return value, IRQ and preemption depths, kind, CPU and name) and may record a fact made of
    # them; nothing of the shared state. What a run of pure instructions does is then a function of the
    # registers alone, which the checker's engine remembers (Machine._pure_run). Marked per class where
    # that holds for every instance, and by the design compiler for the If and Do statements it proves to
    # touch only locals (tdxlab.kernel.source). A Ret is pure while it returns to a caller's frame. A
    # per-CPU instruction is pure, while the context owns its CPU, when it touches that CPU's per-CPU
    # state besides the registers and nothing else (VMXON, VMXOFF, this_cpu_read/write).
    pure = False
    # hotplug_core: a step of the CPU hotplug core itself (kernel/cpu.c's _cpu_up()/_cpu_down() bodies in
    # tdxlab.kernel.cpuhp, not a design's code): what it reads is known, so the checker's sleep sets need not
    # take it as reading everything (tdxlab.check.sleep)
    hotplug_core = False

    def text(self, st, t: Thread) -> str:
        return type(self).__name__

    def blocked(self, m, st, t: Thread) -> str | None:
        """Why this instruction cannot run now (it waits), or None."""
        return None

    def waits(self, m, st, t: Thread) -> bool:
        """Whether it cannot run now: ``blocked()`` without the words (the checker's hot path)."""
        return self.blocked(m, st, t) is not None

    def waits_mid_step(self, x) -> bool:
        """``waits()`` in the state a step ``x`` has built so far (after its leading local instructions)."""
        return self.waits(x.m, x.freeze(), x.t)

    def run(self, x) -> None:
        raise TypeError(f"instruction {type(self).__name__} defines no run()")  # every concrete one does

    acq = None  # (lock, mode) this instruction tries to take, for lockdep's checks

    def acquires(self):
        """(lock, mode) this instruction tries to take, for lockdep's checks, or None."""
        return self.acq


# --- control flow (local) -----------------------------------------------------------------------------
class Call(Instr):
    local = True

    def __init__(self, callee: str | Callable, fact: str = ""):
        self.callee, self.fact = callee, fact
        self.pointer = callable(callee)  # a call through a function pointer: callee(x) names the function
        self.pure = not self.pointer

    def text(self, st, t):
        return f"call {self.callee if isinstance(self.callee, str) else 'callback'}()"

    def run(self, x):
        x.call(self.callee(x) if self.pointer else self.callee)


class Ret(Instr):
    local = True
    pure = True  # (while the stack has a caller's frame: see Machine._pure_run)

    def __init__(self, value=None):
        self.value = value

    def text(self, st, t):
        return "return"

    def run(self, x):
        v = self.value
        if v is None:
            v = x.retval
        elif callable(v):
            v = v(x)
        x.ret(v)


class If(Instr):
    """``if cond: goto label``. ``local=False`` when ``cond`` reads state other contexts can change."""

    def __init__(self, cond: Callable, goto: str, text: str = "", local: bool = True, fact: str = "",
                 check: str = "", else_text: str = "", percpu: bool = False):
        self.cond, self.goto, self._text, self.local, self.fact = cond, goto, text, local, fact
        self.check, self.else_text, self.percpu = check, else_text, percpu

    def text(self, st, t):
        return self.check or self._text or "branch"

    def run(self, x):
        if self.cond(x):
            x.pc = self.target  # (x.goto(), inlined: the hot path)
            if not x.quiet:
                x.note(self._text)  # the text describes the branch taken
        else:
            x.pc += 1
            if not x.quiet:
                x.note(self.else_text)


class Goto(Instr):
    local = True
    pure = True

    def __init__(self, label: str):
        self.label = label

    def run(self, x):
        x.goto(self.target)


class Do(Instr):
    """A named effect: ``Do("this_cpu_write(tdx_lp_initialized, true)", fn, fact)``."""

    def __init__(self, text: str, effect: Callable, fact: str = "", local: bool = False,
                 percpu: bool = False):
        self._text, self.effect, self.fact, self.local, self.percpu = text, effect, fact, local, percpu

    def text(self, st, t):
        return self._text

    def run(self, x):
        if not x.quiet:
            x.note(self._text)
        x.pc += 1
        self.effect(x)


class WaitUntil(Instr):
    """Sleep until ``cond(state, thread)`` holds, then (in the same step) do ``effect``."""

    def __init__(self, cond: Callable, why: str, fact: str = "", effect: Callable | None = None,
                 text: str = ""):
        self.cond, self.why, self.fact, self.effect, self._text = cond, why, fact, effect, text

    def text(self, st, t):
        return self._text or f"wait: {self.why}"

    def blocked(self, m, st, t):
        return None if self.cond(st, t) else f"waits for {self.why}"

    def run(self, x):
        if not x.quiet:
            x.note(self._text or f"done waiting for {self.why}")
        x.pc += 1
        if self.effect is not None:
            self.effect(x)


# --- the kernel's own checks (local: they read only the running context) ------------------------------
class AssertIrqsDisabled(Instr):
    """lockdep_assert_irqs_disabled() (k-tdx-c-618): warns when the context runs with IRQs on."""

    local = True
    pure = True  # (the context's kind and IRQ depth)

    def __init__(self, fact: str = "k-tdx-c-618"):
        self.fact = fact

    def run(self, x):
        if not (x.kind == HARDIRQ or x.irq > 0):  # (x.irqs_disabled(), inlined: the hot path)
            x.fact("kernel-check", f"lockdep_assert_irqs_disabled() in {self.fn}() on CPU{x.cpu}: "
                                      f"IRQs are on ({x.kind} context)")
        x.pc += 1


class AssertCpusHeld(Instr):
    """lockdep_assert_cpus_held() (k-tdx-c-618): the caller must hold cpu_hotplug_lock."""

    local = True

    def __init__(self, fact: str = "k-tdx-c-618"):
        self.fact = fact

    def run(self, x):
        w, rs, _ = x.locks[LOCK_INDEX["cpu_hotplug_lock"]]
        me = x.name
        if not (w == me or me in rs):
            x.fact("kernel-check", f"lockdep_assert_cpus_held() in {self.fn}(): {me} does not hold "
                                      f"cpu_hotplug_lock")
        x.pc += 1


class WarnVmxeClear(Instr):
    """KVM 6.16 tdx_online_cpu(): WARN_ON_ONCE(!(cr4_read_shadow() & X86_CR4_VMXE)) (k-kvm-tdx-c-616)."""

    local = True

    def __init__(self, fact: str = "k-kvm-tdx-c-616"):
        self.fact = fact

    def run(self, x):
        if x.cpus[x.cpu].vmx == 0:
            x.fact("kernel-check", f"WARN in {self.fn}(): CR4.VMXE is clear on CPU{x.cpu}")
        x.pc += 1


# --- IRQs -----------------------------------------------------------------------------------------------
class LocalIrqSave(Instr):
    def __init__(self, fact: str = "k-smp-c"):
        self.fact = fact

    def text(self, st, t):
        return "local_irq_save()"

    def run(self, x):
        x.note("local_irq_save(): IRQs off on this CPU")
        x.adjust(irqs=1)
        x.pc += 1


class LocalIrqRestore(Instr):
    def __init__(self, fact: str = "k-smp-c"):
        self.fact = fact

    def text(self, st, t):
        return "local_irq_restore()"

    def run(self, x):
        x.note("local_irq_restore(): IRQs back on")
        x.adjust(irqs=-1)
        x.pc += 1


_HOTPLUG = LOCK_INDEX["cpu_hotplug_lock"]


# --- locks ----------------------------------------------------------------------------------------------
def _holder_text(w, rs):
    parts = []
    if w:
        parts.append(w)
    parts += [f"{r} (read)" for r in rs]
    return ", ".join(parts) or "nobody"


class Lock(Instr):
    """mutex_lock / raw_spin_lock / cpus_read_lock (mode "r"). A raw spinlock spins with preemption
    off; a mutex or an rwsem sleeps (k-kvm-locking-rst, k-cpu-c)."""

    API = {"mutex": "mutex_lock", "raw-spinlock": "raw_spin_lock", "spinlock": "spin_lock",
           "percpu-rwsem": "cpus_read_lock"}

    def __init__(self, lock: str, mode: str = "x", fact: str = ""):
        self.lock, self.mode, self.fact = lock, mode, fact
        self.kind = LOCK_KIND[lock]
        self.i = LOCK_INDEX[lock]
        self.acq = (lock, mode)

    def text(self, st, t):
        api = self.API[self.kind]
        return f"{api}()" if self.kind == "percpu-rwsem" else f"{api}(&{self.lock})"

    def waits(self, m, st, t):
        w, rs, ww = st.locks[self.i]
        return w is not None or (self.mode == "r" and ww is not None)

    def waits_mid_step(self, x):
        w, rs, ww = x.locks[self.i]  # (only the lock: no need to build the state)
        return w is not None or (self.mode == "r" and ww is not None)

    def blocked(self, m, st, t):
        w, rs, ww = st.locks[self.i]
        if self.mode == "r":
            if w is not None:
                return f"waits for cpu_hotplug_lock (read): {w} holds it for write (CPU hotplug in progress)"
            if ww is not None:
                extra = " — and it already holds a read lock itself: deadlock" if t.name in rs else ""
                return (f"waits for cpu_hotplug_lock (read): writer {ww} is waiting, and a waiting writer "
                        f"blocks new readers{extra}")
            return None
        if w is not None:
            if w == t.name:
                return f"{self.text(st, t)}: already holds {self.lock} itself — self-deadlock"
            how = "spins on" if self.kind in SPINNING else "waits for"
            return f"{how} {self.lock}, held by {w}"
        return None

    def run(self, x):
        x.acquired(self.lock, self.mode)
        w, rs, ww = x.locks[self.i]
        if self.mode == "r":
            x.set_lock(self.i, (w, tuple(sorted(rs + (x.name,))), ww))
            x.note("cpus_read_lock(): CPU hotplug is held off")
        else:
            x.set_lock(self.i, (x.name, rs, ww))
            if not x.quiet:
                x.note(f"{self.text(None, None)}: acquired")
        if self.kind in SPINNING:
            x.adjust(preempt=1)
        x.pc += 1


class Unlock(Instr):
    API = {"mutex": "mutex_unlock", "raw-spinlock": "raw_spin_unlock", "spinlock": "spin_unlock",
           "percpu-rwsem": "cpus_read_unlock"}

    def __init__(self, lock: str, mode: str = "x", fact: str = ""):
        self.lock, self.mode, self.fact = lock, mode, fact
        self.kind = LOCK_KIND[lock]
        self.i = LOCK_INDEX[lock]

    def text(self, st, t):
        api = self.API[self.kind]
        return f"{api}()" if self.kind == "percpu-rwsem" else f"{api}(&{self.lock})"

    def run(self, x):
        w, rs, ww = x.locks[self.i]
        if self.mode == "r":
            lst = list(rs)
            lst.remove(x.name)
            x.set_lock(self.i, (w, tuple(lst), ww))
        else:
            x.set_lock(self.i, (None, rs, ww))
        if self.kind in SPINNING:
            x.adjust(preempt=-1)
        if not x.quiet:
            x.note(self.text(None, None))
        x.pc += 1


class WriteLockAnnounce(Instr):
    """cpus_write_lock(), first half: the writer announces itself; from now on new readers wait (k-kvm-locking-rst:
    "rwsem fairness"; percpu_down_write() makes readers take the slow path)."""

    def __init__(self, fact: str = "k-cpu-c"):
        self.fact = fact

    acq = ("cpu_hotplug_lock", "w")
    owner_holds_off = False

    def text(self, st, t):
        return "cpus_write_lock(): announce a writer"

    def waits(self, m, st, t):
        w, rs, ww = st.locks[_HOTPLUG]
        return (w is not None and w != t[0]) or (ww is not None and ww != t[0])

    def blocked(self, m, st, t):
        if not self.waits(m, st, t):
            return None
        w, rs, ww = st.locks[_HOTPLUG]
        return f"waits for cpu_hotplug_lock (write): {w or ww} is the writer"

    def run(self, x):
        x.acquired("cpu_hotplug_lock", "w")
        i = LOCK_INDEX["cpu_hotplug_lock"]
        w, rs, ww = x.locks[i]
        x.set_lock(i, (w, rs, x.name))
        x.note("cpus_write_lock(): writer waiting; new readers now block")
        x.pc += 1


class WriteLockAcquire(Instr):
    owner_holds_off = False

    def __init__(self, fact: str = "k-cpu-c"):
        self.fact = fact

    def text(self, st, t):
        return "cpus_write_lock(): wait for readers to leave"

    def waits(self, m, st, t):
        return bool(st.locks[_HOTPLUG][1])

    def blocked(self, m, st, t):
        rs = st.locks[_HOTPLUG][1]
        return f"waits for cpu_hotplug_lock (write): readers {', '.join(rs)} hold it" if rs else None

    def run(self, x):
        i = LOCK_INDEX["cpu_hotplug_lock"]
        w, rs, ww = x.locks[i]
        x.set_lock(i, (x.name, rs, None))
        x.note("cpus_write_lock(): acquired; no CPU can be read-locked now")
        x.pc += 1


class WriteUnlock(Instr):
    def __init__(self, fact: str = "k-cpu-c"):
        self.fact = fact

    def text(self, st, t):
        return "cpus_write_unlock()"

    def run(self, x):
        i = LOCK_INDEX["cpu_hotplug_lock"]
        w, rs, ww = x.locks[i]
        x.set_lock(i, (None, rs, ww))
        x.note("cpus_write_unlock()")
        x.pc += 1


# --- cross-CPU calls ---------------------------------------------------------------------------------------
class OnEachCpu(Instr):
    """on_each_cpu(fn, NULL, 1), first half (k-smp-c): send IPIs to every other CPU in cpu_online_mask, then
    run ``fn`` here with IRQs saved and preemption disabled. :class:`OnEachCpuWait` follows."""

    def __init__(self, callee: str, fact: str = "k-smp-c"):
        self.callee, self.fact = callee, fact

    def text(self, st, t):
        return f"on_each_cpu({self.callee})"

    def run(self, x):
        me = x.cpu
        targets = [c for c, cs in enumerate(x.cpus) if cs.hp in IN_ONLINE_MASK and c != me]
        x.send_ipis([(c, self.callee, x.name) for c in targets])
        if not x.quiet:
            x.note(f"on_each_cpu({self.callee}): IPIs to {_cpus(targets)}; runs it here with IRQs off")
        x.adjust(irqs=1, preempt=1)
        x.call(self.callee)


class OnEachCpuLocalDone(Instr):
    """on_each_cpu(): the local call returned; IRQs back on (csd_lock_wait() spins with IRQs enabled)."""

    local = True
    pure = True

    def run(self, x):
        x.adjust(irqs=-1)
        x.pc += 1


def on_each_cpu(callee: str, fact: str = "k-smp-c") -> list:
    """``on_each_cpu(callee, NULL, 1)`` as instructions: IPIs + local call, IRQs back on, wait."""
    return [OnEachCpu(callee, fact), OnEachCpuLocalDone(), OnEachCpuWait(fact)]


class OnEachCpuWait(Instr):
    """on_each_cpu(), last part: wait (preemption off) until every IPI handler ran."""

    def __init__(self, fact: str = "k-smp-c"):
        self.fact = fact

    def text(self, st, t):
        return "on_each_cpu(): wait for the IPI handlers"

    def waits(self, m, st, t):
        name = t[0]
        for ipi in st.ipis:  # an IPI it sent is still pending
            if ipi[2] == name:
                return True
        for u in st.threads:  # or one of its handlers still runs
            if u[7] == name and u[2] == HARDIRQ:
                return True
        return False

    def blocked(self, m, st, t):
        left = [c for c, _, s in st.ipis if s == t.name]
        running = [u.cpu for u in st.threads if u.kind == HARDIRQ and u.parent == t.name]
        if left or running:
            return f"waits for IPI handlers on {_cpus(sorted(left + running))}"
        return None

    def run(self, x):
        x.adjust(preempt=-1)
        x.note("on_each_cpu(): every handler has run")
        x.pc += 1


class SpawnOn(Instr):
    """Run ``callee`` in another context on CPU ``cpu(x)`` and wait for it (:class:`WaitChild` follows):
    smp_call_on_cpu() (a kworker: task context, k-tdx-c-618) or a cpuhp callback (the CPU's hotplug thread)."""

    # ``cpu(state_or_exec, thread)`` picks the target CPU from the caller's frame locals.
    def __init__(self, api: str, kind: str, cpu: Callable, callee: str | Callable, fact: str = "",
                 require_online: bool = False):
        self.api, self.kind, self.cpu, self.callee, self.fact = api, kind, cpu, callee, fact
        self.require_online = require_online

    def text(self, st, t):
        return f"{self.api}()"

    def blocked(self, m, st, t):
        name = ("kworker/" if self.kind == "task" else "cpuhp/") + str(self.cpu(st, t))
        if st.thread(name) is not None:
            return f"waits for {name}, busy with other work"
        return None

    def run(self, x):
        cpu = self.cpu(x, x.t)
        callee = self.callee(x) if callable(self.callee) else self.callee
        x.pc += 1
        if self.require_online and x.cpus[cpu].hp not in IN_ONLINE_MASK:
            x.set_ret(E("ENXIO"))  # dec-smp-call-on-cpu-offline: the target went offline
            x.note(f"{self.api}(CPU{cpu}, {callee}): CPU{cpu} is offline: -ENXIO")
            return
        name = ("kworker/" if self.kind == "task" else "cpuhp/") + str(cpu)
        x.spawn(name, cpu, self.kind, callee, parent=x.name)
        if not x.quiet:
            x.note(f"{self.api}(CPU{cpu}, {callee}): runs in {name} and waits")


class WaitChild(Instr):
    def __init__(self, fact: str = ""):
        self.fact = fact

    def text(self, st, t):
        return "wait for the work to finish"

    def blocked(self, m, st, t):
        kids = [u.name for u in st.threads if u.parent == t.name and u.kind != HARDIRQ]
        return f"waits for {', '.join(kids)} to finish" if kids else None

    def run(self, x):
        if not x.quiet:
            x.note(f"returned {errno_name(x.retval)}")
        x.pc += 1


def _cpus(cs) -> str:
    return ", ".join(f"CPU{c}" for c in cs) or "no other CPU"
