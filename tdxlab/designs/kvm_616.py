"""``kvm-6.16``: KVM's TDX bring-up as merged in 6.16 (k-kvm-tdx-c-616, k-kvm-main-c-616).

``tdx_bringup()`` at module load (the model's loader; the kernel's ``tdx_bringup()`` wraps
``__tdx_bringup()`` below it, turns -ENODEV into 0 and clears ``enable_tdx`` on any error, which the model
leaves out):

1. ``kvm_enable_virtualization()``: under ``kvm_usage_lock``, on the 0 -> 1 transition
   ``cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online", ...)`` (which takes ``cpus_read_lock()``
   itself) does VMXON on every online CPU (k-kvm-main-c-616, order: kvm_usage_lock outside cpu_hotplug_lock);
2. ``cpus_read_lock()``; ``__do_tdx_bringup()``: ``cpuhp_setup_state_cpuslocked("kvm/cpu/tdx:online")``
   runs ``tdx_online_cpu()`` on each online CPU: WARN if CR4.VMXE is clear, ``local_irq_save()``,
   ``tdx_cpu_enable()``, ``local_irq_restore()``; then ``tdx_enable()``; if that fails,
   ``__do_tdx_cleanup()`` removes the state with ``cpuhp_remove_state_nocalls_cpuslocked()``: no teardown
   callback runs; ``cpus_read_unlock()``;
3. on any failure after step 1 (``tdx_bringup_err``): ``kvm_disable_virtualization()``. On the 1 -> 0
   transition it removes ``kvm/cpu:online`` with its teardowns: ``kvm_offline_cpu()`` turns VMX off on
   every online CPU. A failed bring-up leaves VMX off everywhere (research facts-fidelity 2.1).

``tdx_offline_cpu()`` refuses (-EBUSY) to offline the last online CPU of a package while HKIDs are in use.
KVM's static state runs before the dynamic TDX state on the way up and after it on the way down
(k-cpuhotplug-h); on the way down the CPU's workers and tasks leave it between the two (tdxlab.kernel.cpuhp).
The model names the cpuhp state by its name where the kernel keeps the number setup returned.

What the model leaves out, and why it does not change a verdict here (dec-kvm-616-omissions):

* KVM's per-CPU ``virtualization_enabled`` guard (k-kvm-main-c-616): ``kvm_online_cpu()`` returns 0 at once
  on a CPU already enabled, ``kvm_offline_cpu()`` does nothing on one not enabled. On the modelled paths
  neither happens: the cpuhp core tears down only CPUs whose startup succeeded (``cpuhp_rollback_install()``
  stops below the failed CPU, a failed online starts its rollback below the failed state), and
  ``cpuhp_setup_state()`` runs under ``cpus_read_lock()``. The guard matters for suspend, resume and
  shutdown (``kvm_suspend()``, ``kvm_resume()``, ``kvm_shutdown()``), which are not modelled (inferred).
* The checks after ``tdx_enable()`` in ``__tdx_bringup()`` (sysinfo, TD attributes, ``MAX_VCPUS_PER_TD``,
  the misc cgroup) and their ``__tdx_cleanup()`` path: the model's module always passes them.
* The rollback inside ``kvm_enable_virtualization()`` when ``cpuhp_setup_state()`` fails (the cpuhp core's
  rollback, modelled, then ``--kvm_usage_count``) and its ``system_state`` check for a reboot in progress
  (not modelled: no reboot here).
* The task that runs bring-up (``modprobe``) runs on CPU0, which the model never offlines (the scheduler may
  move it at any time; where it runs changes none of its steps, dec-bringup-task-cpu).
"""
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.designs import second_user, tdx_68
from tdxlab.designs.base import Design
from tdxlab.kernel.source import Global, Patch, kfunc

TDX_STATE = "kvm/cpu/tdx:online"
KVM_STATE = "kvm/cpu:online"


@kfunc("k-kvm-main-c-616")
def kvm_online_cpu(cpu):
    ret = kvm_arch_enable_virtualization_cpu()      # k-kvm-main-c-616
    return ret


@kfunc("k-kvm-main-c-616")
def kvm_offline_cpu(cpu):
    kvm_arch_disable_virtualization_cpu()           # k-kvm-main-c-616
    return 0


@kfunc("k-kvm-main-c-616")
def kvm_enable_virtualization():
    mutex_lock(kvm_usage_lock)                      # k-kvm-main-c-616
    if kvm_usage_count:
        kvm_usage_count += 1                        # k-kvm-main-c-616
        mutex_unlock(kvm_usage_lock)                # k-kvm-main-c-616
        return 0
    r = cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online", kvm_online_cpu, kvm_offline_cpu)
    if not r:
        kvm_usage_count += 1                        # k-kvm-main-c-616
    mutex_unlock(kvm_usage_lock)                    # k-kvm-main-c-616
    return r


