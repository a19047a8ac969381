"""The design language: kernel functions written as Python functions that read beside the kernel's C.

A design writes each kernel function once, as a plain Python function decorated with :func:`kfunc`, with
the kernel's name, its statements in the kernel's order, named locals, ``if``/``return``/``goto`` and the
kernel's primitives by their kernel names::

    @kfunc("k-tdx-c-618")
    def tdx_cpu_enable():
        lockdep_assert_irqs_disabled()
        if this_cpu_read(tdx_lp_initialized):
            return 0
        ret = try_init_module_global()
        if ret:
            return ret
        ret = seamcall_prerr(TDH_SYS_LP_INIT)           # m-sys-lp-init, lore-tglx-2022-11-22b
        if ret:
            return ret
        this_cpu_write(tdx_lp_initialized, True)
        return 0

The function is never called: its source is parsed (``ast``) and compiled into the instruction lists of
:mod:`tdxlab.kernel.lang` that the machine runs (:func:`compile_design`). So this readable text is the
model's semantics, and the engine the checker runs is derived from it.

**The atomicity rule.** Every statement is one step of its context, *unless it touches nothing another
context can see*; the compiler decides which from what the statement touches, never from a flag:

1. *Local* (merged into the neighbouring step): a statement that reads and writes only the context's own
   locals and registers: assignments between locals, ``if`` on locals or a return value, ``return``,
   ``goto``, a call of a kernel function (entering it; what the callee does is its own statements),
   ``pr_*()`` messages, and the kernel's own checks (``lockdep_assert_*()``, ``WARN_ON_ONCE()``), which
   change neither the state nor the path and are evaluated in the state of the step they merge into.
2. *Per-CPU*: a statement that touches only the running CPU's per-CPU data (``this_cpu_read/write``,
   CR4 via ``cr4_read_shadow()``, VMXON/VMXOFF): a step of its own, except while the context owns its CPU
   (it runs in hardirq context, or with IRQs or preemption off), when no other context can see it: then
   it is local.
3. *Guarded*: a global a design declares ``guarded_by`` a lock is local to read, and to write when no
   property observes it, where the function holds that lock (it took it earlier on every path) -
   provided every access in the whole design holds it; otherwise the guard is not trusted and every
   access to that global is a step. A global a property observes (``tdx_module_status``, the KeyIDs in
   use, ``kvm_usage_count``) is always a step to write.
4. Everything else is a step: any other read or write of a global or of ``cpu_online_mask``, a lock
   taken or released, a SEAMCALL, an IRQ flip (``local_irq_save/restore``), sending IPIs
   (``on_each_cpu()``), handing work to another CPU (``smp_call_on_cpu()``) and waiting for it.

A statement with several such parts (``sysinit_ret = seamcall_prerr(TDH_SYS_INIT)``) is one step. An
``atomic_t`` local passed to ``on_each_cpu(fn, err, 1)`` is written by the handlers (each write a step)
and read by the caller after ``on_each_cpu()`` returned, when every writer has finished: a local read.

Locals that are dead (never read again on any path) are forgotten before each step, so two states differ
only in what the rest of the run can observe.

What the language accepts is listed in docs/authoring.md; anything else is a :class:`DesignError`
naming the file and line.
"""
from __future__ import annotations

import ast
import errno as _errno
import inspect
import io
import linecache
import textwrap
import tokenize
from dataclasses import dataclass, field
from typing import Callable

from tdxlab import facts as _facts
from tdxlab import module as M
from tdxlab.errors import BadInput
from tdxlab.kernel import cpuhp as CPUHP
from tdxlab.kernel.lang import (AssertCpusHeld, AssertIrqsDisabled, Call, Do, E, errno_name, Goto, If, Instr, KFunc, Label,
                                LocalIrqRestore, LocalIrqSave, Lock, Ret, SpawnOn, Unlock, WaitChild,
                                on_each_cpu as _on_each_cpu)
from tdxlab.kernel.ops import Seamcall, Vmxoff, Vmxon
from tdxlab.kernel.state import ERROR, INITIALIZED, LOCK_KIND, TASK, UNINITIALIZED
from tdxlab.platform import IN_ONLINE_MASK


class DesignError(BadInput):
    """A kernel function the language cannot compile: one line naming the file, the line and why."""


# --- what a design writes with -------------------------------------------------------------------------
@dataclass
class KernelSource:
    """A kernel function as written: its name, fact, parsed body and where it came from."""

    name: str
    fact: str
    tree: ast.FunctionDef
    filename: str
    firstline: int  # the line of ``def`` in the file
    comments: dict = field(default_factory=dict)  # line in the file -> comment text

    def where(self, node=None) -> str:
        line = self.firstline + (node.lineno - 1 if node is not None and hasattr(node, "lineno") else 0)
        return f"{self.filename}:{line}"

    @property
    def params(self) -> list[str]:
        return [a.arg for a in self.tree.args.args]

    def with_body(self, body: list) -> "KernelSource":
        tree = ast.FunctionDef(name=self.tree.name, args=self.tree.args, body=body, decorator_list=[],
                               returns=None, type_comment=None, lineno=self.tree.lineno, col_offset=0)
        return KernelSource(self.name, self.fact, tree, self.filename, self.firstline, self.comments)

    def text(self) -> str:
        """The function as Python source (without its decorator), normalised: what patches compare."""
        return ast.unparse(self.tree)

    def source_text(self) -> str:
        """The function as its author wrote it, comments and all (the normalised text when it was made
        by a patch, or its file is gone)."""
        end = max((getattr(n, "end_lineno", 0) or 0) for n in ast.walk(self.tree))
        lines = [linecache.getline(self.filename, self.firstline + k) for k in range(end)]
        if not all(lines) or not lines[0].lstrip().startswith("def "):
            return self.text()
        text = textwrap.dedent("".join(lines)).rstrip() + "\n"
        try:  # a patched function (a mutation, design_over) keeps its file's lines: show what runs
            same = ast.unparse(ast.parse(text).body[0]) == self.text()
        except SyntaxError:
            same = False
        return text if same else self.text()


def kfunc(fact: str = "", name: str | None = None):
    """Decorate a Python function that models a kernel function: ``@kfunc("k-tdx-c-618")``. Returns a
    :class:`KernelSource` (the function is never called; its source is compiled)."""
    def deco(fn):
        return source_of(fn, fact, name)
    if callable(fact):  # @kfunc without arguments
        fn, fact = fact, ""
        return deco(fn)
    return deco


def source_of(fn: Callable, fact: str = "", name: str | None = None) -> KernelSource:
    """Parse ``fn``'s source (a file or a notebook cell) into a :class:`KernelSource`."""
    try:
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError) as e:
        raise DesignError(f"cannot read the source of {getattr(fn, '__name__', fn)!r}: {e}") from None
    filename = inspect.getsourcefile(fn) or "<design>"
    text = textwrap.dedent("".join(lines))
    try:
        mod = ast.parse(text)
    except SyntaxError as e:
        raise DesignError(f"{filename}:{first + (e.lineno or 1) - 1}: {e.msg}") from None
    tree = next(n for n in mod.body if isinstance(n, ast.FunctionDef))
    comments = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string[1:].strip()
    except tokenize.TokenError:
        pass
    # line numbers relative to ``def``: the decorator lines come first
    off = tree.lineno - 1
    comments = {k - off: v for k, v in comments.items()}
    src = KernelSource(name or tree.name, fact, tree, filename, first + off, comments)
    for node in ast.walk(tree):  # relative to the def line
        if hasattr(node, "lineno"):
            node.lineno -= off
    tree.decorator_list = []
    return src


def parse_statements(text: str, where: str = "<patch>") -> list:
    """Statements from source text (a patch's replacement)."""
    try:
        return ast.parse(textwrap.dedent(text)).body
    except SyntaxError as e:
        raise DesignError(f"{where}: {e.msg}: {text.strip()!r}") from None


# --- what the language knows: kernel names --------------------------------------------------------------
ERRNO = {n: getattr(_errno, n) for n in ("EBUSY", "EINVAL", "EIO", "ENODEV", "ENXIO", "EPERM", "EACCES",
                                         "ENOMEM", "EAGAIN")}
LEAVES = {"TDH_SYS_SHUTDOWN": M.SYS_SHUTDOWN_LEAF, "TDH_SYS_UPDATE": M.SYS_UPDATE,
          "P_SEAMLDR_INSTALL": M.SEAMLDR_INSTALL,  # the runtime update (tdxlab.kernel.update)
          "TDH_SYS_INIT": M.SYS_INIT, "TDH_SYS_LP_INIT": M.LP_INIT, "TDH_SYS_RD": M.SYS_RD,
          "TDH_SYS_CONFIG": M.SYS_CONFIG, "TDH_SYS_KEY_CONFIG": M.KEY_CONFIG, "TDH_SYS_TDMR_INIT": M.TDMR_INIT}
