#!/usr/bin/env python3
"""Build the teaching notebooks in notebooks/ from the cell lists below (nbformat), without outputs.

    .venv/bin/python scripts/build_notebooks.py          # writes notebooks/*.ipynb
    .venv/bin/python scripts/build_notebooks.py --check  # exit 1 if a committed notebook differs

Every cell carries ``metadata.slideshow.slide_type`` so ``jupyter nbconvert --to slides`` makes a deck.
Keep cells thin: prose, a few calls into tdxlab, pictures; the logic lives in tdxlab.widgets and
tdxlab.views.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"

ORDER = ["index", "00-start-here", "01-seamcall-and-the-module", "02-lp-init-old-vs-relaxed", "03-irq-safety",
         "04-locking", "05-design-review", "06-exercises"]
TITLES = {
    "index": "tdxlab notebooks: index",
    "00-start-here": "00 Start here: the story, 2022 to 2026, and how to use the widgets",
    "01-seamcall-and-the-module": "01 SEAMCALL and the TDX module's state machine",
    "02-lp-init-old-vs-relaxed": "02 LP.INIT: the old rule versus the relaxed rule",
    "03-irq-safety": "03 IRQ safety: the per-CPU flag, the raw spinlock and the race",
    "04-locking": "04 Locking: cpus_read_lock(), kvm_lock, kvm_usage_lock and the cpuhp setup calls",
    "05-design-review": "05 The design review: four designs, seven mutations, one verdict matrix",
    "06-exercises": "06 Exercises: predict, then let the model check",
}


def md(text: str, slide: str = "-") -> nbformat.NotebookNode:
    c = new_markdown_cell(text.strip("\n"))
    c.metadata["slideshow"] = {"slide_type": slide}
    return c


def code(src: str, slide: str = "-") -> nbformat.NotebookNode:
    c = new_code_cell(src.strip("\n"))
    c.metadata["slideshow"] = {"slide_type": slide}
    return c


def nav(name: str) -> str:
    i = ORDER.index(name)
    parts = []
    if i > 0:
        prev = ORDER[i - 1]
        parts.append(f"← previous: [{TITLES[prev]}]({prev}.ipynb)")
    parts.append("[index](index.ipynb)")
    if i + 1 < len(ORDER):
        nxt = ORDER[i + 1]
        parts.append(f"next: [{TITLES[nxt]}]({nxt}.ipynb) →")
    return " · ".join(parts)


SETUP = "from tdxlab.widgets import Stepper"

# --------------------------------------------------------------------------------------------- index
INDEX = [
    md("""
# tdxlab: how Linux brings the Intel TDX module up on every CPU

Executable notes for kernel and KVM developers, teachers and learners. Read the notebooks in order; each one
starts with its learning goals and ends with a summary. Every picture comes from a small model of the kernel
and the TDX module (`tdxlab`), whose facts are cited as "fact sheet §N".

| # | notebook | what you learn |
|---|---|---|
| 00 | [Start here](00-start-here.ipynb) | the story 2022 to 2026; how the stepper works |
| 01 | [SEAMCALL and the module](01-seamcall-and-the-module.ipynb) | the module's state machine, the bring-up leaves, what a SEAMCALL returns without VMXON or without a module, decoding status values |
| 02 | [LP.INIT: old versus relaxed rule](02-lp-init-old-vs-relaxed.ipynb) | why `nosmt` and CPU hotplug broke the old rule; onlining a CPU after initialization, then and in 7.1 |
| 03 | [IRQ safety](03-irq-safety.ipynb) | why `tdx_cpu_enable()` ran with IRQs off until 7.1; find the race yourself, then let the checker find the shortest one |
| 04 | [Locking](04-locking.ipynb) | why `tdx_enable()` needs `cpus_read_lock()`; `kvm_lock`, `kvm_usage_lock` and `cpu_hotplug_lock`, the inversion and the deadlock that led to `kvm_usage_lock`; `cpuhp_setup_state()` versus `_cpuslocked()` |
| 05 | [The design review](05-design-review.ipynb) | every design and mutation against every property in one clickable matrix; the April 2024 positions checked; what landed in 6.16 and 7.1 |
| 06 | [Exercises](06-exercises.ipynb) | predict-then-check questions on all three rule families, answered live by the model |

Run a notebook top to bottom (Run → Run All Cells); the widgets need a live kernel.
""", "slide"),
    md("""
The thread through every notebook: the TDX module's system states, and the SEAMCALL leaves that move it
from one to the next (fact sheet §1.1, §5).
""", "subslide"),
    code("""
from tdxlab.views import module_graph

module_graph(rule="relaxed")
"""),
    md(nav("index"), "skip"),
]

# --------------------------------------------------------------------------------------------- 00
NB00 = [
    md("""
# 00 Start here: the story, 2022 to 2026

**Learning goals**
- Tell the story of TDX host initialization in Linux from the 2022 patch series to 7.1 (2026).
- Name the two rules that shaped it: the TDX module's *old* LP.INIT rule, and the kernel's IRQ rule for
  `tdx_cpu_enable()`.
- Use the stepper: Play, step, back, reset, the slider, and "you are the scheduler" mode.
""", "slide"),
    md(nav("00-start-here"), "skip"),
    md("""
## The story in five dates

