"""The `tdxlab` command line. Its verbs, flags, JSON keys and exit codes are a contract:

exit 0  all properties hold (or the verb succeeded)
exit 1  a property is violated
exit 2  bad input (one line on stderr naming the problem)
exit 3  the state or time budget ran out before a verdict
"""
from __future__ import annotations

import argparse
import sys

from tdxlab.errors import TdxlabError

EXIT_OK, EXIT_VIOLATED, EXIT_BAD_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message):  # noqa: D401
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `tdxlab decode -0x5` must say "negative", not "unknown option": a value starting with "-" is a value
    if len(argv) >= 2 and argv[0] == "decode" and argv[1][:1] == "-" and argv[1] not in ("-h", "--help",
                                                                                          "--json", "--"):
        argv = ["decode", "--", *argv[1:]]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except TdxlabError as e:  # raised by a type= converter
        print(f"tdxlab: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return args.func(args)
    except TdxlabError as e:
        print(f"tdxlab: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # `tdxlab designs | head`
        return EXIT_OK