CONSTANTS = {**ERRNO, "NULL": None, "true": True, "false": False,
             "TDX_MODULE_UNINITIALIZED": UNINITIALIZED, "TDX_MODULE_INITIALIZED": INITIALIZED,
             "TDX_MODULE_ERROR": ERROR, "X86_FEATURE_VMX": "X86_FEATURE_VMX", "X86_CR4_VMXE": 1 << 13,
             "CPUHP_AP_ONLINE_DYN": None, "CPUHP_AP_KVM_ONLINE": CPUHP.KVM_STATIC_ORDER}
# The teardown chapter (tdxlab.kernel.teardown): TDH.SYS.DISABLE, the statuses tdx_sys_disable() compares
# (the kernel's seamcall() returns the status itself), and its primitives (compiled by _teardown_call()).
LEAVES["TDH_SYS_DISABLE"] = M.SYS_DISABLE
CONSTANTS.update({n: _facts.status_value(n) for n in ("TDX_SUCCESS", "TDX_INTERRUPTED_RESUMABLE", "TDX_SYS_BUSY",
                                                      "TDX_SW_ERROR")})
TEARDOWN_PRIMITIVES = frozenset({"preempt_disable", "preempt_enable", "lockdep_assert_preemption_disabled", "wbinvd",
                                 "local_irq_disable", "register_syscore", "machine_kexec", "crash_smp_send_stop"})
# VMXON and VMXOFF by the kernel function that does them (refcounted: 7.1's x86_virt_{get,put}_ref())
VMXON = {"cpu_vmxon", "vmx_hardware_enable", "kvm_arch_hardware_enable", "kvm_arch_enable_virtualization_cpu",
         "x86_virt_get_ref"}
VMXOFF = {"cpu_vmxoff", "vmx_hardware_disable", "kvm_arch_hardware_disable",
          "kvm_arch_disable_virtualization_cpu", "x86_virt_put_ref"}
LOCK_API = {"mutex_lock": ("mutex", "x", True), "mutex_unlock": ("mutex", "x", False),
            "raw_spin_lock": ("raw-spinlock", "x", True), "raw_spin_unlock": ("raw-spinlock", "x", False),
            "spin_lock": ("spinlock", "x", True), "spin_unlock": ("spinlock", "x", False),
            "cpus_read_lock": ("percpu-rwsem", "r", True), "cpus_read_unlock": ("percpu-rwsem", "r", False)}
PER_CPU = {"tdx_lp_initialized": "lp_flag"}  # per-CPU variables: the CpuState field
ASSERTS = {"lockdep_assert_irqs_disabled", "lockdep_assert_cpus_held"}
MESSAGES = {"pr_err", "pr_info", "pr_warn", "pr_warn_ratelimited", "pr_debug"}
SETUP = {"cpuhp_setup_state": False, "cpuhp_setup_state_cpuslocked": True}
REMOVE = {"cpuhp_remove_state": False, "cpuhp_remove_state_cpuslocked": True,
          "cpuhp_remove_state_nocalls": False, "cpuhp_remove_state_nocalls_cpuslocked": True}
OBSERVED = frozenset({"tdx_module_status", "keyids_in_use", "kvm_usage_count", "cpuhp_states", "init_done",
                      "init_ret"})  # Kern fields the properties and events read


@dataclass(frozen=True)
class Global:
    """A kernel global: its initial value and the lock that guards it (``None``: unguarded), as a design
    declares it (``Design.globals = {"tdx_cpuhp_state": Global(0, guarded_by="cpu_hotplug_lock")}``).
    The TDX core's own globals live in fields of :class:`tdxlab.kernel.state.Kern` (``field``), which
    the properties read; ``as_bool``: the kernel's bool over the field's status value (7.1's
    ``tdx_module_initialized`` over ``tdx_module_status``)."""

    init: object = 0
    guarded_by: str | None = None
    field: str | None = None
    as_bool: bool = False


# The globals the shipped designs use (a design may declare more or override these: Design.globals).
GLOBALS = {
    "sysinit_done": Global(False, "sysinit_lock", "sysinit_done"),
    "sysinit_ret": Global(0, "sysinit_lock", "sysinit_ret"),
    "tdx_module_status": Global(UNINITIALIZED, "tdx_module_lock", "tdx_module_status"),
    "tdx_module_initialized": Global(False, None, "tdx_module_status", as_bool=True),
    "nr_configured_hkid": Global(0, None, "keyids_in_use"),  # 6.16 KVM: an atomic_t count of HKIDs in use
    "tdx_guest_keyid_pool": Global(None, None, "keyids_in_use"),  # 7.1: the guest KeyIDs' IDA (ida_is_empty())
    "kvm_usage_count": Global(0, None, "kvm_usage_count"),
}


def design_globals(design) -> tuple[dict, dict]:
    """The design's globals by name (the TDX core's and its own), and its own ones' index in
    ``Kern.vars``."""
    out = dict(GLOBALS)
    index = {}
    for name, g in getattr(design, "globals", {}).items():
        if not isinstance(g, Global):
            g = Global(g)
        if g.field is None and name in GLOBALS:  # the TDX core's global, with the design's guard
            g = Global(GLOBALS[name].init if g.init == 0 else g.init, g.guarded_by, GLOBALS[name].field,
                       GLOBALS[name].as_bool)
        if g.field is None:
            index[name] = len(index)
        out[name] = g
    return out, index


def design_percpu(design) -> dict:
    """The design's own per-CPU variables: name -> (index in ``CpuState.vars``, initial value)."""
    return {name: (i, init) for i, (name, init) in enumerate(getattr(design, "percpu", {}).items())}


# --- compiling one function ------------------------------------------------------------------------------
class _Kill(Instr):
    """Forget the locals that are dead here (local; inserted by the compiler before each step)."""

    local = True
    pure = True

    def __init__(self, keep: tuple[int, ...]):
        self.keep = keep

    def text(self, st, t):
        return "(forget the locals no later statement reads)"

    def run(self, x):
        loc = x.loc
        if loc is not None:
            keep = self.keep
            new = tuple([v if i in keep else None for i, v in enumerate(loc)])
            x.loc = None if new.count(None) == len(new) else new
        x.pc += 1


