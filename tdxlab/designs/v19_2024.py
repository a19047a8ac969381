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
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.designs import second_user, tdx_68
from tdxlab.designs.base import Design
from tdxlab.kernel.cpuhp import KVM_STATIC_ORDER
from tdxlab.kernel.source import Global, Patch, kfunc
from tdxlab.kernel.state import INITIALIZED, TASK
from tdxlab.platform import ONLINE


@kfunc("lore-isaku-2024-02-26")
def vmx_tdx_on(err):
    if pass_vmxon:                                  # the option of dec-v19-pass-vmxon, folded like IS_ENABLED()
        r = vmx_hardware_enable()                   # lore-isaku-2024-02-26
        if r:
            atomic_set(err, r)                      # lore-isaku-2024-02-26
            return r
    r = tdx_cpu_enable()
    if r:
        atomic_set(err, r)                          # lore-isaku-2024-02-26
    return r


@kfunc("lore-isaku-2024-02-26")
def vmx_off(info):
    vmx_hardware_disable()                          # lore-isaku-2024-02-26
    return 0


@kfunc("lore-isaku-2024-02-26")
def tdx_hardware_setup():
    err = ATOMIC_INIT(0)
    cpus_read_lock()                                # k-tdx-c-618
    on_each_cpu(vmx_tdx_on, err, 1)                 # lore-isaku-2024-02-26
    r = atomic_read(err)
    if not r:
        r = tdx_enable()
    if pass_vmxon:
        on_each_cpu(vmx_off, NULL, 1)               # lore-isaku-2023-10-16
    cpus_read_unlock()                              # k-tdx-c-618
    return r


@kfunc("k-kvm-locking-rst")
def kvm_online_cpu(cpu):
    mutex_lock(kvm_lock)                            # k-kvm-locking-rst
    ret = 0
    if kvm_usage_count:
        local_irq_save(flags)                       # k-tdx-c-618
        ret = kvm_arch_hardware_enable()            # k-kvm-locking-rst
        if not ret:
            ret = tdx_cpu_enable()
        local_irq_restore(flags)                    # k-tdx-c-618
    mutex_unlock(kvm_lock)                          # k-kvm-locking-rst
    return ret


@kfunc("k-kvm-locking-rst")
def kvm_offline_cpu(cpu):
    mutex_lock(kvm_lock)                            # k-kvm-locking-rst
    if kvm_usage_count:
        kvm_arch_hardware_disable()                 # k-kvm-locking-rst
    mutex_unlock(kvm_lock)                          # k-kvm-locking-rst
    return 0


@kfunc("k-kvm-locking-rst")
def hardware_enable_nolock(info):
    r = kvm_arch_hardware_enable()                  # k-kvm-locking-rst
    if r:
        return r
    r = tdx_cpu_enable()
    return r


@kfunc("k-kvm-locking-rst")
def hardware_enable_all():
    cpus_read_lock()                                # k-kvm-locking-rst
    mutex_lock(kvm_lock)                            # k-kvm-locking-rst
    if kvm_usage_count:
        kvm_usage_count += 1                        # k-kvm-main-c-68
    else:
        kvm_usage_count = 1                         # k-kvm-main-c-68
        on_each_cpu(hardware_enable_nolock, NULL, 1)    # k-kvm-main-c-68
    mutex_unlock(kvm_lock)                          # k-kvm-locking-rst
    cpus_read_unlock()
    return 0


class V19_2024(Design):
    name = "v19-2024"
    era = "Feb to Apr 2024 (KVM TDX series v19, reviewed in April 2024)"
    summary = ("KVM at load: cpus_read_lock, on_each_cpu(VMXON + tdx_cpu_enable), tdx_enable; "
               "kvm_online_cpu under kvm_lock")
    fact = "lore-isaku-2024-02-26"
    loader_function = "tdx_hardware_setup"
    extra_events = ("create-vm", "create-vm2")
    event_functions = {"create-vm": "hardware_enable_all", "create-vm2": "hardware_enable_all"}
    # kvm_lock guarded kvm_usage_count then (Documentation/virt/kvm/locking.rst before 6.12). Declaring
    # it so (guarded_by="kvm_lock") would merge its reads under kvm_lock into their neighbouring steps:
    # v19's scenarios would have a few per cent fewer states and counterexamples two or three steps
    # shorter, every verdict the same. Undeclared, each read is a step of its own, as the manifest was
    # checked: a missing guard only costs states, it never makes a check wrong.
    globals = {"kvm_usage_count": Global(0, guarded_by=None)}
    sources = [*tdx_68.FUNCTIONS, vmx_tdx_on, vmx_off, tdx_hardware_setup, kvm_online_cpu, kvm_offline_cpu,
               hardware_enable_nolock, hardware_enable_all]
    patches = {
        "no-hotplug-lock": Patch("no-hotplug-lock").delete("tdx_hardware_setup", "cpus_read_lock()")
                                                   .delete("tdx_hardware_setup", "cpus_read_unlock()"),
        "irqs-on": Patch("irqs-on").delete("kvm_online_cpu", "local_irq_save(flags)")
                                   .delete("kvm_online_cpu", "local_irq_restore(flags)"),
        "second-user": second_user.PATCH,
        "no-vmxon": Patch("no-vmxon").replace("vmx_tdx_on", "r = vmx_hardware_enable()", "r = 0")
                                     .replace("kvm_online_cpu", "ret = kvm_arch_hardware_enable()", "ret = 0")
                                     .replace("hardware_enable_nolock", "r = kvm_arch_hardware_enable()", "r = 0"),
        "no-kvm-lock": Patch("no-kvm-lock")
        .delete("kvm_online_cpu", "mutex_lock(kvm_lock)").delete("kvm_online_cpu", "mutex_unlock(kvm_lock)")
        .delete("kvm_offline_cpu", "mutex_lock(kvm_lock)").delete("kvm_offline_cpu", "mutex_unlock(kvm_lock)")
        .delete("hardware_enable_all", "mutex_lock(kvm_lock)")
        .delete("hardware_enable_all", "mutex_unlock(kvm_lock)"),
        "kvm-lock-first": Patch("kvm-lock-first").delete("hardware_enable_all", "cpus_read_lock()")
                                                 .insert_after("hardware_enable_all", "mutex_lock(kvm_lock)",
                                                               "cpus_read_lock()"),
    }
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

    @property
    def consts(self):
        return {"pass_vmxon": self.pass_vmxon}

    def initial_kern(self):
        return super().initial_kern()._replace(cpuhp_states=((KVM_STATIC_ORDER, "kvm/cpu:online"),),
                                               kvm_usage_count=0 if self.pass_vmxon else 1)

    def initial_vmx(self, cpu, hp):
        on = not self.pass_vmxon and "no-vmxon" not in self.mut
        return 1 if on and hp == ONLINE else 0

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
