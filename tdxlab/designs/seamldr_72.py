"""``update-7.2``: the TDX module's runtime update, as merged in the 7.2 merge window (tip x86/tdx, 22 May
2026; mainline b0820861748f "Merge tag 'x86_tdx_for_7.2-rc1'", 16 Jun 2026; k-seamldr-c-72).

The bring-up is 7.1's (subsys_initcall(tdx_enable), the virt/tdx:online callback; k-tdx-c-71) with 7.2's
``struct tdx_module_state`` (v10 02/25 and 03/25, lore-chao-2026-05-20). Once it has returned, the
``update`` event writes a module image to tdx-host's firmware upload: ``tdx_fw_write()`` calls
``seamldr_install_module()`` (k-tdx-host-c-72), which, under ``cpus_read_lock()``, runs
``do_seamldr_install_module()`` on every online CPU with ``stop_machine_cpuslocked()`` (k-stop-machine-c).
There the CPUs go through the states of ``enum module_update_state`` in lockstep: each acknowledges each
state under ``update_ctrl.lock`` and the ``num_online_cpus()``-th acknowledgement without a failure moves
the state on. CPU 0, the lead, runs TDH.SYS.SHUTDOWN (whose caller then clears ``tdx_module_state`` and
every possible CPU's ``tdx_lp_initialized``); every CPU runs SEAMLDR.INSTALL, one at a time under
``seamldr_lock``, then ``tdx_cpu_enable()`` (TDH.SYS.INIT once, LP.INIT on each); CPU 0 runs
TDH.SYS.UPDATE. A step that fails on any CPU stops every CPU at that step (v10 15/25).

Where issue 17 is wrong about what was merged (docs/research/facts-2026-update.md): the TD-build
contention (``-EBUSY`` on TDX_UPDATE_COMPAT_SENSITIVE, v10 22/25) was dropped by Dave Hansen and is not in
the merge (Dave Hansen on 22/25: "I'm probably going to drop this for now", lore-chao-2026-05-20); the merge adds ``seamldr_lock_module_update()``, which is
``preempt_disable()``, as the way to hold an update off. The v10 form of the contention (TDH.SYS.SHUTDOWN
with RCX bit 16, TDX_UPDATE_COMPAT_SENSITIVE, -EBUSY, FW_UPLOAD_ERR_BUSY) is not modelled: the model has
no TD build; its status decodes (data/status_codes.toml).

Why stop_machine() and not a lock (v10 14/25; in v2 12/21, lore-chao-2025-10-01-12: "no single lock
primitive, except for stop_machine(), can meet this requirement"): SEAMCALLs run in process and IRQ
context and concurrently on many CPUs, only update SEAMCALLs may run during the update, and every online
CPU must take part. An rwlock meets the first two but "CPUs spinning with IRQs disabled cannot be directed
to perform update work" (the what-if ``rwlock``).

Model choices: the update's ``params`` (the image, kzalloc'ed and filled by init_seamldr_params()) is not
modelled; ``seamldr_call()``'s erratum check is left out; ``get_tdx_sys_info_handoff()`` and
``get_tdx_sys_info_version()`` are one TDH.SYS.RD each; the version is two numbers (1.5 before, 2.0 after,
the model's), which ``version_show()`` reads one at a time under ``seamldr_lock_module_update()``, with
``tdx_get_sysinfo()``'s NULL test as an ``initialized`` test (where the merged text puts that test was not
read, k-tdx-host-c-72).
"""
# ruff: noqa: F821
from __future__ import annotations

from tdxlab.designs import core_71, tdx_68
from tdxlab.designs.base import Design
from tdxlab.kernel.source import Global, Patch, kfunc
from tdxlab.kernel.state import HARDIRQ, TASK
from tdxlab.kernel.update import STOPPER
from tdxlab.platform import IN_ONLINE_MASK

# enum module_update_state (k-seamldr-c-72)
MODULE_UPDATE = {"MODULE_UPDATE_START": 0, "MODULE_UPDATE_SHUTDOWN": 1, "MODULE_UPDATE_CPU_INSTALL": 2,
                 "MODULE_UPDATE_CPU_INIT": 3, "MODULE_UPDATE_RUN_UPDATE": 4, "MODULE_UPDATE_DONE": 5}
UPDATER = "fw_upload"  # the firmware-upload worker that runs tdx_fw_write()


