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

def _k_value(text: str) -> int:
    """argparse type for --k: an integer in the allowed range, or a one-line refusal."""
    from .expressions import check_k

    try:
        return check_k(int(text))
    except (ValueError, SymceError):
        # check_k's message, but naming the text the user typed ('2.5', 'abc').
        from .expressions import K_MAX, K_MIN

        raise argparse.ArgumentTypeError(
            f"k must be an integer from {K_MIN} to {K_MAX}, got {text!r}") from None


def _add_prove(sub) -> None:
    from .prove import ASSUMPTIONS, FORMS, IDENTITIES

    p = sub.add_parser("prove", help="prove a gradient identity",
                       description="Prove dL/dz_i for every component by exact symbolic algebra.")
    p.add_argument("identity", choices=IDENTITIES, help="the identity to prove")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--k", type=_k_value, nargs="+", metavar="K", help="concrete class counts")
    which.add_argument("--symbolic", action="store_true", help="prove for symbolic k")
    p.add_argument("--assume", choices=list(ASSUMPTIONS), default="simplex",
                   help="what is assumed about y (default: simplex, y sums to 1)")
    p.add_argument("--form", choices=list(FORMS),
                   help="target form of dL/dz_i (default: the one the assumption proves)")
    p.add_argument("--numeric", action="store_true",
                   help="add the lambdified finite-difference cross-check (numeric evidence)")
    p.set_defaults(run=_run_prove)


class _Progress:
    """Report progress on stderr once a proof has run for more than a couple of seconds."""

    def __init__(self, label: str, quiet_for: float = 2.0, every: float = 2.0):
        import time

        self._clock, self._label = time.perf_counter, label
        self._start = self._clock()
        self._next = self._start + quiet_for
        self._every = every

    def __call__(self, done: int, total: int) -> None:
        now = self._clock()
        if now >= self._next:
            self._next = now + self._every
            print(f"symce: {self._label}: {done}/{total} components ({now - self._start:.1f} s)",
                  file=sys.stderr, flush=True)


def _run_prove(args) -> int:
    from .prove import ASSUMPTIONS, prove

    ok = True
    for k in (args.k or [None]):
        label = "symbolic k" if k is None else f"k = {k}"
        proof = prove(args.identity, k=k, assume=args.assume, form=args.form,
                      progress=_Progress(label))
        ok &= proof.holds
        verdict = "PROVED" if proof.holds else "DOES NOT HOLD"
        print(f"{args.identity}, {label}: {verdict}  {proof.identity}")
        print(f"  assumption: {ASSUMPTIONS[proof.assumption]}")
        if k is not None:
            print(f"  components: {proof.components} of {k} proved")
        print(f"  evidence:   {proof.evidence}")
        for lemma in proof.lemmas:
            print(f"  lemma:      {lemma}")
        if not proof.holds:
            print(f"  residual:   dL/dz_i - target = {proof.residual}")
            if proof.missing_assumption:
                print(f"  missing:    needs the assumption '{proof.missing_assumption}' "
                      f"({ASSUMPTIONS[proof.missing_assumption]}): --assume {proof.missing_assumption}")
        if proof.numeric:
            print(f"  spot check: {proof.numeric}")
        if args.numeric and k is not None:
            print(f"  numeric:    {_numeric_summary(k, args.assume)}")
        print(f"  time:       {proof.seconds:.2f} s")
    return EXIT_OK if ok else EXIT_FAILED


def _numeric_summary(k: int, assume: str) -> str:
    from .numeric import numeric_check

    return numeric_check(k, assume=assume).summary()


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
