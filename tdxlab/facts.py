"""Facts as data: the SEAMCALL leaves of bring-up and the status codes, read from ``data/``.

The rows live in ``data/leaves.toml`` and ``data/status_codes.toml``; each names its source, a section of
tdxlab's sources (``docs/facts.md``). This module reads them (with :mod:`tomllib`, once, cached),
checks them, and offers them three ways:

* as pandas DataFrames: :func:`leaves` and :func:`status_codes` (the latter with the derived columns
  ``error``, ``non_recoverable``, ``class``, ``sw_class``, ``details`` and ``errno``);
* as named constants: ``tdxlab.facts.TDX_SEAMCALL_UD == 0x8000FF0000000006``, one per status, and
  ``LEAF_NUMBERS == {"TDH.SYS.INIT": 33, ...}``;
* as look-ups: :func:`status_value`, :func:`status_name`, :func:`kernel_errno`, :func:`status_row`.

What is derived, not stored (m-error-codes-h, k-tdxcall-s):

* bit 63 is the error bit, bit 62 the non-recoverable bit, bits 47:40 the class; class 0xFF is the
  kernel's reserved software class, never used by the module;
* bits 31:0 are the details (for example an operand id); the kernel compares statuses under
  ``TDX_SEAMCALL_STATUS_MASK = 0xFFFFFFFF00000000``;
* the kernel's return value: TDX_SUCCESS 0, TDX_SEAMCALL_VMFAILINVALID -ENODEV, TDX_SEAMCALL_GP
  -EOPNOTSUPP, TDX_SEAMCALL_UD -EACCES, anything else -EIO (``sc_retry_prerr()``).

The data directory is the repository's ``data/``; the environment variable ``TDXLAB_DATA`` overrides it.
A malformed file raises :class:`tdxlab.errors.BadInput` naming the file and the problem.
"""
from __future__ import annotations

import functools
import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tdxlab.errors import BadInput, UnknownName
from tdxlab.inputs import read_toml_file

if TYPE_CHECKING:  # pandas is imported lazily: `import tdxlab.facts` stays cheap
    import pandas as pd

__all__ = [
    "ERROR_BIT",
    "NON_RECOVERABLE_BIT",
    "CLASS_SHIFT",
    "CLASS_MASK",
    "SW_CLASS",
    "DETAILS_MASK",
    "TDX_SEAMCALL_STATUS_MASK",
    "MODULE_STATES",
    "SCOPES",
    "data_dir",
    "leaves",
    "status_codes",
    "leaf_number",
    "status_value",
    "status_name",
    "status_row",
    "kernel_errno",
    "error_bit",
    "non_recoverable_bit",
    "class_code",
    "is_sw_class",
    "details",
    "clear_cache",
]

# ---- bit layout of a status (k-asm-tdx-h, m-error-codes-h) -------------------------------------------------
ERROR_BIT = 1 << 63
NON_RECOVERABLE_BIT = 1 << 62
CLASS_SHIFT = 40
CLASS_MASK = 0xFF << CLASS_SHIFT  # bits 47:40
SW_CLASS = 0xFF  # the kernel's reserved software class
DETAILS_MASK = 0xFFFFFFFF  # bits 31:0
TDX_SEAMCALL_STATUS_MASK = 0xFFFFFFFF00000000
MAX_U64 = (1 << 64) - 1

#: The module's system states, in order (TDX_1.5.01 tdx_global_data.h, m-global-data-h). SYS_SHUTDOWN = 4
#: exists too but is not a bring-up state.
MODULE_STATES = ("SYSINIT_PENDING", "SYSINIT_DONE", "SYSCONFIG_DONE", "SYS_READY")
SCOPES = ("global-once", "per-lp", "per-package", "per-tdmr", "read-only")
ORIGINS = ("kernel-sw", "module")
KINDS = ("status", "mask")

