"""``kvm-v18-kai-irqsave``: Kai Huang's proposal of 22/23 April 2024 in the review of v19 023/130
(lore-kai-2024-04-23), as a patch over ``kvm-v18-2024``.

Kai: "Back to the current tdx_enable() and tdx_cpu_enable(), my personal preference is, of course, to keep
the existing way, that is: During module load: cpus_read_lock(); tdx_enable(); cpus_read_unlock(); and in
kvm_online_cpu(): local_irq_save(); tdx_cpu_enable(); local_irq_restore();" (in the thread on Sean
Christopherson's proposal to enable virtualization at module load, after Kai's "currently tdx_cpu_enable()
actually requires IRQ being disabled", lore-kai-2024-04-22).

The variant puts those IRQ-saving lines around the call by which v18's ``kvm_online_cpu()`` reaches
``tdx_cpu_enable()`` (``vt_hardware_enable()``; so VMXON runs with IRQs off too, as it does in the IPI path).
It was a proposal, not posted code: v19 as posted had no ``tdx_cpu_enable()`` at CPU online at all. What
landed in 6.16 is KVM's own ``tdx_online_cpu()`` with ``local_irq_save()`` around ``tdx_cpu_enable()`` (design
``kvm-6.16``, k-kvm-tdx-c-616). The ``irqs-on`` mutation takes the two lines out again: v18 as posted.
"""
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.designs import design_over
from tdxlab.designs.v18_2024 import KVM_V18_2024
from tdxlab.kernel.source import Patch, kfunc


@kfunc("lore-kai-2024-04-23")
def kvm_online_cpu(cpu):
    mutex_lock(kvm_lock)                            # k-kvm-main-c-68
    ret = 0
    if kvm_usage_count:
        local_irq_save(flags)                       # lore-kai-2024-04-23
        ret = vt_hardware_enable()                  # lore-isaku-2024-01-22: reaches tdx_cpu_enable()
        local_irq_restore(flags)                    # lore-kai-2024-04-23
    mutex_unlock(kvm_lock)                          # k-kvm-main-c-68
    return ret


KAI_PATCH = Patch("kai-irqsave", "Kai's proposal: local_irq_save() around tdx_cpu_enable() in kvm_online_cpu()") \
    .function(kvm_online_cpu)

KVM_V18_KAI_IRQSAVE = design_over(
    KVM_V18_2024, "kvm-v18-kai-irqsave", KAI_PATCH,
    summary="v18 with Kai Huang's proposal: local_irq_save() around tdx_cpu_enable() in kvm_online_cpu",
    era="April 2024 (a proposal in the v19 review, not posted code)", fact="lore-kai-2024-04-23")
KVM_V18_KAI_IRQSAVE.patches = {
    **KVM_V18_2024.patches,
    "irqs-on": Patch("irqs-on").delete("kvm_online_cpu", "local_irq_save(flags)")
                               .delete("kvm_online_cpu", "local_irq_restore(flags)"),
}
KVM_V18_KAI_IRQSAVE.mutation_notes = {
    **KVM_V18_2024.mutation_notes,
    "irqs-on": "kvm_online_cpu() reaches tdx_cpu_enable() without local_irq_save(): v18 as posted",
}
