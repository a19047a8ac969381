"""Write data/expected.toml, the verdict manifest, from running the model on every scenario.

Run it after a deliberate model change, read the diff, and explain every surprising verdict in COMMENTS:
the manifest is then checked by tests/test_manifest.py, in the manner of tlaplus/Examples' manifest and the
`Result:` lines of the kernel's litmus tests.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tdxlab.check.explore import explore  # noqa: E402
from tdxlab.scenario import list_scenarios  # noqa: E402

# Why a verdict that might surprise a reader is what it is ("scenario.property": text).
COMMENTS = {
    "nosmt-old-rule.lp-init-before-seamcall": "TDH.SYS.CONFIG answers TDX_SYS_CONFIG_NOT_PENDING: parked "
                                              "siblings count in num_of_lps (dec-nosmt-lp-count) but never do LP.INIT",
    "old-rule-offline-at-boot.lp-init-before-seamcall": "CONFIG refused while CPU1 has no LP.INIT (lore-tglx-2022-11-22b)",
    "online-after-init-old-rule.cpu-online-succeeds": "LP.INIT after CONFIG: TDX_SYS_LP_INIT_NOT_PENDING, "
                                                      "the callback fails and the CPU rolls back offline; "
                                                      "reachable only with parked_siblings_counted = false "
                                                      "(dec-nosmt-lp-count)",
    "irq-race-second-user.no-deadlock": "an IPI spins on sysinit_lock held by the interrupted task on the "
                                        "same CPU (k-tdx-c-618: raw_spin_lock, not irqsave)",
    "irq-race-second-user.lock-order": "sysinit_lock used in hardirq and with IRQs on",
    "irq-race-second-user.init-succeeds": "the IPI's tdx_cpu_enable() gets TDX_SYS_LP_INIT_DONE, so the "
                                          "on_each_cpu() pass reports an error",
    "kvm-6.16-second-user.no-spurious-error": "no IPI is needed: the hotplug thread preempts the task between "
                                              "its flag check and its LP.INIT",
    "offline-without-hotplug-lock.vmx-before-seamcall": "holds: CPU1's workers and tasks leave it before KVM's "
                                                        "static teardown turns VMX off (k-cpuhotplug-h)",
    "offline-without-hotplug-lock.no-spurious-error": "KEY.CONFIG for package 1 queued after CPU1's workers were "
                                                      "unbound runs on CPU0, whose package is keyed: "
                                                      "TDX_KEY_CONFIGURED (dec-smp-call-on-cpu-offline)",
    "seamcall-before-vmxon.kernel-asserts": "6.16's tdx_online_cpu() warns on CR4.VMXE clear (k-kvm-tdx-c-616)",
    "setup-state-under-lock.lock-order": "recursive read of cpu_hotplug_lock",
    "kvm-lock-inversion.no-deadlock": "cpu_up/1 holds cpu_hotplug_lock (write) and waits for kvm_lock; "
                                      "create-vm holds kvm_lock and waits for the read lock",
    "kvm-v18-2024-online-later.no-spurious-error": "holds: cpu_hotplug_lock already keeps the online callback "
                                                   "away from every IPI pass; only the assertion and lockdep's "
                                                   "usage check fire (dec-lockdep-vs-race)",
    "kvm-v18-2024-online-later.kernel-asserts": "v16 to v18: kvm_online_cpu() -> vt_hardware_enable() -> "
                                                "tdx_cpu_enable() in CPU1's hotplug thread, IRQs on "
                                                "(lore-isaku-2024-01-22)",
    "kvm-v18-2024-online-later.lock-order": "sysinit_lock taken with IRQs on (hotplug thread) and in the IPIs "
                                            "of the load pass and hardware_enable_all()",
    "v19-2024-online-later.online-cpus-ready": "v19's .hardware_enable is vmx_hardware_enable: CPU1 gets VMXON "
                                               "and no LP.INIT (lore-isaku-2024-02-26, lore-kai-2024-03-21, "
                                               "lore-sean-2024-04-23)",
    "kvm-v18-kai-online-later.kernel-asserts": "holds: Kai's local_irq_save() around the call in kvm_online_cpu() "
                                               "(lore-kai-2024-04-23)",
    "kvm-lock-inversion.online-cpus-ready": "v19 as posted does no LP.INIT at CPU online: CPU1 comes up while a "
                                            "VM exists (lore-isaku-2024-02-26)",
    "v19-no-kvm-lock.online-cpus-ready": "v19 as posted does no LP.INIT at CPU online: CPU1 comes up while a "
                                         "VM exists (lore-isaku-2024-02-26)",
    "v7-2022-hotplug-td.package-keys": "v7 had no offline refusal; KVM's v19 041/130 added one "
                                       "(lore-isaku-2024-02-26-041)",
    "v19-no-kvm-lock.no-spurious-error": "two VM creations both see kvm_usage_count == 0: the second VMXON "
                                         "gets -EBUSY (cpus_read_lock() is shared by readers)",
    "v19-no-kvm-lock.cpu-online-succeeds": "holds: cpu_hotplug_lock, not kvm_lock, keeps the online "
                                           "callback away from hardware_enable_all()",
    "kvm-6.16-hotplug-any-time.init-succeeds": "both CPUs of package 1 offlined before kvm_intel loads: "
                                               "config_global_keyid() skips the package, TDMR.INIT gets "
                                               "TDX_SYS_NOT_READY (k-tdx-c-618: callers must keep a CPU per package)",
    "kvm-6.16-hotplug-td.cpu-online-succeeds": "holds: the -EBUSY refusal of package 1's last CPU is "
                                               "intended (k-kvm-tdx-c-616)",
    "v19-2024-hotplug-td.package-keys": "holds: v19 041/130 refuses to offline package 1's last CPU while a "
                                        "KeyID is configured (lore-isaku-2024-02-26-041)",
    "v19-2024-hotplug-td.cpu-online-succeeds": "holds: the -EBUSY refusal of package 1's last CPU is intended "
                                               "(lore-isaku-2024-02-26-041)",
    "reonline-forgets-lp-init.online-cpus-ready": "the never-cleared tdx_lp_initialized flag (k-tdx-c-618) skips "
                                                  "LP.INIT the module forgot (dec-offline-keeps-lp-init, offline_keeps_lp_init = "
                                                  "false)",
    "no-module-loaded.init-succeeds": "VMfailInvalid: TDX_SEAMCALL_VMFAILINVALID, -ENODEV (k-tdx-c-618)",
    "v7-2022-online-later.online-cpus-ready": "v7 has no CPU-online callback (lore-tglx-2022-11-22b)",
    # the what-ifs reviewers asked (issue 15 item 5; tdxlab/designs/whatifs.py, docs/whatifs.md)
    "whatif-two-tdx-enable.init-succeeds": "holds: tdx_module_lock makes the second caller wait and read the "
                                           "status the first left (k-tdx-c-618); 7.1 has no second caller: "
                                           "tdx_enable() is one subsys_initcall (k-tdx-c-71)",
    "whatif-two-tdx-enable-no-lock.init-succeeds": "without tdx_module_lock both callers run init_tdx_module(): "
                                                   "the later TDH.SYS.CONFIG gets TDX_SYS_CONFIG_NOT_PENDING and "
                                                   "KVM's bring-up returns -EIO (k-tdx-c-618; outcome inferred)",
    "whatif-two-tdx-enable-no-lock.lp-init-before-seamcall": "the module refuses the second TDH.SYS.CONFIG "
                                                             "(TDX_SYS_CONFIG_NOT_PENDING, m-sys-config): a rule "
                                                             "error, not a missing LP.INIT",
    "whatif-7.1-kvm-refcount.vmx-before-seamcall": "holds: KVM's x86_virt_put_ref() at unload leaves TDX's "
                                                   "reference, so VMX stays on (lore-sean-2026-02-13-09)",
    "whatif-7.1-kvm-no-refcount.vmx-before-seamcall": "KVM's unload does VMXOFF on every CPU under TDX; the next "
                                                      "SEAMCALL raises #UD (TDX_SEAMCALL_UD), the reason patch 09 "
                                                      "gives for the refcount (lore-sean-2026-02-13-09)",
    "whatif-7.1-kvm-own-vmxon.no-spurious-error": "KVM's VMXON of before 7.1 finds CR4.VMXE set by TDX: -EBUSY, "
                                                  "so kvm/cpu:online fails to install and KVM cannot load; TDX "
                                                  "keeps VMX (k-hw-c; inferred)",
    "whatif-enable-all-no-cpus-lock.cpu-online-succeeds": "holds: the IPI enables CPU1 before its "
                                                          "kvm_online_cpu() does; the per-CPU hardware_enabled "
                                                          "guard makes the second enable return 0 "
                                                          "(lore-sean-2022-11-30-47)",
    "whatif-enable-all-no-cpus-lock-no-guard.cpu-online-succeeds": "hardware_enable_all()'s IPI enables CPU1 "
                                                                   "between cpu_online_mask and kvm_online_cpu(), "
                                                                   "whose VMXON then gets -EBUSY: -EIO, CPU1 "
                                                                   "stays offline (lore-sean-2024-04-25: what "
                                                                   "cpus_read_lock() prevented; outcome inferred)",
    "whatif-enable-all-no-cpus-lock-no-guard.no-spurious-error": "the same double VMXON: -EBUSY "
                                                                 "(lore-sean-2024-04-25)",
    "whatif-setup-state-in-callback.no-deadlock": "cpu_up/1 holds cpu_hotplug_lock for write for the whole "
                                                  "operation, and its callback's cpuhp_setup_state() waits to "
                                                  "read it (k-cpu-c, lore-sean-2024-04-23; inferred)",
    "whatif-setup-state-in-callback.lock-order": "the callback takes cpu_hotplug_lock, which its own hotplug "
                                                 "operation holds (k-cpu-c)",
    "whatif-keyid-before-cpus-lock.package-keys": "a KeyID is counted (nr_configured_hkid) while package 1 has "
                                                  "no online CPU; the check under cpus_read_lock() then fails TD "
                                                  "creation with -EIO and frees it, and no key reaches package 1 "
                                                  "(k-kvm-tdx-c-616; the property is stricter than the harm)",
    "whatif-7.1-online-during-init.online-cpus-ready": "holds: CPU1's virt/tdx:online callback does its LP.INIT "
                                                       "while init_tdx_module() runs, which the relaxed rule "
                                                       "accepts after TDH.SYS.CONFIG (k-tdx-c-71, "
                                                       "dec-relaxed-gates; inferred)",
    "whatif-7.1-hotplug-during-init.init-succeeds": "CPU1, package 1's only CPU, goes offline while "
                                                    "init_tdx_module() runs without a hotplug lock: package 1 is "
                                                    "never keyed and initialization fails (k-tdx-c-71; inferred, "
                                                    "against dec-initcall-no-hotplug)",
    "whatif-7.1-hotplug-during-init.no-spurious-error": "CPU1 goes while KEY.CONFIG's work is queued on it; the "
                                                        "work runs on CPU0, whose package is keyed already: "
                                                        "TDX_KEY_CONFIGURED (dec-smp-call-on-cpu-offline)",
    "whatif-lp-flag-cleared-at-offline.cpu-online-succeeds": "the re-onlined CPU1 issues LP.INIT again; the "
                                                             "module kept its LP.INIT (dec-offline-keeps-lp-init) "
                                                             "and answers TDX_SYS_LP_INIT_DONE: tdx_cpu_enable() "
                                                             "fails, CPU1 stays offline (k-tdx-c-618, "
                                                             "m-sys-lp-init; inferred)",
    "whatif-lp-flag-cleared-at-offline.no-spurious-error": "the same TDX_SYS_LP_INIT_DONE, which the model "
                                                           "counts as a race result (m-sys-lp-init)",
    "whatif-second-user-irqs-off.no-deadlock": "holds: with IRQs off the pass's IPI waits until the second user "
                                               "has left tdx_cpu_enable() (k-tdx-c-618, lore-kai-2024-04-22); "
                                               "irq-race-second-user is the same user with IRQs on",
    # the teardown chapter (issue 17 items 1-2; tdxlab/designs/teardown_72.py, notebook 08)
    "teardown-offline-assert.kernel-asserts": "the open bug: lockdep_assert_preemption_disabled() in "
                                              "tdx_cpu_flush_cache(), reached from tdx_offline_cpu() in the "
                                              "preemptible cpuhp/1 (k-tdx-c-72, kc-tdx-cache-flush)",
    "teardown-offline-assert.context-asserts": "the same assertion, the open bug (lore-kai-2026-04-08)",
    "teardown-offline-assert.flush-on-own-cpu": "holds: the hotplug thread is bound to CPU1, so the flush "
                                                "stays there (lore-kai-2026-03-02b)",
    "teardown-offline-kai-fix.context-asserts": "holds: Kai's fix drops the assertion (lore-kai-2026-04-08)",
    "teardown-report-fix.context-asserts": "holds: preempt_disable() around the flush, the [BUG] report's fix",
    "teardown-no-lockout.no-seamcall-after-disable": "holds, but no property sees the loop: TDH.SYS.DISABLE "
                                                     "answers TDX_SYS_BUSY for ever and kexec never reaches "
                                                     "machine_kexec() (tests/test_teardown.py)",
    "teardown-no-offline-flush.flushed-before-kexec": "holds: the offlined CPU went through hlt_play_dead()'s "
                                                      "WBINVD (lore-kai-2026-03-09); v2 was not wrong, the "
                                                      "flush at offline is for robustness",
    "teardown-flush-before-disable.flushed-before-kexec": "TDH.SYS.DISABLE marks CPU0 again after its flush "
                                                          "(kc-tdx-cache-flush)",
    "teardown-no-shutdown-flush.flushed-before-kexec": "no early flush: both CPUs are still marked when kexec "
                                                       "stops them, so stop_this_cpu() must flush "
                                                       "(kc-kvm-tdx-wbinvd)",
    "teardown-no-on-each-cpu.flushed-before-kexec": "only CPU0 is flushed: CPU1 is still marked",
    "teardown-no-on-each-cpu.flush-on-own-cpu": "the kexec task, which could migrate, runs the WBINVD "
                                                "(lore-nikolay-migration)",
    "teardown-panic-during-kexec.no-seamcall-after-disable": "kdump's TDH.SYS.DISABLE after the syscore "
                                                            "shutdown's finished: the module refuses it "
                                                            "(dec-sys-disable)",
    "teardown-panic-during-kexec.vmx-before-seamcall": "tdx_shutdown_cpu() already dropped VMX on CPU0: kdump's "
                                                       "SEAMCALL raises #UD (TDX_SEAMCALL_UD, which "
                                                       "tdx_sys_disable() does not print)",
    # the runtime-update chapter (issue 17 item 3; tdxlab/designs/seamldr_72.py, tests/test_update.py)
    "update-no-hotplug-lock.kernel-asserts": "lockdep_assert_cpus_held() in stop_machine_cpuslocked() "
                                             "(k-stop-machine-c)",
    "update-no-hotplug-lock.update-cpus-stable": "CPU1 enters cpu_online_mask while the stoppers run on CPU0 "
                                                 "alone",
    "update-no-hotplug-lock.no-deadlock": "num_online_cpus() is 2 but one stopper acknowledges: the state "
                                          "never moves on and every stopper spins",
    "update-no-hotplug-lock.update-seamcalls-only": "cpu_up/1's tdx_online_cpu() does LP.INIT on the shut-down "
                                                    "module: TDX_SYS_SHUTDOWN",
    "update-no-hotplug-lock.vmx-before-seamcall": "CPU1 is in cpu_online_mask but its online callback has not "
                                                  "done VMXON when the stoppers start: SEAMLDR.INSTALL raises #UD",
    "update-no-lp-reset.update-after-lp-init": "every tdx_cpu_enable() returns 0 on its stale flag; "
                                               "TDH.SYS.UPDATE gets TDX_SYS_STATE_INCORRECT (m-sys-update)",
    "update-no-lp-reset.lp-init-before-seamcall": "CPU 0's TDH.SYS.UPDATE goes to a module it never did LP.INIT on",
    "update-lp-reset-online-only.online-cpus-ready": "CPU1, offline during the update, keeps its stale flag and "
                                                     "skips LP.INIT on the new module when it comes back",
    "update-lead-offline.online-cpus-ready": "no CPU ran SHUTDOWN or UPDATE: SEAMLDR.INSTALL replaced a live "
                                             "module that nobody initialized, while tdx_module_state says ready",
    "update-lead-offline.package-keys": "the same new module: no TDH.SYS.UPDATE restored its keys",
    "update-lead-offline.update-seamcalls-only": "CPU1's online callback calls LP.INIT on the uninitialized new "
                                                 "module",
    "update-stale-sysinit.lp-init-before-seamcall": "nobody runs TDH.SYS.INIT on the new module: LP.INIT gets "
                                                    "TDX_SYS_LP_INIT_NOT_PENDING and the update stops at "
                                                    "MODULE_UPDATE_CPU_INIT",
    "update-stale-sysinit.update-stops-on-failure": "holds: the failed MODULE_UPDATE_CPU_INIT stops every CPU "
                                                    "there (v10 15/25)",
    "update-no-abort.update-stops-on-failure": "the skeleton moves on after the failed CPU_INIT: TDH.SYS.UPDATE "
                                               "runs anyway",
    "update-no-abort.update-after-lp-init": "that TDH.SYS.UPDATE comes before any LP.INIT on the new module",
    "update-rwlock.no-deadlock": "an interrupt handler on CPU1 spins on the rwlock with IRQs off, the update's "
                                 "IPI never reaches CPU1, CPU 0 spins for CPU1's acknowledgement (v10 14/25: "
                                 "\"CPUs spinning with IRQs disabled cannot be directed to perform update work\")",
    "update-rwlock.lock-order": "tdx_update_lock is taken for read in IRQ context and for write with IRQs on: "
                                "lockdep's inconsistent lock state",
    "update-no-hold-off.update-holds-off-readers": "version_show() is preempted between its two reads and the "
                                                   "whole update runs: it prints 1.0, a version of no module",
    "update-hold-off.update-holds-off-readers": "holds: preempt_disable() keeps stop_machine() from starting "
                                                "while version_show() reads (k-seamldr-c-72)",
    "update-offline-old-rule.update-after-lp-init": "holds: CPU1 is not in cpu_online_mask; TDH.SYS.UPDATE "
                                                    "still fails with TDX_SYS_STATE_INCORRECT (every LP counts "
                                                    "under the old rule, dec-update-lp-count)",
}


def main() -> int:
    out = ["# Expected verdicts and distinct-state counts, one table per scenario of data/scenarios/.",
           "# Written by scripts/make_manifest.py from running the model; checked by tests/test_manifest.py.",
           "# A changed count or verdict is a changed model: explain it here before you commit it.",
           "# Counts are of the default search (every reduction on). Since sleep sets joined the owned-CPU",
           "# steps (tdxlab/check/sleep.py) irq-race-second-user has 192 states (was 194) and v19-no-kvm-lock",
           "# 598 (was 606): states one owned-CPU step away from visited ones; every verdict is unchanged.",
           "# Since the designs are compiled from the design language (tdxlab/kernel/source.py),",
           "# tdx_offline_cpu()'s refusal is one step, not two: the check of the KeyIDs and the package",
           "# (it reads shared state: a step) and then pr_warn() and return -EBUSY (local: they touch only",
           "# the context's own registers), where the hand-written list made setting -EBUSY a step of its",
           "# own. So core-7.1-hotplug has 223 states (was 227) and kvm-6.16-hotplug-td 126 (was 128);",
           "# every verdict and counterexample length is unchanged.",
           "# Issue 15 item 3 (docs/research/facts-fidelity.md 2 to 4, tests/test_fidelity.py). (1) 6.16's failed",
           "# bring-up: __tdx_bringup() removes kvm/cpu/tdx:online with cpuhp_remove_state_nocalls_cpuslocked() and",
           "# then calls kvm_disable_virtualization(), which removes kvm/cpu:online with its teardowns: VMXOFF on",
           "# every online CPU (3829d81b6958). Every kvm-6.16 run whose bring-up fails is that much longer:",
           "# no-module-loaded and seamcall-before-vmxon 37 states (were 24), init-succeeds 36 steps (was 23);",
           "# old-rule-offline-at-boot 43 states (was 38), init-succeeds 36 steps (was 30);",
           "# kvm-6.16-hotplug-any-time 1501 states (was 1459: this and the offline order of (2)),",
           "# init-succeeds 60 steps (was 54);",
           "# kvm-6.16-second-user 434 states (was 408), every verdict and length unchanged. (2) CPU offline",
           "# order (include/linux/cpuhotplug.h): the dynamic states are torn down, then the CPU's workers are",
           "# unbound and its tasks leave (CPUHP_AP_WORKQUEUE_ONLINE, CPUHP_AP_SCHED_WAIT_EMPTY), then KVM's",
           "# static state does VMXOFF; smp_call_on_cpu() work queued after the unbind runs on another CPU.",
           "# offline-without-hotplug-lock: vmx-before-seamcall holds (was violated, 44 steps: KEY.CONFIG's",
           "# worker on CPU1 after VMXOFF, which the kernel's order rules out); no-spurious-error is violated",
           "# (43 steps: that work runs on CPU0, TDX_KEY_CONFIGURED); init-succeeds 58 steps (was 51: the",
           "# clean-up of (1)); 223 states (was 224). (3) cpuhp callbacks are looked up when each step runs, not",
           "# listed when the operation starts; it matters only where a state is registered while a CPU is",
           "# mid-hotplug, which the locks of the shipped designs rule out (tests/test_fidelity.py builds such",
           "# a run with a mutation). (4) v7-2022: the caller does VMXON, tdx_enable() takes tdx_module_lock, then",
           "# cpus_read_lock(): v7-2022-boot and v7-2022-online-later are unchanged.",
           "# Issue 15 item 2 (docs/research/facts-fidelity.md 1.1-1.7, tests/test_fidelity_v19.py): v19-2024 is",
           "# v19 as posted. Its kvm_online_cpu() and hardware_enable_nolock() do VMXON only (023/130: no",
           "# tdx_cpu_enable() and no local_irq_save() at CPU online); vmx_off skips the CPUs whose VMXON failed (a",
           "# per-CPU cpumask bit); a per-CPU failure returns -EIO; kvm_offline_cpu() has 041/130's refusal under",
           "# kvm_lock. Hence online-cpus-ready is violated wherever a CPU comes online while a VM exists:",
           "# kvm-lock-inversion (38 steps) and v19-no-kvm-lock (34), which now have 135 states (was 137) and 575",
           "# (was 598): the online callback has no tdx_cpu_enable() steps left. v19-2024-hotplug-td: package-keys",
           "# holds (was violated, 66 steps) and 319 states (was 308: the refused offline and its -EBUSY path).",
           "# v19-irqs-on, named after the premise the research disproved, is gone: its story is now",
           "# kvm-v18-2024-online-later (design kvm-v18-2024, v16 to v18 as posted: the same verdicts and",
           "# counterexample lengths, 138 states, was 134: the cpumask bit), beside v19-2024-online-later and",
           "# kvm-v18-kai-online-later (Kai's proposal). v19-2024-boot and irq-race-second-user are unchanged.",
           "# v7-2022-hotplug-td is new: v19-2024-hotplug-td's old story (no offline refusal) told of v7.",
           "# Issue 17 (the teardown chapter, tdxlab/designs/teardown_72.py): four properties join,",
           "# no-seamcall-after-disable, flushed-before-kexec, flush-on-own-cpu and context-asserts. They observe",
           "# facts only the teardown designs record (TDH.SYS.DISABLE, wbinvd(), machine_kexec(), the design's",
           "# cache_state_incoherent and its context assertions), so they hold in every earlier scenario and",
           "# no earlier count changes; the teardown-* scenarios are new.",
           "# Issue 17 item 3 (the runtime-update chapter, tdxlab/designs/seamldr_72.py): five properties",
           "# join, update-seamcalls-only, update-after-lp-init, update-stops-on-failure (facts recorded only",
           "# by TDH.SYS.SHUTDOWN, SEAMLDR.INSTALL, TDH.SYS.UPDATE and what follows them), update-cpus-stable",
           "# and update-holds-off-readers (state checks that read only stop_machine()'s stoppers and",
           "# version_show()). No earlier design has any of these, so they hold in every earlier scenario and",
           "# no earlier count changes; the update-* scenarios are new.",
           "# Properties apply to the designs of their chapter (tdxlab/check/properties.py: Property.chapter,",
           "# Design.chapters): a check decides and reports only those, so each scenario lists only the",
           "# properties that apply to its design: the ten bring-up ones everywhere, the four teardown ones",
           "# only for teardown-7.2 and its patches, the five update ones only for update-7.2 and its",
           "# patches. Before, every scenario listed all of them, and the other chapters' always held there,",
           "# vacuously. No count or verdict of a listed property changes: the search does not depend on them.",
           "# Issue 14 (speed): while sleep sets are on, a state's steps are taken IPI deliveries first, then",
           "# tasks, IPI handlers, hotplug threads, events (tdxlab/check/explore.py: _sleep_rank). Any order is",
           "# sound; it decides which of the equivalent interleavings the sleep sets keep, so transition counts",
           "# change (v7-2022 2x2x2 --hotplug: 197,292 transitions, was 242,015; this manifest 51,094, was 51,009).",
           "# whatif-two-tdx-enable has 226 states (was 224) and whatif-two-tdx-enable-no-lock 306 (was 304):",
           "# states one owned-CPU step away from visited ones, which the old order skipped (tdxlab/check/sleep.py).",
           "# Every verdict and counterexample length is unchanged (benchmarks/check_reductions.py).",
           "# Then a context's return got a footprint of its own (tdxlab/check/sleep.py): to its parent, or as",
           "# the root to Design.root_finished, it reads only its registers and writes what it replaced; it was",
           "# \"everything\". Sleep sets skip more: v7-2022 2x2x2 --hotplug 180,693 transitions, this manifest",
           "# 51,043; irq-race-second-user has 190 states (was 192) and whatif-second-user-irqs-off 120 (was",
           "# 124), states one owned-CPU step away from visited ones. Every verdict and length is unchanged.",
           "# Then the hotplug core's own steps (tdxlab/kernel/cpuhp.py, Instr.hotplug_core) got a footprint of",
           "# their own: every CPU's state, the IPIs pending, the LP.INIT bits and cpuhp_states, where they read",
           "# everything; a context that ends writes its CPU's rules (it leaves the CPU). Only transitions",
           "# change: v7-2022 2x2x2 --hotplug 170,487, this manifest 51,022; no state count, verdict or length.",
           ""]
    for name, sc in list_scenarios().items():
        r = explore(sc)
        assert r.complete, name
        out.append(f'["{name}"]')
        out.append(f"states = {r.states}")
        out.append(f"transitions = {r.transitions}")
        for p in r.verdicts:  # the properties that apply to the scenario's design, in PROPERTIES order
            v = r.verdicts[p]
            c = COMMENTS.get(f"{name}.{p}")
            line = f'"{p}" = "{"holds" if v.holds else "violated"}"'
            if v.holds is False:
                line += f"  # {len(v.path)} steps" + (f": {c}" if c else "")
            elif c:
                line += f"  # {c}"
            out.append(line)
        out.append("")
    (ROOT / "data" / "expected.toml").write_text("\n".join(out))
    print(f"wrote {ROOT / 'data' / 'expected.toml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
