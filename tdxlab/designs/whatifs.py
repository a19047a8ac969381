"""What reviewers asked (issue 15, item 5): the what-ifs, each a design in the design language over a shipped
design (:func:`tdxlab.designs.design_over`), checked by a scenario of ``data/scenarios/whatif-*.toml``.

These are not historical designs: no kernel ever shipped them. ``tdxlab designs`` lists them under their own
heading, ``tdxlab check NAME`` and scenarios find them by name, and :data:`WHATIFS` says, for each question,
which designs and scenarios answer it and which sources the answer stands on. Where the research marks an
outcome inferred (docs/research/facts-fidelity.md, section 8), :data:`WHATIFS` says "inferred".

Where a what-if needs the environment to do something the shipped designs never let it do (a second
caller, KVM loaded and unloaded after boot, a hotplug during an initcall), the design class says so in a
method (``roots``, ``event_enabled``, ``fire_event``), like v19-2024's ``create-vm``; the kernel code stays in
the design language.
"""
# ruff: noqa: F821
from __future__ import annotations

from typing import NamedTuple

from tdxlab.designs import design_over, get_design, kvm_616, second_user
from tdxlab.designs.base import second_user_cpu
from tdxlab.kernel.source import Global, Patch, kfunc
from tdxlab.kernel.state import INITIALIZED, TASK
from tdxlab.platform import ONLINE


# --- 1. two concurrent callers of tdx_enable() (6.8 to 7.0: exported, guarded by tdx_module_lock) ---------------
@kfunc("k-tdx-c-618")
def tdx_lp_init_ipi(info):
    tdx_cpu_enable()                                # k-tdx-c-618: IRQs are off in an IPI handler


@kfunc("k-tdx-c-618")
def second_tdx_enable():
    cpus_read_lock()                                # k-tdx-c-618: the caller keeps CPUs from coming online
    on_each_cpu(tdx_lp_init_ipi, NULL, 1)           # k-tdx-c-618: the caller does tdx_cpu_enable() on every CPU
    ret = tdx_enable()
    cpus_read_unlock()
    return ret


SECOND_CALLER = Patch("second-caller", "a second in-kernel user calls tdx_enable() as its kernel-doc asks") \
    .function(tdx_lp_init_ipi).function(second_tdx_enable)
NO_MODULE_LOCK = Patch("no-tdx-module-lock", "tdx_enable() without tdx_module_lock") \
    .delete("tdx_enable", "mutex_lock(tdx_module_lock)").delete("tdx_enable", "mutex_unlock(tdx_module_lock)")


class _SecondCaller:
    """A second task calls ``second_tdx_enable()`` from the start, on the highest CPU online at boot."""

    def roots(self, topology):
        return [*super().roots(topology), ("tdx-user2", second_user_cpu(self.platform), TASK, "second_tdx_enable")]


class TWO_CALLERS_LOCKED(_SecondCaller, design_over("v19-2024", "whatif-two-tdx-enable", SECOND_CALLER)):
    summary = "v19-2024 (6.8 core) with a second caller of tdx_enable(); tdx_module_lock kept"


class TWO_CALLERS_UNLOCKED(_SecondCaller, design_over("v19-2024", "whatif-two-tdx-enable-no-lock", SECOND_CALLER,
                                                       NO_MODULE_LOCK)):
    summary = "v19-2024 (6.8 core) with a second caller of tdx_enable(); tdx_enable() without tdx_module_lock"


# --- 2. KVM as a second VMX user beside 7.1's TDX ----------------------------------------------------------------
@kfunc("k-hw-c")
def kvm_online_cpu(cpu):
    ret = x86_virt_get_ref(X86_FEATURE_VMX)         # k-hw-c, lore-sean-2026-02-13-09
    return ret


@kfunc("k-hw-c")
def kvm_offline_cpu(cpu):
    x86_virt_put_ref(X86_FEATURE_VMX)               # k-hw-c, lore-sean-2026-02-13-09
    return 0