| when | what happened | fact sheet |
|---|---|---|
| 2022 (series v1 to v7) | Kai Huang's "TDX host kernel support". The TDX module of the day demanded **TDH.SYS.LP.INIT on every BIOS-enabled logical CPU** before TDH.SYS.CONFIG, and accepted LP.INIT only before CONFIG: the **old rule**. | §5.1 |
| Nov 2022 (v7 review) | Peter Zijlstra and Thomas Gleixner: with `nosmt` (SMT siblings parked by a speculation mitigation) or any CPU offline, the old rule can never be met, and a CPU onlined later can never be initialized. The rule was **relaxed**: LP.INIT is needed only on a CPU before that CPU makes its own SEAMCALLs, and may come later. | §5.2, §5.3, §7.3 |
| 6.8 (Jan 2024) | The TDX host core is merged: exported `tdx_cpu_enable()` (per CPU, **IRQs must be off**, "always call via IPI") and `tdx_enable()` (caller holds `cpus_read_lock()`). No caller yet. | §1.2, §2.2, §3.1 |
| Apr 2024 | The review of KVM's TDX initialization (v19, "initialize the TDX module when loading kvm_intel"): Sean Christopherson objects to callers juggling the hotplug lock and the per-CPU call; Kai Huang describes the end state: **a TDX-owned CPU-hotplug callback in the core kernel**, which needs VMXON in the core kernel. | §3.2 |
| 6.16 (May 2025) | KVM's TDX support is merged. KVM registers its own cpuhp state `kvm/cpu/tdx:online` under `cpus_read_lock()` and wraps `tdx_cpu_enable()` in `local_irq_save()`, because cpuhp callbacks run with IRQs **on**. | §1.3, §6.1 |
| 7.1 (Apr 2026) | "Have TDX handle VMXON during bringup": VMXON moves into the core kernel (refcounted), TDX initializes in a `subsys_initcall` and owns the cpuhp state `virt/tdx:online`; the IRQ rule is dropped. The plan of 2024 landed. | §6.4, §6.5, §2.2 |
""", "slide"),
    md("""
The model behind these notebooks has four **designs**, one per era: `v7-2022`, `v19-2024`, `kvm-6.16` and
`core-7.1`, each run on a module with the `old` or the `relaxed` LP.INIT rule. A **scenario** fixes a design,
a rule, a machine (packages × cores × threads, `nosmt`, CPUs offline at boot) and the events that may
happen (a CPU going online or offline, a TD being created). Here are the scenarios the notebooks use:
""", "subslide"),
    code("""
import pandas as pd
from tdxlab.scenario import list_scenarios

pd.DataFrame([{"scenario": n, "design": s.design_name, "rule": s.rule, "machine": s.title().split(", ", 2)[-1],
               "story": " ".join(s.story.split())[:110] + "…"} for n, s in list_scenarios().items()])
""", "subslide"),
    md("""
## How to use the stepper

The stepper replays one run of a scenario, one kernel step at a time. Try it below:

- **▶ Play** runs the steps (■ stops it); **step ▶** and **◀ back** move one step; **⟲ reset** returns to the
  start; the **slider** jumps anywhere.
- **The banner** says what the last step did: which context ran on which CPU, in which kernel function, the
  SEAMCALL it made and what the status means (decoded), and the fact-sheet section it stands on. A red
  banner means a failed SEAMCALL or a broken property.
- **The lanes** show each CPU: its hotplug state, the contexts on it (green border: may run; dashed red:
  blocked), IRQs, VMX, whether the module has seen LP.INIT, the kernel's own `tdx_lp_initialized` flag, the
  locks held, and what a context waits for. The **locks** table has holders and waiters.
- **The module's state graph** lights the state the TDX module is in, with LP.INIT and KEY.CONFIG progress.

This run is the 2022 design on a machine where every CPU is online, so the old rule is met:
""", "slide"),
    code("""
from tdxlab.widgets import Stepper

Stepper("v7-2022-boot")
""", "subslide"),
    md("""
In **scheduler mode** you pick every step: the stepper offers one button per enabled step (a context runs, an
IPI arrives, a CPU goes online or offline) and says why the other contexts are blocked. Orange buttons are
IPIs, blue ones events. Notebook 03 turns this into a puzzle.
""", "subslide"),
    code("""
Stepper("v7-2022-boot", mode="scheduler")
""", "-"),
    md("""
## Summary

- The TDX module must be initialized globally once (TDH.SYS.INIT), then per logical CPU (TDH.SYS.LP.INIT),
  then configured (TDH.SYS.CONFIG, KEY.CONFIG per package, TDMR.INIT).
- The old rule (every BIOS-enabled CPU before CONFIG) broke with `nosmt` and CPU hotplug, and was relaxed.
- The kernel's side went from "call `tdx_cpu_enable()` by IPI with IRQs off, under the hotplug lock"
  (6.8 to 7.0) to KVM's cpuhp callback (6.16) to the core kernel's own cpuhp callback (7.1).
- The stepper shows any run step by step; scheduler mode lets you choose the interleaving.

