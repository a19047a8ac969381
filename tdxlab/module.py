"""The TDX module layer: its global state and the bring-up leaves, under the ``old`` or ``relaxed`` rule.

Knows the platform's topology (to count LPs and packages) and nothing of the kernel. Each leaf is a pure
function ``(ModuleState, cpu, ...) -> (status name, ModuleState)``; status names are those of
``data/status_codes.toml``.

Facts (keys of data/sources.toml; docs/facts.md states them):

* system states SYSINIT_PENDING=0 .. SYS_SHUTDOWN=4 (m-global-data-h), the leaves' gates and results (their
  handlers, m-sys-init to m-sys-tdmr-init), and the dispatcher gate (m-dispatcher: TDX_SYS_NOT_READY for
  non-bring-up leaves before SYS_READY; TDX_SYS_SHUTDOWN for every leaf but TDH.SYS.LP.SHUTDOWN after shutdown).
* the *old* rule (enforced by TDX_1.5.01, m-sys-lp-init, m-sys-config): LP.INIT only in SYSINIT_DONE; TDH.SYS.CONFIG refuses until
  ``num_of_init_lps >= num_of_lps``, where ``num_of_lps`` counts every BIOS-enabled LP (k-cpu-c, dec-nosmt-lp-count:
  parked ``nosmt`` siblings count).
* the *relaxed* rule (k-tdx-rst-618): LP.INIT any time after TDH.SYS.INIT; an LP must do LP.INIT before its own other
  SEAMCALLs; CONFIG does not count LPs.

Decisions where the sources are silent (dec-open-questions):

* relaxed gates (dec-relaxed-gates): LP.INIT before TDH.SYS.INIT gives TDX_SYS_LP_INIT_NOT_PENDING; CONFIG, KEY.CONFIG and
  TDMR.INIT on an LP without LP.INIT give TDX_SYS_LP_INIT_NOT_DONE (the 1.5 source checks this only for
  SYS.RD/INFO/RDALL, m-sys-rd; under the ``old`` rule the model does the same as that source and lets them
  through, and the checker's ``lp-init-before-seamcall`` property reports them).
* a soft-offlined LP keeps its LP.INIT: offlining does not reset the LP's state in the module (dec-offline-keeps-lp-init).
* after a failed CONFIG the module stays in SYSINIT_DONE (dec-failed-config).

Simplifications: one TDMR, initialized by one TDH.SYS.TDMR.INIT call (the kernel loops per 1 GiB chunk,
k-tdx-c-618); no CPUID/MSR consistency failures; a SEAMCALL is one atomic step, so the module's global lock is
never contended on the kernel's paths (the kernel serializes KEY.CONFIG and TDH.SYS.INIT itself,
k-tdx-c-618). ``global_lock_busy=True`` models a concurrent holder for the leaves that take it (TDX_SYS_BUSY).
"""
from __future__ import annotations

from typing import NamedTuple

from tdxlab.errors import UnknownName

SYSINIT_PENDING, SYSINIT_DONE, SYSCONFIG_DONE, SYS_READY, SYS_SHUTDOWN = range(5)
SYS_STATE_NAMES = ("SYSINIT_PENDING", "SYSINIT_DONE", "SYSCONFIG_DONE", "SYS_READY", "SYS_SHUTDOWN")

RULES = {
    "old": "TDX module 1.0 era (and the public TDX_1.5.01 source): LP.INIT only between TDH.SYS.INIT and "
           "TDH.SYS.CONFIG, and CONFIG needs every BIOS-enabled LP initialized (m-sys-config)",
    "relaxed": "LP.INIT on a CPU any time after TDH.SYS.INIT, before that CPU's other SEAMCALLs (k-tdx-rst-618)",
}

