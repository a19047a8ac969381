"""The TDX core's bring-up functions of 6.8 to 7.0, as in arch/x86/virt/vmx/tdx/tdx.c (k-tdx-c-618,
k-tdx-c-618), written in the design language (tdxlab.kernel.source) statement by statement.

Simplifications: ``get_tdx_sys_info()`` is one TDH.SYS.RD; the TDMR and PAMT construction between the
SEAMCALLs (memory hotplug lock, memblock walk, allocation) is not modelled; ``init_tdmrs()`` is one
TDH.SYS.TDMR.INIT; ``wbinvd_on_all_cpus()`` before KEY.CONFIG is not modelled; ``config_global_keyid()``
walks the packages and takes the first online CPU of each (the kernel walks cpu_online_mask and skips a
package it has done: the same CPUs, in the same order).
"""
# The functions below are compiled from their source, never called: the kernel's names in them are the
# language's primitives (tdxlab.kernel.source), not Python objects.
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.kernel.source import kfunc


@kfunc("k-tdx-c-618")
def try_init_module_global():
    lockdep_assert_irqs_disabled()                  # k-tdx-c-618
    raw_spin_lock(sysinit_lock)                     # k-tdx-c-618
    if sysinit_done:
        goto .out
    sysinit_ret = seamcall_prerr(TDH_SYS_INIT)      # m-sys-init, k-tdx-c-618
    if sysinit_ret == -ENODEV:
        pr_err("module not loaded")
    sysinit_done = True
    label .out
    ret = sysinit_ret   # (the kernel reads it after the unlock: it never changes once sysinit_done is set)
    raw_spin_unlock(sysinit_lock)                   # k-tdx-c-618
    return ret


@kfunc("k-tdx-c-618")
def tdx_cpu_enable():
    lockdep_assert_irqs_disabled()                  # k-tdx-c-618
    if this_cpu_read(tdx_lp_initialized):           # k-tdx-c-618
        return 0
    ret = try_init_module_global()
    if ret:
        return ret
    ret = seamcall_prerr(TDH_SYS_LP_INIT)           # m-sys-lp-init, lore-tglx-2022-11-22b
    if ret:
        return ret
    this_cpu_write(tdx_lp_initialized, True)        # k-tdx-c-618
    return 0


@kfunc("k-tdx-c-618")
def do_global_key_config():
    ret = seamcall_prerr(TDH_SYS_KEY_CONFIG)        # m-sys-key-config
    return ret


@kfunc("k-tdx-c-618")
def config_global_keyid():
    for pkg in range(topology_max_packages()):
        cpu = first_online_cpu_of_package(pkg)      # k-tdx-c-618 for_each_online_cpu()
        if cpu < 0:
            continue
        ret = smp_call_on_cpu(cpu, do_global_key_config, NULL, True)   # k-tdx-c-618
        if ret:
            return ret
    return 0


@kfunc("k-tdx-c-618")
def init_tdx_module():
    ret = seamcall_prerr(TDH_SYS_RD)                # k-tdx-c-618 get_tdx_sys_info()
    if ret:
        return ret
    ret = seamcall_prerr(TDH_SYS_CONFIG)            # k-tdx-c-618 config_tdx_module()
    if ret:
        return ret
    ret = config_global_keyid()
    if ret:
        return ret
    ret = seamcall_prerr(TDH_SYS_TDMR_INIT)         # k-tdx-c-618 init_tdmrs()
    return ret


@kfunc("k-tdx-c-618")
def __tdx_enable():
    ret = init_tdx_module()
    if ret:
        pr_err("module initialization failed")
        tdx_module_status = TDX_MODULE_ERROR        # k-tdx-c-618
        return ret
    pr_info("module initialized")
    tdx_module_status = TDX_MODULE_INITIALIZED      # k-tdx-c-618
    return 0


@kfunc("k-tdx-c-618")
def tdx_enable():
    lockdep_assert_cpus_held()                      # k-tdx-c-618
    mutex_lock(tdx_module_lock)                     # k-tdx-c-618
    if tdx_module_status == TDX_MODULE_UNINITIALIZED:
        ret = __tdx_enable()
    elif tdx_module_status == TDX_MODULE_INITIALIZED:
        ret = 0
    else:
        ret = -EINVAL
    mutex_unlock(tdx_module_lock)                   # k-tdx-c-618
    return ret


FUNCTIONS = [try_init_module_global, tdx_cpu_enable, do_global_key_config, config_global_keyid,
             init_tdx_module, __tdx_enable, tdx_enable]
