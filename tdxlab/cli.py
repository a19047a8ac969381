"""The `tdxlab` command line. Its verbs, flags, JSON keys and exit codes are a contract:

exit 0    all properties hold (or the verb succeeded)
exit 1    a property is violated
exit 2    bad input (one line on stderr naming the problem)
exit 3    the state, time or memory budget ran out before a verdict (or before a drawing was complete)
exit 4    tdxlab could not finish: out of memory, output that cannot be written (a full disk), or a bug
          in tdxlab (one line on stderr; TDXLAB_DEBUG=1 shows the traceback)
exit 130  interrupted (Ctrl-C): what was found so far is printed first
"""
from __future__ import annotations

import argparse
import errno
import io
import os
import sys

from tdxlab.errors import TdxlabError
from tdxlab.inputs import printable

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCOMPLETE, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message):  # noqa: D401
        line = printable(" ".join(str(message).split()))
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {line[:400]}\n")


def _cmd_decode(args) -> int:
    from tdxlab.decode import cli_decode

    return cli_decode(args.value, as_json=args.json)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="tdxlab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    sub.required = True
    d = sub.add_parser("decode", help="decode a SEAMCALL status value (e.g. 0x8000FF0000000006)")
    d.add_argument("value", help="a 64-bit status value, hex (0x...) or decimal")
    d.add_argument("--json", action="store_true", help="print one JSON object")
    d.set_defaults(func=_cmd_decode)
    try:
        from tdxlab import cli_model
    except ImportError:  # the model's verbs are added by tdxlab.cli_model
        cli_model = None
    if cli_model is not None:
        cli_model.add_verbs(sub)
    return p


class _Stdout(io.TextIOBase):
    """stdout that survives a reader going away (``tdxlab trace ... | head -1``): the verb goes on and its
    exit status stays the verdict's; later output is dropped. Any other write error (a full disk) is
    raised once, as OSError, for main() to report in one line."""

    def __init__(self, real):
        self.real, self.broken = real, False

    def _gone(self) -> None:
        self.broken = True
        try:  # the interpreter flushes stdout at exit: point it at /dev/null so that flush cannot fail
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.real.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.real.write(text)
            except BrokenPipeError:
                self._gone()
            except OSError:
                self._gone()
                raise
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.real.flush()
            except BrokenPipeError:
                self._gone()
            except OSError:
                self._gone()
                raise

    def isatty(self) -> bool:
        return not self.broken and self.real.isatty()

    def writable(self) -> bool:
        return True


def _decode_args(argv: list[str]) -> list[str]:
    """``tdxlab decode`` takes one value that may start with "-" (``-0x5`` must be called negative, not an
    unknown option): its non-flag arguments go after ``--``."""
    flags = [a for a in argv[1:] if a in ("-h", "--help", "--json")]
    values = [a for a in argv[1:] if a not in ("-h", "--help", "--json", "--")]
    return ["decode", *flags, "--", *values] if values else ["decode", *flags]


def _fail(message: str) -> None:
    try:
        sys.stderr.write(f"tdxlab: error: {printable(' '.join(message.split()))[:400]}\n")
        sys.stderr.flush()
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "decode":
        argv = _decode_args(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except TdxlabError as e:  # raised by a type= converter
        _fail(str(e))
        return EXIT_BAD_INPUT
    real = sys.stdout
    out = sys.stdout = _Stdout(real)
    try:
        code = args.func(args)
        out.flush()
        return code
    except TdxlabError as e:
        out.flush()
        _fail(str(e))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _fail("interrupted (Ctrl-C)")
        return EXIT_INTERRUPTED
    except MemoryError:
        _fail("out of memory: give a smaller --max-states (or --max-memory)")
        return EXIT_INTERNAL
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG):
            _fail(f"cannot write the output: {e.strerror}")
        else:
            _fail(f"{type(e).__name__}: {e.strerror or e}")
        return EXIT_INTERNAL
    except Exception as e:  # noqa: BLE001 - a bug in tdxlab: one line and its own exit status, never 1
        if os.environ.get("TDXLAB_DEBUG"):
            raise
        _fail(f"internal error ({type(e).__name__}: {e}); please report it (TDXLAB_DEBUG=1 shows where)")
        return EXIT_INTERNAL
    finally:
        sys.stdout = real
