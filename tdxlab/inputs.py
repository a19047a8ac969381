"""Reading what a user types or writes, safely: whole numbers of bounded size, values cut short in messages,
text made printable.

Every parser of user input in tdxlab goes through these, so that a number of 5,000 digits, a range of a
hundred million CPUs, a value of megabytes or a terminal escape sequence gives one short, clear line and
never a traceback, a hang or a flood.
"""
from __future__ import annotations

import re

from tdxlab.errors import BadInput

#: How much of a value an error message shows (the rest is cut, with its length said).
SHOW = 60
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: object) -> str:
    """``text`` with control characters (newlines, terminal escape codes) shown as ``\\xNN`` escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def cut(value: object, limit: int = SHOW) -> str:
    """``repr(value)`` for a message, printable, cut to about ``limit`` characters; a long string says how
    long it was. Containers are not walked in full: a huge or deeply nested value costs no more than its
    start."""
    if isinstance(value, (str, bytes)):
        r = printable(repr(value[:limit]))
        return r if len(value) <= limit else f"{r[:-1]}...{r[-1]} ({len(value):,} characters)"
    try:
        r = _short_repr(value, limit) if isinstance(value, (dict, list, tuple, set)) else repr(value)
    except RecursionError:
        r = f"<a {type(value).__name__} nested too deep to show>"
    r = printable(r)
    return r if len(r) <= limit else r[:limit - 3] + "..."


def _short_repr(value, limit: int) -> str:
    """The start of a container's repr, built without walking more than ``limit`` characters of it."""
    out, n = [], 0
    opener, closer = {dict: "{}", list: "[]", tuple: "()", set: "{}"}.get(type(value), "[]")
    items = value.items() if isinstance(value, dict) else value
    for i, item in enumerate(items):
        if n > limit:
            out.append("...")
            break
        if isinstance(value, dict):
            k, v = item
            piece = f"{cut(k, limit // 2)}: {cut(v, limit // 2)}"
        else:
            piece = cut(item, limit // 2)
        out.append(piece)
        n += len(piece) + 2
    return opener[0] + ", ".join(out) + opener[-1]


_WHOLE = re.compile(r"\s*([+-]?)\s*(\d[\d_]*)\s*")
_FLOATY = re.compile(r"\s*\+?\s*(\d+(?:\.\d*)?)[eE]\+?(\d{1,2})\s*")


def whole_number(text: object, what: str, *, lo: int = 0, hi: int | None = None) -> int:
    """``text`` (a string or an int) as a whole number in ``lo..hi``, or :class:`BadInput` naming ``what``.
    Never builds a huge int: a value with more digits than ``hi`` has is refused before it is converted.
    Accepts ``1e6`` (and ``1.5e3``) when it is a whole number, as people write budgets."""
    if isinstance(text, bool):
        raise BadInput(f"{what} {text!r} is true/false, not a whole number")
    if isinstance(text, int):
        n = text
        if n.bit_length() > 64 or n < lo or (hi is not None and n > hi):
            raise BadInput(f"{what} {_shown_int(n)} is out of range: {_range(lo, hi)}")
        return n
    if not isinstance(text, str):
        raise BadInput(f"{what} {cut(text)} is a {type(text).__name__}, not a whole number")
    limit_digits = len(str(hi)) if hi is not None else 19
    m = _WHOLE.fullmatch(text)
    if m:
        sign, digits = m.group(1), m.group(2).replace("_", "").lstrip("0") or "0"
        if len(digits) > limit_digits:
            raise BadInput(f"{what} {cut(text, 30)} is out of range ({len(digits)} digits): {_range(lo, hi)}")
        n = -int(digits) if sign == "-" else int(digits)
    else:
        f = _FLOATY.fullmatch(text)
        if not f:
            raise BadInput(f"{what} {cut(text, 30)} is not a whole number")
        mant, exp = f.group(1), int(f.group(2))
        whole, _, frac = mant.partition(".")
        frac = frac.rstrip("0")
        if len(frac) > exp or len(whole.lstrip("0")) + exp > limit_digits:
            raise BadInput(f"{what} {cut(text, 30)} is not a whole number in range: {_range(lo, hi)}")
        n = int((whole + frac) or "0") * 10 ** (exp - len(frac))
    if n < lo or (hi is not None and n > hi):
        raise BadInput(f"{what} {cut(text, 30)} is out of range: {_range(lo, hi)}")
    return n


def _shown_int(n: int) -> str:
    return str(n) if n.bit_length() <= 64 else f"(a number of {n.bit_length()} bits)"


def _range(lo: int, hi: int | None) -> str:
    return f"it must be at least {lo:,}" if hi is None else f"it must be {lo:,} to {hi:,}"


#: A data file (facts, exercises, a manifest) larger than this is refused before it is parsed.
MAX_DATA_BYTES = 4 * 1024 * 1024


def read_toml_file(path, what: str = "data file") -> dict:
    """A TOML file parsed with :mod:`tomllib`, or one :class:`BadInput` line naming ``what`` and the problem:
    missing, not a regular file, too large, not UTF-8, malformed, or nested too deep to parse."""
    import stat
    import tomllib
    from pathlib import Path

    p = Path(path)
    shown = printable(p)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise BadInput(f"{what} {shown} is missing") from None
    except OSError as e:
        raise BadInput(f"{what} {shown} cannot be read: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"{what} {shown} is not a regular file")
    if st.st_size > MAX_DATA_BYTES:
        raise BadInput(f"{what} {shown} is {st.st_size:,} bytes, more than the {MAX_DATA_BYTES:,} allowed")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise BadInput(f"{what} {shown} cannot be read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInput(f"{what} {shown} is not UTF-8 text (byte {e.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{what} {shown} is not valid TOML: {e}") from None
    except RecursionError:
        raise BadInput(f"{what} {shown} is nested too deep") from None
