"""What the kernel layer records about a step, and who observes it.

The model records neutral *facts* about what a step did (a kernel check fired, a SEAMCALL went to a CPU
outside VMX operation, a module rule refused a leaf, ...), never property names. A property observes the
facts it cares about: :func:`observe` adds it to the table below, which the machine consults when a step
recorded facts (rarely: most steps record none), giving the step's ``events``, ``(property, detail)``
pairs, which the checker, the shortest-path search and the stepper read.

The shipped properties register themselves in :mod:`tdxlab.check.properties`; the table loads that
module the first time it is used. A user adds a property in a cell with
:func:`tdxlab.check.properties.add_property`.
"""
from __future__ import annotations

from typing import Callable

# The facts the model records, with what each means (the ``detail`` that comes with it says more).
FACTS = {
    "kernel-check": "a kernel check fired: lockdep_assert_irqs_disabled(), lockdep_assert_cpus_held(), "
                    "WARN_ON_ONCE(), or a context returned with IRQs or preemption still disabled",
    "seamcall-outside-vmx": "a SEAMCALL on a CPU that is not post-VMXON (#UD: TDX_SEAMCALL_UD)",
    "seamcall-before-lp-init": "a SEAMCALL other than TDH.SYS.INIT and TDH.SYS.LP.INIT on a CPU before its "
                               "TDH.SYS.LP.INIT",
    "module-rule-refused": "the module refused a leaf by its LP.INIT rule (TDX_SYS_LP_INIT_NOT_PENDING, "
                           "TDX_SYS_CONFIG_NOT_PENDING, TDX_SYS_LP_INIT_NOT_DONE)",
    "module-already-done": "the module answered that another context already did it (TDX_SYS_LP_INIT_DONE, "
                           "TDX_SYS_BUSY, a second TDH.SYS.INIT)",
    "vmxon-busy": "VMXON on a CPU whose CR4.VMXE another context already set (-EBUSY)",
    "bring-up-returned-error": "the bring-up path (modprobe or the initcall) returned an error",
    "hotplug-request-failed": "a CPU online or offline request failed (an offline refused on purpose "
                              "excepted)",
    # the teardown chapter (tdxlab.kernel.teardown)
    "seamcall-after-disable": "a SEAMCALL after TDH.SYS.DISABLE started (its own retries excepted)",
    "kexec-dirty-cache": "kexec stops the CPUs while a CPU in cpu_online_mask still carries "
                         "cache_state_incoherent",
    "flush-may-migrate": "a WBINVD of tdx_cpu_flush_cache() in a context that could move to another CPU "
                         "before it clears the mark",
    "context-assert": "lockdep_assert_preemption_disabled() or lockdep_assert_irqs_disabled() fired in a "
                      "design of the teardown chapter",
    # the runtime-update chapter (tdxlab.kernel.update)
    "seamcall-mid-update": "a SEAMCALL other than the update's own (TDH.SYS.SHUTDOWN, SEAMLDR.INSTALL, "
                           "TDH.SYS.INIT, TDH.SYS.LP.INIT, TDH.SYS.UPDATE from the stop_machine() callback) "
                           "while the module is shut down or the new one waits for TDH.SYS.UPDATE",
    "update-before-lp-init": "TDH.SYS.UPDATE while a CPU in cpu_online_mask has not done LP.INIT on the new "
                             "module",
    "update-step-after-failure": "the update's callback issues a leaf of a later step after a leaf of an "
                                 "earlier step failed",
}

_OBSERVERS: dict[str, list[tuple[str, Callable | None]]] = {}
_loaded = False


def observe(prop: str, *kinds: str, when: Callable[[str], bool] | None = None) -> None:
    """Property ``prop`` is violated by a step that records a fact of one of ``kinds`` (and, with
    ``when``, whose detail satisfies it)."""
    for k in kinds:
        if k not in FACTS:
            from tdxlab.errors import UnknownName
            raise UnknownName(f"unknown fact {k!r}: the model records {', '.join(FACTS)}")
        entries = _OBSERVERS.setdefault(k, [])
        if (prop, when) not in entries:
            entries.append((prop, when))
    _cache.clear()


def unobserve(prop: str) -> None:
    """Property ``prop`` observes nothing any more."""
    for entries in _OBSERVERS.values():
        entries[:] = [e for e in entries if e[0] != prop]
    _cache.clear()


def observers() -> dict[str, list[str]]:
    """Fact kind -> the properties that observe it."""
    _load()
    return {k: [p for p, _ in v] for k, v in _OBSERVERS.items()}


_cache: dict = {}


def events_of(facts: tuple) -> tuple:
    """The ``(property, detail)`` events of a step that recorded ``facts`` (``(kind, detail)`` pairs)."""
    if not _loaded:
        _load()
    out = []
    for kind, detail in facts:
        for prop, when in _OBSERVERS.get(kind, ()):
            if when is None or when(detail):
                out.append((prop, detail))
    return tuple(out)


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        import tdxlab.check.properties  # noqa: F401 - registers the shipped properties' observers