# The leaves the model issues, by their spec names (numbers in data/leaves.toml, m-dispatcher).
SYS_INIT = "TDH.SYS.INIT"
LP_INIT = "TDH.SYS.LP.INIT"
SYS_RD = "TDH.SYS.RD"
SYS_CONFIG = "TDH.SYS.CONFIG"
KEY_CONFIG = "TDH.SYS.KEY.CONFIG"
TDMR_INIT = "TDH.SYS.TDMR.INIT"
LEAVES = (SYS_INIT, LP_INIT, SYS_RD, SYS_CONFIG, KEY_CONFIG, TDMR_INIT)
# Teardown (7.2, kc-tdx-sys-disable): TDH.SYS.DISABLE, leaf 69 in the kernel's tdx.h; not in any public
# module source (the draft spec, lore-rick-2026-03-07). See :func:`sys_disable`.
SYS_DISABLE = "TDH.SYS.DISABLE"
LEAVES += (SYS_DISABLE,)
# How far TDH.SYS.DISABLE has got (ModuleState.disable): not started, interrupted (its progress kept), done.
DISABLE_NONE, DISABLE_INTERRUPTED, DISABLE_DONE = range(3)
# The dispatcher's bring-up whitelist (m-dispatcher): everything else is TDX_SYS_NOT_READY before SYS_READY.
_BRINGUP_LEAVES = frozenset({SYS_INIT, LP_INIT, SYS_RD, SYS_CONFIG, KEY_CONFIG,
                             "TDH.SYS.INFO", "TDH.SYS.RDALL", "TDH.SYS.LP.SHUTDOWN", "TDH.SYS.UPDATE"})

# Results that say "the rule set was broken", as opposed to a race or a platform failure.
RULE_ERRORS = frozenset({"TDX_SYS_LP_INIT_NOT_PENDING", "TDX_SYS_CONFIG_NOT_PENDING", "TDX_SYS_LP_INIT_NOT_DONE"})
# Results that mean "someone else already did it, or is doing it now": a sign of a race (k-tdx-c-618, m-dispatcher).
RACE_RESULTS = frozenset({"TDX_SYS_LP_INIT_DONE", "TDX_SYS_INIT_NOT_PENDING", "TDX_KEY_CONFIGURED",
                          "TDX_SYS_BUSY"})


class ModuleState(NamedTuple):
    """The module's global data (m-dispatcher): system state, LPs initialized, packages keyed, TDMR done.

    ``num_lps`` and ``num_pkgs`` are 0 until TDH.SYS.INIT records them from the MCHECK table.
    ``lp_init`` and ``pkg_keyed`` are bit masks over CPU and package numbers.
    """

    sys: int = SYSINIT_PENDING
    num_lps: int = 0
    num_pkgs: int = 0
    lp_init: int = 0
    pkg_keyed: int = 0
    tdmr_done: bool = False
    disable: int = DISABLE_NONE  # TDH.SYS.DISABLE's progress (teardown, kc-tdx-sys-disable)
    # The runtime update (update_call() below). gen: which module (0 the one loaded at boot, 1 the one
    # SEAMLDR.INSTALL put in its place); upd: UPD_NONE, UPD_SHUT_DOWN (TDH.SYS.SHUTDOWN wrote the handoff
    # data), UPD_INSTALLED (a new module with that handoff, waiting for TDH.SYS.UPDATE) or UPD_NO_HANDOFF
    # (installed over a module nobody shut down); installed: the LPs that ran SEAMLDR.INSTALL;
    # upd_failed: the update step whose leaf failed first (the checker's bookkeeping for the
    # update-stops-on-failure property, not the module's).
    gen: int = 0
    upd: int = 0
    installed: int = 0
    upd_failed: int = 0

    @property
    def sys_name(self) -> str:
        return SYS_STATE_NAMES[self.sys]

    @property
    def num_init_lps(self) -> int:
        return self.lp_init.bit_count()

    def lp_done(self, cpu: int) -> bool:
        return bool(self.lp_init >> cpu & 1)

    def pkg_done(self, pkg: int) -> bool:
        return bool(self.pkg_keyed >> pkg & 1)


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise UnknownName(f"unknown rule {rule!r}: choose one of {', '.join(RULES)}")
    return rule


