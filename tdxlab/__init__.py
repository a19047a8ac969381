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
