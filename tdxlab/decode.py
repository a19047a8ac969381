"""Decode a SEAMCALL status value: its name, class bits, details field, what the kernel returns, and why.

>>> from tdxlab.decode import decode
>>> d = decode("0x8000FF0000000006")
>>> d.name, d.errno
('TDX_SEAMCALL_UD', '-EACCES')

A status is 64 bits (m-error-codes-h): bit 63 error, bit 62 non-recoverable, bits 47:40 the class (0xFF is
the kernel's reserved software class, never used by the TDX module), bits 31:0 details such as an operand
id. A value is matched to a name by its full value first, else under ``TDX_SEAMCALL_STATUS_MASK``
(bits 63:32) as the kernel compares module statuses. A value that matches nothing is decoded by its
class bits alone and says it is not a known status.

The command line: ``tdxlab decode VALUE [--json]`` (:func:`cli_decode`).
"""
from __future__ import annotations

import html
import json
import operator
import re
import sys
import types
from dataclasses import asdict, dataclass

from tdxlab import facts
from tdxlab.errors import BadInput, TdxlabError
from tdxlab.inputs import cut

__all__ = ["Decoded", "decode", "parse_value", "cli_decode"]

_HEX_DIGITS = re.compile(r"^[0-9A-Fa-f]+$")
_DEC_DIGITS = re.compile(r"^[0-9]+$")


def parse_value(value: int | str) -> int:
    """A status value from an int or a string: hex ``0x...`` or decimal, surrounding whitespace and
    underscores allowed. :class:`BadInput` (one line naming the problem) if it is empty, not a number,
    negative, or wider than 64 bits."""
    if isinstance(value, bool):
        raise BadInput(f"status value {value!r} is a bool, not a number")
    if isinstance(value, str):
        return _parse_text(value)
    try:
        n = operator.index(value)  # int, numpy integers
    except TypeError:
        raise BadInput(f"status value {value!r} is a {type(value).__name__}, not an integer or a string") from None
    return _check_range(n, repr(value))


def _parse_text(text: str) -> int:
    s = text.strip()
    shown = cut(text, 40)
    if not s:
        raise BadInput("status value is empty: give a 64-bit number such as 0x8000FF0000000006")
    negative = s.startswith("-")
    if s[0] in "+-":
        s = s[1:].lstrip()
    if s[:2].lower() == "0x":
        digits, base, kind = s[2:].replace("_", ""), 16, "hexadecimal"
        ok = bool(_HEX_DIGITS.match(digits))
    else:
        digits, base, kind = s.replace("_", ""), 10, "decimal"
        ok = bool(_DEC_DIGITS.match(digits))
        if not ok and _HEX_DIGITS.match(digits):
            raise BadInput(f"status value {shown} is not a decimal number (write hex with 0x, e.g. 0x{digits})")
    if not ok:
        raise BadInput(f"status value {shown} is not a {kind} number")
    significant = digits.lstrip("0")
    if len(significant) > (32 if base == 16 else 40):  # refused before int(): 5,000 digits are no status
        raise BadInput(f"status value {shown} has {len(significant):,} {kind} digits: a status has at most "
                       f"64 bits")
    n = int(digits, base)
    if negative and n:
        raise BadInput(f"status value {shown} is negative: a status is an unsigned 64-bit number")
    return _check_range(n, shown)


def _check_range(n: int, shown: str) -> int:
    if n < 0:
        raise BadInput(f"status value {shown} is negative: a status is an unsigned 64-bit number")
    if n > facts.MAX_U64:
        raise BadInput(f"status value {shown} has {n.bit_length()} bits: a status has at most 64")
    return n


