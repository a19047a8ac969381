"""``core-7.1``: VMXON and TDX module initialization in the core kernel (the 16-patch series merged for
7.1; k-tdx-c-71, k-hw-c, lore-sean-2026-02-13).

``subsys_initcall(tdx_enable)`` runs during boot, before user space: ``cpuhp_setup_state("virt/tdx:online",
tdx_online_cpu, tdx_offline_cpu)`` (plain: it takes the hotplug lock itself) runs ``tdx_online_cpu()`` on
every online CPU: ``x86_virt_get_ref(X86_FEATURE_VMX)`` (VMXON on the CPU's first user), then
``tdx_cpu_enable()`` with no IRQ rule, dropping the reference on failure; then ``init_tdx_module()``
**without** any hotplug lock; on failure the state is removed. ``tdx_offline_cpu()`` refuses the last
online CPU of a package while guest KeyIDs are allocated, otherwise drops the VMX reference.

The offline refusal in the core ``tdx_offline_cpu()`` is what the series' later patches made of it: patch
13 (kc-eac90a5ba0aa) moved it there from KVM's own cpuhp state, and patch 14
(afe31de159bf, kc-afe31de159bf, k-tdx-c-71-offline) made its test ``ida_is_empty()``. At patch 11
(165e77353831, k-tdx-c-71) alone the core's callback only dropped the VMX reference and KVM refused in a
second dynamic state; the model shows the merged result.

What the model leaves out (dec-core-71-omissions):

* The syscore ops registered after a successful ``init_tdx_module()`` (k-tdx-c-71): ``tdx_suspend()``
  drops the CPU's VMX reference and ``tdx_resume()`` retakes it (WARN if that fails); ``tdx_shutdown()``
  drops it on every CPU by IPI. No suspend, resume or shutdown happens in the model.
* ``x86_virt_get_ref()`` failing (k-hw-c): -EOPNOTSUPP (no VMX, or the boot-time root VMCS allocation
  failed), -EBUSY (CR4.VMXE already set by a VMXON outside the refcount), -EFAULT (VMXON faulted, e.g.
  IA32_FEAT_CTL). In the model it fails only with -EBUSY, when something did VMXON outside the refcount;
  the other two never happen.
* ``echo on > /sys/devices/system/cpu/smt/control`` (``cpuhp_smt_enable()``, k-cpu-c) onlines every
  offline CPU that SMT policy allows, one ``_cpu_up()`` after another, stopping at the first failure. The
  model's ``smt-on`` event only makes the parked siblings onlinable; each online is then its own event
  (the same callbacks run).
* The initcall runs in a kernel thread during boot; which CPU it runs on changes none of its steps. The
  model runs it on CPU0.

The model relies on what dec-initcall-no-hotplug states: no CPU hotplug request arrives during
initcalls (the environment's hotplug events start once the initcall has returned). The kernel's
``lockdep_assert_cpus_held()`` is also silent before SYSTEM_RUNNING (kernel/cpu.c).
The model names the cpuhp state by its name where the kernel keeps the number setup returned.
"""
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.designs import tdx_68
from tdxlab.designs.base import Design
from tdxlab.kernel.source import Patch, kfunc
from tdxlab.kernel.state import ERROR

TDX_STATE = "virt/tdx:online"


@kfunc("k-tdx-c-71")
def try_init_module_global():
    raw_spin_lock(sysinit_lock)                     # k-tdx-c-71
    if sysinit_done:
        goto .out
    sysinit_ret = seamcall_prerr(TDH_SYS_INIT)      # m-sys-init, k-tdx-c-71
    if sysinit_ret == -ENODEV:
        pr_err("module not loaded")
    sysinit_done = True
    label .out
    ret = sysinit_ret   # (the kernel reads it after the unlock: it never changes once sysinit_done is set)
    raw_spin_unlock(sysinit_lock)                   # k-tdx-c-71
    return ret


