"""What every design shares: environment events (CPU online/offline requests, KVM creating a VM or a
TD), what happens when a bring-up path or a hotplug request returns, and when TDX users may use a CPU."""
from __future__ import annotations

from tdxlab.errors import NotApplicable
from tdxlab.kernel import cpuhp as CPUHP
from tdxlab.kernel.lang import E, errno_name
from tdxlab.kernel.state import HOTPLUG, INITIALIZED, TASK, Kern
from tdxlab.platform import IN_ONLINE_MASK, OFFLINE, ONLINE, PARKED


def failed(x) -> bool:
    """The last call returned an error (``if (ret) goto out;``)."""
    return x.retval != 0


class Design:
    name = ""
    era = ""
    summary = ""
    fact = ""
    loader = "modprobe"  # the context that runs bring-up
    loader_function = ""
    boot_time = False  # bring-up runs as an initcall, before user space can request hotplug
    offline_refusal = False  # the design refuses to offline a package's last CPU while KeyIDs are in use
    mutation_notes: dict[str, str] = {}
    options_doc: dict[str, str] = {}
    extra_events: tuple[str, ...] = ()
    # The chapters whose properties apply to this design (tdxlab.check.properties.applies): every design
    # brings TDX up; teardown-7.2 adds "teardown", update-7.2 adds "update". design_over() keeps the base's.
    chapters: tuple[str, ...] = ("bring-up",)

    def __init__(self, mutations=frozenset(), options=None, platform=None):
        self.platform = platform
        for mu in mutations:
            if mu not in self.mutation_notes:
                raise NotApplicable(f"mutation {mu!r} does not apply to design {self.name!r}: "
                                    f"{self.not_applicable(mu)}")
        self.mut = frozenset(mutations)
        self.opt = dict(options or {})
        for k in self.opt:
            if k not in self.options_doc:
                raise NotApplicable(f"design {self.name!r} has no option {k!r}"
                                    + (f"; it has {', '.join(self.options_doc)}" if self.options_doc else ""))
        self.cpuhp: dict[str, tuple] = {}

    def not_applicable(self, mu: str) -> str:
        ok = ", ".join(self.mutation_notes) or "none"
        return f"it applies only to designs that have what it removes (mutations for {self.name}: {ok})"

    # --- building ---
    # The design's kernel functions, written in the design language (tdxlab.kernel.source): a list of
    # @kfunc functions. ``patches`` maps a mutation's name to the Patch that makes it; ``globals`` declares
    # globals beyond tdxlab.kernel.source.GLOBALS; ``consts`` are the names an ``if`` is folded on (the
    # design's options, like IS_ENABLED()).
    sources: list = []
    patches: dict = {}
    globals: dict = {}  # name -> tdxlab.kernel.source.Global (or an initial value): the design's own globals
    percpu: dict = {}  # name -> initial value: the design's own per-CPU variables (DEFINE_PER_CPU)
    locks: dict = {}  # name -> kind ("mutex", "raw-spinlock", "spinlock"): the design's own locks

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        from tdxlab.kernel.state import declare_lock
        for lock, kind in cls.__dict__.get("locks", {}).items():
            declare_lock(lock, kind)

    @property
    def consts(self) -> dict:
        return dict(self.opt)

    def kernel_sources(self) -> dict:
        """The design's kernel functions by name, with its mutations' patches applied."""
        from tdxlab.kernel.source import DesignError

        out = {s.name: s for s in self.sources}
        applied: list[str] = []
        for mu in sorted(self.mut):
            if mu in self.patches:
                try:
                    out = self.patches[mu].apply(out)
                except DesignError as e:
                    if not applied:
                        raise
                    # two what-ifs that rewrite the same code differently (one removes what the other edits)
                    raise DesignError(f"mutations {', '.join(repr(m) for m in applied)} and {mu!r} cannot be "
                                      f"combined on design {self.name}: {e}") from None
                applied.append(mu)
        return out

    @classmethod
    def function_source(cls, name: str) -> str:
        """Kernel function ``name`` of the design as written (comments and all)."""
        from tdxlab.errors import UnknownName
        for s in cls.sources:
            if s.name == name:
                return s.source_text()
        raise UnknownName(f"design {cls.name} has no kernel function {name!r}: choose one of "
                          f"{', '.join(s.name for s in cls.sources)}")

    def functions(self) -> list:
        """The design's kernel functions, compiled."""
        from tdxlab.kernel.source import compile_design
        return compile_design(self, list(self.kernel_sources().values()))

    def all_functions(self) -> list:
        fns = [f() for f in CPUHP.GENERIC] + self.functions()
        return fns

    def initial_kern(self) -> Kern:
        from tdxlab.kernel.source import design_globals
        gl, index = design_globals(self)
        return Kern(vars=tuple(gl[n].init for n in index))

    def initial_percpu(self, cpu: int) -> tuple:
        """The design's own per-CPU variables' values on ``cpu`` at boot."""
        return tuple(self.percpu.values())

    def initial_vmx(self, cpu: int, hp: str) -> int:
        return 0

    def roots(self, topology) -> list[tuple[str, int, str, str]]:
        """The contexts that exist at the start: (name, cpu, kind, function)."""
        roots = [(self.loader, 0, TASK, self.loader_function)]
        if "second-user" in self.mut:
            roots.append(("second-user", second_user_cpu(self.platform), TASK, "second_tdx_user"))
        return roots

    # --- environment events ---
    def loader_running(self, st) -> bool:
        """The bring-up context has taken its first step and not yet returned."""
        t = st.thread(self.loader)
        return t is not None and t.stack != ((t.stack[0].fn, 0, None),)

    def in_tdx_enable(self, st) -> bool:
        """The bring-up context is inside tdx_enable() (or 7.1's init_tdx_module())."""
        t = st.thread(self.loader)
        return self.loader_running(st) and any(f.fn in ("tdx_enable", "init_tdx_module") for f in t.stack)

    def event_enabled(self, m, st, ev: str) -> bool:
        ev, _, when = ev.partition("@")
        if when == "load" and not self.loader_running(st):
            return False
        if when == "after" and not st.kern.init_done:
            return False
        if when == "init" and not self.in_tdx_enable(st):
            return False
        if ev.startswith(("online:", "offline:")):
            if st.phase != "user":
                return False
            c = int(ev.split(":")[1])
            if st.thread(f"cpu_up/{c}") is not None or st.thread(f"cpu_down/{c}") is not None:
                return False
            hp = st.cpus[c].hp
            return hp in (OFFLINE, PARKED) if ev.startswith("online:") else hp == ONLINE
        if ev == "smt-on":
            return st.phase == "user" and any(cs.hp == PARKED for cs in st.cpus)
        if ev == "create-td":
            # KVM checks the packages under cpus_read_lock() (dec-keyid-alloc): not while a CPU is coming or going
            w, _, ww = st.locks[0]
            return self.tdx_usable(st) and w is None and ww is None
        return False

    def event_label(self, ev: str) -> str:
        ev, _, when = ev.partition("@")
        if when:
            return self.event_label(ev) + {"load": f" (while {self.loader_function}() runs)",
                                           "init": " (while tdx_enable() runs)",
                                           "after": f" (after {self.loader_function}() returned)"}[when]
        if ev.startswith("online:"):
            return f"admin: echo 1 > /sys/devices/system/cpu/cpu{ev[7:]}/online"
        if ev.startswith("offline:"):
            return f"admin: echo 0 > /sys/devices/system/cpu/cpu{ev[8:]}/online"
        if ev == "create-td":
            return "KVM creates a TD: a guest KeyID is allocated"
        if ev == "smt-on":
            return "admin: echo on > /sys/devices/system/cpu/smt/control"
        if ev in ("create-vm", "create-vm2"):
            return ("another process" if ev == "create-vm2" else "a process") + \
                " creates a VM: hardware_enable_all()"
        return ev

    def fire_event(self, m, x, ev: str) -> tuple[str, str]:
        ev = ev.partition("@")[0]
        if ev.startswith("online:"):
            c = int(ev[7:])
            if x.cpus[c].hp == PARKED:
                x.note(f"CPU{c} is a parked nosmt sibling: cpu_bootable() is false, the request fails "
                       f"with -EPERM")
                return "cpu_up", "k-cpu-c"
            x.spawn(f"cpu_up/{c}", c, HOTPLUG, "_cpu_up")
            x.note(f"CPU{c} online requested")
            return "cpu_up", "k-cpu-c"
        if ev.startswith("offline:"):
            c = int(ev[8:])
            x.spawn(f"cpu_down/{c}", c, HOTPLUG, "_cpu_down")
            x.note(f"CPU{c} offline requested")
            return "cpu_down", "k-cpu-c"
        if ev == "smt-on":
            parked = [c for c, cs in enumerate(x.cpus) if cs.hp == PARKED]
            for c in parked:
                x.set_cpu(c, x.cpus[c]._replace(hp=OFFLINE))
            x.note(f"SMT control on: {', '.join(f'CPU{c}' for c in parked)} may now be onlined (k-cpu-c: "
                   f"runtime SMT control; with nosmt=force it could not)")
            return "cpuhp_smt_enable", "k-cpu-c"
        if ev == "create-td":
            topo = m.topology
            empty = [p for p in range(topo.packages)
                     if not any(x.cpus[c].hp in IN_ONLINE_MASK for c in topo.cpus_of_package(p))]
            if empty:
                x.note(f"KVM refuses the TD: package {empty[0]} has no online CPU (dec-keyid-alloc: the KeyID is "
                       f"allocated and the packages checked under cpus_read_lock(), one step here)")
            else:
                x.set_kern(keyids_in_use=True)
                x.note("a guest KeyID (HKID) is allocated; every package has an online CPU (dec-keyid-alloc: "
                       "allocation and the check under cpus_read_lock() are one step here)")
            return "tdx_td_init", "k-kvm-tdx-c-616, dec-keyid-alloc"
        raise AssertionError(ev)

    def root_finished(self, x, t, v, fn: str) -> None:
        if t.name == self.loader:
            x.set_kern(init_done=True, init_ret=v)
            x.phase = "user"
            if v != 0:
                x.fact("bring-up-returned-error", f"{self.loader_function}() returned {errno_name(v)}: TDX module "
                                         f"initialization failed")
            if self.boot_time:
                x.note("initcalls are over: user space runs, CPU hotplug requests may come")
        elif fn == "_cpu_up" and v != 0:
            x.fact("hotplug-request-failed", f"online of CPU{t.cpu} failed with {errno_name(v)}")
        elif fn == "_cpu_down" and v != 0:
            if not (self.offline_refusal and v == E("EBUSY")):
                x.fact("hotplug-request-failed", f"offline of CPU{t.cpu} failed with {errno_name(v)}")

    def tdx_usable(self, st) -> bool:
        """May a TDX user (a TD) run on an active CPU now? (the ``online-cpus-ready`` property)."""
        return st.kern.tdx_module_status == INITIALIZED

    @staticmethod
    def last_cpu_of_package(x) -> bool:
        c = x.cpu
        topo = x.m.topology
        return not any(o != c and x.cpus[o].hp in IN_ONLINE_MASK
                       for o in topo.cpus_of_package(topo.package_of(c)))


def second_user_cpu(platform) -> int:
    """The highest CPU online at boot: where the second TDX user runs (CPU0 runs the bring-up path)."""
    return max(c for c in platform.topology.cpus() if platform.boot_state(c) == ONLINE)
