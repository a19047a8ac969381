"""``v19-2024``: "[PATCH v19 023/130] KVM: TDX: Initialize the TDX module when loading the KVM intel kernel
module" (Isaku Yamahata, 26 Feb 2024, lore-isaku-2024-02-26), as posted, with the offline refusal of 041/130
(lore-isaku-2024-02-26-041), on the 6.8 TDX core (k-tdx-c-618) and the kvm_main.c of its base (k-kvm-main-c-68).

* Module load, ``tdx_hardware_setup()``: ``cpus_read_lock()``; ``on_each_cpu(tdx_on)``: on every online CPU,
  with IRQs off, VMXON; the CPU goes into the cpumask ``enable.enabled`` only if VMXON succeeded; then
  ``tdx_cpu_enable()``. Any per-CPU error makes the load fail with -EIO. Then ``tdx_enable()``
  (``tdx_module_setup()``), ``on_each_cpu(vmx_off)``, which does VMXOFF only on the CPUs in the mask, and
  ``cpus_read_unlock()``. After load VMX is off everywhere and ``kvm_usage_count`` is 0.
* ``kvm_online_cpu()`` (static cpuhp state ``kvm/cpu:online``): under ``kvm_lock``, while ``kvm_usage_count``
  is non-zero, ``.hardware_enable``, which in v19 is plain ``vmx_hardware_enable``: VMXON only. "TDX cpu
  enablement is done by tdx_hardware_setup()" (023/130). **A CPU onlined after load gets no
  TDH.SYS.LP.INIT**: Kai Huang in review, "Shouldn't you also implement vt_hardware_enable(), which also does
  tdx_cpu_enable()?" (lore-kai-2024-03-21); Isaku, "You're right. Somehow the code was lost."
  (lore-isaku-2024-03-22); Sean Christopherson, "KVM is NOT doing TDH.SYS.LP.INIT when a CPU is onlined"
  (lore-sean-2024-04-23). The check shows it as ``online-cpus-ready``: a CPU onlined while a VM exists is
  active, TDX is in use, and it never did LP.INIT. The model's ``create-td`` allocates a KeyID in one step and
  issues no SEAMCALL, so ``lp-init-before-seamcall`` cannot see the gap. The event that would: a TD creation
  that runs TDH.MNG.KEY.CONFIG on each package's first online CPU, as ``__tdx_td_init()`` does
  (k-kvm-tdx-c-616). On 2x1x2 with CPU3 offline at boot (a VM; CPU3 online; CPU2 offline; a TD) it would run
  on CPU3, which never did LP.INIT (tests/test_fidelity_v19.py checks that state).
* ``kvm_offline_cpu()`` (041/130): under ``kvm_lock``, ``kvm_arch_offline_cpu()`` reaches ``tdx_offline_cpu()``,
  which refuses (-EBUSY) to offline the last online CPU of a package while a guest KeyID is configured;
  otherwise, while ``kvm_usage_count`` is non-zero, VMXOFF.
* ``hardware_enable_all()`` (creating a VM): ``cpus_read_lock()``, then ``kvm_lock``; on the 0 -> 1
  transition ``on_each_cpu(hardware_enable_nolock)``: VMXON only (k-kvm-main-c-68).

Where the issue text was wrong: it said v19's ``vt_hardware_enable()`` calls ``tdx_cpu_enable()`` from
``kvm_online_cpu()`` with IRQs on. That is v16 to v18 (design ``kvm-v18-2024``, lore-isaku-2024-01-22); v19
dropped it ("fixed vt_hardware_enable() to use vmx_hardware_enable()", 023/130's changelog). Kai's
``local_irq_save(); tdx_cpu_enable(); local_irq_restore();`` of 22/23 April 2024 (lore-kai-2024-04-23) is
a proposal, not v19's code: design ``kvm-v18-kai-irqsave``. It also said v19's ``vmx_off`` turns VMX off on
every CPU; the cpumask skips the CPUs whose VMXON failed (only v14 turned VMX off everywhere).

Decision (dec-v19-pass-vmxon): the per-CPU pass does its own VMXON (option ``pass_vmxon = true``, the posted
code). With ``pass_vmxon = false`` (the reading after 6.12) KVM has already enabled virtualization, so VMX
is on and ``kvm_usage_count`` is 1 before the pass, which then only calls ``tdx_cpu_enable()``.
Decision (dec-kvm-enabled-guard): KVM's per-CPU ``hardware_enabled`` guard is not modelled: the hotplug lock
already keeps ``hardware_enable_all()`` and ``kvm_online_cpu()`` apart; a mutation that removes it shows the
second VMXON (-EBUSY). Not modelled either: ``hardware_enable_all()``'s rollback when a VMXON fails, and
``free_cpumask_var()`` (the mask's bits stay set after load; nothing reads them again).
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
def tdx_on(err):
    # err: the model's on_each_cpu() info is enable->err; the cpumask enable->enabled is the design's
    # per-CPU "enabled" (one bit per CPU)
    r = 0
    if pass_vmxon:                                  # the option of dec-v19-pass-vmxon, folded like IS_ENABLED()
        r = vmx_hardware_enable()                   # lore-isaku-2024-02-26
    if not r:
        cpumask_set_cpu(smp_processor_id(), enabled)    # lore-isaku-2024-02-26
        r = tdx_cpu_enable()
    if r:
        atomic_set(err, r)                          # lore-isaku-2024-02-26
    return r


@kfunc("lore-isaku-2024-02-26")
def vmx_off(_enabled):
    if cpumask_test_cpu(smp_processor_id(), enabled):   # lore-isaku-2024-02-26, lore-isaku-2023-10-16
        vmx_hardware_disable()                      # lore-isaku-2024-02-26
    return 0


@kfunc("lore-isaku-2024-02-26")
def tdx_hardware_setup():
    err = ATOMIC_INIT(0)
    cpus_read_lock()                                # lore-isaku-2024-02-26
    on_each_cpu(tdx_on, err, 1)                     # lore-isaku-2024-02-26: TDX requires vmxon
    r = atomic_read(err)
    if not r:
        r = tdx_enable()                            # lore-isaku-2024-02-26: tdx_module_setup()
    else:
        r = -EIO                                    # lore-isaku-2024-02-26
    if pass_vmxon:
        on_each_cpu(vmx_off, enabled, 1)            # lore-isaku-2024-02-26
    cpus_read_unlock()                              # lore-isaku-2024-02-26
    return r


@kfunc("k-kvm-main-c-68")
def kvm_online_cpu(cpu):
    mutex_lock(kvm_lock)                            # k-kvm-main-c-68
    ret = 0
    if kvm_usage_count:
        ret = kvm_arch_hardware_enable()            # lore-isaku-2024-02-26: .hardware_enable = vmx_hardware_enable
    mutex_unlock(kvm_lock)                          # k-kvm-main-c-68
    return ret


@kfunc("lore-isaku-2024-02-26-041")
def tdx_offline_cpu(cpu):
    if not atomic_read(nr_configured_hkid) or other_online_cpu_in_package(cpu):    # lore-isaku-2024-02-26-041
        return 0
    pr_warn_ratelimited("TDX requires all packages to have an online CPU. Delete all TDs in order to offline "
                        "all CPUs of a package.")
    return -EBUSY


@kfunc("lore-isaku-2024-02-26-041")
def kvm_offline_cpu(cpu):
    mutex_lock(kvm_lock)                            # lore-isaku-2024-02-26-041
    r = tdx_offline_cpu(cpu)                        # lore-isaku-2024-02-26-041: kvm_arch_offline_cpu()
    if not r and kvm_usage_count:
        kvm_arch_hardware_disable()                 # k-kvm-main-c-68: hardware_disable_nolock()
    mutex_unlock(kvm_lock)                          # lore-isaku-2024-02-26-041
    return r


@kfunc("k-kvm-main-c-68")
def hardware_enable_nolock(info):
    r = kvm_arch_hardware_enable()                  # lore-isaku-2024-02-26: .hardware_enable = vmx_hardware_enable
    return r


@kfunc("k-kvm-main-c-68")
def hardware_enable_all():
    cpus_read_lock()                                # k-kvm-main-c-68
    mutex_lock(kvm_lock)                            # k-kvm-main-c-68
    if kvm_usage_count:
        kvm_usage_count += 1                        # k-kvm-main-c-68
    else:
        kvm_usage_count = 1                         # k-kvm-main-c-68
        on_each_cpu(hardware_enable_nolock, NULL, 1)    # k-kvm-main-c-68
    mutex_unlock(kvm_lock)                          # k-kvm-main-c-68
    cpus_read_unlock()
    return 0


class V19_2024(Design):
    name = "v19-2024"
    era = "Feb to Apr 2024 (KVM TDX series v19, reviewed in April 2024)"
    summary = ("KVM at load: cpus_read_lock, on_each_cpu(VMXON + tdx_cpu_enable), tdx_enable, VMXOFF where "
               "VMXON succeeded; kvm_online_cpu does VMXON only (no LP.INIT)")
    fact = "lore-isaku-2024-02-26"
    loader_function = "tdx_hardware_setup"
    offline_refusal = True  # 041/130
    extra_events = ("create-vm", "create-vm2")
    event_functions = {"create-vm": "hardware_enable_all", "create-vm2": "hardware_enable_all"}
    # kvm_lock guarded kvm_usage_count then (Documentation/virt/kvm/locking.rst before 6.12). Declaring
    # it so (guarded_by="kvm_lock") would merge its reads under kvm_lock into their neighbouring steps:
    # v19's scenarios would have a few per cent fewer states and counterexamples two or three steps
    # shorter, every verdict the same. Undeclared, each read is a step of its own, as the manifest was
    # checked: a missing guard only costs states, it never makes a check wrong.
    globals = {"kvm_usage_count": Global(0, guarded_by=None)}
    percpu = {"enabled": False}  # struct tdx_enabled's cpumask_var_t enabled: one bit per CPU
    sources = [*tdx_68.FUNCTIONS, tdx_on, vmx_off, tdx_hardware_setup, kvm_online_cpu, tdx_offline_cpu,
               kvm_offline_cpu, hardware_enable_nolock, hardware_enable_all]
    patches = {
        "no-hotplug-lock": Patch("no-hotplug-lock").delete("tdx_hardware_setup", "cpus_read_lock()")
                                                   .delete("tdx_hardware_setup", "cpus_read_unlock()"),
        "second-user": second_user.PATCH,
        "no-vmxon": Patch("no-vmxon").replace("tdx_on", "r = vmx_hardware_enable()", "r = 0")
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
        "second-user": "a second TDX user on the last CPU calls tdx_cpu_enable() in task context",
        "no-vmxon": "the on_each_cpu() pass (or KVM's earlier enable) does no VMXON",
        "no-kvm-lock": "kvm_online_cpu(), kvm_offline_cpu() and hardware_enable_all() do without kvm_lock",
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
            return "kvm_create_vm", "k-kvm-main-c-68"
        return super().fire_event(m, x, ev)

    def tdx_usable(self, st):
        """KVM uses TDX on a CPU only while virtualization is enabled (kvm_usage_count > 0) and no
        hardware_enable_all() is still in progress (the VM that needs it is not created yet)."""
        return (st.kern.tdx_module_status == INITIALIZED and st.kern.kvm_usage_count > 0
                and st.thread("create-vm") is None and st.thread("create-vm2") is None)