@kfunc("lore-sean-2026-02-13-09")
def tdx_sys_rd_user():
    ret = seamcall_prerr(TDH_SYS_RD)                # lore-sean-2026-02-13-09 "SEAMCALLs from the TDX subsystem"
    return ret


KVM_REFCOUNT = Patch("kvm-refcount", "KVM loads and unloads after boot, with 7.1's x86_virt_get_ref()/put_ref()") \
    .function(kvm_online_cpu).function(kvm_offline_cpu).function(kvm_616.kvm_enable_virtualization) \
    .function(kvm_616.kvm_disable_virtualization).function(tdx_sys_rd_user)
KVM_NO_REFCOUNT = Patch("kvm-no-refcount", "KVM does VMXON where CR4.VMXE is clear and VMXOFF at unload, "
                                           "without the refcount") \
    .replace("kvm_online_cpu", "ret = x86_virt_get_ref(X86_FEATURE_VMX)",
             "if cr4_read_shadow() & X86_CR4_VMXE:\n    return 0\nret = cpu_vmxon()") \
    .replace("kvm_offline_cpu", "x86_virt_put_ref(X86_FEATURE_VMX)", "cpu_vmxoff()")

KVM_OWN_VMXON = Patch("kvm-own-vmxon", "KVM does VMXON and VMXOFF as before 7.1 (-EBUSY where CR4.VMXE is set)") \
    .replace("kvm_online_cpu", "ret = x86_virt_get_ref(X86_FEATURE_VMX)",
             "ret = kvm_arch_enable_virtualization_cpu()") \
    .replace("kvm_offline_cpu", "x86_virt_put_ref(X86_FEATURE_VMX)", "kvm_arch_disable_virtualization_cpu()")

KVM_EVENTS = {"kvm-load": ("modprobe-kvm", "kvm_enable_virtualization",
                           "admin: modprobe kvm_intel (kvm_enable_virtualization())"),
              "kvm-unload": ("rmmod-kvm", "kvm_disable_virtualization",
                             "admin: rmmod kvm_intel (kvm_disable_virtualization())"),
              "tdx-seamcall": ("tdx-user", "tdx_sys_rd_user",
                               "a TDX user issues a SEAMCALL (the model: TDH.SYS.RD, which changes nothing)")}


class _KvmBeside71:
    """KVM loaded (``kvm-load``) and unloaded (``kvm-unload``) after 7.1's initcall, and a later SEAMCALL
    of the TDX subsystem (``tdx-seamcall``), each once."""

    extra_events = tuple(KVM_EVENTS)
    event_functions = {ev: fn for ev, (_, fn, _) in KVM_EVENTS.items()}
    globals = {"kvm_usage_count": Global(0, guarded_by="kvm_usage_lock")}

    def event_enabled(self, m, st, ev):
        if ev not in KVM_EVENTS:
            return super().event_enabled(m, st, ev)
        if not (st.kern.init_done and st.kern.init_ret == 0) or any(st.thread(c) for c, _, _ in KVM_EVENTS.values()):
            return False
        if ev == "kvm-unload":
            return "kvm-load" not in st.events and st.kern.kvm_usage_count > 0
        return True

    def event_label(self, ev):
        return KVM_EVENTS[ev][2] if ev in KVM_EVENTS else super().event_label(ev)

    def fire_event(self, m, x, ev):
        if ev not in KVM_EVENTS:
            return super().fire_event(m, x, ev)
        ctx, fn, label = KVM_EVENTS[ev]
        cpu = max(c for c, cs in enumerate(x.cpus) if cs.hp == ONLINE)
        x.spawn(ctx, cpu, TASK, fn)
        x.note(f"{label}, on CPU{cpu}")
        return fn, "lore-sean-2026-02-13-09"


class KVM_REFCOUNTED(_KvmBeside71, design_over("core-7.1", "whatif-7.1-kvm-refcount", KVM_REFCOUNT)):
    summary = "core-7.1 with KVM loaded and unloaded after boot, through x86_virt_get_ref()/put_ref()"