def call(m: ModuleState, leaf: str, cpu: int, *, rule: str, num_lps: int, num_pkgs: int, package: int,
         global_lock_busy: bool = False, lockout: bool = True) -> tuple[str, ModuleState]:
    """The module's answer to ``leaf`` issued on logical CPU ``cpu`` (in ``package``).

    ``num_lps``/``num_pkgs`` are what MCHECK reports (every BIOS-enabled LP, every package).
    ``lockout=False`` is the what-if module that does not lock out other TDH.SYS.* callers once
    TDH.SYS.DISABLE is going (:func:`sys_disable`).
    """
    if leaf not in LEAVES and leaf not in SEAMLDR_LEAVES:
        raise UnknownName(f"unknown SEAMCALL leaf {leaf!r}: the model issues {', '.join(LEAVES)}")
    if m.disable or leaf == SYS_DISABLE:  # teardown: after (or during) TDH.SYS.DISABLE
        return sys_disable(m, leaf, lockout)
    if leaf in UPDATE_ONLY:  # the runtime update's leaves (update_call(), below)
        return update_call(m, leaf, cpu, rule=rule)
    # Dispatcher gate (m-dispatcher).
    if m.sys == SYS_SHUTDOWN:
        return "TDX_SYS_SHUTDOWN", m
    if m.sys != SYS_READY and leaf not in _BRINGUP_LEAVES:
        return "TDX_SYS_NOT_READY", m
    relaxed = rule == "relaxed"
    lp_done = m.lp_done(cpu)

    if leaf == SYS_INIT:  # m-sys-init: global lock exclusive; only in SYSINIT_PENDING
        if global_lock_busy:
            return "TDX_SYS_BUSY", m
        if m.sys != SYSINIT_PENDING:
            return "TDX_SYS_INIT_NOT_PENDING", m
        return "TDX_SUCCESS", m._replace(sys=SYSINIT_DONE, num_lps=num_lps, num_pkgs=num_pkgs)

    if leaf == LP_INIT:  # m-sys-lp-init, lore-tglx-2022-11-22b (old), k-tdx-rst-618, dec-relaxed-gates (relaxed)
        if m.sys == SYSINIT_PENDING or (not relaxed and m.sys != SYSINIT_DONE):
            return "TDX_SYS_LP_INIT_NOT_PENDING", m
        if lp_done:
            return "TDX_SYS_LP_INIT_DONE", m
        # (the checker's most frequent leaf: built field by field, which is faster than _replace)
        return "TDX_SUCCESS", ModuleState(m.sys, m.num_lps, m.num_pkgs, m.lp_init | 1 << cpu, m.pkg_keyed,
                                          m.tdmr_done, *m[6:])

    if leaf == SYS_RD:  # m-sys-rd: needs LP.INIT on the calling LP; allowed before SYS_READY
        if not lp_done:
            return "TDX_SYS_LP_INIT_NOT_DONE", m
        return "TDX_SUCCESS", m

    if leaf == SYS_CONFIG:  # m-sys-config, lore-tglx-2022-11-22b: SYSINIT_DONE and (old) every LP initialized
        if relaxed and not lp_done:
            return "TDX_SYS_LP_INIT_NOT_DONE", m  # dec-relaxed-gates
        if global_lock_busy:
            return "TDX_SYS_BUSY", m
        if m.sys != SYSINIT_DONE or (not relaxed and m.num_init_lps < m.num_lps):
            return "TDX_SYS_CONFIG_NOT_PENDING", m
        return "TDX_SUCCESS", m._replace(sys=SYSCONFIG_DONE)

    if leaf == KEY_CONFIG:  # m-sys-key-config: once per package; the last package makes the module SYS_READY
        if relaxed and not lp_done:
            return "TDX_SYS_LP_INIT_NOT_DONE", m  # dec-relaxed-gates
        if global_lock_busy:
            return "TDX_SYS_BUSY", m
        if m.sys != SYSCONFIG_DONE:
            return "TDX_SYS_KEY_CONFIG_NOT_PENDING", m
        if m.pkg_done(package):
            return "TDX_KEY_CONFIGURED", m
        keyed = m.pkg_keyed | 1 << package
        ready = keyed.bit_count() >= m.num_pkgs
        return "TDX_SUCCESS", m._replace(pkg_keyed=keyed, sys=SYS_READY if ready else m.sys)

    if leaf == TDMR_INIT:  # m-sys-tdmr-init: only in SYS_READY (the dispatcher gate above); one TDMR, one call
        if relaxed and not lp_done:
            return "TDX_SYS_LP_INIT_NOT_DONE", m  # dec-relaxed-gates
        if m.tdmr_done:
            return "TDX_TDMR_ALREADY_INITIALIZED", m
        return "TDX_SUCCESS", m._replace(tdmr_done=True)
    raise AssertionError(leaf)  # every leaf of LEAVES is handled above


