"""``core-7.1``: VMXON and TDX module initialization in the core kernel (the 16-patch series merged for
7.1; k-tdx-c-71, k-hw-c, lore-sean-2026-02-13).

``subsys_initcall(tdx_enable)`` runs during boot, before user space: ``cpuhp_setup_state("virt/tdx:online",
tdx_online_cpu, tdx_offline_cpu)`` (plain: it takes the hotplug lock itself) runs ``tdx_online_cpu()`` on
every online CPU: ``x86_virt_get_ref(X86_FEATURE_VMX)`` (VMXON on the CPU's first user), then
``tdx_cpu_enable()`` with no IRQ rule, dropping the reference on failure; then ``init_tdx_module()``
**without** any hotplug lock; on failure the state is removed. ``tdx_offline_cpu()`` refuses the last
online CPU of a package while guest KeyIDs are allocated, otherwise drops the VMX reference.

The model relies on what dec-initcall-no-hotplug states: no CPU hotplug request arrives during
initcalls (the environment's hotplug events start once the initcall has returned). The kernel's
``lockdep_assert_cpus_held()`` is also silent before SYSTEM_RUNNING (kernel/cpu.c).
"""
from __future__ import annotations

from tdxlab.designs.base import Design, failed
from tdxlab.designs.common import tdx_functions
from tdxlab.designs.kvm_616 import offline_refusal
from tdxlab.kernel import cpuhp as CPUHP
from tdxlab.kernel.lang import Call, Do, If, KFunc, Label, Ret
from tdxlab.kernel.ops import Vmxoff, Vmxon
from tdxlab.kernel.state import ERROR, INITIALIZED

TDX_STATE = "virt/tdx:online"


class CORE_71(Design):
    name = "core-7.1"
    era = "Linux 7.1 (2026)"
    summary = ("subsys_initcall(tdx_enable): cpuhp_setup_state(virt/tdx:online: VMX reference + "
               "tdx_cpu_enable), then init_tdx_module; refcounted VMXON")
    fact = "k-tdx-c-71"
    loader = "init"
    loader_function = "tdx_enable"
    boot_time = True
    offline_refusal = True
    mutation_notes = {
        "no-vmxon": "tdx_online_cpu() skips x86_virt_get_ref()",
    }

    def __init__(self, mutations=frozenset(), options=None, platform=None):
        super().__init__(mutations, options, platform)
        self.cpuhp = {TDX_STATE: (None, "tdx_online_cpu", "tdx_offline_cpu")}

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

    def functions(self):
        get_ref = "no-vmxon" not in self.mut
        setup = CPUHP.cpuhp_setup_state(TDX_STATE, cpuslocked=False)
        remove = CPUHP.cpuhp_remove_state(TDX_STATE, cpuslocked=False)
        return tdx_functions("7.1") + [
            setup, remove,
            KFunc("tdx_enable", "k-tdx-c-71", [
                Call(setup.name),
                If(failed, "out", "cpuhp_setup_state() failed"),
                Call("init_tdx_module"),
                If(failed, "fail", "init_tdx_module() failed"),
                Do("tdx_module_initialized = true: \"TDX-Module initialized\"",
                   lambda x: x.set_kern(tdx_module_status=INITIALIZED), "k-tdx-c-71"),
                Ret(0),
                Label("fail"),
                Do("initialization failed: remove the cpuhp state",
                   lambda x: (x.set_loc(x.retval), x.set_kern(tdx_module_status=ERROR)), "k-tdx-c-71"),
                Call(remove.name),
                Ret(lambda x: x.loc),
                Label("out"),
                Ret(),
            ]),
            KFunc("tdx_online_cpu", "k-tdx-c-71", ([Vmxon("x86_virt_get_ref", refcounted=True, fact="k-tdx-c-71")]
                                             if get_ref else []) + [
                Call("tdx_cpu_enable"),
                If(failed, "put", "tdx_cpu_enable() failed: drop the VMX reference"),
                Ret(0),
                Label("put"),
            ] + ([Vmxoff("x86_virt_put_ref", refcounted=True, fact="k-hw-c")] if get_ref else []) + [Ret()]),
            KFunc("tdx_offline_cpu", "k-tdx-c-71-offline", offline_refusal(
                "k-tdx-c-71-offline", [Vmxoff("x86_virt_put_ref", refcounted=True, fact="k-hw-c")] if get_ref else [])),
        ]

    def initial_phase(self):
        return "boot"


__all__ = ["CORE_71", "ERROR"]