def _registers_only(code: str) -> bool:
    """Does the compiled expression ``code`` (Python over the Exec ``x``) read nothing but the running
    context's registers (``x.loc``, ``x.retval``, ``x.cpu``), this CPU's per-CPU data (``x.cpus[x.cpu]``)
    and the machine's constants (``x.m``)? Then an instruction made of it may be
    :attr:`tdxlab.kernel.lang.Instr.pure`. Stricter than the atomicity rule, which also calls local what
    no other context can change at that point (the caller's atomic_t after on_each_cpu() returned, a
    global guarded by a lock it holds)."""
    tree = ast.parse(code, mode="eval")
    parent = {id(c): p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "x":
            up = parent.get(id(node))
            if not isinstance(up, ast.Attribute):
                return False  # x passed whole to a helper
            if up.attr in ("loc", "retval", "cpu", "m"):
                continue
            sub = parent.get(id(up))
            if not (up.attr == "cpus" and isinstance(sub, ast.Subscript) and sub.value is up
                    and ast.unparse(sub.slice) == "x.cpu"):
                return False
    return True


def _set_slot(i: int, n: int):
    def put(x, v):
        loc = x.loc
        if loc is None:
            loc = (None,) * n
        x.loc = loc[:i] + (v,) + loc[i + 1:]
    return put


class _Fn:
    """Compiles one :class:`KernelSource` into a :class:`KFunc` for a design (``env``)."""

    def __init__(self, src: KernelSource, env: "_Env", alias: frozenset = frozenset()):
        self.src, self.env = src, env
        self.alias = alias  # locals that are always the last call's return value: read as x.retval
        self.items: list = []  # Instr and Label, in order
        self.slots: dict[str, int] = {}
        self.atomics: set[str] = set()  # locals that are atomic_t passed to on_each_cpu (and params)
        self.n_labels = 0
        self.loops: list[tuple[str, str]] = []  # (continue label, break label)
        params = src.params
        for p in params:
            if p != "cpu" and _read_by_value(src.tree, p):
                self.slots[p] = len(self.slots)  # a parameter passed by value: the caller's argument
            elif p != "cpu":
                self.atomics.add(p)  # an on_each_cpu() handler's info pointer: the caller's atomic_t
        for node in ast.walk(src.tree):  # named locals: every name assigned in the function
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AugAssign):
                targets = [node.target]
            elif isinstance(node, ast.For):
                targets = [node.target]
            for t in targets:
                if isinstance(t, ast.Name) and t.id not in env.globals and t.id not in self.atomics:
                    if isinstance(node, ast.Assign) and _is_call(node.value, "ATOMIC_INIT"):
                        self.atomics.add(t.id)
                    elif t.id not in self.slots and t.id not in alias:
                        self.slots[t.id] = len(self.slots)
                    if isinstance(node, ast.For):
                        self.slots[f"{t.id}#iter"] = len(self.slots)

    # --- errors and labels ---
    def error(self, node, msg: str):
        raise DesignError(f"{self.src.where(node)}: {self.src.name}(): {msg}")

    def label(self, hint: str) -> str:
        self.n_labels += 1
        return f"{hint}#{self.n_labels}"

    def fact(self, node) -> str:
        """The sources a statement's trailing comment cites (``# k-tdx-c-618, m-sys-lp-init``), if any."""
        return _split_comment(self.src.comments.get(getattr(node, "lineno", -1), ""))[1]

    def emit(self, ins, node=None, uses=(), defs=(), guard=None):
        """Add an instruction; ``guard``: (global, write) it touches, for the guard analysis."""
        ins._uses, ins._defs = frozenset(uses), frozenset(defs)
        ins._guard = guard
        ins._line = self.src.firstline + node.lineno - 1 if node is not None and hasattr(node, "lineno") else 0
        if isinstance(node, ast.stmt):  # the statement it belongs to, for coverage (tdxlab.check.coverage)
            ins._stmt = (ins._line, ast.unparse(node).splitlines()[0])
        if node is not None and not ins.fact:
            ins.fact = self.fact(node)
        self.items.append(ins)
        return ins

    # --- expressions: Python source over the Exec ``x`` ---
    def expr(self, node, reads: set, uses: set) -> str:
        """Python source of ``node`` evaluated on an Exec ``x``. ``reads`` collects what it touches:
        ("global", name), ("percpu",), ("shared",); ``uses`` the local slots it reads."""
        env = self.env
        if isinstance(node, ast.Constant):
            return repr(node.value)
        if isinstance(node, ast.Name):
            n = node.id
            if n in self.alias:
                return "x.retval"
            if n in self.slots:
                uses.add(self.slots[n])
                return f"x.loc[{self.slots[n]}]"
            if n == "cpu" and "cpu" in self.src.params:
                return "x.cpu"
            if n in env.globals:
                reads.add(("global", n))
                return env.global_read(n)
            if n in env.consts:
                return repr(env.consts[n])
            if n in CONSTANTS:
                return repr(CONSTANTS[n])
            if n in LEAVES:
                return repr(LEAVES[n])
            if n == "nr_cpu_ids":  # (the runtime update's for_each_possible_cpu())
                return "x.m.topology.ncpus"
            self.error(node, f"unknown name {n!r} (not a local, a global of the design, a constant or an "
                             f"option)")
        if isinstance(node, ast.UnaryOp):
            op = {ast.Not: "not ", ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}[type(node.op)]
            return f"({op}{self.expr(node.operand, reads, uses)})"
        if isinstance(node, ast.BoolOp):
            op = " and " if isinstance(node.op, ast.And) else " or "
            return "(" + op.join(self.expr(v, reads, uses) for v in node.values) + ")"
        if isinstance(node, ast.BinOp):
            return f"({self.expr(node.left, reads, uses)} {_BINOP[type(node.op)]} " \
                   f"{self.expr(node.right, reads, uses)})"
        if isinstance(node, ast.Compare):
            parts = [self.expr(node.left, reads, uses)]
            for op, c in zip(node.ops, node.comparators):
                parts += [_CMPOP[type(op)], self.expr(c, reads, uses)]
            return "(" + " ".join(parts) + ")"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            f, args = node.func.id, node.args
            if f in ("this_cpu_read", "__this_cpu_read") and len(args) == 1 and isinstance(args[0], ast.Name):
                v = args[0].id
                if v in PER_CPU:
                    reads.add(("percpu",))
                    return f"x.cpus[x.cpu].{PER_CPU[v]}"
                if v in env.percpu:
                    reads.add(("percpu",))
                    return f"x.cpus[x.cpu].vars[{env.percpu[v][0]}]"
                self.error(node, f"{v} is not a per-CPU variable (declare it in the design's percpu)")
            if f == "cpumask_test_cpu":  # this CPU's bit of a design's cpumask (declared in its percpu)
                v = _cpumask_arg(self, node, args)
                reads.add(("percpu",))
                return f"bool(x.cpus[x.cpu].vars[{env.percpu[v][0]}])"
            if f == "per_cpu" and len(args) == 2 and isinstance(args[0], ast.Name):
                v = args[0].id  # another CPU's copy: shared state
                reads.add(("shared",))
                c = self.expr(args[1], reads, uses)
                if v in PER_CPU:
                    return f"x.cpus[{c}].{PER_CPU[v]}"
                if v in env.percpu:
                    return f"x.cpus[{c}].vars[{env.percpu[v][0]}]"
                self.error(node, f"{v} is not a per-CPU variable (declare it in the design's percpu)")
            if f == "cr4_read_shadow" and not args:
                reads.add(("percpu",))
                return f"({CONSTANTS['X86_CR4_VMXE']} if x.cpus[x.cpu].vmx else 0)"
            if f == "atomic_read" and len(args) == 1 and isinstance(args[0], ast.Name):
                n = args[0].id
                if n in self.atomics:  # the caller's own atomic_t, after on_each_cpu() returned
                    return "x.kern.on_each_cpu_err"
                if n in env.globals:
                    reads.add(("global", n))
                    return env.global_read(n)
            if f == "ida_is_empty" and len(args) == 1 and isinstance(args[0], ast.Name) \
                    and args[0].id in env.globals:
                reads.add(("global", args[0].id))
                return f"(not {env.global_read(args[0].id)})"
            if f == "topology_max_packages" and not args:
                return "x.m.topology.packages"
            if f == "first_online_cpu_of_package" and len(args) == 1:
                reads.add(("shared",))
                return f"_first_online({self.expr(args[0], reads, uses)}, x)"
            if f == "other_online_cpu_in_package" and len(args) == 1:
                reads.add(("shared",))
                return f"_other_online({self.expr(args[0], reads, uses)}, x)"
            if f in self.env.consts and callable(self.env.consts[f]):
                self.error(node, f"{f}() is not a kernel function here")
        got = _update_expr(self, node, reads, uses)  # the runtime update's primitives (below)
        if got is not None:
            return got
        self.error(node, f"this expression is not in the language: {ast.unparse(node)!r}")

    def lam(self, body: str, extra: dict | None = None):
        g = {"_first_online": _first_online, "_other_online": _other_online, **(extra or {})}
        return eval(f"lambda x: {body}", g)  # noqa: S307 - the design's own expression, compiled once

    def classify(self, reads: set) -> tuple[bool, bool, tuple | None]:
        """(local, percpu, guard) for an instruction that reads ``reads``."""
        globs = [r[1] for r in reads if r[0] == "global"]
        if ("shared",) in reads or len(globs) > 1:
            return False, False, None
        if globs:
            return False, False, (globs[0], False)  # local if its guard is held (see _guards)
        if ("percpu",) in reads:
            return False, True, None
        return True, False, None

    # --- statements ---
    def body(self, stmts: list) -> None:
        for i, s in enumerate(stmts):
            if i == 0 and isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) \
                    and isinstance(s.value.value, str):
                continue  # a docstring
            self.stmt(s)

    def stmt(self, s) -> None:
        env = self.env
        if isinstance(s, ast.Pass):
            return
        if isinstance(s, ast.Return):
            if s.value is None:
                self.emit(Ret(), s)
                return
            reads, uses = set(), set()
            code = self.expr(s.value, reads, uses)
            if reads:
                self.error(s, "return a local or a constant (read the global into a local first)")
            if isinstance(s.value, ast.Constant) and s.value.value is not None:
                r = _Return(s.value.value)
            elif isinstance(s.value, ast.Name) and s.value.id in self.alias:
                r = _Return(None)  # the return value register as it is
            else:
                r = _Return(self.lam(code))
                r.pure = _registers_only(code)
            r.src = ast.unparse(s)
            self.emit(r, s, uses=uses)
            return
        if isinstance(s, ast.If):
            self.if_(s)
            return
        if isinstance(s, ast.For):
            self.for_(s)
            return
        if isinstance(s, (ast.Break, ast.Continue)):
            if not self.loops:
                self.error(s, "break or continue outside a loop")
            self.emit(Goto(self.loops[-1][1 if isinstance(s, ast.Break) else 0]), s)
            return
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Attribute) and isinstance(s.value.value, ast.Name):
            kw, name = s.value.value.id, s.value.attr
            if kw == "goto":
                self.emit(Goto(name), s)
                return
            if kw == "label":
                self.items.append(Label(name))
                return
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
            self.call(s.value, s, None)
            return
        if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
            self.assign(s.targets[0].id, s.value, s)
            return
        if isinstance(s, ast.While):  # a spin (while COND: cpu_relax()) or a loop (tdxlab.kernel.update)
            self.while_(s)
            return
        if isinstance(s, (ast.Assign, ast.AugAssign)) and _dotted(s.targets[0] if isinstance(s, ast.Assign)
                                                                  else s.target):
            name = _dotted(s.targets[0] if isinstance(s, ast.Assign) else s.target)  # a struct member global
            value = s.value
            if isinstance(s, ast.AugAssign):
                value = ast.copy_location(ast.BinOp(left=ast.Name(id=name, ctx=ast.Load()), op=s.op,
                                                    right=s.value), s)
            self.assign(name, value, s)
            return
        if isinstance(s, ast.AugAssign) and isinstance(s.target, ast.Name):
            value = ast.BinOp(left=ast.Name(id=s.target.id, ctx=ast.Load()), op=s.op, right=s.value)
            ast.copy_location(value, s)
            self.assign(s.target.id, value, s)
            return
        self.error(s, f"this statement is not in the language: {ast.unparse(s).splitlines()[0]!r}")

    def if_(self, s: ast.If) -> None:
        env = self.env
        const = env.folded(s.test)
        if const is not None:  # IS_ENABLED()-like: a design option, folded at compile time
            self.body(s.body if const else s.orelse)
            return
        reads, uses = set(), set()
        code = self.expr(s.test, reads, uses)
        local, percpu, guard = self.classify(reads)
        src = ast.unparse(s.test)
        els, end = self.label("else"), self.label("endif")
        note = _split_comment(self.src.comments.get(s.lineno, ""))[0]
        quiet = local and guard is None and not note  # a branch on locals: nothing worth saying
        ins = If(self.lam(f"not {code}"), els, text="" if quiet else f"{src}: false", local=local,
                 check=f"!({src})", else_text=note or ("" if quiet else f"{src}: true"), percpu=percpu)
        ins._shown_goto = "past its body"  # the jump is taken when the condition is false
        ins.pure = guard is None and (local or percpu) and _registers_only(code)
        self.emit(ins, s, uses=uses, guard=guard)
        self.body(s.body)
        if s.orelse:
            self.emit(Goto(end))
            self.items.append(Label(els))
            self.body(s.orelse)
            self.items.append(Label(end))
        else:
            self.items.append(Label(els))

    def for_(self, s: ast.For) -> None:
        if not isinstance(s.target, ast.Name) or s.orelse:
            self.error(s, "write loops as: for NAME in EXPRESSION: (no else)")
        reads, uses = set(), set()
        code = self.expr(s.iter.args[0] if _is_call(s.iter, "range") and len(s.iter.args) == 1 else s.iter,
                         reads, uses)
        if not _is_call(s.iter, "range") or reads:
            self.error(s, "loops go over range(N) of locals or constants (for pkg in range(topology_max_packages()))")
        it = self.slots[f"{s.target.id}#iter"]
        n_slots = len(self.slots)
        var = self.slots[s.target.id]
        head, end = self.label("for"), self.label("endfor")
        lazy = _StoreLazy(it, n_slots, self.lam(f"tuple(range({code}))"))
        lazy.pure = _registers_only(code)
        self.emit(lazy, s, uses=uses, defs={it})
        self.items.append(Label(head))
        done = If(lambda x, i=it: not x.loc[i], end)
        done.pure = True
        self.emit(done, s, uses={it})
        self.emit(_Pop(it, var, n_slots), s, uses={it}, defs={it, var})
        self.loops.append((head, end))
        self.body(s.body)
        self.loops.pop()
        self.emit(Goto(head))
        self.items.append(Label(end))

    def assign(self, name: str, value, s) -> None:
        env = self.env
        if name in self.atomics:
            if _is_call(value, "ATOMIC_INIT"):
                return  # the atomic_t starts at 0 (tdxlab.kernel.state.Kern.on_each_cpu_err)
            self.error(s, f"{name} is an atomic_t: use atomic_set({name}, value)")
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and not self._pure(value):
            self.call(value, s, name)
            return
        reads, uses = set(), set()
        code = self.expr(value, reads, uses)
        if name in env.globals:
            self.write_global(name, code, reads, uses, s)
            return
        local, percpu, guard = self.classify(reads)
        put = _set_slot(self.slots[name], len(self.slots))
        f = self.lam(code)
        text = ast.unparse(s) if reads else ""  # an assignment among locals: nothing worth saying
        ins = Do(text, lambda x, f=f, put=put: put(x, f(x)), local=local, percpu=percpu)
        ins.pure = guard is None and (local or percpu) and _registers_only(code)
        self.emit(ins, s, uses=uses, defs={self.slots[name]}, guard=guard)

    def write_global(self, name: str, code: str, reads: set, uses: set, s) -> None:
        env = self.env
        g = env.globals[name]
        if any(r[0] != "global" or r[1] != name for r in reads):
            if reads - {("global", name)}:
                self.error(s, f"a write of {name} reads other shared state: read it into a local first")
        f = self.lam(code)
        eff = env.global_write(name, f)
        observed = g.field in OBSERVED
        ins = Do(ast.unparse(s), eff, local=False)
        self.emit(ins, s, uses=uses, guard=None if observed else (name, True))

    def _pure(self, call: ast.Call) -> bool:
        return isinstance(call.func, ast.Name) and call.func.id in (
            "this_cpu_read", "__this_cpu_read", "per_cpu", "cpumask_test_cpu", "cr4_read_shadow", "atomic_read", "topology_max_packages", "ida_is_empty",
            "first_online_cpu_of_package", "other_online_cpu_in_package", *_UPDATE_PURE)

    def store_ret(self, name: str | None, s) -> None:
        """After a call: ``name = <its return value>`` (local), or a global write."""
        if name is None:
            return
        if name in self.env.globals:
            self.write_global(name, "x.retval", set(), set(), s)
            return
        if name in self.alias:
            return
        i = self.slots[name]
        put = _set_slot(i, len(self.slots))
        st = _Store("", lambda x, put=put: put(x, x.retval), local=True)
        st.name, st.pure = name, True
        self.emit(st, s, defs={i})

    def call(self, c: ast.Call, s, target: str | None) -> None:
        env = self.env
        if not isinstance(c.func, ast.Name):
            self.error(s, f"call kernel functions by name: {ast.unparse(c)!r}")
        f, args = c.func.id, c.args
        fact = self.fact(s)
        if f in TEARDOWN_PRIMITIVES or f == "lockdep_assert_irqs_disabled" and "cache_state_incoherent" in env.percpu:
            return _teardown_call(self, f, args, s, target, fact)
        if f in LOCK_API:
            kind, mode, take = LOCK_API[f]
            if kind == "percpu-rwsem":
                lock = "cpu_hotplug_lock"
                if args:
                    self.error(s, f"{f}() takes no argument")
            else:
                if len(args) != 1 or not (isinstance(args[0], ast.Name) or _dotted(args[0])):
                    self.error(s, f"{f}(LOCK): name the lock")
                lock = _dotted(args[0]) or args[0].id  # (update_ctrl.lock: a struct's member)
                if lock not in env.locks:
                    self.error(s, f"unknown lock {lock!r}: the design declares {', '.join(env.locks)}")
                if env.locks[lock] != kind:
                    self.error(s, f"{f}() on {lock}, which is a {env.locks[lock]}")
            self.emit((Lock if take else Unlock)(lock, mode, fact), s)
            return self._noresult(target, s, f)
        if f in ("local_irq_save", "local_irq_restore"):
            self.emit((LocalIrqSave if f == "local_irq_save" else LocalIrqRestore)(fact or "k-smp-c"), s)
            return self._noresult(target, s, f)
        if f == "lockdep_assert_irqs_disabled":
            self.emit(AssertIrqsDisabled(fact or "k-tdx-c-618"), s)
            return self._noresult(target, s, f)
        if f == "lockdep_assert_cpus_held":
            self.emit(AssertCpusHeld(fact or "k-tdx-c-618"), s)
            return self._noresult(target, s, f)
        if f == "WARN_ON_ONCE" and len(args) == 1:
            reads, uses = set(), set()
            code = self.expr(args[0], reads, uses)
            cond = self.lam(code)
            text = ast.unparse(s)
            self.emit(_Warn(cond, text, fact), s, uses=uses)
            return self._noresult(target, s, f)
        if f in MESSAGES:
            msg = args[0].value if args and isinstance(args[0], ast.Constant) else ast.unparse(args[0]) if args else ""
            pr = Do("", lambda x, m=f"{f}(): {msg}": x.note(m), local=True)
            pr.pure = True  # (words only)
            self.emit(pr, s)
            return
        if f in ("this_cpu_write", "__this_cpu_write"):
            known = [*PER_CPU, *env.percpu]
            if len(args) != 2 or not isinstance(args[0], ast.Name) or args[0].id not in known:
                self.error(s, f"this_cpu_write(VAR, value): VAR is a per-CPU variable ({', '.join(known)})")
            reads, uses = set(), set()
            code = self.expr(args[1], reads, uses)
            if reads:
                self.error(s, "this_cpu_write(): write a local or a constant")
            v = self.lam(code)
            name = args[0].id
            if name in PER_CPU:
                fld = PER_CPU[name]
                eff = lambda x, fld=fld, v=v: x.set_percpu(x.cpu, fld, v(x))  # noqa: E731
            else:
                i = env.percpu[name][0]
                eff = lambda x, i=i, v=v: x.set_percpu(x.cpu, i, v(x))  # noqa: E731
            w = Do(ast.unparse(s), eff, percpu=True)
            w.pure = _registers_only(code)  # (this CPU's per-CPU data, from locals or constants)
            self.emit(w, s, uses=uses)
            return
        if f == "cpumask_set_cpu":  # set this CPU's bit of a design's cpumask: a per-CPU write
            i = env.percpu[_cpumask_arg(self, s, args)][0]
            w = Do(ast.unparse(s), lambda x, i=i: x.set_percpu(x.cpu, i, True), percpu=True)
            w.pure = True
            self.emit(w, s)
            return self._noresult(target, s, f)
        if f == "atomic_set":
            if len(args) != 2 or not isinstance(args[0], ast.Name) or args[0].id not in self.atomics:
                self.error(s, "atomic_set(err, value): err is an atomic_t")
            reads, uses = set(), set()
            v = self.lam(self.expr(args[1], reads, uses))
            self.emit(Do(ast.unparse(s), lambda x, v=v: x.set_kern(on_each_cpu_err=v(x))), s, uses=uses)
            return
        if f in ("seamcall", "seamcall_prerr"):
            if not args or not isinstance(args[0], ast.Name) or args[0].id not in LEAVES:
                self.error(s, f"{f}(LEAF): LEAF is one of {', '.join(LEAVES)}")
            leaf = LEAVES[args[0].id]
            if target is not None and target in env.globals:  # one step: the SEAMCALL and the store
                self.emit(Seamcall(leaf, fact or "m-dispatcher", then=env.global_store(target),
                                   raw=f == "seamcall"), s)
                return
            self.emit(Seamcall(leaf, fact or "m-dispatcher", raw=f == "seamcall"), s)
            return self.store_ret(target, s)
        if f in VMXON or f in VMXOFF:
            refc = f.startswith("x86_virt_")
            if refc and not (len(args) == 1 and isinstance(args[0], ast.Name) and args[0].id == "X86_FEATURE_VMX"):
                self.error(s, f"{f}(X86_FEATURE_VMX)")
            cls = Vmxon if f in VMXON else Vmxoff
            self.emit(cls(f, refcounted=refc, fact=fact or "k-hw-c"), s)
            if cls is Vmxoff:
                return self._noresult(target, s, f)
            return self.store_ret(target, s)
        if f == "on_each_cpu":
            if len(args) != 3 or not isinstance(args[0], ast.Name):
                self.error(s, "on_each_cpu(func, info, wait)")
            callee = env.function_name(args[0].id, self, s)
            wait = args[2]
            if not (isinstance(wait, ast.Constant) and wait.value in (1, True)):
                self.error(s, "on_each_cpu(func, info, 1): the model waits for the handlers")
            for ins in _on_each_cpu(callee, fact or "k-smp-c"):
                self.emit(ins, s)
            return self._noresult(target, s, f)
        if f == "smp_call_on_cpu":
            if len(args) < 2 or not isinstance(args[1], ast.Name):
                self.error(s, "smp_call_on_cpu(cpu, func, NULL, true)")
            reads, uses = set(), set()
            code = self.expr(args[0], reads, uses)
            if reads:
                self.error(s, "smp_call_on_cpu(): pass the CPU in a local")
            callee = env.function_name(args[1].id, self, s)
            i = self.slots.get(args[0].id) if isinstance(args[0], ast.Name) else None
            if i is None:
                self.error(s, "smp_call_on_cpu(): pass the CPU in a local")
            self.emit(CPUHP.SmpCallOnCpu("smp_call_on_cpu", TASK, lambda st, t, i=i: t[3][-1][2][i], callee, fact or "k-tdx-c-618",
                              require_online=True), s, uses=uses)
            self.emit(WaitChild(fact or "k-tdx-c-618"), s)
            return self.store_ret(target, s)
        if f in SETUP or f in REMOVE:
            kf = env.cpuhp_call(f, args, self, s)
            self.emit(Call(kf), s)
            return self.store_ret(target, s)
        if f in env.sources or f in env.builtin:
            if args and not (f in env.sources and len(env.sources[f].params) == len(args)):
                self.error(s, f"{f}(): the model's kernel functions take no arguments here")
            if args and any(_read_by_value(env.sources[f].tree, p) for p in env.sources[f].params):
                _call_by_value(self, f, args, env.sources[f], s)  # arguments by value
                return self.store_ret(target, s)
            self.emit(Call(f), s)
            return self.store_ret(target, s)
        if f in _UPDATE_CALLS:  # the runtime update's primitives (tdxlab.kernel.update)
            return _update_call(self, f, args, s, target, fact)
        self.error(s, f"unknown kernel function or primitive {f}()")

    def _noresult(self, target, s, f):
        if target is not None:
            self.error(s, f"{f}() returns nothing to assign")

    # --- the whole function ---
    def compile(self) -> KFunc:
        self.body(self.src.tree.body)
        items = self.items
        if not items or not isinstance(items[-1], Ret):
            self.emit(Ret())
        return self.finish()

    def finish(self) -> KFunc:
        items = _with_kills(self.items, len(self.slots))
        kf = KFunc(self.src.name, self.src.fact or "", items)
        # the labels the compiler made for if/else and loops (``else#3``) are not the author's: a listing
        # shows only the design's own (``label .out``); the jumps are resolved already
        kf.labels = {k: v for k, v in kf.labels.items() if "#" not in k}
        for ins in kf.body:
            shown = getattr(ins, "_shown_goto", None)
            if shown is not None:
                ins.goto = shown
        kf.source = self.src
        kf.n_slots = len(self.slots)
        return kf