Next: [01 SEAMCALL and the TDX module's state machine](01-seamcall-and-the-module.ipynb).
""", "slide"),
    md(nav("00-start-here"), "skip"),
]

# --------------------------------------------------------------------------------------------- 01
NB01 = [
    md("""
# 01 SEAMCALL and the TDX module's state machine

**Learning goals**
- Draw the module's system states and which SEAMCALL leaf moves it from one to the next.
- List the bring-up leaves: their numbers, scope, and where the kernel calls them.
- Explain what a SEAMCALL returns on a CPU that is not post-VMXON (#UD) and when no module is loaded
  (VMfailInvalid), and why the module never sees the first.
- Decode a 64-bit status value.
""", "slide"),
    md(nav("01-seamcall-and-the-module"), "skip"),
    md("""
## The module's system states

TDH.SYS.INIT runs once, on any CPU; TDH.SYS.LP.INIT once per logical CPU, on that CPU; TDH.SYS.CONFIG once;
TDH.SYS.KEY.CONFIG once per package (the last one makes the module ready); TDH.SYS.TDMR.INIT per memory
region. Under the **old** rule LP.INIT is only accepted in SYSINIT_DONE, and CONFIG waits for every LP
(fact sheet §1.1, §5):
""", "slide"),
    code("""
from tdxlab.views import module_graph

module_graph(rule="old")
""", "-"),
    md("""
Under the **relaxed** rule LP.INIT is also accepted after CONFIG (the dashed blue loops), so a CPU that comes
online later can still be initialized (§5.3):
""", "subslide"),
    code("""
module_graph(rule="relaxed")
""", "-"),
    md("""
## The leaves

The bring-up leaves as tdxlab's data has them (`data/leaves.toml`, from the fact sheet's §1.1 table):
""", "slide"),
    code("""
from tdxlab import facts

facts.leaves()
""", "-"),
    md("""
## A SEAMCALL without VMXON: #UD

SEAMCALL is a VMX instruction: on a CPU that is not post-VMXON it raises **#UD**. The TDX module never sees
the call, so it cannot say what went wrong; the kernel's exception fixup makes the status
`TDX_SEAMCALL_UD` (0x8000FF0000000006, the kernel's own software class 0xFF) and the wrapper returns
`-EACCES` (§4.2). In this scenario KVM's online callback "forgets" VMXON (a mutation of the 6.16 design):
6.16's `tdx_online_cpu()` warns that CR4.VMXE is clear, then TDH.SYS.INIT fails. The stepper starts at the
failing step; move back to see how it got there.
""", "slide"),
    code("""
from tdxlab.widgets import Stepper

s = Stepper("seamcall-before-vmxon")
s.goto_first(result="TDX_SEAMCALL_UD")
s
""", "-"),
    md("""
## No module loaded: VMfailInvalid

With VMX on but no TDX module loaded, SEAMCALL fails with **VMfailInvalid**: the kernel reports
`TDX_SEAMCALL_VMFAILINVALID`, returns `-ENODEV`, prints "module not loaded", and KVM then quietly disables
TDX (§1.3, §4.2). The model stops at the first SEAMCALL, TDH.SYS.INIT, and caches the failure like the
kernel does (§2.1).
""", "slide"),
    code("""
s = Stepper("no-module-loaded")
s.goto_first(result="TDX_SEAMCALL_VMFAILINVALID")
s
""", "-"),
    md("""
## Decoding status values

A status is 64 bits: bit 63 error, bit 62 non-recoverable, bits 47:40 the class, bits 31:0 details
(§4.3). Type a value (or pick an example): the widget names it and says what the kernel returns.
""", "slide"),
    code("""
from tdxlab.widgets import DecodeWidget

DecodeWidget("0xC000050C00000000")
""", "-"),
    code("""
from tdxlab.decode import decode

decode("0x8000FF0000000006")
""", "subslide"),
    md("""
**What the model simplifies here.** `get_tdx_sys_info()` is one TDH.SYS.RD; the TDMR and PAMT
construction between the SEAMCALLs is not modelled; `init_tdmrs()` is one TDH.SYS.TDMR.INIT; the module's
dispatcher only checks LP.INIT for SYS.RD/INFO/RDALL, but the model treats any other SEAMCALL on a CPU
without LP.INIT as an error, as the kernel documentation does (§1.1, and the §10.3 choice in
`tdxlab/module.py`).
""", "fragment"),
    md("""
## Summary

- The module moves SYSINIT_PENDING → SYSINIT_DONE → SYSCONFIG_DONE → SYS_READY through TDH.SYS.INIT, CONFIG
  and the last KEY.CONFIG; LP.INIT is per LP, KEY.CONFIG per package.
- Without VMXON a SEAMCALL raises #UD: `TDX_SEAMCALL_UD`, `-EACCES`, and the module never sees it.
- Without a module, VMfailInvalid: `TDX_SEAMCALL_VMFAILINVALID`, `-ENODEV`.
- Module errors (class bits below 0xFF) become `-EIO` after a printed message.

Next: [02 LP.INIT: the old rule versus the relaxed rule](02-lp-init-old-vs-relaxed.ipynb).
""", "slide"),
    md(nav("01-seamcall-and-the-module"), "skip"),
]

# --------------------------------------------------------------------------------------------- 02
NB02 = [
    md("""
# 02 LP.INIT: the old rule versus the relaxed rule

**Learning goals**
- Explain why, under the old rule, TDH.SYS.CONFIG fails on a machine booted with `nosmt` or with a CPU
  offline, and why it keeps failing however late the CPU comes online.
- Show how the relaxed rule fixes both, and what a kernel must do for a CPU onlined after initialization.
- Compare the 2022 design (no online callback) with 7.1 (the core kernel's `virt/tdx:online`).
""", "slide"),
    md(nav("02-lp-init-old-vs-relaxed"), "skip"),
    md("""
## Build a machine

Pick packages, cores, threads, `nosmt`, CPUs offline at boot, a design and the module's rule; the stepper
below replays bring-up (the first enabled step each time). Start with the 2022 design on a 1×2×2 machine
booted with `nosmt`, under the old rule, and step to TDH.SYS.CONFIG.
""", "slide"),
    code("""
from tdxlab.widgets import TopologyPicker

TopologyPicker(design="v7-2022", rule="old", topology="1x2x2", nosmt=True)
""", "-"),
    md("""
## `nosmt` under the old rule

With `nosmt`, every SMT sibling is booted once (so it sets CR4.MCE) and parked before any ONLINE callback
runs (§7.3). The module still counts it in `num_of_lps` (an inference: fact sheet §10.9, and the model's
choice), but it never runs LP.INIT, so CONFIG answers **TDX_SYS_CONFIG_NOT_PENDING**: the problem Peter
Zijlstra raised on v7 (§5.2). The stepper starts at that step:
""", "slide"),
    code("""
from tdxlab.widgets import Stepper

s = Stepper("nosmt-old-rule")
s.goto_first(leaf="TDH.SYS.CONFIG")
s
""", "-"),
    md("""
The same machine with the **relaxed** rule and KVM's 6.16 bring-up: the parked siblings never come online,
need no LP.INIT, and CONFIG no longer counts LPs (§5.3). The module reaches SYS_READY:
""", "subslide"),
    code("""
s = Stepper("nosmt-relaxed-rule")
s.goto(len(s.steps) - 1)
s
""", "-"),
    md("""
## A CPU offline at boot, under the old rule

CPU1 is offline when KVM initializes TDX, so it never runs LP.INIT and CONFIG refuses. Onlining it
afterwards does not help: after the failed CONFIG (the module stays in SYSINIT_DONE, the model's §10.4
choice) 6.16's bring-up sets ERROR, never retries, and removes its `kvm/cpu/tdx:online` callback, so the CPU
comes online with VMX on but no LP.INIT (steps 25 to 39).
""", "slide"),
    code("""
s = Stepper("old-rule-offline-at-boot")
s.goto_first(leaf="TDH.SYS.CONFIG")
s
""", "-"),
    md("""
## Onlining a CPU after initialization

With a relaxed module the 2022 design initializes fine, but it has **no CPU-online callback**: a CPU
onlined afterwards becomes active and may run TDX work without ever doing LP.INIT. Step to the end and look
at CPU1's LP.INIT row. (The model distinguishes `cpu_online_mask` from *active*, §10.8: the property is
about active CPUs.)
""", "slide"),
    code("""
s = Stepper("v7-2022-online-later")
s.goto(len(s.steps) - 1)
s
""", "-"),
    md("""
The checker confirms it: `online-cpus-ready` is violated (a progress bar shows while it explores).
""", "fragment"),
    code("""
from tdxlab.widgets import check

res = check("v7-2022-online-later")
""", "-"),
    md("""
In **7.1** TDX owns the cpuhp state `virt/tdx:online`: on every CPU that comes online it takes a VMX
reference and runs `tdx_cpu_enable()`, and it refuses to offline the last CPU of a package while guest
KeyIDs are allocated (§6.5). Here any CPU but CPU0 may go offline or come online at any time after the
initcall, and a TD may be created; every property holds. Use scheduler mode to online and offline CPUs
yourself (the blue event buttons):
""", "slide"),
    code("""
Stepper("core-7.1-hotplug", mode="scheduler")
""", "-"),
    md("""
**Where the model decides an open question.** §10.2: a soft-offlined LP keeps its LP.INIT in the module
(scenario `reonline-forgets-lp-init` shows the other reading). §10.9: parked `nosmt` siblings count in
`num_of_lps`. §10.4: after a failed CONFIG the module stays in SYSINIT_DONE. 7.1's initcall runs before
user space can hotplug CPUs (§10 and `tdxlab/designs/core_71.py`), so the model starts hotplug events after
it.
""", "fragment"),
    md("""
## Summary

- Old rule: LP.INIT on *every* BIOS-enabled LP, only before CONFIG. `nosmt` siblings and CPUs offline at
  initialization make CONFIG fail for good.
- Relaxed rule: LP.INIT on a CPU before that CPU's own SEAMCALLs, also after initialization.
- A CPU onlined later needs an online callback that does LP.INIT: missing in 2022, KVM's in 6.16, the core
  kernel's `virt/tdx:online` in 7.1.

Next: [03 IRQ safety](03-irq-safety.ipynb).
""", "slide"),
    md(nav("02-lp-init-old-vs-relaxed"), "skip"),
]

# --------------------------------------------------------------------------------------------- 03
NB03 = [
    md("""
# 03 IRQ safety: the per-CPU flag, the raw spinlock and the race

**Learning goals**
- Read `tdx_cpu_enable()` and `try_init_module_global()` as the model runs them, and spot the two things that
  are only safe with IRQs off: the per-CPU flag's read-check-write and the non-irqsave raw spinlock.
- Find, as the scheduler, an interleaving in which an IPI breaks them.
- Let the model checker find the shortest such run, and step through it.
- Explain why 7.1 could drop the rule.
""", "slide"),
    md(nav("03-irq-safety"), "skip"),
    md("""
## The code

From 6.8 to 7.0 `tdx_cpu_enable()` asserts IRQs are off, reads the per-CPU `tdx_lp_initialized`, calls
`try_init_module_global()` (TDH.SYS.INIT once, under the raw spinlock `sysinit_lock`, taken **without**
irqsave), runs LP.INIT, and only then sets the flag (§2.1, §2.2). The model's instruction lists (grey rows
are merged into their neighbour's step):
""", "slide"),
    code("""
from tdxlab.widgets import show_function

show_function("irq-race-second-user", "tdx_cpu_enable")
""", "-"),
    code("""
show_function("irq-race-second-user", "try_init_module_global")
""", "subslide"),
    md("""
## Puzzle: you are the scheduler

The scenario: KVM's v19 bring-up (`modprobe` on CPU0) runs `tdx_cpu_enable()` on every CPU by IPI, while a
**second in-kernel TDX user** calls it on CPU1 in task context, with IRQs on (a mutation: no such user
existed; it stands for any caller that ignores the rule). VMX is already on, as after 6.12 (§10.1).

**Find a run where TDH.SYS.LP.INIT fails with TDX_SYS_LP_INIT_DONE.** Hint: let `second-user` get past
the flag check, then deliver the IPI to CPU1 (the orange button) at the right moment. Bonus: find a run
where CPU1 spins forever (look at "waits for").
""", "slide"),
    code("""
from tdxlab.widgets import Stepper

Stepper("irq-race-second-user", mode="scheduler")
""", "-"),
    md("""
## The checker finds the shortest race

The checker explores every interleaving breadth-first, so each counterexample is a shortest one. (It
skips orders that cannot change any verdict, such as two IPI handlers doing LP.INIT on their own CPUs in
either order: a partial-order reduction. When a property breaks, it searches again without that
shortcut for the shortest run; `tdxlab/check/reduce.py` and `shortest.py` explain both.)
`kernel-asserts` fires first (lockdep would warn before any race happens, §10.10; the model reports the
assertion and the race separately):
""", "slide"),
    code("""
from tdxlab.widgets import check

res = check("irq-race-second-user")
""", "-"),
    md("""
The shortest run that makes LP.INIT fail, as a table (yellow: what each step changed; red: failed
SEAMCALLs):
""", "subslide"),
    code("""
from tdxlab.views import trace_frame, trace_styler

trace_styler(trace_frame(res.scenario, res.counterexample("no-spurious-error")))
""", "-"),
    md("""
And the same run in the stepper: press Play.
""", "subslide"),
    code("""
Stepper.from_counterexample(res, "no-spurious-error")
""", "-"),
    md("""
The deadlock: `second-user` holds `sysinit_lock` with IRQs on; the IPI arrives on the same CPU and spins on
the lock, and the holder can never run again on that CPU:
""", "subslide"),
    code("""
Stepper.from_counterexample(res, "no-deadlock")
""", "-"),
    md("""
## Why 7.1 could drop the rule

In 7.1 the per-CPU call runs only in the CPU's own hotplug thread (`virt/tdx:online`), one CPU at a time, so
nothing else calls `tdx_cpu_enable()` on that CPU concurrently: "x86/virt/tdx: Drop the outdated
requirement that TDX be enabled in IRQ context" removed the assertion and KVM's `local_irq_save()` (§2.2).
The same check on 7.1 with CPU hotplug at any time finds nothing wrong:
""", "slide"),
    code("""
show_function("core-7.1-hotplug", "tdx_cpu_enable")
""", "-"),
    code("""
res71 = check("core-7.1-hotplug")
""", "-"),
    md("""
## Summary

- The per-CPU flag's read-check-write and the non-irqsave `sysinit_lock` in `tdx_cpu_enable()` are only safe
  if nothing else runs the function on the same CPU in between: hence "IRQs off, call via IPI" (6.8 to 7.0).
- A caller in task context with IRQs on can be interrupted by the IPI: a spurious
  TDX_SYS_LP_INIT_DONE (-EIO) or a CPU spinning forever on its own lock.
- 6.16 kept the rule with `local_irq_save()` in a cpuhp callback; 7.1 runs the call only from the CPU's
  hotplug thread and dropped it.

Next: [04 Locking](04-locking.ipynb).
""", "slide"),
    md(nav("03-irq-safety"), "skip"),
]

# --------------------------------------------------------------------------------------------- 04
NB04 = [
    md("""
# 04 Locking: cpus_read_lock(), kvm_lock, kvm_usage_lock and the cpuhp setup calls

**Learning goals**
- Give the two reasons `tdx_enable()` (6.8 to 7.0) requires its caller to hold `cpus_read_lock()`, and show
  what goes wrong without it.
- State the documented order of `kvm_usage_lock`, `cpu_hotplug_lock` and `kvm_lock`, and what each protects.
- Explain the inversion a wrong order makes, and the three-CPU deadlock of 2024 that led to `kvm_usage_lock`.
- Say why code that already holds `cpus_read_lock()` must call `cpuhp_setup_state_cpuslocked()`.
- Read lockdep's lock graph and find the cycle in it.
""", "slide"),
    md(nav("04-locking"), "skip"),
    md("""
## Why `tdx_enable()` needs `cpus_read_lock()`

From 6.8 to 7.0 `tdx_enable()` starts with `lockdep_assert_cpus_held()`: the caller must hold the CPU-hotplug
lock for reading (fact sheet §3.1). Two reasons:

1. **Every package needs an online CPU for TDH.SYS.KEY.CONFIG.** The key is programmed per package, on a CPU
   of that package (`config_global_keyid()` runs it with `smp_call_on_cpu()`); if the last CPU of a package
   goes offline in the middle, that package never gets its key and TDH.SYS.TDMR.INIT fails with
   TDX_SYS_NOT_READY.
2. **No CPU may come online unprepared in the middle.** The doc comment says the lock is there "to prevent any
   new cpu from becoming online" while the module is being initialized.

Holding the read lock makes every CPU online or offline request wait: both take `cpu_hotplug_lock` for
writing (§7.2).
""", "slide"),
    md("""
**Without the lock** (6.16's bring-up with the `no-hotplug-lock` mutation) on a machine of two packages with
one CPU each, the administrator offlines CPU1, package 1's only CPU, while `tdx_enable()` runs. The checker
explores every interleaving:
""", "subslide"),
    code("""
from tdxlab.widgets import Stepper, check, counterexample_stepper

without = check("offline-without-hotplug-lock")
"""),
    md("""
The shortest run in which initialization fails. The stepper opens at the failing step; press reset, then
Play (or drag the slider), and watch CPU1's column go offline while the module is between CONFIG and
KEY.CONFIG.
""", "subslide"),
    code("""
counterexample_stepper(without, "init-succeeds")
"""),
    md("""
**With the lock** (6.16 as merged), the same request arrives at the same moment and waits in
`cpus_write_lock()` until `cpus_read_unlock()`: every property holds. Below, one run in which the request
fires as early as it can (`tdxlab.locking.eager_schedule`): step to where `cpu_down/1` appears and read its
"waits for" line.
""", "subslide"),
    code("""
from tdxlab.locking import eager_schedule
from tdxlab.scenario import get_scenario

with_lock = check("offline-with-hotplug-lock")
sc = get_scenario("offline-with-hotplug-lock")
Stepper(sc, schedule=eager_schedule(sc))
"""),
    md("""
## Three locks and their documented order

| lock | kind | protects |
|---|---|---|
| `cpu_hotplug_lock` | per-CPU rwsem | CPU online/offline (writers) against `cpus_read_lock()` sections (readers) |
| `kvm_lock` | mutex | `vm_list`; before 6.12 also `kvm_usage_count` and enabling |
| `kvm_usage_lock` | mutex (6.12 on) | `kvm_usage_count` and enabling/disabling virtualization |

How the documented order changed (§3.3; A → B: A is taken outside B):
""", "slide"),
    code("""
from tdxlab.locking import documented_orders_table, order_graph

documented_orders_table()
"""),
    code("""
order_graph()
""", "subslide"),
    md("""
### The inversion

Before 6.12 `hardware_enable_all()` (creating the first VM) took `cpus_read_lock()` and then `kvm_lock`, and
`kvm_online_cpu()` took `kvm_lock` while the hotplug core held `cpu_hotplug_lock` for writing. The
`kvm-lock-first` mutation of the v19 design swaps the first pair: a VM is created while CPU1 comes online.
The checker finds both lockdep's cycle and the real deadlock:
""", "slide"),
    code("""
inversion = check("kvm-lock-inversion")
"""),
    md("""
Lockdep's view: an edge A → B means some explored path took B while holding A. The cycle is drawn red.
""", "subslide"),
    code("""
from tdxlab.views import lock_graph

lock_graph(inversion)
"""),
    md("""
The deadlock itself: `cpu_up/1` holds `cpu_hotplug_lock` for writing and waits for `kvm_lock` in
`kvm_online_cpu()`; `create-vm` holds `kvm_lock` and waits for the read lock. Step to the end and read the
"waits for" row (the stepper opens there; reset and Play to watch the run):
""", "subslide"),
    code("""
counterexample_stepper(inversion, "no-deadlock")
"""),
    md("""
For comparison, the design as reviewed (v19-2024, right order) has edges but no cycle, so one global order
exists:
""", "subslide"),
    code("""
lock_graph(check("v19-2024-boot", display=False))
"""),
    md("""
### The deadlock that led to `kvm_usage_lock`

In 2024 lockdep reported a cycle across **three** CPUs, and rwsem fairness makes it a real deadlock (Sean
Christopherson, "KVM: Use dedicated mutex to protect kvm_usage_count to avoid deadlock", fact sheet §3.3):

- **CPU1** runs `set_nx_huge_pages()`: it holds `cpu_hotplug_lock` (read) and `kvm_lock` (walking
  `vm_list`), and wants a VM's `slots_lock`.
- **CPU0** holds that `slots_lock` (a memslot update) and waits in `synchronize_srcu(&kvm->srcu)` for every
  SRCU reader to leave.
- **CPU2** is such a reader: it holds `vcpu->mutex` and the SRCU read lock, and on a `KVM_SET_MSR` path
  `static_key_slow_inc()` wants `cpu_hotplug_lock` (read).

A read lock of a rwsem is shared, so CPU2 should get it... unless a CPU hotplug operation is **queued for
the write lock**: then new readers wait behind the writer, and the writer waits for CPU1's read hold. The
cycle closes. The root cause is `kvm_lock` being taken under the hotplug lock *and* being held across work
that needs other locks; the fix gave `kvm_usage_count` its own `kvm_usage_lock` so that `kvm_lock` is
needed for `vm_list` only, and 6.12 then took `kvm_usage_lock` **outside** `cpu_hotplug_lock`.
""", "slide"),
    code("""
from tdxlab.locking import kvm_usage_lock_deadlock

kvm_usage_lock_deadlock()
"""),
    md("""
The model has no `slots_lock`, SRCU or MSR paths, so this cycle is drawn, not checked. What the model does
check is what `kvm_lock` was protecting in v19: `kvm_usage_count`. Take `kvm_lock` away (`no-kvm-lock`) and
let two processes create VMs at once: both hold the shared read lock, both see a count of 0, both enable,
and the second VMXON fails.
""", "subslide"),
    code("""
no_kvm_lock = check("v19-no-kvm-lock")
counterexample_stepper(no_kvm_lock, "no-spurious-error")
"""),
    md("""
## `cpuhp_setup_state()` versus `cpuhp_setup_state_cpuslocked()`

`cpuhp_setup_state()` takes `cpus_read_lock()` itself (§7.1). Call it while already holding the read lock and
the lock is taken twice for reading. That looks harmless (readers share), but once a CPU offline request is
queued for the write lock between the two reads, the second read waits for the writer and the writer waits
for the first read. Sean pointed this out in the April 2024 review (§3.2); 6.16 therefore calls
`cpuhp_setup_state_cpuslocked()` under its `cpus_read_lock()`. The `plain-setup-state` mutation puts the
plain call back:
""", "slide"),
    code("""
under_lock = check("setup-state-under-lock")
"""),
    code("""
counterexample_stepper(under_lock, "no-deadlock")
""", "subslide"),
    md("""
Lockdep does not need the writer to show up: it reports the recursive read at the second acquisition,
which is why `lock-order` breaks in fewer steps than `no-deadlock`:
""", "fragment"),
    code("""
from tdxlab.views import trace_frame, trace_styler

trace_styler(trace_frame(under_lock.scenario, under_lock.counterexample("lock-order")))
"""),
    md("""
## Summary

- `tdx_enable()` (6.8 to 7.0) needs `cpus_read_lock()`: KEY.CONFIG needs an online CPU in every package, and
  no CPU may come online half-prepared. Without it an offline in the middle fails initialization; with it
  the request simply waits.
- Documented order from 6.12: `kvm_usage_lock` → `cpu_hotplug_lock` → `kvm_lock`. The other order for
  `kvm_lock` is an ABBA deadlock with `kvm_online_cpu()`.
- A three-CPU cycle through `slots_lock`, SRCU and a queued hotplug writer led to `kvm_usage_lock` (6.12):
  `kvm_lock` now protects `vm_list` only.
- Under `cpus_read_lock()`, call the `_cpuslocked` cpuhp variants: the plain ones read-lock again and deadlock
  against a waiting writer.
- Lockdep's graph finds these orders over every path, before the deadlock happens.

Next: [05 The design review](05-design-review.ipynb).
""", "slide"),
    md(nav("04-locking"), "skip"),
]

# --------------------------------------------------------------------------------------------- 05
NB05 = [
    md("""
# 05 The design review: four designs, seven mutations, one verdict matrix

**Learning goals**
- Name the four designs of TDX bring-up (2022, the April 2024 review, 6.16, 7.1) and the seven mutations
  (what-ifs) that each break one rule.
- Read the verdict matrix: every design and mutation against every property, over every interleaving of
  the same workloads; replay any red cell's shortest counterexample.
- Weigh the positions argued in April 2024 with the checker, and say what landed in 6.16 and 7.1.
""", "slide"),
    md(nav("05-design-review"), "skip"),
    md("""
## The designs and the mutations

Four designs, one per era (fact sheet §1.2, §1.3, §3.2, §6):
""", "slide"),
    code("""
from tdxlab.review import designs_table, mutations_table, workloads_table

designs_table()
"""),
    md("""
Each mutation removes or swaps one thing a design does, and applies only to the designs that have that
thing (elsewhere the model refuses with `NotApplicable`). The columns say what it changes in each design:
""", "subslide"),
    code("""
mutations_table()
"""),
    md("""
## The workloads

Every row of the matrix runs the same two workloads, with the relaxed LP.INIT rule (notebook 02 is about the
old one); a cell is red if either workload breaks the property, and it keeps the shorter counterexample:
""", "slide"),
    code("""
workloads_table()
"""),
    md("""
## The verdict matrix

One row per design or design + mutation, one column per property (`tdxlab properties`); every cell is decided
over every interleaving. **Click a cell**: a red one replays its shortest counterexample in the stepper below
(it opens at the last step; reset and Play to watch); a green one opens the row's scenario in scheduler mode,
so you can try to break it yourself.
""", "slide"),
    code("""
from tdxlab.widgets import review_matrix

m = review_matrix()
"""),
    md("""
The same matrix as a table (hover over a red cell for what broke; the number is the length of the shortest
counterexample):
""", "subslide"),
    code("""
m.review.styler()
"""),
    md("""
How to read it:

- **v7-2022** has no CPU-online callback (`online-cpus-ready`) and no offline refusal (`package-keys`).
- **v19-2024** fixes the first with `kvm_online_cpu()`, but still lets the last CPU of a package go offline
  while a TD holds a KeyID (`package-keys`): 6.16 added the `-EBUSY` refusal (§1.3).
- **kvm-6.16** and **core-7.1** are green on both workloads; each of their mutations turns exactly the
  expected column red.
- The IRQ mutations (`irqs-on`, `second-user`) break `kernel-asserts` first; `irqs-on` on v19 breaks no
  other property, because `cpu_hotplug_lock` already keeps the callers apart (§10.10).
""", "fragment"),
    md("""
## The April 2024 review: three positions

The thread on v19's "initialize the TDX module when loading kvm_intel" (§3.2) argued three shapes:

1. **The caller holds the hotplug lock and calls `tdx_cpu_enable()` itself** (v19 as posted; Kai Huang:
   "currently tdx_enable() requires cpus_read_lock() must be called prior"). The `v19-2024` row.
2. **One call does everything**: Sean Christopherson objected to making every caller take
   `cpu_hotplug_lock` and call `tdx_cpu_enable()` separately; the alternative is a `tdx_enable()` that takes
   `cpus_read_lock()` itself and runs the per-CPU pass by IPI.
3. **A core-kernel cpuhp callback does VMXON and LP.INIT** (Kai's planned end state, which needs VMXON in the
   core kernel). The `core-7.1` row: it is what landed in 7.1.
""", "slide"),
    md("""
**Can the model express position 2?** Not as a design of its own, and it does not need to: the model checks
interleavings of lock operations, IPIs and SEAMCALLs, not which file a function lives in. A `tdx_enable()`
that takes `cpus_read_lock()`, runs `on_each_cpu(tdx_cpu_enable)` and then initializes the module makes
exactly the steps of v19's `tdx_hardware_setup()`, with one difference: in 2024 the TDX core could not do
VMXON (VMXON lived in KVM), so VMX must already be on when the one call runs. That is v19 with the option
`pass_vmxon = false` (§10.1: KVM enabled virtualization earlier, as from 6.12), the row
**"one call (v19-2024, pass_vmxon=false)"**. The checker gives it v19's verdicts: the lock keeps hotplug out
and the IPI gives `tdx_cpu_enable()` its IRQs-off context, so bring-up is safe; what it does not solve is
who does LP.INIT for a CPU onlined later (still KVM's `kvm_online_cpu()`) and the missing offline refusal.
Two limits of the mapping: a caller that already holds `cpus_read_lock()` would now take it twice (the
recursive read of the `plain-setup-state` row), and the single call cannot be tried without a VMX owner
outside KVM, which is what 7.1 created.
""", "subslide"),
    code("""
from tdxlab.review import positions, positions_styler

positions_styler(positions(m.review))
"""),
    md("""
## What landed

- **6.16** (KVM TDX host support): KVM enables virtualization at load (`kvm_usage_lock` → `cpuhp_setup_state`
  for `kvm/cpu:online`), then under `cpus_read_lock()` registers `kvm/cpu/tdx:online` with
  `cpuhp_setup_state_cpuslocked()` (LP.INIT in each CPU's hotplug thread, wrapped in `local_irq_save()`) and
  calls `tdx_enable()`; `tdx_offline_cpu()` refuses the last CPU of a package while KeyIDs are in use (§1.3,
  §6.1). A blend of positions 1 and 3: the caller still holds the lock, but the per-CPU work is a cpuhp
  callback.
- **7.1** ("Have TDX handle VMXON during bringup"): VMXON moves into the core kernel with a refcount; TDX
  initializes in a `subsys_initcall` and owns `virt/tdx:online`; `tdx_enable()` and `tdx_cpu_enable()` are
  no longer exported and the IRQ rule is gone (§3.4, §6.4, §6.5). Position 3.

Both rows are green under both workloads. The 7.1 row in scheduler mode: online and offline CPUs yourself
(the blue event buttons) and try to break it:
""", "slide"),
    code("""
from tdxlab.review import row, scenario_for
from tdxlab.widgets import Stepper

Stepper(scenario_for(row("core-7.1"), "cpu-online-later"), mode="scheduler")
"""),
    md("""
## Summary

- Four designs, seven mutations, ten properties: the matrix is the design review in one picture, and every
  red cell comes with its shortest counterexample.
- April 2024: a caller-held hotplug lock plus a separate `tdx_cpu_enable()` (v19) and "one call doing
  everything" (v19 with VMX already on) are equally safe for bring-up in the model; neither handles a CPU
  onlined later by itself, and v19 lets a package lose its last CPU under a TD.
- 6.16 merged a KVM-owned cpuhp state under `cpus_read_lock()` with `_cpuslocked` setup and an offline
  refusal; 7.1 merged the core-kernel callback with refcounted VMXON. Both are green.

Next: [06 Exercises](06-exercises.ipynb).
""", "slide"),
    md(nav("05-design-review"), "skip"),
]


# --------------------------------------------------------------------------------------------- 06
def _exercise_cells() -> list:
    import tomllib

    data = tomllib.loads((ROOT / "data" / "exercises.toml").read_text(encoding="utf-8"))
    heads = {"LP.INIT": ("LP.INIT rules", "notebooks 01 and 02"),
             "IRQ safety": ("IRQ-safety rules", "notebook 03"),
             "locking": ("Locking rules", "notebook 04")}
    cells, family = [], None
    for i, e in enumerate(data["exercise"], 1):
        if e["family"] != family:
            family = e["family"]
            title, where = heads[family]
            cells.append(md(f"## {title}\n\nBackground: {where}.", "slide"))
            slide = "-"
        else:
            slide = "subslide"
        cells.append(code(f'Exercise("{e["id"]}", {i}, stepper=replay)', slide))
    return cells


NB06 = [
    md("""
# 06 Exercises: predict, then let the model check

**Learning goals**
- Predict, for a design and an event, whether a property survives, how a failure shows up (which status, which
  property) and how long the shortest race is.
- Check every prediction against the model, and replay the run that proves it.
- Practise all three rule families: LP.INIT, IRQ safety and locking.
""", "slide"),
    md(nav("06-exercises"), "skip"),
    md("""
## How to play

In the manner of OSTEP's homework: read the question, **make a prediction** (pick an answer or type a number),
then press **check my prediction**. The model explores every interleaving of the scenario and grades your
prediction; the answers are computed now, not written down anywhere (the questions are data in
`data/exercises.toml`, the logic in `tdxlab/exercises.py`). Where the answer is a counterexample, **replay it
in the stepper** loads it into the stepper at the bottom of the page.
""", "slide"),
    code("""
from tdxlab.widgets import Exercise, Stepper

replay = Stepper("irq-race-second-user", mode="scheduler", title="the replay stepper (and a sandbox: you are the scheduler)")
"""),
] + _exercise_cells() + [
    md("""
## The replay stepper

Counterexamples you replay from the solutions land here; until then it is a sandbox on the IRQ race of
notebook 03 in scheduler mode.
""", "slide"),
    code("""
replay
"""),
    md("""
## Summary

- LP.INIT: the old rule fails with `nosmt` or any CPU offline at initialization; under the relaxed rule a CPU
  onlined later still needs someone to run LP.INIT (an online callback).
- IRQ safety: the per-CPU flag and the non-irqsave spinlock make `tdx_cpu_enable()` unsafe in task context
  with IRQs on; the assertion fires before any race, and sometimes no race is possible at all.
- Locking: the hotplug read lock keeps every package's CPU through KEY.CONFIG; a wrong `kvm_lock` order or a
  second read lock (plain `cpuhp_setup_state()`) deadlocks; without `kvm_lock`, `kvm_usage_count` races.

Back to the [index](index.ipynb).
""", "slide"),
    md(nav("06-exercises"), "skip"),
]

NOTEBOOKS = {"index": INDEX, "00-start-here": NB00, "01-seamcall-and-the-module": NB01,
             "02-lp-init-old-vs-relaxed": NB02, "03-irq-safety": NB03, "04-locking": NB04,
             "05-design-review": NB05, "06-exercises": NB06}


def build(name: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=NOTEBOOKS[name])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["title"] = TITLES[name]
    # stable cell ids, so rebuilding gives the same file
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name[:2] if name[0].isdigit() else 'ix'}-{i:02d}"
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    NB_DIR.mkdir(exist_ok=True)
    bad = []
    for name in ORDER:
        text = nbformat.writes(build(name)) + "\n"
        path = NB_DIR / f"{name}.ipynb"
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                bad.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if bad:
        print("out of date (run scripts/build_notebooks.py):", ", ".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
