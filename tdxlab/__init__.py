"""tdxlab: an executable, interactive model of how Linux brings the Intel TDX module up on every CPU.

The layers (see docs/layers.md): ``platform`` (CPUs and topology) and ``module`` (the TDX module's
state and leaves) know nothing of the kernel; ``kernel`` (contexts, IRQs, VMX, locks, cpuhp, the SEAMCALL
instruction) uses both; ``designs`` are kernel paths of 2022 to 2026 written with the kernel layer;
``check`` explores a scenario; ``views`` and ``widgets`` draw. Facts live in ``data/``.
"""
import sys

from tdxlab.errors import (  # noqa: F401
    BadInput,
    NotApplicable,
    RenderError,
    ScenarioError,
    StepNotEnabled,
    TdxlabError,
    UnknownName,
)

__version__ = "0.1.0"


def decode(value):
    """Decode a SEAMCALL status value: see :func:`tdxlab.decode.decode`."""
    from tdxlab.decode import decode as _decode

    return _decode(value)


def _check(design, *, max_states: int | None = None, **scenario):
    """Check every property of ``design`` (a name, a ``FILE.py`` that defines one, or a Design class) on
    every interleaving of a platform (``topology``, ``rule``, ``nosmt``, ``offline``, ``hotplug``,
    ``events``, ``mutations``, ``options``): a :class:`tdxlab.check.explore.CheckResult`.

    >>> r = tdxlab.check("core-7.1", topology="1x1x2", offline="1", hotplug=True)
    >>> r.violated
    []
    >>> r = tdxlab.check("v19-2024", topology="1x1x2", mutations=["second-user"], options={"pass_vmxon": False})
    >>> r.violated[:2]
    ['init-succeeds', 'no-spurious-error']
    """
    from tdxlab.check.explore import DEFAULT_MAX_STATES, explore
    from tdxlab.designs import register
    from tdxlab.scenario import Scenario

    if isinstance(design, type):
        design = register(design).name
    return explore(Scenario(design, **scenario), max_states=max_states or DEFAULT_MAX_STATES)


# `import tdxlab.check.explore` binds `tdxlab.check` to that package, which is callable in turn
# (tdxlab/check/__init__.py), so `tdxlab.check(...)` works either way.
check = _check


def diff(a, b, **kw):
    """Check designs ``a`` and ``b`` on the same platform and compare them: both verdicts per property,
    which differ, and the kernel functions that differ (:func:`tdxlab.compare.diff`).

    >>> d = tdxlab.diff("kvm-6.16", "kvm-6.16", topology="1x1x2", mutations_b=["irqs-on"], offline="1",
    ...                 events=["online:1@after"])
    >>> d.differing, d.changed
    (['kernel-asserts'], ['tdx_online_cpu'])
    """
    from tdxlab.compare import diff as _diff

    return _diff(a, b, **kw)


# The design-authoring entry points (docs/authoring.md), imported when first used.
_AUTHORING = {"kfunc": "tdxlab.kernel.source", "Patch": "tdxlab.kernel.source", "Global": "tdxlab.kernel.source",
              "DesignError": "tdxlab.kernel.source", "Design": "tdxlab.designs.base",
              "design_over": "tdxlab.designs", "register": "tdxlab.designs", "load_design_file": "tdxlab.designs"}


def __getattr__(name):
    """``tdxlab.kfunc``, ``tdxlab.Patch``, ``tdxlab.Global``, ``tdxlab.Design``, ``tdxlab.design_over``,
    ``tdxlab.register``, ``tdxlab.load_design_file``: the design-authoring API.

    >>> p = tdxlab.Patch("no-irqsave").delete("tdx_online_cpu", "local_irq_save(flags)")
    >>> p.functions_changed()
    ['tdx_online_cpu']
    """
    if name in _AUTHORING:
        import importlib

        return getattr(importlib.import_module(_AUTHORING[name]), name)
    raise AttributeError(f"module 'tdxlab' has no attribute {name!r}")


def _show_tdxlab_errors_as_one_line() -> None:
    """In IPython/Jupyter, show a TdxlabError (bad input: an unknown design, a topology of 0 CPUs, a
    malformed scenario file, a step that is not enabled...) as one clear line, never a traceback: as HTML in
    JupyterLab, as plain text in terminal IPython and ``jupyter console``. IPython is never imported here:
    if it is not already running, there is nothing to set up."""
    ipy = sys.modules.get("IPython")
    ip = ipy.get_ipython() if ipy is not None and hasattr(ipy, "get_ipython") else None
    if ip is None:
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        import html

        from IPython.display import display

        line = f"tdxlab: {value}"
        display({"text/plain": line,
                 "text/html": f"<div class='tdxlab-error' style='color:#b00020;font-weight:600'>"
                              f"{html.escape(line)}</div>"}, raw=True)
        return None

    ip.set_custom_exc((TdxlabError,), handler)


_show_tdxlab_errors_as_one_line()