class KVM_UNCOUNTED(_KvmBeside71, design_over("core-7.1", "whatif-7.1-kvm-no-refcount", KVM_REFCOUNT,
                                               KVM_NO_REFCOUNT)):
    summary = "core-7.1 with KVM loaded and unloaded after boot, doing its own VMXON and VMXOFF (no refcount)"


class KVM_OWN(_KvmBeside71, design_over("core-7.1", "whatif-7.1-kvm-own-vmxon", KVM_REFCOUNT, KVM_OWN_VMXON)):
    summary = "core-7.1 with KVM loaded after boot, doing VMXON as before 7.1 (refused where VMX is on)"


# --- 3. hardware_enable_all() without cpus_read_lock(), with and without KVM's per-CPU guard ---------------------
@kfunc("lore-sean-2022-11-30-47")
def __hardware_enable_nolock():
    if this_cpu_read(hardware_enabled):             # lore-sean-2022-11-30-47
        return 0
    r = kvm_arch_hardware_enable()                  # k-kvm-locking-rst
    if r:
        return -EIO                                 # lore-sean-2022-11-30-47
    this_cpu_write(hardware_enabled, True)          # lore-sean-2022-11-30-47
    return 0


@kfunc("lore-sean-2022-11-30-47")
def hardware_enable_nolock(info):
    __hardware_enable_nolock()                      # lore-sean-2022-11-30-47 (a failure is counted: not modelled)


@kfunc("lore-sean-2024-04-25")
def kvm_online_cpu(cpu):  # noqa: F811 - 6.8's, not the 7.1 one above (already in KVM_REFCOUNT)
    mutex_lock(kvm_lock)                            # lore-sean-2024-04-25
    ret = 0
    if kvm_usage_count:
        ret = __hardware_enable_nolock()            # lore-sean-2024-04-25
    mutex_unlock(kvm_lock)                          # lore-sean-2024-04-25
    return ret


@kfunc("k-kvm-main-c-68, lore-sean-2022-11-30-47")
def kvm_offline_cpu(cpu):  # noqa: F811 - hardware_disable_nolock() folded in
    mutex_lock(kvm_lock)                            # k-kvm-locking-rst
    if kvm_usage_count:
        if this_cpu_read(hardware_enabled):         # lore-sean-2022-11-30-47
            kvm_arch_hardware_disable()             # k-kvm-locking-rst
            this_cpu_write(hardware_enabled, False)     # lore-sean-2022-11-30-47
    mutex_unlock(kvm_lock)                          # k-kvm-locking-rst
    return 0


@kfunc("lore-sean-2024-04-25")
def hardware_enable_all():
    mutex_lock(kvm_lock)                            # lore-sean-2024-04-25 (what-if: no cpus_read_lock() before it)
    if kvm_usage_count:
        kvm_usage_count += 1                        # k-kvm-main-c-68
    else:
        kvm_usage_count = 1                         # k-kvm-main-c-68
        on_each_cpu(hardware_enable_nolock, NULL, 1)    # lore-sean-2024-04-25
    mutex_unlock(kvm_lock)                          # lore-sean-2024-04-25
    return 0


KVM_68_GUARD = Patch("kvm-6.8-guard", "6.8's KVM enabling: __hardware_enable_nolock() with the per-CPU "
                                      "hardware_enabled guard; hardware_enable_all() without cpus_read_lock()") \
    .function(__hardware_enable_nolock).function(hardware_enable_nolock).function(hardware_enable_all) \
    .function(kvm_online_cpu).function(kvm_offline_cpu)
@kfunc("k-kvm-locking-rst", name="kvm_offline_cpu")
def kvm_offline_cpu_no_guard(cpu):
    mutex_lock(kvm_lock)                            # k-kvm-locking-rst
    if kvm_usage_count:
        kvm_arch_hardware_disable()                 # k-kvm-locking-rst
    mutex_unlock(kvm_lock)                          # k-kvm-locking-rst
    return 0


NO_GUARD = Patch("no-hardware-enabled-guard", "without KVM's per-CPU hardware_enabled guard") \
    .delete("__hardware_enable_nolock", "if this_cpu_read(hardware_enabled): return 0") \
    .function(kvm_offline_cpu_no_guard)


