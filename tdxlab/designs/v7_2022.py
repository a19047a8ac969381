"""``v7-2022``: "TDX host kernel support" v7 (Nov 2022), under the old rule's assumptions (lore-kai-2022-11-21, lore-tglx-2022-11-22a).

The caller does VMXON on every online CPU, then calls ``tdx_enable()`` ("Caller to make sure all CPUs are
online and in VMX operation before calling this function", v7 04/20's kernel-doc). ``tdx_enable()`` takes
``tdx_module_lock``; ``__tdx_enable()`` then takes ``cpus_read_lock()`` itself ("CPU hotplug is temporarily
disabled internally"): the order is tdx_module_lock, then cpu_hotplug_lock (the reverse of 6.8, where the
caller holds the hotplug lock). Module initialization does TDH.SYS.INIT, then TDH.SYS.LP.INIT on every
online CPU through on_each_cpu(), then the rest. There is no CPU-online callback and no per-CPU record of
LP.INIT (no ``tdx_lp_initialized``: that flag came with 6.8's ``tdx_cpu_enable()``): a CPU that comes
online later never gets LP.INIT (under the old rule it never could: LP.INIT is accepted only in
SYSINIT_DONE).

Simplifications and omissions (dec-v7-omissions):

* The caller is the model's ``tdx_enable_caller()``, not a kernel function: v7 had no caller in the tree;
  KVM's TDX series of the time was to be it. It does the VMXON pass and nothing else.
* v7 read TDSYSINFO_STRUCT with TDH.SYS.INFO; the model issues TDH.SYS.RD, which has the same gate
  (LP.INIT done on the calling LP, m-sys-lp-init).
* v7 refuses at once (-EINVAL, "Unable to initialize the TDX module when there's offline CPU(s).") when a
  boot-time present CPU is offline; the model does not, and goes on to initialize with the CPUs that are
  online.
* On failure v7 shuts the module down (TDH.SYS.LP.SHUTDOWN on every CPU; status TDX_MODULE_SHUTDOWN;
  -EFAULT); the model records TDX_MODULE_ERROR and returns the error.
* v7's KEY.CONFIG pass used an IPI per package (``smp_call_function_single()``), not ``smp_call_on_cpu()``
  (confirmed for the series, not pinned to v7); the model uses 6.8's ``config_global_keyid()``.
* The caller's task runs on CPU0, which the model never offlines (dec-bringup-task-cpu).
"""
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.designs import tdx_68
from tdxlab.designs.base import Design
from tdxlab.kernel.source import Patch, kfunc
from tdxlab.kernel.state import ERROR, INITIALIZED


@kfunc("lore-kai-2022-11-21")
def cpu_vmxon_ipi(info):
    cpu_vmxon()                                     # lore-kai-2022-11-21 the caller's VMXON


@kfunc("lore-kai-2022-11-21")
def tdx_lp_init_ipi(err):
    ret = seamcall_prerr(TDH_SYS_LP_INIT)           # lore-kai-2022-11-21
    if ret:
        atomic_set(err, ret)                        # lore-kai-2022-11-21


@kfunc("lore-kai-2022-11-21")
def init_tdx_module_v7():
    err = ATOMIC_INIT(0)
    ret = seamcall_prerr(TDH_SYS_INIT)              # lore-kai-2022-11-21
    if ret:
        return ret
    on_each_cpu(tdx_lp_init_ipi, err, 1)            # lore-kai-2022-11-21
    ret = atomic_read(err)
    if ret:
        return ret
    ret = init_tdx_module()
    return ret


@kfunc("lore-kai-2022-11-21")
def __tdx_enable():
    cpus_read_lock()                                # lore-kai-2022-11-21
    ret = init_tdx_module_v7()
    if ret:
        tdx_module_status = TDX_MODULE_ERROR        # lore-kai-2022-11-21
    else:
        tdx_module_status = TDX_MODULE_INITIALIZED  # lore-kai-2022-11-21
    cpus_read_unlock()                              # lore-kai-2022-11-21
    return ret


@kfunc("lore-kai-2022-11-21")
def tdx_enable():
    mutex_lock(tdx_module_lock)                     # lore-kai-2022-11-21
    if tdx_module_status != TDX_MODULE_UNINITIALIZED:
        ret = -EINVAL
        goto .unlock
    ret = __tdx_enable()
    label .unlock
    mutex_unlock(tdx_module_lock)                   # lore-kai-2022-11-21
    return ret


@kfunc("lore-kai-2022-11-21")
def tdx_enable_caller():
    on_each_cpu(cpu_vmxon_ipi, NULL, 1)             # lore-kai-2022-11-21 "in VMX operation before calling"
    ret = tdx_enable()
    return ret


# (a list outside the class: names with two leading underscores would be mangled inside it)
FUNCTIONS = [cpu_vmxon_ipi, tdx_lp_init_ipi, init_tdx_module_v7, __tdx_enable, tdx_enable, tdx_enable_caller,
             *[s for s in tdx_68.FUNCTIONS if s.name in ("init_tdx_module", "config_global_keyid",
                                                          "do_global_key_config")]]


class V7_2022(Design):
    name = "v7-2022"
    era = "Nov 2022 (patch series v7)"
    summary = "TDH.SYS.INIT, then LP.INIT on every online CPU by IPI, then the rest; no hotplug callback"
    fact = "lore-kai-2022-11-21"
    loader_function = "tdx_enable_caller"
    sources = FUNCTIONS
    patches = {
        "no-hotplug-lock": Patch("no-hotplug-lock").delete("__tdx_enable", "cpus_read_lock()")
                                                   .delete("__tdx_enable", "cpus_read_unlock()"),
        "no-vmxon": Patch("no-vmxon").delete("tdx_enable_caller", "on_each_cpu(cpu_vmxon_ipi, NULL, 1)"),
    }
    mutation_notes = {
        "no-hotplug-lock": "__tdx_enable() does not take cpus_read_lock()",
        "no-vmxon": "the caller skips its on_each_cpu() VMXON pass",
    }


__all__ = ["V7_2022", "ERROR", "INITIALIZED"]