def sys_disable(m: ModuleState, leaf: str, lockout: bool = True) -> tuple[str, ModuleState]:
    """TDH.SYS.DISABLE, and every leaf once it has started (teardown; kc-tdx-sys-disable, dec-sys-disable).

    * The leaf: "After the SEAMCALL completes, the TDX module is disabled and all memory resources
      allocated to TDX are freed and reset"; "This can be a long running operation"; the kernel retries
      TDX_INTERRUPTED_RESUMABLE, which "guarantees forward progress between calls" (kc-tdx-sys-disable).
      The model lets it be interrupted once: the first call returns TDX_INTERRUPTED_RESUMABLE and keeps
      its progress (DISABLE_INTERRUPTED), the next one finishes (dec-sys-disable). So the kernel's
      unbounded retry loop is bounded in the model by the module's state: each retry moves ``disable``
      on, and a retry that moved nothing would return to a state already seen.
    * The contract (lore-rick-2026-03-07: a draft spec, "the implementation isn't done"): once it
      "gets going" it locks out new TDH.SYS.* SEAMCALLs, and after it "no other SEAMCALL can be run ...
      until a full reinitialization is done". The model answers every other leaf, during or after it,
      and a DISABLE after it is done, with TDX_SYS_SHUTDOWN (dec-sys-disable: the sources say only
      "They will return an error"). SEAMCALLs are atomic in the model, so no other TDH.SYS.* call is
      ever in flight when DISABLE runs and the contract's TDX_SYS_BUSY never arises.
    * ``lockout=False``, the what-if module without that contract (another TDH.SYS.* caller keeps
      the module busy): DISABLE answers TDX_SYS_BUSY and makes no progress, every time.

    DISABLE before SYS_READY gets TDX_SYS_NOT_READY, as the dispatcher answers leaves that are not on
    its bring-up list (m-dispatcher), and TDX_SYS_SHUTDOWN in SYS_SHUTDOWN (dec-sys-disable).
    """
    if leaf != SYS_DISABLE or m.disable == DISABLE_DONE or m.sys == SYS_SHUTDOWN:
        return "TDX_SYS_SHUTDOWN", m
    if m.sys != SYS_READY:
        return "TDX_SYS_NOT_READY", m
    if not lockout:
        return "TDX_SYS_BUSY", m
    if m.disable == DISABLE_NONE:
        return "TDX_INTERRUPTED_RESUMABLE", m._replace(disable=DISABLE_INTERRUPTED)
    return "TDX_SUCCESS", m._replace(disable=DISABLE_DONE)


# --- the runtime update of the module (issue 17, item 3; tdxlab/designs/seamldr_72.py) ---------------------
# TDH.SYS.SHUTDOWN (52) and TDH.SYS.UPDATE (53) are TDX module leaves (m-api-defs-h, m-sys-shutdown,
# m-sys-update); SEAMLDR.INSTALL is the P-SEAMLDR's (P_SEAMLDR_INSTALL, bit 63 set, k-seamldr-c-72). The
# module moves SYS_READY -> SYS_SHUTDOWN (SHUTDOWN) -> [SEAMLDR.INSTALL: the new module] SYSINIT_PENDING
# -> SYSINIT_DONE (TDH.SYS.INIT, then LP.INIT per LP) -> SYS_READY (UPDATE, from the handoff data).
SYS_SHUTDOWN_LEAF = "TDH.SYS.SHUTDOWN"
SYS_UPDATE = "TDH.SYS.UPDATE"
SEAMLDR_INSTALL = "SEAMLDR.INSTALL"
UPDATE_ONLY = frozenset({SYS_SHUTDOWN_LEAF, SYS_UPDATE, SEAMLDR_INSTALL})
LEAVES += (SYS_SHUTDOWN_LEAF, SYS_UPDATE)
SEAMLDR_LEAVES = (SEAMLDR_INSTALL,)  # the P-SEAMLDR's: call() takes them too, not being TDX module leaves
# The kernel's update step each leaf belongs to (enum module_update_state, k-seamldr-c-72).
UPDATE_STEP = {SYS_SHUTDOWN_LEAF: 1, SEAMLDR_INSTALL: 2, SYS_INIT: 3, LP_INIT: 3, SYS_UPDATE: 4}
UPD_NONE, UPD_SHUT_DOWN, UPD_INSTALLED, UPD_NO_HANDOFF = range(4)