@dataclass(frozen=True)
class Decoded:
    """A decoded SEAMCALL status value. ``str()`` gives a few readable lines; notebooks show a table."""

    value: int
    hex: str  # "0x" and 16 hex digits
    name: str | None  # None: not a known status
    known: bool
    error: bool  # bit 63
    non_recoverable: bool  # bit 62
    sw_class: bool  # bits 47:40 == 0xFF, the kernel's reserved software class
    class_code: int  # bits 47:40
    details: int  # bits 31:0
    errno: str  # what the kernel returns: "0", "-ENODEV", "-EOPNOTSUPP", "-EACCES", "-EIO"
    meaning: str
    cause: str
    matched: str  # "full value", "status mask" (bits 63:32), or "" when not known
    origin: str  # "kernel-sw", "module", or "" when not known
    kind: str  # "status", "mask" (a class bit, not a status), or "" when not known
    source: str  # the keys of data/sources.toml, or "" when not known

    # ---- text ----
    def class_bits(self) -> str:
        """The class bits in words, e.g. "error (bit 63), non-recoverable (bit 62), class 0x05"."""
        parts = ["error (bit 63)" if self.error else "not an error (bit 63 clear)"]
        if self.non_recoverable:
            parts.append("non-recoverable (bit 62)")
        if self.sw_class:
            parts.append("class 0xFF = the kernel's reserved software class (bits 47:40), never used by the TDX module")
        else:
            parts.append(f"class 0x{self.class_code:02X} (bits 47:40)")
        return ", ".join(parts)

    def kernel_returns(self) -> str:
        """What the kernel's SEAMCALL wrapper returns for this value, in words."""
        if self.errno == "0":
            return "0 (success)"
        if self.errno == "-EIO":
            return '-EIO (after printing "SEAMCALL (fn) failed: err")'
        return self.errno

    def _lines(self) -> list[tuple[str, str]]:
        if self.known:
            head = self.name or ""
            if self.kind == "mask":
                head += " (a class mask, not a status the module returns)"
            elif self.matched == "status mask":
                head += " (matched on bits 63:32, TDX_SEAMCALL_STATUS_MASK)"
        else:
            head = "not a known status: decoded by its class bits only"
        rows = [
            ("status", head),
            ("class bits", self.class_bits()),
            ("details", f"0x{self.details:08X} (bits 31:0)"),
        ]
        if self.meaning:
            rows.append(("meaning", self.meaning))
        if self.cause:
            rows.append(("cause", self.cause))
        if self.origin == "kernel-sw" and self.kind == "status":
            rows.append(("origin", "made by the kernel's SEAMCALL code: the TDX module never returns it"))
        rows.append(("kernel returns", self.kernel_returns()))
        if self.source:
            rows.append(("source", self.source_links()))
        return rows

    def source_links(self) -> str:
        """The source keys, each followed by the link it resolves to (data/sources.toml)."""
        from tdxlab import sources

        return "; ".join(f"{k} {sources.url(k)}" for k in sources.keys_in(self.source))

    def summary(self) -> str:
        """A few readable lines."""
        width = max(len(k) for k, _ in self._lines())
        out = [self.hex]
        out += [f"  {k + ':':<{width + 1}} {v}" for k, v in self._lines()]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from tdxlab import sources

        cells = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{sources.cite(self.source, 'notebooks') if k == 'source' else html.escape(v)}"
            "</td></tr>"
            for k, v in self._lines()
        )
        return (
            f"<div class='tdxlab-decoded'><code>{html.escape(self.hex)}</code>"
            f"<table>{cells}</table></div>"
        )

    def to_dict(self) -> dict:
        """The fields as a dict (what ``tdxlab decode --json`` prints)."""
        return asdict(self)


def decode(value: int | str) -> Decoded:
    """Decode a SEAMCALL status value (an int, or a string: hex ``0x...`` or decimal; whitespace and
    underscores allowed). Raises :class:`tdxlab.errors.BadInput` for empty, non-numeric, negative or
    wider-than-64-bit input."""
    v = parse_value(value)
    row = facts.status_row(v)
    if row is not None:
        matched = "full value" if row["int_value"] == v else "status mask"
        meaning, cause = row["meaning"], row["cause"]
        origin, kind, source, name = row["origin"], row["kind"], row["source"], row["name"]
    else:
        matched = origin = kind = source = ""
        name = None
        meaning = _unknown_meaning(v)
        cause = ""
    return Decoded(
        value=v,
        hex=f"0x{v:016X}",
        name=name,
        known=row is not None,
        error=facts.error_bit(v),
        non_recoverable=facts.non_recoverable_bit(v),
        sw_class=facts.is_sw_class(v),
        class_code=facts.class_code(v),
        details=facts.details(v),
        errno=facts.kernel_errno(v),
        meaning=meaning,
        cause=cause,
        matched=matched,
        origin=origin,
        kind=kind,
        source=source,
    )


def _unknown_meaning(v: int) -> str:
    kind = (
        "a non-recoverable error"
        if v >> 62 == 0b11
        else "an error" if facts.error_bit(v) else "a non-error status"
    )
    if facts.is_sw_class(v):
        return (
            f"not a known status: {kind} in the kernel's reserved software class (0xFF), "
            "but not one of the kernel's codes (VMFAILINVALID, GP, UD)"
        )
    return f"not a known status: {kind} of class 0x{facts.class_code(v):02X}; no name in tdxlab's data"


def cli_decode(text: str, as_json: bool = False) -> int:
    """``tdxlab decode VALUE [--json]``: print the decoding (or one JSON object) and return 0; for bad
    input print one line ``tdxlab: error: ...`` on stderr and return 2."""
    try:
        d = decode(text)
    except TdxlabError as e:
        print(f"tdxlab: error: {e}", file=sys.stderr)
        return 2
    if as_json:
        print(json.dumps(d.to_dict(), sort_keys=False))
    else:
        print(d.summary())
    return 0


# `import tdxlab.decode` binds the attribute `tdxlab.decode` to this module, replacing the function that
# tdxlab/__init__.py defines. Make the module itself callable, so that `tdxlab.decode(value)` decodes
# whichever of the two the name refers to.
class _CallableModule(types.ModuleType):
    def __call__(self, value: int | str) -> Decoded:
        return decode(value)


sys.modules[__name__].__class__ = _CallableModule