# --- tdx.c (7.2: struct tdx_module_state, v10 01-03/25, 16-20/25) ------------------------------------------
@kfunc("k-tdx-c-72-update")
def try_init_module_global():
    raw_spin_lock(sysinit_lock)                             # k-tdx-c-72-update
    if tdx_module_state.sysinit_done:                       # Return the "cached" return code.
        goto .out
    ret = seamcall_prerr(TDH_SYS_INIT)                      # m-sys-init, k-tdx-c-72-update
    if ret == -ENODEV:
        pr_err("module not loaded")
    tdx_module_state.sysinit_done = True                    # Save the return code for later callers.
    tdx_module_state.sysinit_ret = ret
    label .out
    ret = tdx_module_state.sysinit_ret
    raw_spin_unlock(sysinit_lock)                           # k-tdx-c-72-update
    return ret


@kfunc("k-tdx-c-72-update")
def tdx_cpu_enable():
    if this_cpu_read(tdx_lp_initialized):                   # k-tdx-c-72-update
        return 0
    ret = try_init_module_global()
    if ret:
        return ret
    ret = seamcall_prerr(TDH_SYS_LP_INIT)                   # m-sys-lp-init
    if ret:
        return ret
    this_cpu_write(tdx_lp_initialized, True)                # k-tdx-c-72-update
    return 0


@kfunc("k-tdx-c-72-update")
def tdx_enable():
    ret = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "virt/tdx:online", tdx_online_cpu, tdx_offline_cpu)
    if ret < 0:
        return ret
    ret = init_tdx_module()
    if ret:
        pr_err("TDX-Module initialization failed")
        cpuhp_remove_state("virt/tdx:online")
        return ret
    tdx_module_state.initialized = True                     # k-tdx-c-72-update
    pr_info("TDX-Module initialized")
    return 0


@kfunc("k-tdx-c-72-update")
def tdx_module_shutdown():
    ret = seamcall_prerr(TDH_SYS_RD)                        # get_tdx_sys_info_handoff(): the handoff version
    WARN_ON_ONCE(ret)
    ret = seamcall_prerr(TDH_SYS_SHUTDOWN)                  # m-sys-shutdown; args.rcx = handoff.module_hv
    if ret:
        return ret
    # memset(&tdx_module_state, 0, sizeof(tdx_module_state)): no locks, no concurrent access here
    tdx_module_state.initialized = False                    # k-tdx-c-72-update
    tdx_module_state.sysinit_done = False
    tdx_module_state.sysinit_ret = 0
    for cpu in range(nr_cpu_ids):                           # for_each_possible_cpu(cpu)
        per_cpu_write(tdx_lp_initialized, cpu, False)       # k-tdx-c-72-update per_cpu(tdx_lp_initialized, cpu) = false
    return 0


@kfunc("k-tdx-c-72-update")
def tdx_module_run_update():
    ret = seamcall_prerr(TDH_SYS_UPDATE)                    # m-sys-update
    if ret:
        return ret
    ret = seamcall_prerr(TDH_SYS_RD)                        # get_tdx_sys_info_version(): shouldn't fail
    WARN_ON_ONCE(ret)
    tdx_sysinfo.version.major_version = IMAGE_MAJOR         # (the version the new module reports)
    tdx_sysinfo.version.minor_version = IMAGE_MINOR
    tdx_module_state.initialized = True                     # k-tdx-c-72-update
    return 0


# --- seamldr.c (k-seamldr-c-72) -------------------------------------------------------------------------
@kfunc("k-seamldr-c-72")
def seamldr_install(params):
    # seamldr_call(P_SEAMLDR_INSTALL, &args): "the hardware only allows a single CPU to interact with
    # P-SEAMLDR simultaneously"
    raw_spin_lock(seamldr_lock)                             # k-seamldr-c-72 guard(raw_spinlock)(&seamldr_lock)
    ret = seamcall_prerr(P_SEAMLDR_INSTALL)                 # k-seamldr-c-72 args.rcx = __pa(params)
    raw_spin_unlock(seamldr_lock)
    return ret


@kfunc("k-seamldr-c-72")
def __set_target_state(newstate):
    # Called with ctrl->lock held or during initialization.
    update_ctrl.num_ack = 0                                 # k-seamldr-c-72 Reset ack counter.
    update_ctrl.state = newstate


