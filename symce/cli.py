"""The command line: argparse in, one call into the library, text out.

Only this module prints. Exit codes: 0 the claim holds, 1 it does not (or could
not be shown), 2 the input was malformed. A traceback reaching a user is a bug.
"""

from __future__ import annotations

import argparse
import sys

from .errors import SymceError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; make its message one line."""

    def error(self, message: str):  # noqa: D401 - argparse's own hook
        self.exit(EXIT_BAD_INPUT, f"symce: error: {message}\n")


# --- prove (issue 2) --------------------------------------------------------

def _add_prove(sub) -> None:
    p = sub.add_parser("prove", help="prove a gradient identity")
    p.set_defaults(run=_run_prove)


def _run_prove(args) -> int:
    raise NotImplementedError


# --- check (issue 3) --------------------------------------------------------

def _add_check(sub) -> None:
    p = sub.add_parser("check", help="verify the steps of derivation files")
    p.set_defaults(run=_run_check)


def _run_check(args) -> int:
    raise NotImplementedError


# --- latex (issue 4) --------------------------------------------------------

def _add_latex(sub) -> None:
    p = sub.add_parser("latex", help="typeset a verified derivation")
    p.set_defaults(run=_run_latex)


def _run_latex(args) -> int:
    raise NotImplementedError


# --- export (issue 5) -------------------------------------------------------

def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write a numeric module for loss and gradient")
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    raise NotImplementedError


# --- entry point ------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symce", description="Prove, check, typeset and export gradient identities.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_prove, _add_check, _add_latex, _add_export):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one symce command; returns the exit code (the console script exits with it)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except SymceError as exc:
        print(f"symce: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("symce: interrupted", file=sys.stderr)
        return 130