class _Store(Do):
    """``name = <the call's return value>`` (local)."""

    name = ""

    def text(self, st, t):
        return f"{self.name} = (its return value)"


class _Return(Ret):
    """``return value``: says so in the step's words when the value is an error."""

    src = "return"

    def text(self, st, t):
        return self.src

    def run(self, x):
        v = self.value
        if v is None:
            v = x.retval
        elif callable(v):
            v = v(x)
        if not x.quiet and isinstance(v, int) and v < 0:
            x.note(f"{x.fn}() returns {errno_name(v)}")
        x.ret(v)


class _StoreLazy(Instr):
    local = True
    pure = True  # (range() over locals or constants: for_() refuses anything else)

    def text(self, st, t):
        return "for: the values to go over"

    def __init__(self, i, n, f):
        self.i, self.n, self.f = i, n, f

    def run(self, x):
        _set_slot(self.i, self.n)(x, self.f(x))
        x.pc += 1


class _Pop(Instr):
    """``for var in ...``: the next value into ``var`` (local)."""

    local = True
    pure = True

    def text(self, st, t):
        return "for: the next value"

    def __init__(self, it, var, n):
        self.it, self.var, self.n = it, var, n

    def run(self, x):
        rest = x.loc[self.it]
        n = self.n
        _set_slot(self.it, n)(x, rest[1:])
        _set_slot(self.var, n)(x, rest[0])
        x.pc += 1