class _Kvm68:
    # DEFINE_PER_CPU(bool, hardware_enabled) (lore-sean-2022-11-30-47), beside v19-2024's own per-CPU data
    percpu = {**get_design("v19-2024").percpu, "hardware_enabled": False}


class NO_CPUS_LOCK_GUARD(_Kvm68, design_over("v19-2024", "whatif-enable-all-no-cpus-lock", KVM_68_GUARD)):
    summary = "v19-2024 with 6.8's KVM enabling: hardware_enable_all() without cpus_read_lock(); the guard kept"


class NO_CPUS_LOCK_NO_GUARD(_Kvm68, design_over("v19-2024", "whatif-enable-all-no-cpus-lock-no-guard", KVM_68_GUARD,
                                                NO_GUARD)):
    summary = "v19-2024 with 6.8's KVM enabling: hardware_enable_all() without cpus_read_lock() or the guard"


# --- 4. cpuhp_setup_state() from inside a hotplug callback ---------------------------------------------------------
@kfunc("k-tdx-c-71")
def tdx_late_online(cpu):
    return 0


SETUP_IN_CALLBACK = Patch("setup-in-callback", "tdx_online_cpu() registers another cpuhp state once the module "
                                               "is initialized") \
    .function(tdx_late_online) \
    .replace("tdx_online_cpu", "if ret: x86_virt_put_ref(X86_FEATURE_VMX)",
             "if ret:\n"
             "    x86_virt_put_ref(X86_FEATURE_VMX)\n"
             "    return ret\n"
             "if tdx_module_initialized:\n"
             "    ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, 'virt/tdx:late', tdx_late_online, NULL)\n"
             "    if ret > 0:\n"
             "        ret = 0")
SETUP_IN_CB = design_over("core-7.1", "whatif-setup-state-in-callback", SETUP_IN_CALLBACK,
                          summary="core-7.1 whose tdx_online_cpu() calls cpuhp_setup_state() once the module is up")


# --- 5. a guest KeyID allocated before cpus_read_lock() in TD creation (6.16 __tdx_td_init()) --------------------
@kfunc("k-kvm-tdx-c-616")
def __tdx_td_init():
    # tdx_guest_keyid_alloc(), then atomic_inc(&nr_configured_hkid): from here tdx_offline_cpu() refuses
    nr_configured_hkid = True                       # k-kvm-tdx-c-616
    cpus_read_lock()                                # k-kvm-tdx-c-616
    for pkg in range(topology_max_packages()):
        # the kernel's comment: "Need at least one CPU of the package to be online"
        cpu = first_online_cpu_of_package(pkg)      # k-kvm-tdx-c-616
        if cpu < 0:
            pr_warn_ratelimited("All packages need to have online CPU to create TD. Online CPU and retry.")
            ret = -EIO
            goto .free
    # (TDH.MNG.CREATE and TDH.MNG.KEY.CONFIG on each package come here, under the lock: not modelled)
    cpus_read_unlock()                              # k-kvm-tdx-c-616
    return 0
    label .free
    cpus_read_unlock()                              # k-kvm-tdx-c-616
    nr_configured_hkid = False                      # k-kvm-tdx-c-616 tdx_guest_keyid_free()
    return ret


TD_INIT = Patch("td-init-split", "TD creation as __tdx_td_init(): KeyID first, packages checked under "
                                 "cpus_read_lock()").function(__tdx_td_init)


class _TdInit:
    """``create-td`` runs ``__tdx_td_init()`` in its own task (a process's KVM_TDX_INIT_VM ioctl)."""

    event_functions = {"create-td": "__tdx_td_init"}

    def event_enabled(self, m, st, ev):
        if ev == "create-td":
            return self.tdx_usable(st) and st.thread("create-td") is None
        return super().event_enabled(m, st, ev)

    def event_label(self, ev):
        return "KVM creates a TD: __tdx_td_init()" if ev == "create-td" else super().event_label(ev)

    def fire_event(self, m, x, ev):
        if ev == "create-td":
            x.spawn("create-td", 0, TASK, "__tdx_td_init")
            x.note("a process on CPU0 creates a TD: __tdx_td_init() allocates a guest KeyID first")
            return "__tdx_td_init", "k-kvm-tdx-c-616"
        return super().fire_event(m, x, ev)