@kfunc("k-kvm-tdx-c-616")
def tdx_online_cpu(cpu):
    WARN_ON_ONCE(not (cr4_read_shadow() & X86_CR4_VMXE))    # k-kvm-tdx-c-616
    local_irq_save(flags)                           # k-kvm-tdx-c-616, k-tdx-c-618
    r = tdx_cpu_enable()
    local_irq_restore(flags)                        # k-kvm-tdx-c-616
    return r


@kfunc("k-kvm-tdx-c-616")
def tdx_offline_cpu(cpu):
    if not atomic_read(nr_configured_hkid) or other_online_cpu_in_package(cpu):     # k-kvm-tdx-c-616
        return 0
    pr_warn_ratelimited("TDX requires all packages to have an online CPU")
    return -EBUSY


@kfunc("k-kvm-main-c-616")
def kvm_disable_virtualization():
    mutex_lock(kvm_usage_lock)                      # k-kvm-main-c-616
    kvm_usage_count -= 1                            # k-kvm-main-c-616
    if kvm_usage_count:
        mutex_unlock(kvm_usage_lock)                # k-kvm-main-c-616
        return 0
    cpuhp_remove_state("kvm/cpu:online")            # k-kvm-main-c-616
    mutex_unlock(kvm_usage_lock)                    # k-kvm-main-c-616
    return 0


@kfunc("k-kvm-tdx-c-616")
def __do_tdx_cleanup():
    cpuhp_remove_state_nocalls_cpuslocked("kvm/cpu/tdx:online")    # k-kvm-tdx-c-616
    return 0


@kfunc("k-kvm-tdx-c-616")
def __do_tdx_bringup():
    r = cpuhp_setup_state_cpuslocked(CPUHP_AP_ONLINE_DYN, "kvm/cpu/tdx:online", tdx_online_cpu,
                                     tdx_offline_cpu)
    if r < 0:
        return r
    r = tdx_enable()
    if r:
        __do_tdx_cleanup()
    return r


@kfunc("k-kvm-tdx-c-616")
def tdx_bringup():
    r = kvm_enable_virtualization()
    if r:
        return r
    cpus_read_lock()                                # k-kvm-tdx-c-616
    r = __do_tdx_bringup()
    cpus_read_unlock()                              # k-kvm-tdx-c-616
    if r:
        goto .tdx_bringup_err
    return 0
    label .tdx_bringup_err
    kvm_disable_virtualization()
    return r


# (a list outside the class: names with two leading underscores would be mangled inside it)
FUNCTIONS = [*tdx_68.FUNCTIONS, kvm_online_cpu, kvm_offline_cpu, kvm_enable_virtualization, tdx_online_cpu,
             tdx_offline_cpu, kvm_disable_virtualization, __do_tdx_cleanup, __do_tdx_bringup, tdx_bringup]


class KVM_616(Design):
    name = "kvm-6.16"
    era = "Linux 6.16 (2025)"
    summary = ("KVM at load: kvm_enable_virtualization, then under cpus_read_lock "
               "cpuhp_setup_state_cpuslocked(kvm/cpu/tdx:online) and tdx_enable")
    fact = "k-kvm-tdx-c-616"
    loader_function = "tdx_bringup"
    offline_refusal = True
    globals = {"kvm_usage_count": Global(0, guarded_by="kvm_usage_lock")}
    sources = FUNCTIONS
    patches = {
        "no-hotplug-lock": Patch("no-hotplug-lock").delete("tdx_bringup", "cpus_read_lock()")
                                                   .delete("tdx_bringup", "cpus_read_unlock()"),
        "irqs-on": Patch("irqs-on").delete("tdx_online_cpu", "local_irq_save(flags)")
                                   .delete("tdx_online_cpu", "local_irq_restore(flags)"),
        "second-user": second_user.PATCH,
        "no-vmxon": Patch("no-vmxon").replace("kvm_online_cpu", "ret = kvm_arch_enable_virtualization_cpu()",
                                              "ret = 0"),
        "plain-setup-state": Patch("plain-setup-state")
        .replace("__do_tdx_bringup", "r = cpuhp_setup_state_cpuslocked(CPUHP_AP_ONLINE_DYN, 'kvm/cpu/tdx:online', "
                                     "tdx_online_cpu, tdx_offline_cpu)",
                 "r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, 'kvm/cpu/tdx:online', tdx_online_cpu, "
                 "tdx_offline_cpu)")
        .replace("__do_tdx_cleanup", "cpuhp_remove_state_nocalls_cpuslocked('kvm/cpu/tdx:online')",
                 "cpuhp_remove_state_nocalls('kvm/cpu/tdx:online')"),
    }
    mutation_notes = {
        "no-hotplug-lock": "tdx_bringup() calls the cpuslocked setup and tdx_enable() without "
                           "cpus_read_lock()",
        "irqs-on": "tdx_online_cpu() calls tdx_cpu_enable() without local_irq_save()",
        "second-user": "a second TDX user on the last CPU calls tdx_cpu_enable() in task context",
        "no-vmxon": "KVM's kvm/cpu:online callback does no VMXON",
        "plain-setup-state": "tdx_bringup() calls cpuhp_setup_state() under cpus_read_lock()",
    }
