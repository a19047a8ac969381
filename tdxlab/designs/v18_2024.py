"""``kvm-v18-2024``: the KVM TDX series v16 to v18 (Oct 2023 to Jan 2024; "[PATCH v18 008/121] KVM: TDX:
Initialize the TDX module when loading the KVM intel kernel module", Isaku Yamahata, 22 Jan 2024,
lore-isaku-2024-01-22), written as a patch over ``v19-2024``: the functions v18 has in another form are
written whole below; the rest (the TDX core, ``vmx_off``, ``kvm_offline_cpu()``, ``hardware_enable_all()``) are
v19's. Kai Huang's proposal over it is ``kvm-v18-kai-irqsave`` (``kai_2024.py``).

**v16 to v18 as posted.** The x86 hook is ``.hardware_enable = vt_hardware_enable``: VMXON, then, if TDX is
enabled, ``tdx_cpu_enable()``, and VMXOFF again if that fails ("we keep the CPU offline in error case. So
need to revert VMXON"). ``kvm_online_cpu()`` reaches it under ``kvm_lock`` in the CPU's hotplug thread,
with IRQs on and no ``local_irq_save()`` (k-kvm-main-c-68; the 2022 v1 of the kvm_main.c rework had one, the
merged v2 did not). So a CPU onlined while a VM exists runs ``tdx_cpu_enable()`` with IRQs on and its
``lockdep_assert_irqs_disabled()`` fires: this is the posted code the issue meant, which it placed in v19.
That x86's ``kvm_arch_hardware_enable()`` adds no IRQ disabling of its own is inferred (the research did
not read 6.8's x86.c). ``hardware_enable_all()``'s IPIs reach the same ``vt_hardware_enable()`` with IRQs
off. The load-time pass and ``vmx_off`` (VMXOFF only where VMXON succeeded) are v19's (same cpumask code
from v16 on); v16 to v18 name the IPI handler ``vmx_tdx_on()``, which v19 renamed ``tdx_on()``.

Not read: whether v18 had v19's offline refusal (041/130). This design keeps it; it touches no path of the
CPU-online story. ``enable_tdx`` is the module parameter (``kvm_intel.tdx=1``), folded true: it is cleared
only when ``tdx_hardware_setup()`` fails, and then no VM is created in the model (``create-vm`` needs a
successful load) so ``kvm_online_cpu()`` never calls the hook.
"""
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.designs import design_over, second_user
from tdxlab.designs.v19_2024 import V19_2024
from tdxlab.kernel.source import Patch, kfunc


@kfunc("lore-isaku-2024-01-22")
def vt_hardware_enable():
    ret = vmx_hardware_enable()                     # lore-isaku-2024-01-22
    if ret or not enable_tdx:
        return ret
    ret = tdx_cpu_enable()                          # lore-isaku-2024-01-22
    if ret:
        vmx_hardware_disable()                      # lore-isaku-2024-01-22: keep the CPU offline, revert VMXON
    return ret


@kfunc("lore-isaku-2024-01-22")
def vmx_tdx_on(err):
    r = 0
    if pass_vmxon:                                  # the option of dec-v19-pass-vmxon, folded like IS_ENABLED()
        r = vmx_hardware_enable()                   # lore-isaku-2024-01-22
    if not r:
        cpumask_set_cpu(smp_processor_id(), enabled)    # lore-isaku-2023-10-16
        r = tdx_cpu_enable()
    if r:
        atomic_set(err, r)                          # lore-isaku-2024-01-22
    return r


@kfunc("lore-isaku-2024-01-22")
def tdx_hardware_setup():
    err = ATOMIC_INIT(0)
    cpus_read_lock()                                # lore-isaku-2024-01-22
    on_each_cpu(vmx_tdx_on, err, 1)                 # lore-isaku-2024-01-22: TDX requires vmxon
    r = atomic_read(err)
    if not r:
        r = tdx_enable()                            # lore-isaku-2024-01-22: tdx_module_setup()
    else:
        r = -EIO                                    # lore-isaku-2024-01-22
    if pass_vmxon:
        on_each_cpu(vmx_off, enabled, 1)            # lore-isaku-2023-10-16, lore-isaku-2024-01-22
    cpus_read_unlock()                              # lore-isaku-2024-01-22
    return r


@kfunc("k-kvm-main-c-68")
def kvm_online_cpu(cpu):
    mutex_lock(kvm_lock)                            # k-kvm-main-c-68
    ret = 0
    if kvm_usage_count:
        ret = vt_hardware_enable()                  # lore-isaku-2024-01-22: .hardware_enable = vt_hardware_enable
    mutex_unlock(kvm_lock)                          # k-kvm-main-c-68
    return ret


@kfunc("k-kvm-main-c-68")
def hardware_enable_nolock(info):
    r = vt_hardware_enable()                        # lore-isaku-2024-01-22: .hardware_enable = vt_hardware_enable
    return r


V18_PATCH = (Patch("v18", ".hardware_enable = vt_hardware_enable: VMXON and tdx_cpu_enable() at CPU online")
             .function(vt_hardware_enable).delete_function("tdx_on").function(vmx_tdx_on)
             .function(tdx_hardware_setup).function(kvm_online_cpu).function(hardware_enable_nolock))

KVM_V18_2024 = design_over(
    V19_2024, "kvm-v18-2024", V18_PATCH,
    summary="KVM at load as v19; kvm_online_cpu -> vt_hardware_enable: VMXON + tdx_cpu_enable() in the "
            "hotplug thread, IRQs on",
    era="Oct 2023 to Jan 2024 (KVM TDX series v16 to v18)", fact="lore-isaku-2024-01-22")
KVM_V18_2024.consts = property(lambda self: {"pass_vmxon": self.pass_vmxon, "enable_tdx": True})
KVM_V18_2024.patches = {
    "no-hotplug-lock": V19_2024.patches["no-hotplug-lock"],
    "second-user": second_user.PATCH,
    "no-vmxon": Patch("no-vmxon").replace("vmx_tdx_on", "r = vmx_hardware_enable()", "r = 0")
                                 .replace("vt_hardware_enable", "ret = vmx_hardware_enable()", "ret = 0"),
    "no-kvm-lock": V19_2024.patches["no-kvm-lock"],
    "kvm-lock-first": V19_2024.patches["kvm-lock-first"],
}
KVM_V18_2024.mutation_notes = {
    "no-hotplug-lock": "tdx_hardware_setup() does not take cpus_read_lock()",
    "second-user": "a second TDX user on the last CPU calls tdx_cpu_enable() in task context",
    "no-vmxon": "the on_each_cpu() pass and vt_hardware_enable() do no VMXON",
    "no-kvm-lock": "kvm_online_cpu(), kvm_offline_cpu() and hardware_enable_all() do without kvm_lock",
    "kvm-lock-first": "hardware_enable_all() takes kvm_lock, then cpus_read_lock()",
}