_LEAF_FIELDS = {
    "name": str,
    "number": int,
    "scope": str,
    "bringup": bool,
    "accepted_states": list,
    "otherwise": str,
    "requires": str,
    "kernel_function": str,
    "source": str,
}
_STATUS_FIELDS = {
    "name": str,
    "value": str,
    "kind": str,
    "origin": str,
    "meaning": str,
    "cause": str,
    "source": str,
}
_NAME_RE = re.compile(r"^TDX_[A-Z0-9_]+$")
_LEAF_RE = re.compile(r"^TDH(\.[A-Z0-9]+)+$")
_HEX_RE = re.compile(r"^0x[0-9A-Fa-f]{1,16}$")


def _check_source(where: str, text: str) -> None:
    """A row's ``source`` is one or more known keys of data/sources.toml, separated by ", "."""
    from tdxlab import sources

    parts = [p.strip() for p in text.split(",")]
    known = set(sources.keys())
    bad = [p for p in parts if p not in known]
    if bad or not text.strip():
        raise BadInput(f"{where}: source {text!r} is not a known key of sources.toml (or keys separated by ', ')")


# ---- loading ---------------------------------------------------------------------------------------
def data_dir() -> Path:
    """The directory the facts are read from: ``$TDXLAB_DATA`` if set, else the package's own ``tdxlab/data``
    (shipped in the wheel and read through :mod:`importlib.resources`; the repository's top-level ``data/``
    is a symbolic link to it, so people find the facts where they expect them)."""
    env = os.environ.get("TDXLAB_DATA")
    if env:
        return Path(env).expanduser().resolve()
    from importlib.resources import files

    where = files("tdxlab") / "data"
    if not isinstance(where, Path):  # a zipped install: the data must be real files to be globbed
        raise BadInput(f"tdxlab's data directory {where} is not a directory on disk; set TDXLAB_DATA")
    return where


def _load_toml(path: Path) -> dict[str, Any]:
    return read_toml_file(path, "facts file")


def _rows(path: Path, table: str, fields: dict[str, type]) -> list[dict[str, Any]]:
    doc = _load_toml(path)
    rows = doc.get(table)
    if not isinstance(rows, list) or not rows:
        raise BadInput(f"facts file {path} has no [[{table}]] rows")
    out = []
    for i, row in enumerate(rows, 1):
        where = f"facts file {path}, [[{table}]] row {i}"
        if not isinstance(row, dict):
            raise BadInput(f"{where} is not a table")
        if "name" in row:
            where += f" ({row['name']})"
        missing = [k for k in fields if k not in row]
        if missing:
            raise BadInput(f"{where}: missing field(s) {', '.join(missing)}")
        extra = [k for k in row if k not in fields]
        if extra:
            raise BadInput(f"{where}: unknown field(s) {', '.join(extra)}")
        for k, t in fields.items():
            v = row[k]
            ok = isinstance(v, t) and not (t is int and isinstance(v, bool))
            if not ok:
                raise BadInput(f"{where}: field {k} should be {t.__name__}, not {type(v).__name__}")
        _check_source(where, row["source"])
        out.append(row)
    names = [r["name"] for r in out]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise BadInput(f"facts file {path}: duplicate name(s) {', '.join(dups)}")
    return out


@functools.cache
def _leaf_rows(path: Path) -> tuple[dict[str, Any], ...]:
    rows = _rows(path, "leaf", _LEAF_FIELDS)
    numbers: dict[int, str] = {}
    for r in rows:
        where = f"facts file {path}, leaf {r['name']}"
        if not _LEAF_RE.match(r["name"]):
            raise BadInput(f"{where}: name is not a TDH.* leaf name")
        if not 0 <= r["number"] < 1 << 16:
            raise BadInput(f"{where}: number {r['number']} is out of range")
        if r["number"] in numbers:
            raise BadInput(f"{where}: number {r['number']} is also {numbers[r['number']]}")
        numbers[r["number"]] = r["name"]
        if r["scope"] not in SCOPES:
            raise BadInput(f"{where}: scope {r['scope']!r} is not one of {', '.join(SCOPES)}")
        states = r["accepted_states"]
        if not states or any(s not in MODULE_STATES for s in states):
            raise BadInput(f"{where}: accepted_states {states} must be a non-empty list of {', '.join(MODULE_STATES)}")
        if r["otherwise"] and not _NAME_RE.match(r["otherwise"]):
            raise BadInput(f"{where}: otherwise {r['otherwise']!r} is not a status name")
        r["accepted_states"] = tuple(states)
    return tuple(rows)