class KEYID_EARLY(_TdInit, design_over("kvm-6.16", "whatif-keyid-before-cpus-lock", TD_INIT)):
    summary = "kvm-6.16 with TD creation in steps as __tdx_td_init(): the KeyID first, then the package check"


# --- 6. a CPU hotplug while 7.1's initcall is in init_tdx_module() ------------------------------------------------
class HOTPLUG_IN_INIT(design_over("core-7.1", "whatif-7.1-hotplug-during-init")):
    """``online:N@init`` and ``offline:N@init`` may fire while the initcall is inside ``init_tdx_module()``."""

    summary = "core-7.1 with CPU hotplug allowed while the initcall is in init_tdx_module() (dec-initcall-no-hotplug)"

    def event_enabled(self, m, st, ev):
        base, _, when = ev.partition("@")
        if when == "init" and base.startswith(("online:", "offline:")):
            t = st.thread(self.loader)
            if t is None or not any(f.fn == "init_tdx_module" for f in t.stack):
                return False
            return super().event_enabled(m, st._replace(phase="user"), base)
        return super().event_enabled(m, st, ev)

    def event_label(self, ev):
        base, _, when = ev.partition("@")
        if when == "init":
            return super().event_label(base) + " (while the initcall is in init_tdx_module())"
        return super().event_label(ev)


# --- 7. the per-CPU LP.INIT flag cleared at offline ----------------------------------------------------------------
LP_FLAG_CLEARED = Patch("lp-flag-cleared", "tdx_offline_cpu() clears tdx_lp_initialized") \
    .insert_before("tdx_offline_cpu", "x86_virt_put_ref(X86_FEATURE_VMX)", "this_cpu_write(tdx_lp_initialized, False)")
LP_CLEARED = design_over("core-7.1", "whatif-lp-flag-cleared-at-offline", LP_FLAG_CLEARED,
                         summary="core-7.1 whose tdx_offline_cpu() clears tdx_lp_initialized")


# --- 8. a second in-kernel TDX user that follows the rule: IRQs off around tdx_cpu_enable() -----------------------
IRQS_OFF_USER = Patch("second-user-irqs-off", "the second TDX user calls tdx_cpu_enable() with IRQs off") \
    .replace("second_tdx_user", "ret = tdx_cpu_enable()",
             "local_irq_save(flags)\nret = tdx_cpu_enable()\nlocal_irq_restore(flags)")


class SECOND_USER_IRQS_OFF(design_over("v19-2024", "whatif-second-user-irqs-off", second_user.PATCH, IRQS_OFF_USER)):
    """The ``second-user`` context of the mutation, running the patched ``second_tdx_user()``."""

    summary = "v19-2024 with a second TDX user calling tdx_cpu_enable() with IRQs off (second-user's control)"

    def roots(self, topology):
        return [*super().roots(topology), ("second-user", second_user_cpu(self.platform), TASK, "second_tdx_user")]


# --- the registry ---------------------------------------------------------------------------------------------------
class WhatIf(NamedTuple):
    number: int
    question: str
    scenarios: tuple[str, ...]  # data/scenarios: the case with the kernel's safeguard first, then without
    sources: str  # source keys the answer stands on
    answer: str  # what the model shows, in a sentence (the verdicts themselves are computed)
    inferred: bool  # the research marks the outcome inferred (docs/research/facts-fidelity.md, section 8)


DESIGNS = (TWO_CALLERS_LOCKED, TWO_CALLERS_UNLOCKED, KVM_REFCOUNTED, KVM_UNCOUNTED, KVM_OWN, NO_CPUS_LOCK_GUARD,
           NO_CPUS_LOCK_NO_GUARD, SETUP_IN_CB, KEYID_EARLY, HOTPLUG_IN_INIT, LP_CLEARED, SECOND_USER_IRQS_OFF)