class _Warn(Instr):
    """``WARN_ON_ONCE(cond)``: a kernel check (local: it changes neither the state nor the path)."""

    local = True

    def __init__(self, cond, text, fact):
        self.cond, self._text, self.fact = cond, text, fact

    def text(self, st, t):
        return self._text

    def run(self, x):
        if self.cond(x):
            x.fact("kernel-check", f"WARN in {self.fn}(): {self._text} on CPU{x.cpu}")
        x.pc += 1


def _teardown_call(fn: "_Fn", f: str, args, s, target, fact: str) -> None:
    """The teardown chapter's primitives (tdxlab.kernel.teardown), compiled into one statement each."""
    from tdxlab.kernel import teardown as T
    if args and f not in ("register_syscore",):
        fn.error(s, f"{f}() takes no argument here")
    if f == "register_syscore":  # register_syscore(&tdx_syscore): the design's global says it is registered
        if len(args) != 1 or not isinstance(args[0], ast.Name) or args[0].id not in fn.env.globals:
            fn.error(s, "register_syscore(OPS): OPS is a global of the design (declare it in its globals)")
        fn.write_global(args[0].id, "True", set(), set(), s)
        return fn._noresult(target, s, f)
    make = {"preempt_disable": lambda *a: T.Preempt(1, *a), "preempt_enable": lambda *a: T.Preempt(-1, *a),
            "lockdep_assert_preemption_disabled": T.AssertPreemptionDisabled, "wbinvd": T.Wbinvd,
            "local_irq_disable": LocalIrqSave, "machine_kexec": T.MachineKexec,
            "crash_smp_send_stop": T.CrashSmpSendStop,
            "lockdep_assert_irqs_disabled": T.AssertIrqsDisabledTeardown}[f]
    ins = make(fact) if fact else make()
    fn.emit(ins, s)
    return fn._noresult(target, s, f)


def _split_comment(c: str) -> tuple[str, str]:
    """A statement's trailing comment as (words, the source keys it cites)."""
    from tdxlab.sources import KEY_RE
    keys = KEY_RE.findall(c)
    words = KEY_RE.sub("", c).strip(" :;,()")
    while ", ," in words or "  " in words:
        words = words.replace(", ,", ",").replace("  ", " ")
    return words.strip(" :;,"), ", ".join(keys)