@kfunc("k-tdx-c-71")
def tdx_cpu_enable():
    if this_cpu_read(tdx_lp_initialized):           # k-tdx-c-71
        return 0
    ret = try_init_module_global()
    if ret:
        return ret
    ret = seamcall_prerr(TDH_SYS_LP_INIT)           # m-sys-lp-init, lore-tglx-2022-11-22b
    if ret:
        return ret
    this_cpu_write(tdx_lp_initialized, True)        # k-tdx-c-71
    return 0


@kfunc("k-tdx-c-71")
def tdx_online_cpu(cpu):
    ret = x86_virt_get_ref(X86_FEATURE_VMX)         # k-hw-c
    if ret:
        return ret
    ret = tdx_cpu_enable()
    if ret:
        x86_virt_put_ref(X86_FEATURE_VMX)           # k-hw-c
    return ret


@kfunc("k-tdx-c-71-offline, kc-eac90a5ba0aa")
def tdx_offline_cpu(cpu):
    if ida_is_empty(tdx_guest_keyid_pool) or other_online_cpu_in_package(cpu):   # k-tdx-c-71-offline, kc-eac90a5ba0aa
        x86_virt_put_ref(X86_FEATURE_VMX)           # k-hw-c
        return 0
    pr_warn_ratelimited("TDX requires all packages to have an online CPU")
    return -EBUSY


@kfunc("k-tdx-c-71")
def tdx_enable():
    ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "virt/tdx:online", tdx_online_cpu, tdx_offline_cpu)
    if ret < 0:
        return ret
    ret = init_tdx_module()
    if ret:
        pr_err("TDX-Module initialization failed")
        cpuhp_remove_state("virt/tdx:online")
        return ret
    tdx_module_initialized = True                   # k-tdx-c-71
    pr_info("TDX-Module initialized")
    return 0


class CORE_71(Design):
    name = "core-7.1"
    era = "Linux 7.1 merge window (2026)"
    summary = ("subsys_initcall(tdx_enable): cpuhp_setup_state(virt/tdx:online: VMX reference + "
               "tdx_cpu_enable), then init_tdx_module; refcounted VMXON")
    fact = "k-tdx-c-71"
    loader = "init"
    loader_function = "tdx_enable"
    boot_time = True
    offline_refusal = True
    sources = [try_init_module_global, tdx_cpu_enable, tdx_online_cpu, tdx_offline_cpu, tdx_enable,
               *[s for s in tdx_68.FUNCTIONS if s.name in ("init_tdx_module", "config_global_keyid",
                                                            "do_global_key_config")]]
    patches = {
        "no-vmxon": Patch("no-vmxon", "tdx_online_cpu() skips x86_virt_get_ref()")
        .delete("tdx_online_cpu", "ret = x86_virt_get_ref(X86_FEATURE_VMX)")
        .delete("tdx_online_cpu", "if ret: return ret")
        .delete("tdx_online_cpu", "x86_virt_put_ref(X86_FEATURE_VMX)")
        .delete("tdx_offline_cpu", "x86_virt_put_ref(X86_FEATURE_VMX)"),
    }
    mutation_notes = {
        "no-vmxon": "tdx_online_cpu() skips x86_virt_get_ref()",
    }

    def not_applicable(self, mu):
        why = {
            "no-hotplug-lock": "7.1 takes no hotplug lock around init_tdx_module(): it runs as an initcall, "
                               "before user space can request hotplug (k-tdx-c-71)",
            "irqs-on": "7.1 dropped the IRQ rule: tdx_cpu_enable() runs in the hotplug thread with IRQs on "
                       "by design (k-tdx-c-618)",
            "second-user": "tdx_cpu_enable() is static in 7.1: no other user can call it (k-tdx-c-71)",
            "plain-setup-state": "7.1 calls cpuhp_setup_state() without holding cpus_read_lock(), which is "
                                 "already the plain variant used correctly (k-tdx-c-71)",
            "no-kvm-lock": "KVM takes no part in TDX bring-up in 7.1 (k-tdx-c-71)",
            "kvm-lock-first": "KVM takes no part in TDX bring-up in 7.1 (k-tdx-c-71)",
        }
        return why.get(mu, super().not_applicable(mu))

    def initial_phase(self):
        return "boot"


__all__ = ["CORE_71", "ERROR", "TDX_STATE"]