@kfunc("k-seamldr-c-72")
def ack_state(result):
    # ack_state(&update_ctrl, ret): the last one to ack a state moves to the next state
    raw_spin_lock(update_ctrl.lock)                         # k-seamldr-c-72
    update_ctrl.num_failed += result != 0                   # ctrl->num_failed += !!result
    update_ctrl.num_ack += 1
    if update_ctrl.num_ack == num_online_cpus() and not update_ctrl.num_failed:
        newstate = update_ctrl.state + 1
        __set_target_state(newstate)                        # __set_target_state(ctrl, ctrl->state + 1)
    raw_spin_unlock(update_ctrl.lock)


@kfunc("k-seamldr-c-72")
def init_state():
    raw_spin_lock_init(update_ctrl.lock)
    __set_target_state(MODULE_UPDATE_START + 1)
    update_ctrl.num_failed = 0


@kfunc("k-seamldr-c-72")
def do_seamldr_install_module(seamldr_params):
    # See multi_cpu_stop() from where this multi-cpu state-machine was adopted.
    curstate = MODULE_UPDATE_START
    is_lead_cpu = False
    ret = 0
    if smp_processor_id() == 0:                             # CPU 0 because it is always online
        is_lead_cpu = True
    while True:                                             # do {
        # newstate = READ_ONCE(update_ctrl.state); if (curstate == newstate) { cpu_relax(); continue; }
        while READ_ONCE(update_ctrl.state) == curstate and not READ_ONCE(update_ctrl.num_failed):
            cpu_relax()
        newstate = READ_ONCE(update_ctrl.state)
        if curstate == newstate:                            # continue: the loop's test sees num_failed
            break
        curstate = newstate
        if curstate == MODULE_UPDATE_SHUTDOWN:
            if is_lead_cpu:
                ret = tdx_module_shutdown()
        elif curstate == MODULE_UPDATE_CPU_INSTALL:
            ret = seamldr_install(seamldr_params)
        elif curstate == MODULE_UPDATE_CPU_INIT:
            ret = tdx_cpu_enable()
        elif curstate == MODULE_UPDATE_RUN_UPDATE:
            if is_lead_cpu:
                ret = tdx_module_run_update()
        ack_state(ret)
        if curstate == MODULE_UPDATE_DONE or READ_ONCE(update_ctrl.num_failed):   # the do-while test
            break
    return ret


@kfunc("k-seamldr-c-72")
def seamldr_install_module():
    # (the header check and init_seamldr_params() of the image: not modelled)
    params = 1
    cpus_read_lock()                                        # Ensure a stable set of online CPUs
    init_state()
    ret = stop_machine_cpuslocked(do_seamldr_install_module, params, cpu_online_mask)
    cpus_read_unlock()
    return ret


@kfunc("k-seamldr-c-72")
def seamldr_lock_module_update():
    # stop_machine() does not interrupt preemption-disabled regions. Simply disabling preempt prevents updates.
    preempt_disable()                                       # k-seamldr-c-72


@kfunc("k-seamldr-c-72")
def seamldr_unlock_module_update():
    preempt_enable()                                        # k-seamldr-c-72


@kfunc("k-tdx-host-c-72")
def version_show():
    # The version number can change during an update. Lock out updates while printing the version.
    seamldr_lock_module_update()
    if not tdx_module_state.initialized:                    # tdx_get_sysinfo() is NULL: -ENXIO
        ret = -ENXIO
    else:
        major = tdx_sysinfo.version.major_version           # sysfs_emit(buf, "%u.%u.%02u\n", ...)
        minor = tdx_sysinfo.version.minor_version
        ret = major * 100 + minor                           # (what it prints, as a number)
    seamldr_unlock_module_update()
    return ret


UPDATE_FUNCTIONS = [seamldr_lock_module_update, seamldr_unlock_module_update, version_show, seamldr_install, __set_target_state, ack_state, init_state, do_seamldr_install_module,
                    seamldr_install_module, tdx_module_shutdown, tdx_module_run_update]


# --- what-ifs (patches over update-7.2) ---------------------------------------------------------------------
@kfunc("lore-chao-2026-02-12", name="tdx_module_shutdown")
def tdx_module_shutdown_online_only():
    ret = seamcall_prerr(TDH_SYS_RD)
    WARN_ON_ONCE(ret)
    ret = seamcall_prerr(TDH_SYS_SHUTDOWN)
    if ret:
        return ret
    tdx_module_state.initialized = False
    tdx_module_state.sysinit_done = False
    tdx_module_state.sysinit_ret = 0
    for cpu in range(nr_cpu_ids):                           # for_each_online_cpu(cpu): before v6 (v4)
        if cpu_online(cpu):
            per_cpu_write(tdx_lp_initialized, cpu, False)
    return 0


