"""The properties the checker decides, each with the rule it encodes and the sources it stands on.

Three kinds: *transition* properties are violated by a step, through the facts the model records about
it (tdxlab.kernel.observe: the kernel layer records facts, never property names; ``OBSERVES`` below says
which facts each property observes); *state* properties by a reachable state; and *lockdep* properties by
the locks a context tries to take in a reachable state (lockdep checks at acquisition, before waiting),
aggregated over every explored path. :func:`add_property` adds one in a cell.

Each property belongs to a *chapter* of the story ("bring-up", "teardown", "update") and applies to the
designs whose ``chapters`` name it (:attr:`tdxlab.designs.base.Design.chapters`): a check decides and
reports only those (:func:`applicable`), so that "holds" is never said of a design that has nothing the
property is about. A property added in a cell has no chapter unless it is given one: it applies to every
design.
"""
from __future__ import annotations

from typing import NamedTuple

from tdxlab.errors import UnknownName
from tdxlab.inputs import cut
from tdxlab.kernel.observe import observe, unobserve
from tdxlab.kernel.state import HARDIRQ, LOCK_KIND, LOCKS, SLEEPING, SPINNING
from tdxlab.platform import IN_ONLINE_MASK, ONLINE


class Property(NamedTuple):
    name: str
    kind: str  # "transition", "state" or "lockdep"
    fact: str
    summary: str
    chapter: str | None = "bring-up"  # the designs it applies to (Design.chapters); None: every design


#: The chapters of the story, in its order: a design's ``chapters`` and a property's ``chapter`` are among them.
CHAPTERS = ("bring-up", "teardown", "update")


PROPERTIES = {p.name: p for p in (
    Property("vmx-before-seamcall", "transition", "k-tdxcall-s, lore-sean-2024-04-22",
             "no SEAMCALL on a CPU outside VMX operation (it would #UD: TDX_SEAMCALL_UD, -EACCES)"),
    Property("lp-init-before-seamcall", "transition", "lore-tglx-2022-11-22b, k-tdx-rst-618, dec-relaxed-gates",
             "no other SEAMCALL on a logical CPU before its LP.INIT, and no module rule error "
             "(TDX_SYS_LP_INIT_NOT_PENDING, TDX_SYS_CONFIG_NOT_PENDING, TDX_SYS_LP_INIT_NOT_DONE)"),
    Property("init-succeeds", "transition", "k-tdx-c-618",
             "module initialization never ends in failure"),
    Property("online-cpus-ready", "state", "k-tdx-rst-618, dec-online-vs-active",
             "once initialization has succeeded, every active CPU has done LP.INIT whenever a TDX user "
             "may use it (cpu_active, not cpu_online: dec-online-vs-active; not while an IPI handler or an IRQs-off "
             "context holds the CPU, as no TDX user can run there then)"),
    Property("package-keys", "state", "m-dispatcher, k-kvm-tdx-c-616, k-tdx-c-618",
             "every package gets KEY.CONFIG before the module is reported ready, and keeps an online CPU "
             "while guest KeyIDs are in use"),
    Property("cpu-online-succeeds", "transition", "k-cpu-hotplug-rst, k-cpu-c",
             "every CPU online request the platform allows succeeds, and an offline is refused only where "
             "the design means to (the last CPU of a package while KeyIDs are in use)"),
    Property("no-spurious-error", "transition", "k-tdx-c-618, dec-v19-pass-vmxon",
             "no tdx_cpu_enable() or online callback fails because of a race (TDX_SYS_LP_INIT_DONE, "
             "TDX_SYS_BUSY, a second TDH.SYS.INIT, a double VMXON)"),
    Property("no-deadlock", "state", "k-tdx-c-618, lore-sean-2024-04-23, lore-sean-2024-06-08",
             "no reachable state where contexts wait forever (a spinlock self-deadlock from an IPI included)"),
    Property("lock-order", "lockdep", "k-kvm-locking-rst, lore-isaku-2024-02-26, k-tdx-c-618",
             "lockdep's rules: no cycle in the taken-while-holding graph, no recursive read of "
             "cpu_hotplug_lock, no sleeping lock with IRQs off or in IRQ context, no spinlock used both "
             "from IRQ context and with IRQs on"),
    Property("kernel-asserts", "transition", "k-tdx-c-618, k-kvm-tdx-c-616",
             "lockdep_assert_irqs_disabled(), lockdep_assert_cpus_held() and the CR4.VMXE warning never fire"),
)}


