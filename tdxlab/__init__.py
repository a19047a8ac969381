"""tdxlab: an executable, interactive model of how Linux brings the Intel TDX module up on every CPU.

The layers (see docs/layers.md): ``platform`` (CPUs and topology) and ``module`` (the TDX module's
state and leaves) know nothing of the kernel; ``kernel`` (contexts, IRQs, VMX, locks, cpuhp, the SEAMCALL
instruction) uses both; ``designs`` are kernel paths of 2022 to 2026 written with the kernel layer;
``check`` explores a scenario; ``views`` and ``widgets`` draw. Facts live in ``data/``.
"""
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