def update_call(m: ModuleState, leaf: str, cpu: int, *, rule: str) -> tuple[str, ModuleState]:
    """TDH.SYS.SHUTDOWN, SEAMLDR.INSTALL and TDH.SYS.UPDATE.

    * SEAMLDR.INSTALL goes to the P-SEAMLDR, not to the module's dispatcher. The first one of an update
      puts the new module in place (SYSINIT_PENDING, no LP initialized, the handoff data kept if the old
      module wrote it); each later one records its LP. It always succeeds here: the P-SEAMLDR's status
      codes and checks are not in the sources read (dec-seamldr-install).
    * TDH.SYS.SHUTDOWN: only in SYS_READY (the dispatcher's whitelist lacks it: TDX_SYS_NOT_READY;
      TDX_SYS_SHUTDOWN once shut down, m-dispatcher); then SYS_SHUTDOWN with the handoff data written
      (m-sys-shutdown). Its TDX_SYS_BUSY (another LP inside SEAM) cannot happen: a SEAMCALL is one step.
    * TDH.SYS.UPDATE: TDX_SYS_STATE_INCORRECT unless SYSINIT_DONE and, under the old rule (TDX_1.5.01),
      num_of_init_lps >= num_of_lps; TDX_SYS_INVALID_HANDOFF without the old module's handoff
      (m-sys-update); then SYS_READY with the keys and TDMRs restored from the handoff. Under the relaxed
      rule the LP count is not checked (dec-update-lp-count).
    """
    if leaf == SEAMLDR_INSTALL:
        if m.installed == 0 and m.upd != UPD_INSTALLED:  # the first INSTALL of an update: the new module
            upd = UPD_INSTALLED if m.upd == UPD_SHUT_DOWN else UPD_NO_HANDOFF
            return "TDX_SUCCESS", ModuleState(SYSINIT_PENDING, gen=m.gen + 1, upd=upd, installed=1 << cpu,
                                              upd_failed=m.upd_failed)
        return "TDX_SUCCESS", m._replace(installed=m.installed | 1 << cpu)
    if m.sys == SYS_SHUTDOWN:
        return "TDX_SYS_SHUTDOWN", m
    if leaf == SYS_SHUTDOWN_LEAF:
        if m.sys != SYS_READY:
            return "TDX_SYS_NOT_READY", m
        return "TDX_SUCCESS", m._replace(sys=SYS_SHUTDOWN, upd=UPD_SHUT_DOWN, installed=0)
    # TDH.SYS.UPDATE: on the dispatcher's whitelist, so no TDX_SYS_NOT_READY
    if m.sys != SYSINIT_DONE or (rule != "relaxed" and m.num_init_lps < m.num_lps):
        return "TDX_SYS_STATE_INCORRECT", m
    if m.upd != UPD_INSTALLED:
        return "TDX_SYS_INVALID_HANDOFF", m
    return "TDX_SUCCESS", m._replace(sys=SYS_READY, upd=UPD_NONE, installed=0,
                                     pkg_keyed=(1 << m.num_pkgs) - 1, tdmr_done=True)


def note_update_failure(m: ModuleState, leaf: str, status: str) -> ModuleState:
    """Remember the first update step whose leaf failed (the checker's bookkeeping, see ModuleState)."""
    if status != "TDX_SUCCESS" and leaf in UPDATE_STEP and not m.upd_failed and \
            (m.upd != UPD_NONE or leaf == SYS_SHUTDOWN_LEAF):
        return m._replace(upd_failed=UPDATE_STEP[leaf])
    return m
