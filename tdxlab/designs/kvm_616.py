"""``kvm-6.16``: KVM's TDX bring-up as merged in 6.16 (k-kvm-tdx-c-616, k-kvm-main-c-616).

``tdx_bringup()`` at module load:

1. ``kvm_enable_virtualization()``: under ``kvm_usage_lock``, on the 0 -> 1 transition
   ``cpuhp_setup_state(CPUHP_AP_KVM_ONLINE, "kvm/cpu:online", ...)`` (which takes ``cpus_read_lock()``
   itself) does VMXON on every online CPU (k-kvm-main-c-616, order: kvm_usage_lock outside cpu_hotplug_lock);
2. ``cpus_read_lock()``; ``cpuhp_setup_state_cpuslocked("kvm/cpu/tdx:online")`` runs ``tdx_online_cpu()``
   on each online CPU: WARN if CR4.VMXE is clear, ``local_irq_save()``, ``tdx_cpu_enable()``,
   ``local_irq_restore()``; then ``tdx_enable()``; on failure the state is removed;
   ``cpus_read_unlock()``.

``tdx_offline_cpu()`` refuses (-EBUSY) to offline the last online CPU of a package while HKIDs are in use.
KVM's static state runs before the dynamic TDX state on the way up and after it on the way down (k-cpuhotplug-h).
"""
from __future__ import annotations

from tdxlab.designs import second_user
from tdxlab.designs.base import Design, failed
from tdxlab.designs.common import tdx_functions
from tdxlab.kernel import cpuhp as CPUHP
from tdxlab.kernel.lang import (Call, Do, E, If, KFunc, Label, LocalIrqRestore, LocalIrqSave, Lock,
                                Ret, Unlock, WarnVmxeClear)
from tdxlab.kernel.ops import Vmxoff, Vmxon

TDX_STATE = "kvm/cpu/tdx:online"
KVM_STATE = "kvm/cpu:online"


def offline_refusal(fact: str, then: list) -> list:
    """tdx_offline_cpu(): -EBUSY for the last online CPU of a package while KeyIDs are in use."""
    return [
        If(lambda x: not (x.kern.keyids_in_use and Design.last_cpu_of_package(x)), "ok",
           "not the last CPU of its package, or no KeyID in use", local=False, fact=fact,
           check="last online CPU of its package, with KeyIDs in use?",
           else_text="last online CPU of its package while KeyIDs are in use"),
        Do("\"TDX requires all packages to have an online CPU\": -EBUSY",
           lambda x: x.set_ret(E("EBUSY")), fact),
        Ret(),
        Label("ok"),
    ] + then + [Ret(0)]


class KVM_616(Design):
    name = "kvm-6.16"
    era = "Linux 6.16 (2025)"
    summary = ("KVM at load: kvm_enable_virtualization, then under cpus_read_lock "
               "cpuhp_setup_state_cpuslocked(kvm/cpu/tdx:online) and tdx_enable")
    fact = "k-kvm-tdx-c-616"
    loader_function = "tdx_bringup"
    offline_refusal = True
    mutation_notes = {
        "no-hotplug-lock": "tdx_bringup() calls the cpuslocked setup and tdx_enable() without "
                           "cpus_read_lock()",
        "irqs-on": "tdx_online_cpu() calls tdx_cpu_enable() without local_irq_save()",
        "second-user": "a second TDX user on the last CPU calls tdx_cpu_enable() in task context",
        "no-vmxon": "KVM's kvm/cpu:online callback does no VMXON",
        "plain-setup-state": "tdx_bringup() calls cpuhp_setup_state() under cpus_read_lock()",
    }

    def __init__(self, mutations=frozenset(), options=None, platform=None):
        super().__init__(mutations, options, platform)
        self.cpuhp = {KVM_STATE: (CPUHP.KVM_STATIC_ORDER, "kvm_online_cpu", "kvm_offline_cpu"),
                      TDX_STATE: (None, "tdx_online_cpu", "tdx_offline_cpu")}

    def functions(self):
        mu = self.mut
        locked = "no-hotplug-lock" not in mu
        plain = "plain-setup-state" in mu
        setup = CPUHP.cpuhp_setup_state(TDX_STATE, cpuslocked=not plain)
        remove = CPUHP.cpuhp_remove_state(TDX_STATE, cpuslocked=not plain)
        irqsave = "irqs-on" not in mu
        fns = tdx_functions("6.8") + [
            CPUHP.cpuhp_setup_state(KVM_STATE, cpuslocked=False),
            setup, remove,
            KFunc("tdx_bringup", "k-kvm-tdx-c-616", [
                Call("kvm_enable_virtualization"),
                If(failed, "out", "kvm_enable_virtualization() failed"),
            ] + ([Lock("cpu_hotplug_lock", "r", "k-kvm-tdx-c-616")] if locked else []) + [
                Call(setup.name),
                If(failed, "unlock", "the cpuhp setup failed"),
                Call("tdx_enable"),
                If(lambda x: x.retval == 0, "unlock"),
                Do("", lambda x: x.set_loc(x.retval), local=True),
                Call(remove.name),
                Do("", lambda x: x.set_ret(x.loc), local=True),
                Label("unlock"),
            ] + ([Unlock("cpu_hotplug_lock", "r", "k-kvm-tdx-c-616")] if locked else []) + [
                Label("out"),
                Ret(),
            ]),
            KFunc("kvm_enable_virtualization", "k-kvm-main-c-616", [
                Lock("kvm_usage_lock", fact="k-kvm-main-c-616"),
                If(lambda x: x.kern.kvm_usage_count != 0, "inc", "already enabled"),
                Call(f"cpuhp_setup_state:{KVM_STATE}"),
                If(failed, "unlock", "VMXON failed on a CPU"),
                Label("inc"),
                Do("kvm_usage_count++", lambda x: x.set_kern(kvm_usage_count=x.kern.kvm_usage_count + 1),
                   "k-kvm-main-c-616"),
                Label("unlock"),
                Unlock("kvm_usage_lock", fact="k-kvm-main-c-616"),
                Ret(),
            ]),
            KFunc("kvm_online_cpu", "k-kvm-main-c-616", ([Vmxon("kvm_arch_enable_virtualization_cpu", fact="k-kvm-main-c-616")]
                                             if "no-vmxon" not in mu else []) + [Ret()]),
            KFunc("kvm_offline_cpu", "k-kvm-main-c-616", [Vmxoff("kvm_arch_disable_virtualization_cpu", fact="k-kvm-main-c-616"),
                                              Ret(0)]),
            KFunc("tdx_online_cpu", "k-kvm-tdx-c-616", [WarnVmxeClear("k-kvm-tdx-c-616")] + (
                [LocalIrqSave("k-kvm-tdx-c-616, k-tdx-c-618")] if irqsave else []) + [
                Call("tdx_cpu_enable"),
            ] + ([LocalIrqRestore("k-kvm-tdx-c-616")] if irqsave else []) + [Ret()]),
            KFunc("tdx_offline_cpu", "k-kvm-tdx-c-616", offline_refusal("k-kvm-tdx-c-616", [])),
        ]
        if "second-user" in mu:
            fns += second_user.functions()
        return fns