WHATIF_DESIGNS = {d.name: d for d in DESIGNS}

WHATIFS = (
    WhatIf(1, "two concurrent callers of tdx_enable(), with and without tdx_module_lock",
           ("whatif-two-tdx-enable", "whatif-two-tdx-enable-no-lock"), "k-tdx-c-618, k-tdx-c-71",
           "with the mutex the second caller waits and sees the status; without it both run init_tdx_module() "
           "and the module refuses the loser's TDH.SYS.CONFIG. 7.1 has no second caller: tdx_enable() is one "
           "subsys_initcall", True),
    WhatIf(2, "KVM as a second VMX user beside 7.1's TDX, with and without the refcount",
           ("whatif-7.1-kvm-refcount", "whatif-7.1-kvm-no-refcount", "whatif-7.1-kvm-own-vmxon"),
           "lore-sean-2026-02-13-09, k-hw-c",
           "with x86_virt_get_ref()/put_ref() VMX stays on while TDX holds a reference; without it KVM's "
           "unload turns VMX off and the next SEAMCALL raises #UD; KVM's VMXON of before 7.1 cannot even load "
           "beside TDX", False),
    WhatIf(3, "hardware_enable_all() without cpus_read_lock(), with and without KVM's per-CPU guard",
           ("whatif-enable-all-no-cpus-lock", "whatif-enable-all-no-cpus-lock-no-guard"),
           "lore-sean-2024-04-25, lore-sean-2022-11-30-47",
           "the IPI reaches a CPU already in cpu_online_mask before its kvm_online_cpu(); the guard makes the "
           "second enable return 0, without it the second VMXON gets -EBUSY and the CPU fails to come online",
           True),
    WhatIf(4, "cpuhp_setup_state() called from inside a hotplug callback",
           ("whatif-setup-state-in-callback",), "lore-sean-2024-04-23, k-cpu-c",
           "the callback's cpus_read_lock() waits for the hotplug operation's own write lock: a deadlock", True),
    WhatIf(5, "a guest KeyID allocated before cpus_read_lock() in TD creation, as __tdx_td_init() does",
           ("whatif-keyid-before-cpus-lock",), "k-kvm-tdx-c-616",
           "a KeyID can be counted while a package has no online CPU; the check under cpus_read_lock() "
           "catches it: TD creation fails with -EIO and frees the KeyID, no key reaches that package", True),
    WhatIf(6, "a CPU hotplug while 7.1's initcall is still in init_tdx_module()",
           ("whatif-7.1-online-during-init", "whatif-7.1-hotplug-during-init"),
           "k-tdx-c-71, dec-initcall-no-hotplug, dec-relaxed-gates",
           "nothing locks hotplug there: a CPU coming online does its LP.INIT (accepted under the relaxed rule); "
           "a package that loses its last CPU before config_global_keyid() is never keyed and initialization "
           "fails", True),
    WhatIf(7, "the per-CPU LP.INIT flag cleared at offline",
           ("whatif-lp-flag-cleared-at-offline",), "k-tdx-c-618, m-sys-lp-init",
           "the re-onlined CPU issues LP.INIT again; the module answers that it is done (or not pending), "
           "tdx_cpu_enable() fails and the online is refused", True),
    WhatIf(8, "a second in-kernel TDX user that keeps the rule: IRQs off around tdx_cpu_enable()",
           ("whatif-second-user-irqs-off", "irq-race-second-user"), "lore-kai-2024-04-22, k-tdx-c-618",
           "with IRQs off the flag check, LP.INIT and the flag write cannot be split by an IPI: every property "
           "holds, where the second-user mutation (IRQs on) breaks several", True),
)


def get(name: str):
    """A what-if design by name, or None."""
    return WHATIF_DESIGNS.get(name)


__all__ = ["DESIGNS", "WHATIFS", "WHATIF_DESIGNS", "WhatIf", "get"]