@kfunc("lore-chao-2026-05-20", name="seamldr_install_module")
def seamldr_install_module_rwlock():
    # v10 14/25's rejected alternative: hold every SEAMCALL user off with an rwlock and direct the online
    # CPUs to the update work by IPI
    params = 1
    err = ATOMIC_INIT(0)
    cpus_read_lock()
    init_state()
    write_lock(tdx_update_lock)                             # lore-chao-2026-05-20
    on_each_cpu(tdx_update_ipi, err, 1)
    ret = atomic_read(err)
    write_unlock(tdx_update_lock)
    cpus_read_unlock()
    return ret


@kfunc("lore-chao-2026-05-20")
def tdx_update_ipi(err):
    params = 1
    ret = do_seamldr_install_module(params)
    if ret:
        atomic_set(err, ret)


@kfunc("lore-chao-2026-05-20")
def tdx_user():
    # a SEAMCALL user under the rwlock in IRQ context ("SEAMCALLs need to be callable from both process
    # and IRQ contexts", v10 14/25); here TDH.SYS.RD stands for the user's leaf
    read_lock(tdx_update_lock)                              # lore-chao-2026-05-20
    ret = seamcall_prerr(TDH_SYS_RD)
    read_unlock(tdx_update_lock)
    return ret


PATCHES = {
    "update-no-hotplug-lock": Patch("update-no-hotplug-lock", "seamldr_install_module() without cpus_read_lock()")
    .delete("seamldr_install_module", "cpus_read_lock()")
    .delete("seamldr_install_module", "cpus_read_unlock()"),
    "no-lp-reset": Patch("no-lp-reset", "tdx_module_shutdown() leaves every tdx_lp_initialized set")
    .delete("tdx_module_shutdown", "for cpu in range(nr_cpu_ids): per_cpu_write(tdx_lp_initialized, cpu, False)"),
    "lp-reset-online-only": Patch("lp-reset-online-only", "tdx_module_shutdown() clears tdx_lp_initialized of "
                                  "the online CPUs only (before v6)")
    .function(tdx_module_shutdown_online_only),
    "no-sysinit-reset": Patch("no-sysinit-reset", "tdx_module_shutdown() leaves tdx_module_state.sysinit_done set")
    .delete("tdx_module_shutdown", "tdx_module_state.sysinit_done = False")
    .delete("tdx_module_shutdown", "tdx_module_state.sysinit_ret = 0"),
    "no-abort": Patch("no-abort", "ack_state() moves on even after a failure (the skeleton, v10 14/25, "
                      "before 15/25)")
    .replace("ack_state", "if update_ctrl.num_ack == num_online_cpus() and (not update_ctrl.num_failed):",
             "if update_ctrl.num_ack == num_online_cpus():\n    newstate = update_ctrl.state + 1\n"
             "    __set_target_state(newstate)")
    .replace("do_seamldr_install_module", "while READ_ONCE(update_ctrl.state) == curstate and "
                                          "(not READ_ONCE(update_ctrl.num_failed)): cpu_relax()",
             "while READ_ONCE(update_ctrl.state) == curstate:\n    cpu_relax()")
    .replace("do_seamldr_install_module", "if curstate == MODULE_UPDATE_DONE or READ_ONCE(update_ctrl.num_failed): "
                                          "break",
             "if curstate == MODULE_UPDATE_DONE:\n    break"),
    "rwlock": Patch("rwlock", "an rwlock instead of stop_machine(): write_lock() and on_each_cpu()")
    .function(seamldr_install_module_rwlock).function(tdx_update_ipi).function(tdx_user),
    "no-hold-off": Patch("no-hold-off", "version_show() without seamldr_lock_module_update()")
    .delete("version_show", "seamldr_lock_module_update()")
    .delete("version_show", "seamldr_unlock_module_update()"),
    "lead-can-go-offline": Patch("lead-can-go-offline", "the lead is the last CPU, which can be offline")
    .replace("do_seamldr_install_module", "if smp_processor_id() == 0: is_lead_cpu = True",
             "if smp_processor_id() == nr_cpu_ids - 1:\n    is_lead_cpu = True"),
}
NOTES = {
    "update-no-hotplug-lock": "seamldr_install_module() calls stop_machine_cpuslocked() without "
                              "cpus_read_lock(): a CPU can come online while the update runs",
    "no-lp-reset": "tdx_module_shutdown() does not clear tdx_lp_initialized: tdx_cpu_enable() skips LP.INIT "
                   "on the new module",
    "lp-reset-online-only": "tdx_module_shutdown() clears tdx_lp_initialized only on online CPUs (before v6): "
                            "an offline CPU keeps a stale flag",
    "no-sysinit-reset": "tdx_module_shutdown() keeps tdx_module_state.sysinit_done: nobody runs TDH.SYS.INIT "
                        "on the new module",
    "no-abort": "the lockstep moves on after a failed step (v10 14/25, before \"Abort updates after a failed "
                "step\")",
    "lead-can-go-offline": "the lead is the last CPU, which the administrator can offline, not CPU 0",
    "no-hold-off": "version_show() reads the version without seamldr_lock_module_update(): an update can run "
                   "between its reads",
    "rwlock": "the update takes an rwlock for write and sends do_seamldr_install_module() by IPI; SEAMCALL "
              "users take it for read, here from an interrupt handler (event tdx-user)",
}
USER = "tdx_user"  # the SEAMCALL user of the rwlock what-if
READER = "cat"  # the reader of tdx-host's version attribute


