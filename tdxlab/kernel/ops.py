"""Instructions that touch the hardware: the SEAMCALL instruction, VMXON/VMXOFF, the per-CPU flag.

* SEAMCALL (k-tdxcall-s, lore-sean-2024-04-22): on a CPU that is not post-VMXON it raises #UD; the kernel's exception fixup turns
  that into TDX_SEAMCALL_UD and ``sc_retry_prerr()`` into -EACCES; **the TDX module never sees the call**.
  With no module loaded the SEAMCALL fails with VMfailInvalid (TDX_SEAMCALL_VMFAILINVALID, -ENODEV).
  Otherwise the module answers (:func:`tdxlab.module.call`); TDX_SUCCESS is 0, anything else -EIO.
* VMXON (k-hw-c, lore-isaku-2024-02-26): before 7.1 each user does its own VMXON; KVM's ``vmx_hardware_enable()`` refuses
  with -EBUSY when CR4.VMXE is already set (kernel source of that era). In 7.1
  ``x86_virt_get_ref()``/``x86_virt_put_ref()`` count users per CPU and do VMXON on 0->1, VMXOFF on 1->0.
"""
from __future__ import annotations

from functools import lru_cache

from tdxlab import facts, module
from tdxlab.kernel.lang import E, Instr, errno_name
from tdxlab.kernel.state import CpuState
from tdxlab.kernel.update import update_facts

_new = tuple.__new__


@lru_cache(maxsize=None)
def errno_of(status: str) -> int:
    """The kernel's return value for a status name (sc_retry_prerr(), k-tdx-c-618)."""
    s = facts.kernel_errno(facts.status_value(status))
    return 0 if s == "0" else E(s.lstrip("-"))


@lru_cache(maxsize=None)
def status_of(status: str) -> int:
    """A status name's 64-bit value: what the kernel's ``seamcall()`` returns (k-tdx-errno-h)."""
    return facts.status_value(status)


_NEED_NO_LP_INIT = frozenset({module.SYS_INIT, module.LP_INIT,  # the leaves an LP may issue before LP.INIT
                              module.SEAMLDR_INSTALL})  # (a P-SEAMLDR call: the TDX module never sees it)


@lru_cache(maxsize=None)
def _errno_text(err: int) -> str:
    return errno_name(err) if err else "0"


class Seamcall(Instr):
    """``seamcall_prerr(TDH_...)``: one SEAMCALL on the running CPU, converted to an errno. ``raw``:
    the kernel's ``seamcall()``, which returns the status itself (``tdx_sys_disable()`` compares it).

    Every SEAMCALL goes through ``__seamcall_dirty_cache()`` (kc-seamcall-dirty-cache), which sets this
    CPU's ``cache_state_incoherent`` *before* the SEAMCALL; the model does so where the design declares
    that per-CPU variable (the teardown chapter), so the bring-up designs' states are unchanged.
    """

    def __init__(self, leaf: str, fact: str = "m-dispatcher", then=None, raw: bool = False):
        self.leaf, self.fact, self.then, self.raw = leaf, fact, then, raw

    def text(self, st, t):
        return f"SEAMCALL {self.leaf}"

    def run(self, x):
        c = x.cpu
        m = x.m
        leaf = self.leaf
        mark = m.cache_mark
        if mark is not None:  # __seamcall_dirty_cache(): this_cpu_write(cache_state_incoherent, true)
            cs = x.cpus[c]
            if not cs.vars[mark]:
                x.set_percpu(c, mark, True)
        if x.module.disable and not (leaf == module.SYS_DISABLE
                                     and x.module.disable == module.DISABLE_INTERRUPTED):
            x.fact("seamcall-after-disable", f"{leaf} on CPU{c} after TDH.SYS.DISABLE "
                   + ("finished" if x.module.disable == module.DISABLE_DONE else "started"))
        if x.cpus[c].vmx == 0:
            status = "TDX_SEAMCALL_UD"
            x.fact("seamcall-outside-vmx", f"{leaf} on CPU{c}, which is not post-VMXON: #UD, the module "
                                           f"never sees it")
        elif not m.module_loaded:
            status = "TDX_SEAMCALL_VMFAILINVALID"
        else:
            before = x.module
            if leaf not in _NEED_NO_LP_INIT and not before.lp_done(c):
                x.fact("seamcall-before-lp-init", f"{leaf} on CPU{c} before that CPU's TDH.SYS.LP.INIT")
            topo = m.topology
            status, x.module = module.call(before, leaf, c, rule=m.rule, num_lps=m.num_lps,
                                           num_pkgs=topo.packages, package=topo.package_of(c),
                                           lockout=m.sys_disable_lockout)
            if before.upd or before.upd_failed or leaf in module.UPDATE_ONLY:  # the runtime update
                update_facts(x, leaf, before, status)
            if status in module.RULE_ERRORS:
                why = ""
                if status == "TDX_SYS_CONFIG_NOT_PENDING" and before.sys == module.SYSINIT_DONE:
                    why = (f": not every BIOS-enabled LP did LP.INIT ({before.num_init_lps} of "
                           f"{before.num_lps}, lore-tglx-2022-11-22b)")
                elif status == "TDX_SYS_LP_INIT_NOT_PENDING" and before.sys > module.SYSINIT_DONE:
                    why = ": LP.INIT after TDH.SYS.CONFIG (m-sys-config)"
                x.fact("module-rule-refused", f"{leaf} on CPU{c}: {status} under the {m.rule} rule{why}")
            if status in module.RACE_RESULTS and leaf != module.SYS_DISABLE:  # (tdx_sys_disable() retries it)
                x.fact("module-already-done", f"{leaf} on CPU{c}: {status}: another context already did "
                                             f"it (a race); the kernel returns -EIO")
        err = errno_of(status)
        x.set_ret(status_of(status) if self.raw else err)
        x.seamcall(leaf, status, _errno_text(err))
        if not x.quiet:
            x.note(f"SEAMCALL {leaf} -> {status} ({_errno_text(err)})")
        x.pc += 1
        if self.then is not None:
            self.then(x, err)


