"""The platform layer: a topology of packages x cores x SMT threads and what each logical CPU is doing.

Knows nothing of the TDX module or of the kernel's locks. Facts:

* k-cpu-c: with ``nosmt`` every SMT sibling is still *booted once* (so CR4.MCE gets set), then
  parked after CPUHP_AP_ONLINE_IDLE, before any ONLINE_DYN callback; later online attempts get -EPERM.
* lore-tglx-2022-11-22a: CPUs can be offline from boot (``maxcpus=``) or soft-offlined; hotplug requests come
  from an administrator once user space runs.

Simplification: logical CPU ids are numbered package-major (package, then core, then thread), so CPU 0
and CPU 1 are SMT siblings on a 1x1x2 machine. Real x86 kernels usually enumerate all primary threads
first; nothing in the model depends on the numbering beyond "CPU 0 is the boot CPU".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from tdxlab.errors import BadInput
from tdxlab.inputs import cut, whole_number

MAX_CPUS = 64

# Hotplug states of a logical CPU (kernel/cpu.c, Documentation/core-api/cpu_hotplug.rst, k-cpu-hotplug-rst):
OFFLINE = "offline"  # not in cpu_online_mask
PARKED = "parked"  # nosmt sibling: booted once, then parked; never online (k-cpu-c)
UP = "up"  # in cpu_online_mask, ONLINE callbacks running, not yet active (dec-online-vs-active)
ONLINE = "online"  # online and active: ordinary tasks (TDX users) may run here
DOWN = "down"  # going offline: teardown callbacks running, still in cpu_online_mask
IN_ONLINE_MASK = frozenset({UP, ONLINE, DOWN})


@dataclass(frozen=True)
class Topology:
    """``packages`` x ``cores`` per package x ``threads`` per core, numbered package-major."""

    packages: int
    cores: int
    threads: int

    def __post_init__(self):
        for field, v in (("packages", self.packages), ("cores", self.cores), ("threads", self.threads)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise BadInput(f"topology {self.packages}x{self.cores}x{self.threads}: {field} must be a "
                               f"whole number of at least 1, not {v!r}")
        if self.ncpus > MAX_CPUS:
            raise BadInput(f"topology {self}: {self.ncpus} logical CPUs, more than the model's limit of "
                           f"{MAX_CPUS}")

    @classmethod
    def parse(cls, text: "str | Topology") -> "Topology":
        """Parse ``PxCxT`` such as ``2x2x2``; one clear error naming the value otherwise."""
        if isinstance(text, Topology):
            return text
        if not isinstance(text, str):
            raise BadInput(f"topology {cut(text)} is a {type(text).__name__}, not a string such as '2x2x2'")
        m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
        if not m:
            raise BadInput(f"topology {cut(text)} is not of the form PxCxT (packages x cores x threads, "
                           f"e.g. 2x2x2)")
        if any(len(g.lstrip("0")) > 6 for g in m.groups()):
            raise BadInput(f"topology {cut(text, 30)} has more than {MAX_CPUS} logical CPUs, the model's limit")
        p, c, t = (int(g) for g in m.groups())
        if p * c * t == 0:
            raise BadInput(f"topology {text!r} has 0 CPUs: packages, cores and threads must each be >= 1")
        return cls(p, c, t)

    def __str__(self) -> str:
        return f"{self.packages}x{self.cores}x{self.threads}"

    @property
    def ncpus(self) -> int:
        return self.packages * self.cores * self.threads

    def cpus(self) -> range:
        return range(self.ncpus)

    def package_of(self, cpu: int) -> int:
        """``topology_physical_package_id()`` of a logical CPU."""
        return cpu // (self.cores * self.threads)

    def core_of(self, cpu: int) -> int:
        return (cpu // self.threads) % self.cores

    def thread_of(self, cpu: int) -> int:
        return cpu % self.threads

    def is_primary_thread(self, cpu: int) -> bool:
        """The first SMT thread of its core: the one ``nosmt`` keeps online (k-cpu-c)."""
        return self.thread_of(cpu) == 0

    def cpus_of_package(self, pkg: int) -> tuple[int, ...]:
        n = self.cores * self.threads
        return tuple(range(pkg * n, (pkg + 1) * n))

    def check_cpu(self, cpu, what: str = "CPU") -> int:
        """Return ``cpu`` as an int, or raise one clear error if it is not a CPU of this topology."""
        if isinstance(cpu, bool) or not isinstance(cpu, (int, str)):
            raise BadInput(f"{what} {cut(cpu)} is not a CPU number")
        try:
            c = whole_number(cpu, what, hi=MAX_CPUS * 10)
        except BadInput:
            c = -1
        if not 0 <= c < self.ncpus:
            if isinstance(cpu, str) and not cpu.strip().isdigit():
                raise BadInput(f"{what} {cut(cpu)} is not a CPU number")
            raise BadInput(f"{what} {cut(cpu)} is out of range: topology {self} has CPUs 0 to {self.ncpus - 1}")
        return c

    def label(self, cpu: int) -> str:
        return f"CPU{cpu} (pkg {self.package_of(cpu)}, core {self.core_of(cpu)}, thread {self.thread_of(cpu)})"


def parse_cpu_list(text: "str | Iterable[int] | None", topo: Topology) -> tuple[int, ...]:
    """Parse a CPU list such as ``"1,3"`` or ``"2-3"`` (the kernel's cpulist format)."""
    if text is None or text == "":
        return ()
    if isinstance(text, str):
        out = []
        shown = cut(text, 40)
        for part in text.split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise BadInput(f"CPU list {shown}: {cut(part, 30)} is not a CPU number or range like 2-3")
            # bounds before the range is expanded: "1-100000000" must not build a hundred million CPUs
            lo = topo.check_cpu(m.group(1), f"CPU list {shown}: CPU")
            hi = topo.check_cpu(m.group(2) or m.group(1), f"CPU list {shown}: CPU")
            if hi < lo:
                raise BadInput(f"CPU list {shown}: range {cut(part, 30)} runs backwards")
            out.extend(range(lo, hi + 1))
        items = out
    elif isinstance(text, (list, tuple, set, frozenset, range)):
        if len(text) > MAX_CPUS:
            raise BadInput(f"CPU list of {len(text):,} entries: the model has at most {MAX_CPUS} CPUs")
        items = list(text)
    else:
        raise BadInput(f"CPU list {cut(text)} is a {type(text).__name__}: give a string such as '2,3' or "
                       f"'2-3', or a list of CPU numbers")
    cpus = tuple(sorted({topo.check_cpu(c) for c in items}))
    return cpus


@dataclass(frozen=True)
class Platform:
    """A topology plus how the machine booted: ``nosmt`` and CPUs offline from boot.

    ``boot_state(cpu)`` is the CPU's hotplug state when the model starts (after SMP bring-up, which runs
    before initcalls and long before a module is loaded).
    """

    topology: Topology
    nosmt: bool = False
    offline: tuple[int, ...] = ()

    def __post_init__(self):
        if 0 in self.offline:
            raise BadInput("CPU 0 is the boot CPU and cannot be offline from boot")

    def boot_state(self, cpu: int) -> str:
        if self.nosmt and not self.topology.is_primary_thread(cpu):
            return PARKED  # k-cpu-c: booted once, then parked
        if cpu in self.offline:
            return OFFLINE
        return ONLINE
