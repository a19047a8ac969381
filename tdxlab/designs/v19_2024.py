"""``v19-2024``: "KVM: TDX: Initialize the TDX module when loading the KVM intel kernel module" (v19,
Feb 2024), the design of the April 2024 review (lore-kai-2024-04-18), on the 6.8 TDX core (k-tdx-c-618).

* Module load, ``tdx_hardware_setup()``: ``cpus_read_lock()``; ``on_each_cpu(vmx_tdx_on)`` doing VMXON and
  ``tdx_cpu_enable()`` on every online CPU (errors into an atomic); ``tdx_enable()``;
  ``on_each_cpu(vmx_off)``; ``cpus_read_unlock()`` (lore-isaku-2023-10-16, the confirmed v16 shape).
* ``kvm_online_cpu()`` (static cpuhp state ``kvm/cpu:online``): takes ``kvm_lock`` and, while
  ``kvm_usage_count`` is non-zero, does VMXON plus ``tdx_cpu_enable()`` with IRQs saved.
* ``hardware_enable_all()`` (creating a VM): ``cpus_read_lock()``, then ``kvm_lock``; on the 0 -> 1
  transition ``on_each_cpu(hardware_enable_nolock)``: VMXON and ``tdx_cpu_enable()`` (k-kvm-main-c-68).

Decision (dec-v19-pass-vmxon): the per-CPU pass does its own VMXON (option ``pass_vmxon = true``, the v16 code). With
``pass_vmxon = false`` (the reading after 6.12) KVM has already enabled virtualization, so VMX is on and
``kvm_usage_count`` is 1 before the pass, which then only calls ``tdx_cpu_enable()``.
Decision (dec-kvm-enabled-guard): KVM's per-CPU ``hardware_enabled`` guard is not modelled: the hotplug lock already keeps
``hardware_enable_all()`` and ``kvm_online_cpu()`` apart; a mutation that removes it shows the second
VMXON (-EBUSY). There is no offline refusal: v19 had no ``tdx_offline_cpu()`` check (k-kvm-tdx-c-616 is 6.16).
"""
from __future__ import annotations

from tdxlab.designs import second_user
from tdxlab.designs.base import Design, failed
from tdxlab.designs.common import tdx_functions
from tdxlab.kernel.cpuhp import KVM_STATIC_ORDER
from tdxlab.kernel.lang import (on_each_cpu, Call, Do, Goto, If, KFunc, Label, LocalIrqRestore, LocalIrqSave, Lock,
                                Ret, Unlock)
from tdxlab.kernel.ops import Vmxoff, Vmxon
from tdxlab.kernel.state import INITIALIZED, TASK, Kern
from tdxlab.platform import ONLINE


