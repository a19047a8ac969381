"""The shipped designs, 2022 to 2026, by their contract names (see ``tdxlab designs``), and how to add one.

A design is a :class:`tdxlab.designs.base.Design` whose kernel functions are written in the design
language (:mod:`tdxlab.kernel.source`). Add one from a notebook cell or a file with :func:`register`,
make one as a patch over another with :func:`design_over`, or load a file that defines one with
:func:`load_design_file` (what ``tdxlab check FILE.py`` does).
"""
from __future__ import annotations

import runpy
import sys
import traceback
from pathlib import Path

from tdxlab.designs.base import Design
from tdxlab.designs.core_71 import CORE_71
from tdxlab.designs.kvm_616 import KVM_616
from tdxlab.designs.v7_2022 import V7_2022
from tdxlab.designs.v19_2024 import V19_2024
from tdxlab.errors import BadInput, TdxlabError, UnknownName



def is_design_file(name: str) -> bool:
    return isinstance(name, str) and name.endswith(".py")


def get_design(name: str):
    """A design class by name, or by the path of a Python file that defines one."""
    if is_design_file(name):
        return load_design_file(name)
    if name not in DESIGNS:
        from tdxlab.designs.whatifs import WHATIF_DESIGNS  # the what-ifs reviewers asked (issue 15 item 5)
        if isinstance(name, str) and name in WHATIF_DESIGNS:
            return WHATIF_DESIGNS[name]
        raise UnknownName(f"unknown design {name!r}: choose one of {', '.join(DESIGNS)}, a what-if (`tdxlab "
                          f"designs --what-ifs`), or give a .py file that defines one")
    return DESIGNS[name]


def register(cls):
    """Make a design available by its name (to ``Scenario``, the checker, the stepper); returns it, so it
    can decorate the class. A shipped design's name cannot be taken.

    >>> from tdxlab.designs import design_over, register
    >>> from tdxlab.kernel.source import Patch
    >>> d = register(design_over("kvm-6.16", "kvm-6.16-no-irqsave", Patch("no-irqsave")
    ...     .delete("tdx_online_cpu", "local_irq_save(flags)").delete("tdx_online_cpu", "local_irq_restore(flags)")))
    >>> d.name in DESIGNS
    True
    """
    if not (isinstance(cls, type) and issubclass(cls, Design)):
        raise BadInput(f"register() takes a Design class, not {cls!r}")
    if not cls.name or not isinstance(cls.name, str):
        raise BadInput(f"design class {cls.__name__} has no name")
    if cls.name in SHIPPED and DESIGNS[cls.name] is not cls:
        raise BadInput(f"design name {cls.name!r} is taken by a shipped design: choose another")
    if not cls.sources:
        raise BadInput(f"design {cls.name!r} has no kernel functions (its sources are empty)")
    DESIGNS[cls.name] = cls
    return cls


def design_over(base, name: str, *patches, summary: str = "", era: str = "", fact: str = ""):
    """A new design class: ``base`` (a design or its name) with ``patches`` applied to its kernel
    functions (:class:`tdxlab.kernel.source.Patch`). Its mutations are the base's, applied after them."""
    base_cls = get_design(base) if isinstance(base, str) else base
    srcs = {s.name: s for s in base_cls.sources}
    for p in patches:
        srcs = p.apply(srcs)
    doc = "; ".join(p.doc or p.name for p in patches)
    attrs = {"name": name, "sources": list(srcs.values()),
             "summary": summary or f"{base_cls.name} with {doc}" if patches else base_cls.summary,
             "era": era or base_cls.era, "fact": fact or base_cls.fact, "base": base_cls.name,
             "over": tuple(patches), "__module__": getattr(sys._getframe(1), "f_globals", {}).get("__name__", __name__)}
    return type(name.replace("-", "_").replace(".", "_"), (base_cls,), attrs)


def load_design_file(path: str):
    """Run a Python file as ``python FILE.py`` would and return the one design it defines (a Design
    subclass made in that file, or registered by it). Any error is one line naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise BadInput(f"design file {path!r} does not exist")
    before = dict(DESIGNS)
    try:
        ns = runpy.run_path(str(p), run_name="__main__")
    except TdxlabError as e:
        raise BadInput(f"{path}: {e}") from None
    except SyntaxError as e:
        raise BadInput(f"{e.filename}:{e.lineno}: {e.msg}") from None
    except SystemExit as e:
        raise BadInput(f"{path}: the file called exit({e.code})") from None
    except Exception as e:  # noqa: BLE001 - the user's file: one line naming where it failed
        tb = [f for f in traceback.extract_tb(e.__traceback__) if Path(f.filename).resolve() == p.resolve()]
        where = f"{path}:{tb[-1].lineno}" if tb else path
        raise BadInput(f"{where}: {type(e).__name__}: {e}") from None
    found = [v for k, v in DESIGNS.items() if before.get(k) is not v]
    if not found:
        found = [v for v in ns.values() if isinstance(v, type) and issubclass(v, Design)
                 and v.__module__ == "__main__" and v.name and v.sources]
    if len(found) != 1:
        raise BadInput(f"{path} defines {len(found)} designs: a design file defines exactly one "
                       f"(a Design subclass, or design_over(...) assigned to a name)")
    cls = found[0]
    if cls.name in SHIPPED and DESIGNS[cls.name] is not cls:
        raise BadInput(f"{path}: design name {cls.name!r} is taken by a shipped design: choose another")
    DESIGNS[cls.name] = cls
    return cls


# The shipped designs, in the order of their era. kvm-v18-2024 (a patch over v19-2024) and
# kvm-v18-kai-irqsave (a patch over kvm-v18-2024) are made with design_over() above, so they are imported
# here, after it.
from tdxlab.designs.kai_2024 import KVM_V18_KAI_IRQSAVE  # noqa: E402
from tdxlab.designs.v18_2024 import KVM_V18_2024  # noqa: E402
from tdxlab.designs.teardown_72 import TEARDOWN_72  # noqa: E402  (the teardown chapter, 7.2)
from tdxlab.designs.seamldr_72 import UPDATE_72  # noqa: E402  (the runtime-update chapter, 7.2)

DESIGNS = {d.name: d for d in (V7_2022, KVM_V18_2024, V19_2024, KVM_V18_KAI_IRQSAVE, KVM_616, CORE_71,
                                  TEARDOWN_72, UPDATE_72)}
SHIPPED = tuple(DESIGNS)