def _cpumask_arg(fn: "_Fn", node, args) -> str:
    """``cpumask_set_cpu(smp_processor_id(), MASK)`` / ``cpumask_test_cpu(...)``: MASK, a cpumask the design
    declares in its ``percpu`` (one bit per CPU is one per-CPU bool); only the running CPU's bit."""
    ok = len(args) == 2 and _is_call(args[0], "smp_processor_id") and not args[0].args \
        and isinstance(args[1], ast.Name) and args[1].id in fn.env.percpu
    if not ok:
        fn.error(node, "cpumask_set_cpu(smp_processor_id(), MASK) / cpumask_test_cpu(smp_processor_id(), MASK): "
                       "MASK is a cpumask the design declares in its percpu")
    return args[1].id


def _first_online(pkg, x):
    """The first CPU of package ``pkg`` in cpu_online_mask, or -1 (config_global_keyid()'s walk)."""
    for c in x.m.topology.cpus_of_package(pkg):
        if x.cpus[c].hp in IN_ONLINE_MASK:
            return c
    return -1


def _other_online(cpu, x):
    """Another CPU of ``cpu``'s package is in cpu_online_mask (tdx_offline_cpu()'s walk)."""
    topo = x.m.topology
    return any(o != cpu and x.cpus[o].hp in IN_ONLINE_MASK for o in topo.cpus_of_package(topo.package_of(cpu)))


_BINOP = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^",
          ast.LShift: "<<", ast.RShift: ">>", ast.FloorDiv: "//", ast.Mod: "%"}
_CMPOP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
          ast.Is: "is", ast.IsNot: "is not"}