class UPDATE_72(Design):
    name = "update-7.2"
    era = "Linux 7.2 (2026)"
    summary = ("7.1's bring-up, then a runtime update: cpus_read_lock() + stop_machine_cpuslocked(); every "
               "online CPU in lockstep: SHUTDOWN (CPU 0), SEAMLDR.INSTALL (each, under seamldr_lock), "
               "tdx_cpu_enable() (each), TDH.SYS.UPDATE (CPU 0)")
    fact = "k-seamldr-c-72"
    loader = "init"
    loader_function = "tdx_enable"
    boot_time = True
    offline_refusal = True
    chapters = ("bring-up", "update")  # 7.1's bring-up, then this chapter
    extra_events = ("update", "tdx-user", "version-read")
    locks = {"seamldr_lock": "raw-spinlock", "update_ctrl.lock": "raw-spinlock", "tdx_update_lock": "rwlock"}
    globals = {
        "tdx_module_state.initialized": Global(False, None, "tdx_module_status", as_bool=True),
        "tdx_module_state.sysinit_done": Global(False, "sysinit_lock", "sysinit_done"),
        "tdx_module_state.sysinit_ret": Global(0, "sysinit_lock", "sysinit_ret"),
        "tdx_sysinfo.version.major_version": Global(1),     # (the model's versions: 1.5 before, 2.0 after)
        "tdx_sysinfo.version.minor_version": Global(5),
        "update_ctrl.state": Global(0, "update_ctrl.lock"),
        "update_ctrl.num_ack": Global(0, "update_ctrl.lock"),
        "update_ctrl.num_failed": Global(0, "update_ctrl.lock"),
    }
    sources = [try_init_module_global, tdx_cpu_enable, core_71.tdx_online_cpu, core_71.tdx_offline_cpu,
               tdx_enable, *[s for s in tdx_68.FUNCTIONS if s.name in ("init_tdx_module", "config_global_keyid",
                                                                      "do_global_key_config")],
               *UPDATE_FUNCTIONS]
    patches = PATCHES
    mutation_notes = NOTES

    @property
    def consts(self) -> dict:
        return {**MODULE_UPDATE, "IMAGE_MAJOR": 2, "IMAGE_MINOR": 0, **self.opt}

    def initial_phase(self):
        return "boot"

    def updater_cpu(self) -> int:
        """Where tdx_fw_write() runs: CPU 0, the one CPU the model never offlines (it does not migrate a
        task off a CPU that goes offline)."""
        return 0

    def event_enabled(self, m, st, ev: str) -> bool:
        if ev.partition("@")[0] == "version-read":
            return st.kern.init_done and st.cpus[self.user_cpu()].hp in IN_ONLINE_MASK
        if ev.partition("@")[0] == "tdx-user":  # only the rwlock what-if has a user to start
            return "rwlock" in self.mut and st.kern.init_done and st.kern.init_ret == 0 and \
                st.cpus[self.user_cpu()].hp in IN_ONLINE_MASK
        if ev.partition("@")[0] == "update":
            return (st.kern.init_done and st.kern.init_ret == 0 and st.thread(UPDATER) is None
                    and st.cpus[self.updater_cpu()].hp in IN_ONLINE_MASK)
        return super().event_enabled(m, st, ev)

    def user_cpu(self) -> int:
        """Where the rwlock what-if's SEAMCALL user runs: the highest CPU."""
        return self.platform.topology.ncpus - 1

    def event_label(self, ev: str) -> str:
        if ev.partition("@")[0] == "tdx-user":
            return "an interrupt handler makes a SEAMCALL under the rwlock"
        if ev.partition("@")[0] == "version-read":
            return "admin: cat /sys/devices/faux/tdx_host/version (version_show())"
        if ev.partition("@")[0] == "update":
            return "admin: write a TDX module image to /sys/class/firmware/tdx_module/ (tdx_fw_write())"
        return super().event_label(ev)

    def fire_event(self, m, x, ev: str):
        if ev.partition("@")[0] == "version-read":
            x.spawn(READER, self.user_cpu(), TASK, "version_show")
            x.note(f"a process on CPU{self.user_cpu()} reads the TDX module's version")
            return "version_show", "k-tdx-host-c-72"
        if ev.partition("@")[0] == "tdx-user":
            x.spawn(USER, self.user_cpu(), HARDIRQ, "tdx_user")
            x.note(f"an interrupt on CPU{self.user_cpu()}: its handler makes a SEAMCALL (IRQs off)")
            return "tdx_user", "lore-chao-2026-05-20"
        if ev.partition("@")[0] == "update":
            x.spawn(UPDATER, self.updater_cpu(), TASK, "seamldr_install_module")
            x.note("a new TDX module image is written: tdx_fw_write() calls seamldr_install_module()")
            return "tdx_fw_write", "k-tdx-host-c-72"
        return super().fire_event(m, x, ev)

    def root_finished(self, x, t, v, fn):
        if t.name in (USER, READER):
            return
        if t.name == UPDATER:
            x.note("seamldr_install_module() returned " + (str(v) if v else "0: the new module runs"))
            return
        super().root_finished(x, t, v, fn)