# What each transition property observes of the facts the model records (tdxlab.kernel.observe): the
# kernel layer never names a property; this table is the only place where facts become violations.
OBSERVES = {
    "vmx-before-seamcall": ("seamcall-outside-vmx",),
    "lp-init-before-seamcall": ("seamcall-before-lp-init", "module-rule-refused"),
    "init-succeeds": ("bring-up-returned-error",),
    "cpu-online-succeeds": ("hotplug-request-failed",),
    "no-spurious-error": ("module-already-done", "vmxon-busy"),
    "kernel-asserts": ("kernel-check",),
}
for _prop, _kinds in OBSERVES.items():
    observe(_prop, *_kinds)


def add_property(name: str, summary: str, *, observes: tuple = (), when=None, state=None,
                 fact: str = "", chapter: str | None = None) -> Property:
    """Add a property in a notebook cell or a design file. A *transition* property is violated by a step
    that records one of the facts it ``observes`` (tdxlab.kernel.observe.FACTS; ``when(detail)`` narrows
    it); a *state* property by a reachable state where ``state(scenario, state)`` returns a sentence (None
    when it holds). Every later check decides it like the shipped ones.

    It applies to every design unless ``chapter`` names one of :data:`CHAPTERS`: then only to the designs
    whose ``chapters`` include it (a check of another design neither decides nor reports it).

    >>> from tdxlab.check.properties import add_property, applies, remove_property
    >>> p = add_property("no-double-vmxon", "no VMXON where CR4.VMXE is already set", observes=("vmxon-busy",))
    >>> import tdxlab
    >>> tdxlab.check("v19-2024", topology="1x1x2", mutations=["no-kvm-lock"],
    ...              events=["create-vm", "create-vm2"]).verdicts["no-double-vmxon"].holds
    False
    >>> applies("no-double-vmxon", "update-7.2")  # no chapter: every design
    True
    >>> remove_property("no-double-vmxon")
    >>> p = add_property("test-no-dirty-kexec", "no kexec with a dirty cache", observes=("kexec-dirty-cache",),
    ...                  chapter="teardown")
    >>> applies("test-no-dirty-kexec", "v19-2024"), applies("test-no-dirty-kexec", "teardown-7.2")
    (False, True)
    >>> remove_property("test-no-dirty-kexec")
    """
    from tdxlab.errors import BadInput

    if name in PROPERTIES:
        raise BadInput(f"property {name!r} exists already")
    if bool(observes) == (state is not None):
        raise BadInput(f"property {name!r}: give either the facts it observes or a state check, not both")
    if chapter is not None and chapter not in CHAPTERS:
        raise BadInput(f"property {name!r}: chapter {cut(chapter)} is not one of {', '.join(CHAPTERS)} "
                       f"(or None: every design)")
    prop = Property(name, "state" if state is not None else "transition", fact, summary, chapter)
    if state is not None:
        if not callable(state):
            raise BadInput(f"property {name!r}: state must be a function (scenario, state) -> str | None")
        STATE_CHECKS[name] = state
    else:
        observe(name, *observes, when=when)
    PROPERTIES[name] = prop
    return prop


def remove_property(name: str) -> None:
    """Take back a property :func:`add_property` added (the shipped ones stay)."""
    from tdxlab.errors import BadInput

    if name in SHIPPED:
        raise BadInput(f"property {name!r} is one of the shipped ten: it stays")
    PROPERTIES.pop(name, None)
    STATE_CHECKS.pop(name, None)
    unobserve(name)