@functools.cache
def _status_rows(path: Path) -> tuple[dict[str, Any], ...]:
    rows = _rows(path, "status", _STATUS_FIELDS)
    values: dict[int, str] = {}
    for r in rows:
        where = f"facts file {path}, status {r['name']}"
        if not _NAME_RE.match(r["name"]):
            raise BadInput(f"{where}: name is not of the form TDX_...")
        if not _HEX_RE.match(r["value"]):
            raise BadInput(f"{where}: value {r['value']!r} is not a hex string 0x... of at most 64 bits")
        v = int(r["value"], 16)
        if v in values:
            raise BadInput(f"{where}: value {r['value']} is also {values[v]}")
        values[v] = r["name"]
        if r["kind"] not in KINDS:
            raise BadInput(f"{where}: kind {r['kind']!r} is not one of {', '.join(KINDS)}")
        if r["origin"] not in ORIGINS:
            raise BadInput(f"{where}: origin {r['origin']!r} is not one of {', '.join(ORIGINS)}")
        if r["origin"] == "module" and v & CLASS_MASK == SW_CLASS << CLASS_SHIFT:
            raise BadInput(f"{where}: a module code cannot be in the kernel's reserved class 0xFF")
        r["int_value"] = v
    return tuple(rows)


def _leaves_path() -> Path:
    return data_dir() / "leaves.toml"


def _status_path() -> Path:
    return data_dir() / "status_codes.toml"


def clear_cache() -> None:
    """Forget everything loaded (for tests that point ``TDXLAB_DATA`` somewhere else)."""
    for f in (_leaf_rows, _status_rows, _status_index, _leaves_df, _status_df):
        f.cache_clear()


# ---- derived bits -----------------------------------------------------------------------------------
def error_bit(value: int) -> bool:
    """Bit 63: the status is an error."""
    return bool(value & ERROR_BIT)


def non_recoverable_bit(value: int) -> bool:
    """Bit 62: the error is non-recoverable."""
    return bool(value & NON_RECOVERABLE_BIT)


def class_code(value: int) -> int:
    """Bits 47:40, the status class."""
    return (value & CLASS_MASK) >> CLASS_SHIFT


def is_sw_class(value: int) -> bool:
    """Class 0xFF: the kernel's reserved software class (TDX_SW_ERROR and the codes built on it)."""
    return class_code(value) == SW_CLASS


def details(value: int) -> int:
    """Bits 31:0, the details field (for example an operand id)."""
    return value & DETAILS_MASK


# ---- look-ups ---------------------------------------------------------------------------------------
@functools.cache
def _status_index(path: Path) -> tuple[dict[str, dict], dict[int, dict], dict[int, dict]]:
    rows = _status_rows(path)
    by_name = {r["name"]: r for r in rows}
    by_value = {r["int_value"]: r for r in rows}
    # Matching under TDX_SEAMCALL_STATUS_MASK, as the kernel compares module statuses: only module
    # statuses whose details field is 0. The kernel's software codes are compared whole (the asm puts
    # the trap number in the low bits), the class masks are bit tests, not statuses, and TDX_SUCCESS is
    # compared whole by the kernel (a zero status with details set is not success to sc_retry_prerr()).
    by_status = {
        r["int_value"]: r
        for r in rows
        if r["kind"] == "status" and r["origin"] == "module" and details(r["int_value"]) == 0 and r["int_value"]
    }
    return by_name, by_value, by_status


def _index():
    return _status_index(_status_path())


def status_value(name: str) -> int:
    """The 64-bit value of a status or class mask, by name; :class:`UnknownName` if there is none."""
    by_name = _index()[0]
    try:
        return by_name[name]["int_value"]
    except (KeyError, TypeError):
        raise UnknownName(f"unknown status name {name!r}") from None


def status_row(value: int) -> dict[str, Any] | None:
    """The data row for a value: the full value first, else the value under
    TDX_SEAMCALL_STATUS_MASK (module statuses only). None if neither matches."""
    _, by_value, by_status = _index()
    row = by_value.get(value)
    if row is None:
        row = by_status.get(value & TDX_SEAMCALL_STATUS_MASK)
    return None if row is None else dict(row)