def _is_call(node, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _succ(items_ins: list, labels: dict, pc: int) -> list[int]:
    ins = items_ins[pc]
    if isinstance(ins, Ret):
        return []
    if isinstance(ins, Goto):
        return [labels[ins.label]]
    if isinstance(ins, If):
        return [pc + 1, labels[ins.goto]]
    return [pc + 1]


def _succ_resolved(body: list, pc: int) -> list[int]:
    """The successors of instruction ``pc`` of a built KFunc's body (jumps resolved)."""
    ins = body[pc]
    if isinstance(ins, Ret):
        return []
    if isinstance(ins, Goto):
        return [ins.target]
    if isinstance(ins, If):
        return [pc + 1, ins.target]
    return [pc + 1]


def _resolve(items: list):
    body, labels = [], {}
    for it in items:
        if isinstance(it, Label):
            labels[it.name] = len(body)
        else:
            body.append(it)
    return body, labels


def _with_kills(items: list, n_slots: int) -> list:
    """Insert, before each step that may start and before each call, the forgetting of dead locals."""
    if n_slots == 0:
        return items
    body, labels = _resolve(items)
    for lab in list(labels.values()):
        if lab >= len(body):
            body.append(Ret())
            body[-1]._uses = body[-1]._defs = frozenset()
            break
    n = len(body)
    live_in = [frozenset()] * n
    changed = True
    while changed:
        changed = False
        for pc in range(n - 1, -1, -1):
            ins = body[pc]
            out = frozenset().union(*[live_in[s] for s in _succ(body, labels, pc) if s < n])
            new = getattr(ins, "_uses", frozenset()) | (out - getattr(ins, "_defs", frozenset()))
            if new != live_in[pc]:
                live_in[pc] = new
                changed = True
    # the locals that may hold a value at each instruction (defined on some path, not yet forgotten)
    maybe: list = [None] * n
    maybe[0] = frozenset()
    work = [0]
    while work:
        pc = work.pop()
        ins = body[pc]
        cur = maybe[pc]
        if (not ins.local or isinstance(ins, Call)) and not isinstance(ins, _Kill):
            cur = cur & (live_in[pc] if not isinstance(ins, Call) else _live_after(body, labels, live_in, pc)
                         | getattr(ins, "_uses", frozenset()))  # (a call's arguments: tdxlab.kernel.update)
        cur = cur | getattr(ins, "_defs", frozenset())
        for sc in _succ(body, labels, pc):
            if sc < n:
                new = cur if maybe[sc] is None else maybe[sc] | cur
                if new != maybe[sc]:
                    maybe[sc] = new
                    work.append(sc)
    out_items = []
    pc = 0
    for it in items:
        if isinstance(it, Label):
            out_items.append(it)
            continue
        if (not it.local or isinstance(it, Call)) and not isinstance(it, _Kill):
            keep = live_in[pc] if not isinstance(it, Call) else \
                _live_after(body, labels, live_in, pc) | getattr(it, "_uses", frozenset())
            if maybe[pc] is not None and maybe[pc] - keep:
                k = _Kill(tuple(sorted(keep)))
                k._uses = k._defs = frozenset()
                out_items.append(k)
        out_items.append(it)
        pc += 1
    return out_items


def _live_after(body, labels, live_in, pc):
    n = len(body)
    return frozenset().union(*[live_in[s] for s in _succ(body, labels, pc) if s < n])


# --- a design's environment, and compiling it --------------------------------------------------------------
class _Env:
    def __init__(self, design, sources: dict[str, KernelSource], builtin: dict[str, KFunc]):
        self.design = design
        self.sources = sources
        self.builtin = builtin
        self.globals, self.kvars = design_globals(design)
        self.percpu = design_percpu(design)
        for name in self.percpu:
            if name in PER_CPU or name in self.globals:
                raise DesignError(f"design {design.name}: per-CPU variable {name} has the name of another variable")
        self.locks = dict(LOCK_KIND)
        self.consts = dict(getattr(design, "consts", {}))
        self.extra: dict[str, KFunc] = {}
        self.untrusted: set[str] = set()

    def folded(self, test):
        """The value of an ``if`` test on design options only (folded like IS_ENABLED()), else None."""
        names = {n.id for n in ast.walk(test) if isinstance(n, ast.Name)}
        if not names or not names <= set(self.consts) or any(
                isinstance(n, ast.Call) for n in ast.walk(test)):
            return None
        return bool(eval(compile(ast.Expression(test), "<if>", "eval"), {}, dict(self.consts)))  # noqa: S307

    def global_read(self, name: str) -> str:
        g = self.globals[name]
        if g.field is None:
            return f"x.kern.vars[{self.kvars[name]}]"
        if g.as_bool:
            return f"(x.kern.{g.field} == {INITIALIZED!r})"
        return f"x.kern.{g.field}"

    def global_write(self, name: str, f):
        g = self.globals[name]
        fld = g.field
        if fld is None:
            i = self.kvars[name]
            return lambda x: x.set_kern(vars=x.kern.vars[:i] + (f(x),) + x.kern.vars[i + 1:])
        if g.as_bool:
            return lambda x: x.set_kern(**{fld: INITIALIZED if f(x) else UNINITIALIZED})
        return lambda x: x.set_kern(**{fld: f(x)})

    def global_store(self, name: str):
        """``(x, value)`` -> the global set to value (a SEAMCALL's result stored in a global)."""
        g = self.globals[name]
        if g.field is not None and not g.as_bool:
            fld = g.field
            return lambda x, v: x.set_kern(**{fld: v})
        i = self.kvars.get(name)
        if i is not None:
            return lambda x, v: x.set_kern(vars=x.kern.vars[:i] + (v,) + x.kern.vars[i + 1:])
        return lambda x, v: x.set_kern(**{g.field: INITIALIZED if v else UNINITIALIZED})

    def function_name(self, name: str, fn: _Fn, node) -> str:
        if name in self.sources or name in self.builtin:
            return name
        fn.error(node, f"unknown kernel function {name}")

    def cpuhp_call(self, api: str, args, fn: _Fn, node) -> str:
        """The kernel function of the cpuhp core that ``api(...)`` calls, registering the state's
        callbacks with the design (``cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "virt/tdx:online", on, off)``)."""
        if api in SETUP:
            if len(args) != 4 or not isinstance(args[1], ast.Constant):
                fn.error(node, f"{api}(STATE, \"name\", startup, teardown)")
            order = fn.expr(args[0], set(), set())
            name = args[1].value
            cbs = []
            for a in args[2:]:
                if isinstance(a, ast.Constant) and a.value is None or isinstance(a, ast.Name) and a.id == "NULL":
                    cbs.append(None)
                elif isinstance(a, ast.Name):
                    cbs.append(self.function_name(a.id, fn, node))
                else:
                    fn.error(node, f"{api}(): callbacks by name")
            self.design.cpuhp[name] = (eval(order), *cbs)  # noqa: S307 - a constant
            kf = CPUHP.cpuhp_setup_state(name, cpuslocked=SETUP[api])
        else:
            if len(args) != 1 or not isinstance(args[0], ast.Constant):
                fn.error(node, f"{api}(\"name\"): the state by its name")
            name = args[0].value
            kf = CPUHP.cpuhp_remove_state(name, cpuslocked=REMOVE[api], nocalls="nocalls" in api)
        self.extra.setdefault(kf.name, kf)
        return kf.name


def compile_design(design, sources: list[KernelSource], builtin: list[KFunc] = ()) -> list[KFunc]:
    """Compile a design's kernel functions (with the kernel's own ``builtin`` ones, such as the cpuhp
    core) into the machine's instruction lists, applying the guard rule across the whole design."""
    by_name: dict[str, KernelSource] = {}
    for s in sources:
        by_name[s.name] = s
    env = _Env(design, by_name, {k.name: k for k in builtin})
    out = []
    for s in by_name.values():
        fn = _Fn(s, env)
        kf = fn.compile()
        alias = _retval_aliases(fn, kf)
        if alias:  # compile again, reading those locals from the return value register
            kf = _Fn(s, env, alias).compile()
        out.append(kf)
    _guards(out, env)
    return list(builtin) + out + list(env.extra.values())


_KEEPS_RETVAL = (If, Goto, Lock, Unlock, Do, LocalIrqSave, LocalIrqRestore, AssertIrqsDisabled, AssertCpusHeld)


def _retval_aliases(fn: _Fn, kf: KFunc) -> frozenset:
    """The locals that need no slot: every assignment of one stores a call's return value, and at every
    read of it the return value register still holds what was stored (no call, SEAMCALL, VMXON, or
    waiting for work in between, on any path). ``ret = f(); if ret: return ret`` is the usual one."""
    body = kf.body  # (jumps resolved: ins.target)
    n = len(body)
    stores = {}  # slot -> all its definitions are stores of the return value
    for ins in body:
        for d in getattr(ins, "_defs", ()):
            stores[d] = stores.get(d, True) and isinstance(ins, _Store)
    insync: list = [None] * n
    insync[0] = frozenset()
    work = [0]
    while work:
        pc = work.pop()
        ins = body[pc]
        cur = insync[pc]
        defs = getattr(ins, "_defs", frozenset())
        if isinstance(ins, _Store):
            cur = cur | defs
        elif defs:
            cur = cur - defs
        elif not isinstance(ins, _KEEPS_RETVAL + (_Kill, _Pop, _StoreLazy, _Warn)) or \
                isinstance(ins, Do) and type(ins) is not Do:
            cur = frozenset()
        for sc in _succ_resolved(body, pc):
            if sc < n:
                new = cur if insync[sc] is None else insync[sc] & cur
                if new != insync[sc]:
                    insync[sc] = new
                    work.append(sc)
    ok = {slot for slot, only in stores.items() if only}
    for pc, ins in enumerate(body):
        for u in getattr(ins, "_uses", ()):
            if insync[pc] is None or u not in insync[pc]:
                ok.discard(u)
    names = {i: name for name, i in fn.slots.items()}
    return frozenset(names[i] for i in ok)


def _guards(funcs: list[KFunc], env: _Env) -> None:
    """Make guarded accesses local where the guard is held on every path (rule 3 of the module
    docstring): a read when every write of that global in the design holds its guard, a write of a
    global no property observes when every access does."""
    held = _held_everywhere(funcs, env)
    accesses = []  # (instruction, global, write, guard held)
    for kf in funcs:
        h = held[kf.name]
        for pc, ins in enumerate(kf.body):
            g = getattr(ins, "_guard", None)
            if g is not None:
                name, write = g
                lock = env.globals[name].guarded_by
                accesses.append((ins, name, write, lock is not None and lock in h[pc]))
    bad_write = {name for _, name, write, ok in accesses if write and not ok}
    bad_any = {name for _, name, _, ok in accesses if not ok}
    for ins, name, write, ok in accesses:
        if ok and name not in (bad_any if write else bad_write):
            ins.local, ins.percpu = True, False


def _held_everywhere(funcs: list[KFunc], env: _Env) -> dict[str, list[frozenset]]:
    """The locks held at each instruction of each function on every path: those it took itself, plus
    those held at every plain call of it (a function that also runs as a callback, an IPI handler, a
    work item or a root starts with none)."""
    from tdxlab.kernel.lang import OnEachCpu
    by = {kf.name: kf for kf in funcs}
    spawned = {cb for v in env.design.cpuhp.values() for cb in v[1:] if cb}
    for kf in funcs:
        for ins in kf.body:
            if isinstance(ins, (OnEachCpu, SpawnOn)) and isinstance(ins.callee, str):
                spawned.add(ins.callee)
    called = {ins.callee for kf in funcs for ins in kf.body if isinstance(ins, Call) and isinstance(ins.callee, str)}
    entry: dict[str, frozenset | None] = {n: (frozenset() if n in spawned or n not in called else None)
                                          for n in by}
    held: dict[str, list[frozenset]] = {}
    changed = True
    while changed:
        changed = False
        for n, kf in by.items():
            if entry[n] is None:
                continue
            h = _held_locks(kf, entry[n])
            held[n] = h
            for pc, ins in enumerate(kf.body):
                if isinstance(ins, Call) and isinstance(ins.callee, str) and ins.callee in by \
                        and ins.callee not in spawned:
                    cur = entry[ins.callee]
                    new = h[pc] if cur is None else cur & h[pc]
                    if new != cur:
                        entry[ins.callee] = new
                        changed = True
    for n, kf in by.items():
        held.setdefault(n, _held_locks(kf, frozenset()))
    return held


def _held_locks(kf: KFunc, start: frozenset = frozenset()) -> list[frozenset]:
    """The locks held at each instruction on every path from the function's start."""
    body = kf.body
    n = len(body)
    held: list = [None] * n
    held[0] = start
    work = [0]
    while work:
        pc = work.pop()
        ins = body[pc]
        h = held[pc]
        if isinstance(ins, Lock):
            h = h | {ins.lock}
        elif isinstance(ins, Unlock):
            h = h - {ins.lock}
        if isinstance(ins, Ret):
            succ = []
        elif isinstance(ins, Goto):
            succ = [ins.target]
        elif isinstance(ins, If):
            succ = [pc + 1, ins.target]
        else:
            succ = [pc + 1]
        for s in succ:
            if s >= n:
                continue
            new = h if held[s] is None else held[s] & h
            if new != held[s]:
                held[s] = new
                work.append(s)
    return [h if h is not None else frozenset() for h in held]


# --- patches: a design as changes to another ------------------------------------------------------------
class Patch:
    """Changes to a design's kernel functions, written in the same language: replace, insert or delete a
    statement (named by its text, as ``ast.unparse`` writes it, or an ``if``'s first line), or add,
    replace or delete a whole function::

        IRQS_ON = (Patch("irqs-on", "tdx_online_cpu() without local_irq_save()")
                   .delete("tdx_online_cpu", "local_irq_save(flags)")
                   .delete("tdx_online_cpu", "local_irq_restore(flags)"))
    """

    def __init__(self, name: str, doc: str = ""):
        self.name, self.doc = name, doc
        self.ops: list[tuple] = []

    def delete(self, fn: str, stmt: str) -> "Patch":
        self.ops.append(("replace", fn, stmt, ""))
        return self

    def replace(self, fn: str, stmt: str, new: str) -> "Patch":
        self.ops.append(("replace", fn, stmt, new))
        return self

    def insert_before(self, fn: str, stmt: str, new: str) -> "Patch":
        self.ops.append(("before", fn, stmt, new))
        return self

    def insert_after(self, fn: str, stmt: str, new: str) -> "Patch":
        self.ops.append(("after", fn, stmt, new))
        return self

    def function(self, src: KernelSource) -> "Patch":
        """Add a kernel function, or replace the one of the same name."""
        self.ops.append(("function", src.name, src, None))
        return self

    def delete_function(self, fn: str) -> "Patch":
        self.ops.append(("delete-function", fn, None, None))
        return self

    def functions_changed(self) -> list[str]:
        return sorted({op[1] for op in self.ops})

    def apply(self, sources: dict[str, KernelSource]) -> dict[str, KernelSource]:
        out = dict(sources)
        for kind, fn, what, new in self.ops:
            if kind == "function":
                out[fn] = what
                continue
            if fn not in out:
                raise DesignError(f"patch {self.name}: no kernel function {fn}() to change")
            if kind == "delete-function":
                del out[fn]
                continue
            src = out[fn]
            body = [_copy(s) for s in src.tree.body]
            where = f"patch {self.name}, {fn}()"
            found = _edit(body, _norm(what, where), parse_statements(new, where) if new else [], kind)
            if found == 0:
                raise DesignError(f"{where}: no statement {what!r}")
            if found > 1:
                raise DesignError(f"{where}: {found} statements {what!r}: name one (quote more of it)")
            out[fn] = src.with_body(body)
        return out


def _copy(node):
    import copy
    return copy.deepcopy(node)


def _norm(text: str, where: str) -> tuple[bool, str]:
    """(header only, text): ``"if ret:"`` names an ``if`` by its first line, ``"if ret: return ret"`` the
    whole statement."""
    t = text.strip()
    header = t.endswith(":")
    stmts = parse_statements(t + " pass" if header else t, where)
    if len(stmts) != 1:
        raise DesignError(f"{where}: name one statement, not {text!r}")
    return header, _head(stmts[0]) if header else ast.unparse(stmts[0])


def _head(s) -> str:
    """A compound statement's first line."""
    return ast.unparse(s).splitlines()[0]


def _edit(body: list, target: str, new: list, kind: str) -> int:
    found = 0
    i = 0
    while i < len(body):
        s = body[i]
        header, text = target
        if (_head(s) if header else ast.unparse(s)) == text:
            found += 1
            for n in new:
                ast.copy_location(n, s)
                for m in ast.walk(n):
                    if hasattr(m, "lineno"):
                        m.lineno = s.lineno
            if kind == "replace":
                body[i:i + 1] = new
                i += len(new)
                continue
            if kind == "before":
                body[i:i] = new
                i += len(new) + 1
                continue
            body[i + 1:i + 1] = new
            i += len(new) + 1
            continue
        for fld in ("body", "orelse"):
            sub = getattr(s, fld, None)
            if isinstance(sub, list) and sub:
                found += _edit(sub, target, new, kind)
        i += 1
    return found


# --- the source beside the step (for listings: which line a context runs next) ------------------------------
def source_rows(kf: KFunc) -> list[tuple[int, str, tuple[int, ...], bool]]:
    """A compiled design function as its source lines: ``(line, text, pcs, step)`` per line of the
    ``@kfunc`` function (``pcs``: its instructions; ``step``: whether one of them is a step of its own
    rather than merged into a neighbour). Empty for a function not written in the language."""
    src = getattr(kf, "source", None)
    if src is None:
        return []
    by_line: dict[int, list] = {}
    for pc, ins in enumerate(kf.body):
        line = getattr(ins, "_line", 0)
        if line:
            by_line.setdefault(line, []).append((pc, ins))
    text = src.source_text().splitlines()
    rows = []
    for k, t in enumerate(text):
        line = src.firstline + k
        got = by_line.get(line, [])
        rows.append((line, t, tuple(pc for pc, _ in got), any(not ins.local for _, ins in got)))
    return rows


def line_of(kf: KFunc, pc: int) -> int | None:
    """The source line of instruction ``pc`` of a compiled design function (None when it has none: the
    compiler's own bookkeeping, or a function not written in the language)."""
    line = getattr(kf.body[pc], "_line", 0) if 0 <= pc < len(kf.body) else 0
    return line or None


# --- the runtime update's primitives (tdxlab.kernel.update; docs/authoring.md) -------------------------------
_UPDATE_PURE = ("READ_ONCE", "num_online_cpus", "smp_processor_id", "cpu_online")
_UPDATE_CALLS = {"stop_machine_cpuslocked", "per_cpu_write", "raw_spin_lock_init", "cpu_relax", "read_lock",
                 "read_unlock", "write_lock", "write_unlock"}  # (preempt_disable(): the teardown chapter's)


def _dotted(node) -> str | None:
    """``update_ctrl.state``: a global that is a member of a kernel struct, named with its dot."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    if isinstance(node, ast.Attribute) and _dotted(node.value):  # tdx_sysinfo.version.major_version
        return f"{_dotted(node.value)}.{node.attr}"
    return None


def _read_by_value(tree, p: str) -> bool:
    """Parameter ``p`` is read as a value (not only handed to atomic_set()/atomic_read())."""
    skip = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("atomic_set", "atomic_read") \
                and n.args and isinstance(n.args[0], ast.Name):
            skip.add(id(n.args[0]))
    return any(isinstance(n, ast.Name) and n.id == p and isinstance(n.ctx, ast.Load) and id(n) not in skip
               for n in ast.walk(tree))


def _update_expr(fn: "_Fn", node, reads: set, uses: set):
    """The runtime update's expressions, or None."""
    env = fn.env
    name = _dotted(node)
    if name is not None:
        if name in env.globals:
            reads.add(("global", name))
            return env.global_read(name)
        fn.error(node, f"unknown global {name} (declare it in the design's globals)")
    if isinstance(node, ast.Name) and node.id == "nr_cpu_ids":
        return "x.m.topology.ncpus"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        f, args = node.func.id, node.args
        if f == "READ_ONCE" and len(args) == 1:
            return fn.expr(args[0], reads, uses)
        if f == "smp_processor_id" and not args:
            return "x.cpu"
        if f == "num_online_cpus" and not args:
            reads.add(("shared",))
            return f"sum(1 for cs in x.cpus if cs.hp in {tuple(IN_ONLINE_MASK)!r})"
        if f == "cpu_online" and len(args) == 1:
            reads.add(("shared",))
            return f"(x.cpus[{fn.expr(args[0], reads, uses)}].hp in {tuple(IN_ONLINE_MASK)!r})"
    return None


def _call_by_value(fn: "_Fn", f: str, args, callee: KernelSource, s) -> None:
    """A call of a design function whose parameters are read as values: the arguments become the
    callee's first locals (its parameters' slots, in order)."""
    from tdxlab.kernel.update import CallWith
    vals = []
    uses: set = set()
    for a in args:
        reads: set = set()
        code = fn.expr(a, reads, uses)
        if reads:
            fn.error(a, f"{f}(): pass locals or constants (read shared state into a local first)")
        vals.append(fn.lam(code))
    fn.emit(CallWith(f, vals, fn.fact(s)), s, uses=uses)


def _update_call(fn: "_Fn", f: str, args, s, target, fact: str):
    """stop_machine_cpuslocked(), per_cpu_write(), raw_spin_lock_init(), cpu_relax(), read/write_(un)lock()."""
    from tdxlab.kernel import update as U
    env = fn.env
    if f == "stop_machine_cpuslocked":
        if len(args) != 3 or not isinstance(args[0], ast.Name) or not (
                isinstance(args[2], ast.Name) and args[2].id == "cpu_online_mask"):
            fn.error(s, "stop_machine_cpuslocked(fn, data, cpu_online_mask)")
        callee = env.function_name(args[0].id, fn, s)
        reads, uses = set(), set()
        data = fn.lam(fn.expr(args[1], reads, uses)) if not (isinstance(args[1], ast.Name)
                                                               and args[1].id == "NULL") else None
        env.extra.setdefault("multi_cpu_stop", U.multi_cpu_stop())
        fn.emit(U.StopMachine(callee, data, fact or "k-stop-machine-c"), s, uses=uses)
        fn.emit(WaitChild(fact or "k-stop-machine-c"), s)
        return fn.store_ret(target, s)
    if f == "per_cpu_write":
        known = [*PER_CPU, *env.percpu]
        if len(args) != 3 or not isinstance(args[0], ast.Name) or args[0].id not in known:
            fn.error(s, f"per_cpu_write(VAR, cpu, value): VAR is a per-CPU variable ({', '.join(known)})")
        reads, uses = set(), set()
        cpu = fn.lam(fn.expr(args[1], reads, uses))
        val = fn.lam(fn.expr(args[2], reads, uses))
        if reads:
            fn.error(s, "per_cpu_write(): pass locals or constants")
        v = args[0].id
        text = f"per_cpu({v}, cpu) = {ast.unparse(args[2])}"
        ins = U.PerCpuWrite(PER_CPU.get(v), env.percpu[v][0] if v in env.percpu else None, cpu, val, text, fact)
        fn.emit(ins, s, uses=uses)
        return fn._noresult(target, s, f)
    if f in ("raw_spin_lock_init", "cpu_relax"):
        return fn._noresult(target, s, f)  # nothing the model keeps: the lock starts free; a spin is a while
    if f in ("read_lock", "read_unlock", "write_lock", "write_unlock"):  # rwlock_t
        if len(args) != 1 or not isinstance(args[0], ast.Name) or env.locks.get(args[0].id) != "rwlock":
            fn.error(s, f"{f}(LOCK): LOCK is an rwlock the design declares")
        cls = U.RwLock if f.endswith("_lock") else U.RwUnlock
        fn.emit(cls(args[0].id, f.startswith("write"), fact), s)
        return fn._noresult(target, s, f)
    fn.error(s, f"unknown primitive {f}()")  # every name of _UPDATE_CALLS is handled above


def _while(fn: "_Fn", s) -> None:
    """``while COND: cpu_relax()`` (a spin: one SpinWhile), ``while True:`` (a loop, left by ``break``)
    or ``while COND:`` (a loop that tests COND, a local condition, first)."""
    from tdxlab.kernel.update import SpinWhile
    if s.orelse:
        fn.error(s, "while ...: without else")
    body = [b for b in s.body if not isinstance(b, ast.Pass)]
    if len(body) == 1 and isinstance(body[0], ast.Expr) and _is_call(body[0].value, "cpu_relax"):
        reads, uses = set(), set()
        code = fn.expr(s.test, reads, uses)
        fn.emit(SpinWhile(fn.lam(code), ast.unparse(s.test), fn.fact(s)), s, uses=uses)
        return
    head, end = fn.label("while"), fn.label("endwhile")
    fn.items.append(Label(head))
    if not (isinstance(s.test, ast.Constant) and s.test.value is True):
        reads, uses = set(), set()
        code = fn.expr(s.test, reads, uses)
        local, percpu, guard = fn.classify(reads)
        fn.emit(If(fn.lam(f"not {code}"), end, local=local, percpu=percpu), s, uses=uses, guard=guard)
    fn.loops.append((head, end))
    fn.body(s.body)
    fn.loops.pop()
    fn.emit(Goto(head))
    fn.items.append(Label(end))


_Fn.while_ = _while