class _VmxInstr(Instr):
    """VMXON or VMXOFF through ``api`` (a kernel function name); ``refcounted`` for 7.1's VMX users."""

    percpu = True
    pure = True  # (this CPU's VMX state and the return value)

    def __init__(self, api: str, refcounted: bool = False, fact: str = "k-hw-c"):
        self.api, self.refcounted, self.fact = api, refcounted, fact

    def text(self, st, t):
        return f"{self.api}()"


class Vmxon(_VmxInstr):
    """VMXON on this CPU. ``refcounted`` is 7.1's x86_virt_get_ref(X86_FEATURE_VMX) (k-hw-c)."""

    def __init__(self, api: str = "cpu_vmxon", refcounted: bool = False, fact: str = "k-hw-c"):
        super().__init__(api, refcounted, fact)

    def run(self, x):
        c = x.cpu
        cs = x.cpus[c]
        if self.refcounted:
            x.set_cpu(c, _new(CpuState, (cs[0], cs[1] + 1) + cs[2:]))
            x.set_ret(0)
            if not x.quiet:
                x.note(f"{self.api}(): VMX users on CPU{c} {cs.vmx} -> {cs.vmx + 1}"
                       + (" (VMXON)" if cs.vmx == 0 else ""))
        elif cs.vmx:
            x.set_ret(E("EBUSY"))
            x.fact("vmxon-busy", f"{self.api}() on CPU{c}: CR4.VMXE already set by another "
                                         f"context (a double VMXON, dec-v19-pass-vmxon): -EBUSY")
            x.note(f"{self.api}(): CR4.VMXE already set: -EBUSY")
        else:
            x.set_cpu(c, _new(CpuState, (cs[0], 1) + cs[2:]))
            x.set_ret(0)
            if not x.quiet:
                x.note(f"{self.api}(): VMXON, CR4.VMXE set")
        x.pc += 1


class Vmxoff(_VmxInstr):
    """VMXOFF on this CPU; ``refcounted``: 7.1's x86_virt_put_ref(), VMXOFF on the last user (k-hw-c)."""

    def __init__(self, api: str = "cpu_vmxoff", refcounted: bool = False, fact: str = "k-hw-c"):
        super().__init__(api, refcounted, fact)

    def run(self, x):
        c = x.cpu
        cs = x.cpus[c]
        n = max(cs.vmx - 1, 0) if self.refcounted else 0
        x.set_cpu(c, _new(CpuState, (cs[0], n) + cs[2:]))
        if not x.quiet:
            x.note(f"{self.api}(): " + ("VMXOFF" if n == 0 else f"VMX users {cs.vmx} -> {n}"))
        x.pc += 1  # the return value is left alone: callers return the error that made them undo


def lp_flag(x) -> bool:
    """``__this_cpu_read(tdx_lp_initialized)`` (k-tdx-c-618)."""
    return x.cpus[x.cpu].lp_flag


def set_lp_flag(x) -> None:
    """``__this_cpu_write(tdx_lp_initialized, true)`` (k-tdx-c-618): never cleared in 6.8 to 7.1."""
    c = x.cpu
    cs = x.cpus[c]
    x.set_cpu(c, _new(CpuState, (cs[0], cs[1], True) + cs[3:]))