class V19_2024(Design):
    name = "v19-2024"
    era = "Feb to Apr 2024 (KVM TDX series v19, reviewed in April 2024)"
    summary = ("KVM at load: cpus_read_lock, on_each_cpu(VMXON + tdx_cpu_enable), tdx_enable; "
               "kvm_online_cpu under kvm_lock")
    fact = "lore-isaku-2024-02-26"
    loader_function = "tdx_hardware_setup"
    extra_events = ("create-vm", "create-vm2")
    mutation_notes = {
        "no-hotplug-lock": "tdx_hardware_setup() does not take cpus_read_lock()",
        "irqs-on": "kvm_online_cpu() calls tdx_cpu_enable() without local_irq_save()",
        "second-user": "a second TDX user on the last CPU calls tdx_cpu_enable() in task context",
        "no-vmxon": "the on_each_cpu() pass (or KVM's earlier enable) does no VMXON",
        "no-kvm-lock": "kvm_online_cpu() and hardware_enable_all() do without kvm_lock",
        "kvm-lock-first": "hardware_enable_all() takes kvm_lock, then cpus_read_lock()",
    }
    options_doc = {"pass_vmxon": "dec-v19-pass-vmxon: the per-CPU pass does its own VMXON (default true)"}

    def __init__(self, mutations=frozenset(), options=None, platform=None):
        super().__init__(mutations, options, platform)
        self.pass_vmxon = bool(self.opt.get("pass_vmxon", True))
        self.cpuhp = {"kvm/cpu:online": (KVM_STATIC_ORDER, "kvm_online_cpu", "kvm_offline_cpu")}

    def initial_kern(self):
        return Kern(cpuhp_states=((KVM_STATIC_ORDER, "kvm/cpu:online"),),
                    kvm_usage_count=0 if self.pass_vmxon else 1)

    def initial_vmx(self, cpu, hp):
        on = not self.pass_vmxon and "no-vmxon" not in self.mut
        return 1 if on and hp == ONLINE else 0

    def functions(self):
        mu = self.mut
        locked = "no-hotplug-lock" not in mu
        kvm_lock = "no-kvm-lock" not in mu
        vmxon = "no-vmxon" not in mu
        pass_vmxon = self.pass_vmxon and vmxon
        irqsave = "irqs-on" not in mu
        hotplug_lock = [Lock("cpu_hotplug_lock", "r", "k-kvm-locking-rst")]
        klock = [Lock("kvm_lock", fact="k-kvm-locking-rst")] if kvm_lock else []
        first = (klock + hotplug_lock) if "kvm-lock-first" in mu else (hotplug_lock + klock)
        unlock = ([Unlock("kvm_lock", fact="k-kvm-locking-rst")] if kvm_lock else []) + [Unlock("cpu_hotplug_lock", "r")]
        fns = tdx_functions("6.8") + [
            KFunc("tdx_hardware_setup", "lore-isaku-2024-02-26",
                  ([Lock("cpu_hotplug_lock", "r", "k-tdx-c-618")] if locked else []) + [
                *on_each_cpu("vmx_tdx_on", "lore-isaku-2024-02-26"),
                If(lambda x: x.kern.on_each_cpu_err != 0, "failed", "a CPU failed VMXON or tdx_cpu_enable()"),
                Call("tdx_enable"),
                Do("", lambda x: x.set_loc(x.retval), local=True),
                Goto("off"),
                Label("failed"),
                Do("", lambda x: x.set_loc(x.kern.on_each_cpu_err), local=True),
                Label("off"),
            ] + ([*on_each_cpu("vmx_off", "lore-isaku-2023-10-16")] if self.pass_vmxon else []) + (
                [Unlock("cpu_hotplug_lock", "r", "k-tdx-c-618")] if locked else []) + [
                Ret(lambda x: x.loc),
            ]),
            KFunc("vmx_tdx_on", "lore-isaku-2024-02-26", ([Vmxon("vmx_hardware_enable", fact="lore-isaku-2024-02-26"),
                                          If(failed, "err", "VMXON failed")] if pass_vmxon else []) + [
                Call("tdx_cpu_enable"),
                If(failed, "err", "tdx_cpu_enable() failed"),
                Ret(0),
                Label("err"),
                Do("atomic_set(&err, ret)", lambda x: x.set_kern(on_each_cpu_err=x.retval), "lore-isaku-2024-02-26"),
                Ret(),
            ]),
            KFunc("vmx_off", "lore-isaku-2023-10-16", [Vmxoff("vmx_hardware_disable", fact="lore-isaku-2023-10-16"), Ret(0)]),
            KFunc("kvm_online_cpu", "k-kvm-main-c-68", klock + [
                If(lambda x: x.kern.kvm_usage_count == 0, "unlock", "kvm_usage_count is 0: nothing to do",
                   local=False, check="read kvm_usage_count", else_text="kvm_usage_count > 0: enable"),
            ] + ([LocalIrqSave("k-tdx-c-618")] if irqsave else []) + (
                [Vmxon("hardware_enable_nolock", fact="k-kvm-main-c-68"), If(failed, "restore", "VMXON failed")]
                if vmxon else []) + [
                Call("tdx_cpu_enable"),
                Label("restore"),
            ] + ([LocalIrqRestore("k-tdx-c-618")] if irqsave else []) + [
                Label("unlock"),
            ] + ([Unlock("kvm_lock", fact="k-kvm-locking-rst")] if kvm_lock else []) + [Ret()]),
            KFunc("kvm_offline_cpu", "k-kvm-main-c-68", klock + [
                If(lambda x: x.kern.kvm_usage_count == 0, "unlock", "kvm_usage_count is 0", local=False,
                   check="read kvm_usage_count", else_text="kvm_usage_count > 0: disable"),
                Vmxoff("hardware_disable_nolock", fact="k-kvm-locking-rst"),
                Label("unlock"),
            ] + ([Unlock("kvm_lock", fact="k-kvm-locking-rst")] if kvm_lock else []) + [Ret(0)]),
            KFunc("hardware_enable_all", "k-kvm-main-c-68", first + [
                If(lambda x: x.kern.kvm_usage_count != 0, "inc", "kvm_usage_count > 0: already enabled",
                   local=False, check="read kvm_usage_count", else_text="kvm_usage_count is 0: enable"),
                Do("kvm_usage_count: 0 -> 1", lambda x: x.set_kern(kvm_usage_count=1), "k-kvm-main-c-68"),
                *on_each_cpu("hardware_enable_nolock", "k-kvm-main-c-68"),
                Goto("unlock"),
                Label("inc"),
                Do("kvm_usage_count++", lambda x: x.set_kern(kvm_usage_count=x.kern.kvm_usage_count + 1),
                   "k-kvm-locking-rst"),
                Label("unlock"),
            ] + unlock + [Ret(0)]),
            KFunc("hardware_enable_nolock", "k-kvm-main-c-68", ([Vmxon("hardware_enable_nolock", fact="k-kvm-main-c-68"),
                                                      If(failed, "out", "VMXON failed")] if vmxon else []) + [
                Call("tdx_cpu_enable"),
                Label("out"),
                Ret(),
            ]),
        ]
        if "second-user" in mu:
            fns += second_user.functions()
        return fns

    # --- the create-vm event: kvm_create_vm() -> hardware_enable_all() ---
    def event_enabled(self, m, st, ev):
        if ev in ("create-vm", "create-vm2"):
            return st.kern.init_done and st.kern.init_ret == 0 and st.thread(ev) is None
        return super().event_enabled(m, st, ev)

    def fire_event(self, m, x, ev):
        if ev in ("create-vm", "create-vm2"):
            online = [c for c, cs in enumerate(x.cpus) if cs.hp == ONLINE]
            cpu = 0 if ev == "create-vm" else online[-1]  # the second process: the highest online CPU
            x.spawn(ev, cpu, TASK, "hardware_enable_all")
            x.note(f"a process on CPU{cpu} creates a VM: kvm_create_vm() calls hardware_enable_all()")
            return "kvm_create_vm", "k-kvm-locking-rst"
        return super().fire_event(m, x, ev)

    def tdx_usable(self, st):
        """KVM uses TDX on a CPU only while virtualization is enabled (kvm_usage_count > 0) and no
        hardware_enable_all() is still in progress (the VM that needs it is not created yet)."""
        return (st.kern.tdx_module_status == INITIALIZED and st.kern.kvm_usage_count > 0
                and st.thread("create-vm") is None and st.thread("create-vm2") is None)