def status_name(value: int) -> str | None:
    """The status name of a value (see :func:`status_row`), or None if it is not a known status."""
    row = status_row(value)
    return None if row is None else row["name"]


_ERRNO = {
    0x0000000000000000: "0",  # TDX_SUCCESS
    0x8000FF00FFFF0000: "-ENODEV",  # TDX_SEAMCALL_VMFAILINVALID
    0x8000FF000000000D: "-EOPNOTSUPP",  # TDX_SEAMCALL_GP
    0x8000FF0000000006: "-EACCES",  # TDX_SEAMCALL_UD
}


def kernel_errno(value: int) -> str:
    """What the kernel returns for a SEAMCALL result (``sc_retry_prerr()``, k-tdx-c-618): "0",
    "-ENODEV", "-EOPNOTSUPP", "-EACCES", or "-EIO" for anything else. The kernel compares whole values."""
    return _ERRNO.get(value, "-EIO")


def leaf_number(name: str) -> int:
    """The leaf number of a TDH.SYS.* leaf; :class:`UnknownName` if there is none."""
    for r in _leaf_rows(_leaves_path()):
        if r["name"] == name:
            return r["number"]
    raise UnknownName(f"unknown SEAMCALL leaf {name!r}")


# ---- DataFrames -------------------------------------------------------------------------------------
@functools.cache
def _leaves_df(path: Path) -> "pd.DataFrame":
    import pandas as pd

    rows = [{k: r[k] for k in _LEAF_FIELDS} for r in _leaf_rows(path)]
    return pd.DataFrame(rows, columns=list(_LEAF_FIELDS))


@functools.cache
def _status_df(path: Path) -> "pd.DataFrame":
    import pandas as pd

    rows = []
    for r in _status_rows(path):
        v = r["int_value"]
        row = {k: r[k] for k in _STATUS_FIELDS}
        row["value"] = f"0x{v:016X}"
        row.update(
            int_value=v,
            error=error_bit(v),
            non_recoverable=non_recoverable_bit(v),
            sw_class=is_sw_class(v),
            **{"class": class_code(v)},
            details=details(v),
            errno=kernel_errno(v) if r["kind"] == "status" else "",
        )
        rows.append(row)
    cols = list(_STATUS_FIELDS) + ["int_value", "error", "non_recoverable", "sw_class", "class", "details", "errno"]
    df = pd.DataFrame(rows, columns=cols)
    df["int_value"] = df["int_value"].astype("uint64")
    return df


def leaves() -> "pd.DataFrame":
    """The SEAMCALL leaves, one row each: name, number, scope, bringup, accepted_states (a tuple of
    module states, TDX 1.5 module = the old rule), otherwise, requires, kernel_function, source.
    A copy: change it freely."""
    return _leaves_df(_leaves_path()).copy()


def status_codes() -> "pd.DataFrame":
    """The status codes, one row each: name, value ("0x" and 16 hex digits), kind, origin, meaning,
    cause, source, and the derived int_value, error, non_recoverable, sw_class, class, details, errno
    (empty for the class masks). A copy: change it freely."""
    return _status_df(_status_path()).copy()


# ---- named constants (module attributes, loaded on first use) ---------------------------------------
def _constants() -> dict[str, Any]:
    consts: dict[str, Any] = {r["name"]: r["int_value"] for r in _status_rows(_status_path())}
    consts["LEAF_NUMBERS"] = {r["name"]: r["number"] for r in _leaf_rows(_leaves_path())}
    return consts


def __getattr__(name: str) -> Any:
    """``tdxlab.facts.TDX_SEAMCALL_UD``, ``tdxlab.facts.LEAF_NUMBERS``: read from data/ on first use."""
    if name == "LEAF_NUMBERS" or _NAME_RE.match(name):
        consts = _constants()
        if name in consts:
            value = consts[name]
            return dict(value) if isinstance(value, dict) else value
    raise AttributeError(f"module 'tdxlab.facts' has no attribute {name!r}")


def __dir__() -> list[str]:
    try:
        extra = list(_constants())
    except BadInput:
        extra = []
    return sorted(set(globals()) | set(extra))