def _chapters(design) -> tuple[str, ...]:
    """The chapters of ``design``: a Design class or instance, or a design's name."""
    if isinstance(design, str):
        from tdxlab.designs import get_design
        design = get_design(design)
    chs = getattr(design, "chapters", ("bring-up",))
    if isinstance(chs, str) or not all(c in CHAPTERS for c in chs):
        from tdxlab.errors import BadInput
        raise BadInput(f"design {getattr(design, 'name', design)!r}: chapters {cut(chs)} must be a tuple of "
                       f"{', '.join(CHAPTERS)}")
    return tuple(chs)


def applies(name: str, design) -> bool:
    """Whether property ``name`` applies to ``design`` (a Design class or instance, or its name): it has no
    chapter, or the design's ``chapters`` include it."""
    ch = PROPERTIES[check_property(name)].chapter
    return ch is None or ch in _chapters(design)


def applicable(design) -> tuple[str, ...]:
    """The properties that apply to ``design``, in :data:`PROPERTIES` order: what a check of it decides."""
    chs = _chapters(design)
    return tuple(n for n, p in PROPERTIES.items() if p.chapter is None or p.chapter in chs)


def not_applicable(design) -> tuple[str, ...]:
    """The properties that do not apply to ``design`` (another chapter's), in :data:`PROPERTIES` order."""
    ok = set(applicable(design))
    return tuple(n for n in PROPERTIES if n not in ok)


def why_not(name: str, design) -> str:
    """Why property ``name`` does not apply to ``design``, in one line (its chapter; the design's)."""
    d = design if not isinstance(design, str) else None
    dname = getattr(d, "name", None) or design
    return (f"property {name!r} is of the {PROPERTIES[name].chapter} chapter: it does not apply to {dname} "
            f"(its chapters: {', '.join(_chapters(design))})")


def not_applicable_line(design, names=None) -> str | None:
    """One line naming the properties that do not apply to ``design``, grouped by their chapter (None when
    every property applies). ``names``: those properties (default :func:`not_applicable`)."""
    names = not_applicable(design) if names is None else names
    if not names:
        return None
    by: dict[str, list[str]] = {}
    for n in names:
        by.setdefault(PROPERTIES[n].chapter, []).append(n)
    dname = design if isinstance(design, str) else design.name
    return (f"not applicable to {dname} (its chapters: {', '.join(_chapters(design))}): "
            + "; ".join(f"{ch}: {', '.join(ns)}" for ch, ns in by.items()))


def check_property(name: str) -> str:
    if name not in PROPERTIES:
        raise UnknownName(f"unknown property {name!r}: choose one of {', '.join(PROPERTIES)}")
    return name


# --- state properties -----------------------------------------------------------------------------------
def online_cpus_ready(sc, st) -> str | None:
    if not sc.design.tdx_usable(st):
        return None
    # A CPU where an IPI handler or an IRQs-off context runs cannot run a TDX user right now; it is
    # checked again the moment that context lets go of it (the partial-order reduction relies on this).
    taken = {t[1] for t in st.threads if t[2] == HARDIRQ or t[5]}
    for c, cs in enumerate(st.cpus):
        if cs.hp == ONLINE and not st.module.lp_done(c) and c not in taken:
            return f"CPU{c} is active and TDX is in use, but CPU{c} never did TDH.SYS.LP.INIT"
    return None


def package_keys(sc, st) -> str | None:
    topo = sc.topology
    if st.kern.tdx_module_status == "INITIALIZED":
        for p in range(topo.packages):
            if not st.module.pkg_done(p):
                return f"the module is reported ready but package {p} never got TDH.SYS.KEY.CONFIG"
    if st.kern.keyids_in_use:
        for p in range(topo.packages):
            if not any(st.cpus[c].hp in IN_ONLINE_MASK for c in topo.cpus_of_package(p)):
                return (f"guest KeyIDs are in use but package {p} has no online CPU (its caches cannot be "
                        f"written back to reclaim a KeyID)")
    return None


STATE_CHECKS = {"online-cpus-ready": online_cpus_ready, "package-keys": package_keys}
SHIPPED = tuple(PROPERTIES)


