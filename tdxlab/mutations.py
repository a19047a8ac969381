"""Mutations: named what-ifs that change one rule of a design, refused where they do not apply.

Each design says which mutations apply to it and what each changes there (``Design.mutation_notes``).
"""
from __future__ import annotations

from tdxlab.errors import UnknownName

MUTATIONS = {
    "no-hotplug-lock": "tdx_enable() runs without cpus_read_lock(): CPUs may come and go during "
                       "initialization (k-tdx-c-618)",
    "irqs-on": "the CPU-online path calls tdx_cpu_enable() with IRQs on: the local_irq_save() around it is "
               "removed (6.16's tdx_online_cpu(), Kai's proposal kvm-v18-kai-irqsave), which is what v16 to v18 "
               "did as posted (kvm-v18-2024), against its lockdep assertion (k-tdx-c-618, lore-isaku-2024-01-22)",
    "second-user": "a second in-kernel TDX user calls tdx_cpu_enable() from task context, IRQs on (k-tdx-c-618)",
    "no-vmxon": "a path issues SEAMCALLs without VMXON first: #UD, TDX_SEAMCALL_UD (k-tdxcall-s)",
    "no-kvm-lock": "kvm_online_cpu() and hardware_enable_all() do not take kvm_lock (k-kvm-main-c-68)",
    "kvm-lock-first": "hardware_enable_all() takes kvm_lock before cpus_read_lock(), against the "
                      "documented order (k-kvm-locking-rst)",
    "plain-setup-state": "cpuhp_setup_state() instead of cpuhp_setup_state_cpuslocked() under "
                         "cpus_read_lock() (lore-isaku-2024-02-26, k-cpu-hotplug-rst)",
    # the teardown chapter (tdxlab/designs/teardown_72.py): Kai's fix and the threads' what-ifs
    "kai-fix": "Kai Huang's fix, never merged: tdx_cpu_flush_cache() without lockdep_assert_preemption_disabled(), "
               "__this_cpu_*() instead (lore-kai-2026-04-08)",
    "preempt-disable-offline": "the [BUG] report's fix: preempt_disable() around the flush in tdx_offline_cpu() "
                               "(kc-tdx-cache-flush)",
    "no-offline-flush": "tdx_offline_cpu() does not flush, as in v2 (lore-vishal-2026-03-23)",
    "no-shutdown-flush": "tdx_shutdown_cpu() does not flush: the flush is left to kexec's stop_this_cpu() "
                         "(kc-kvm-tdx-wbinvd)",
    "flush-before-disable": "every CPU flushes before TDH.SYS.DISABLE, as KVM did before 7.2 (kc-tdx-cache-flush)",
    "no-on-each-cpu": "tdx_shutdown() flushes only its own CPU, from the task (kc-tdx-kexec-disable)",
    "panic-during-kexec": "the kernel panics while kexec tears TDX down: kdump's tdx_sys_disable() after the "
                          "syscore shutdown's (k-crash-c-72)",
    "no-lockout": "the TDX module answers TDH.SYS.DISABLE with TDX_SYS_BUSY forever: it does not lock other "
                  "TDH.SYS.* callers out (lore-rick-2026-03-07)",
    # the runtime-update chapter (tdxlab/designs/seamldr_72.py): patches over update-7.2
    "update-no-hotplug-lock": "seamldr_install_module() runs stop_machine_cpuslocked() without cpus_read_lock() "
                              "(k-seamldr-c-72: \"Ensure a stable set of online CPUs\")",
    "no-lp-reset": "tdx_module_shutdown() does not clear tdx_lp_initialized (v10 17/25, lore-chao-2026-05-20)",
    "lp-reset-online-only": "tdx_module_shutdown() clears tdx_lp_initialized of online CPUs only, as the postings "
                            "before v6 did (lore-chao-2026-02-12)",
    "no-sysinit-reset": "tdx_module_shutdown() leaves tdx_module_state.sysinit_done set (v10 17/25)",
    "no-abort": "the update's lockstep moves on after a failed step, as v10 14/25 did before 15/25 "
                "(lore-chao-2026-05-20)",
    "lead-can-go-offline": "the update's lead is a CPU that can be offline, not CPU 0 (k-seamldr-c-72)",
    "rwlock": "an rwlock instead of stop_machine(): the update takes it for write and sends its steps by IPI "
              "(v10 14/25's rejected alternative, lore-chao-2026-05-20)",
    "no-hold-off": "a reader of the module's version without seamldr_lock_module_update() (k-tdx-host-c-72)",
}


def check_mutation(name: str) -> str:
    if name not in MUTATIONS:
        raise UnknownName(f"unknown mutation {name!r}: choose from {', '.join(MUTATIONS)}")
    return name