def reader_inside_update(sc, st) -> str | None:
    """A state where the update's stoppers run while the version reader has read one field of the version
    and not yet the other (its next instruction is the second read)."""
    t = st.thread(READER)
    if t is None or not any(u[0].startswith(STOPPER) and len(u[3]) > 1 for u in st.threads):  # in the callback
        return None
    f = t.stack[-1]
    if f.fn != "version_show":
        return None
    body = sc.machine.funcs["version_show"].body
    first = next((i for i, ins in enumerate(body) if "major_version" in ins.text(None, None)), None)
    second = next((i for i, ins in enumerate(body) if "minor_version" in ins.text(None, None)), None)
    if first is not None and second is not None and first < f.pc <= second:
        return ("the update runs while version_show() on CPU%d has read the major version and not the minor "
                "one: it prints a version of no module" % t.cpu)
    return None


# --- the chapter's properties (one observer each; tdxlab.kernel.update records the facts) ------------------
def _add_properties() -> None:
    from tdxlab.check.properties import PROPERTIES, add_property
    from tdxlab.kernel.update import update_cpus_stable
    for name, summary, observes, fact in (
        ("update-seamcalls-only",
         "no SEAMCALL but the update's own between TDH.SYS.SHUTDOWN and TDH.SYS.UPDATE: \"During updates, "
         "only update-related SEAMCALLs are permitted\"", "seamcall-mid-update", "lore-chao-2026-05-20"),
        ("update-after-lp-init",
         "every CPU in cpu_online_mask has done LP.INIT on the new module before TDH.SYS.UPDATE",
         "update-before-lp-init", "k-seamldr-c-72, m-sys-update"),
        ("update-stops-on-failure",
         "a failed update step leaves no CPU past it: after a leaf of one step failed, the callback issues "
         "no leaf of a later step", "update-step-after-failure", "lore-chao-2026-05-20"),
    ):
        if name not in PROPERTIES:
            add_property(name, summary, observes=(observes,), fact=fact, chapter="update")
    if "update-holds-off-readers" not in PROPERTIES:
        add_property("update-holds-off-readers", "no update runs while version_show() is between its reads of "
                     "the version: seamldr_lock_module_update() holds the update off",
                     state=reader_inside_update, fact="k-seamldr-c-72, k-tdx-host-c-72", chapter="update")
    if "update-cpus-stable" not in PROPERTIES:
        add_property("update-cpus-stable", "no CPU comes online (or goes offline) while stop_machine() runs "
                     "the update: cpu_online_mask stays the set of CPUs in the lockstep",
                     state=update_cpus_stable, fact="k-seamldr-c-72, k-stop-machine-c", chapter="update")


_add_properties()


__all__ = ["UPDATE_72", "MODULE_UPDATE", "PATCHES", "UPDATER"]