# --- lockdep ----------------------------------------------------------------------------------------------
def pending_acquisitions(st, waiting, seen: dict | None = None):
    """(context name, lock, mode, held locks, in hardirq, IRQs off) for each context about to take a lock;
    ``waiting`` is [(thread, (lock, mode))] as :meth:`Machine.scan` gives it. With ``seen`` (a dict the
    caller keeps), only those not seen before with the same lock state: what lockdep has checked once,
    it need not check again.

    ``seen`` also knows a context by the identity of its ``Thread`` tuple (which fixes its name, kind, IRQs
    and next instruction, so the lock it is about to take): unchanged contexts are shared between states,
    so most are one cheap look-up. The caller must keep every state it passes with ``seen`` alive as long
    as ``seen`` (the checker's search keeps every state it visits), so that no identity in it is reused."""
    out = []
    held = None
    if seen is not None:
        ids, seen = seen.get(st.locks) or seen.setdefault(st.locks, (set(), set()))
    for t, acq in waiting:
        if seen is not None:
            if id(t) in ids:
                continue
            ids.add(id(t))
            key = (t[0], acq, t[2], t[5] > 0)
            if key in seen:
                continue
            seen.add(key)
        if held is None:
            held = held_locks(st.locks)
        out.append((t[0], acq[0], acq[1], held.get(t[0], ()), t[2] == HARDIRQ, t[2] == HARDIRQ or t[5] > 0))
    return out


def held_locks(locks) -> dict[str, tuple]:
    """Context name -> the locks it holds, in LOCKS order (a read hold of cpu_hotplug_lock included)."""
    out: dict[str, list] = {}
    for lname, (w, rs, _) in zip(LOCKS, locks):
        for name in {w, *rs} - {None}:
            out.setdefault(name, []).append(lname)
    return {k: tuple(v) for k, v in out.items()}


def lockdep_state_findings(acqs) -> list[str]:
    """Findings that a single acquisition shows on its own (recursion, sleeping in atomic context)."""
    found = []
    for name, lock, mode, held, hardirq, irqs_off in acqs:
        if lock in held:
            found.append(f"{name} takes {lock} while already holding it (possible recursive locking"
                         + (": a read lock again, which a waiting writer turns into a deadlock)" if mode == "r"
                            else ")"))
        if lock in SLEEPING and (hardirq or irqs_off):
            found.append(f"{name} takes the sleeping lock {lock} "
                         + ("in IRQ context" if hardirq else "with IRQs off"))
    return found


def find_cycle(edges) -> list[str] | None:
    """A cycle in the lock graph {(a, b)}, as [a, b, ..., a], or None; deterministic."""
    graph: dict[str, list[str]] = {}
    for a, b in sorted(edges):
        if a != b:
            graph.setdefault(a, []).append(b)
    color: dict[str, int] = {}
    stack: list[str] = []

    def dfs(u):
        color[u] = 1
        stack.append(u)
        for v in graph.get(u, []):
            if color.get(v, 0) == 1:
                return stack[stack.index(v):] + [v]
            if color.get(v, 0) == 0:
                r = dfs(v)
                if r:
                    return r
        stack.pop()
        color[u] = 2
        return None

    for u in sorted(graph):
        if color.get(u, 0) == 0:
            r = dfs(u)
            if r:
                return r
    return None


def spinlock_usage(acqs, usage: dict) -> list[tuple[str, str]]:
    """Record how raw spinlocks are taken: 'hardirq' and/or 'irqs-on' (lockdep's usage bits)."""
    new = []
    for name, lock, mode, held, hardirq, irqs_off in acqs:
        if LOCK_KIND[lock] not in SPINNING:
            continue
        bit = "hardirq" if hardirq else ("irqs-on" if not irqs_off else None)
        if bit and bit not in usage.setdefault(lock, set()):
            usage[lock].add(bit)
            new.append((lock, bit))
    return new


# The chapters' designs add their own properties when they are imported (tdxlab/designs/teardown_72.py,
# tdxlab/designs/seamldr_72.py, with add_property()): load them here, so that every reader of PROPERTIES
# (the exercises, the manifest, the command line) sees them whatever it imported first.
import tdxlab.designs  # noqa: E402,F401
