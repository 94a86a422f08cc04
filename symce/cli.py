"""The command line: argparse in, one call into the library, text out.

Only this module prints. Exit codes: 0 the claim holds, 1 it does not (or could
not be shown), 2 the input was malformed, 3 symce itself failed (a bug: one line
naming the exception, never dressed up as bad input). A traceback reaching a user
is a bug. Stopped from outside, symce exits as a shell reports a signal: 128 + the
signal's number (130 for SIGINT, 129 for SIGHUP, 143 for SIGTERM), its workers
ended; a reader that goes away (``symce check F | head -1``) ends it quietly with
141, the status of SIGPIPE.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .errors import ProofError, SymceError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_SIGNAL_BASE, EXIT_PIPE = 128, 141  # 128 + signal number; 141 = 128 + SIGPIPE
_SMALL_K_FLAG = "--allow-unproved-large-k"
_SMALL_K_HELP = ("also pass steps proved only for k <= 6, giving up a proof for every larger k "
                 "(default: only steps proved for every k the file claims pass)")
MAX_TIMEOUT = 86400.0  # seconds per step; select() cannot wait for ever, and a day is plenty


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad arguments already; make its message one line."""

    def error(self, message: str):  # noqa: D401 - argparse's own hook
        self.exit(EXIT_BAD_INPUT, f"symce: error: {message}\n")

    def parse_known_args(self, args=None, namespace=None):
        # A subcommand takes its options anywhere among its paths (symce check a.toml
        # --json b.toml); argparse's intermixed parsing does that, but only for a parser
        # without subcommands, and it calls this method itself (hence the flag).
        if self._subparsers is not None or getattr(self, "_intermixing", False):
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False


# --- prove (issue 2) --------------------------------------------------------

def _k_value(text: str) -> int:
    """argparse type for --k: an integer in the allowed range, or a one-line refusal."""
    from .model.losses import check_k

    try:
        return check_k(int(text))
    except (ValueError, SymceError):
        # check_k's message, but naming the text the user typed ('2.5', 'abc').
        from .model.losses import K_MAX, K_MIN

        raise argparse.ArgumentTypeError(
            f"k must be an integer from {K_MIN} to {K_MAX}, got {text!r}") from None


def _add_prove(sub) -> None:
    from .model.catalogue import ASSUMPTIONS, FORMS, IDENTITIES

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

    def __call__(self, what: str, done: int, total: int) -> None:
        now = self._clock()
        if now >= self._next:
            self._next = now + self._every
            print(f"symce: {self._label}: {done}/{total} {what} ({now - self._start:.1f} s)",
                  file=sys.stderr, flush=True)


def _run_prove(args) -> int:
    from .errors import UsageError
    from .export import NUMERIC_K_MAX
    from .verify.identity import ASSUMPTIONS, prove

    if args.numeric and max(args.k or [0]) > NUMERIC_K_MAX:  # refused before any proof is run
        raise UsageError(f"--numeric: the finite-difference cross-check takes k up to {NUMERIC_K_MAX}, "
                         f"got {max(args.k)}")
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
            # The cross-check is of the gradient symce computes, s_i * sum(y) - y_i under the
            # assumption, not of the --form asked for; say which when they differ.
            which = "" if proof.holds else " (of the gradient itself, not of the form asked for)"
            print(f"  numeric:    {_numeric_summary(k, args.assume)}{which}")
        elif args.numeric:
            print("  numeric:    not run: the finite-difference check needs a concrete k (--k K)")
        print(f"  proof time: {proof.seconds:.2f} s")
    return EXIT_OK if ok else EXIT_FAILED


def _numeric_summary(k: int, assume: str) -> str:
    from .export.numeric import numeric_check

    return numeric_check(k, assume=assume).summary()


# --- check (issue 3) --------------------------------------------------------

def _add_check(sub) -> None:
    p = sub.add_parser("check", help="verify the steps of derivation files",
                       description="Verify every step of derivation files; report the first wrong step.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="derivation files (TOML), notes (Markdown .md, LaTeX .tex) or folders of them")
    p.add_argument("--declarations", metavar="FILE",
                   help="YAML declarations for notes files that carry none (docs/notes-format.md)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--allow-numeric", action="store_true",
                   help="let steps with numeric evidence only pass (default: only proved steps pass)")
    _add_small_k(p)
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="time limit per step; a step that runs out is unverified (default: 10)")
    p.add_argument("--memory", type=float, default=None, metavar="MB",
                   help="memory a step's worker may add to symce's own; a step that needs more is "
                        "unverified (default: 2048)")
    p.set_defaults(run=_run_check)


def _add_small_k(p) -> None:
    p.add_argument(_SMALL_K_FLAG, dest="small_k", action="store_true", help=_SMALL_K_HELP)
    # --all-k is the default now; still accepted so that old scripts keep working.
    p.add_argument("--all-k", action="store_true", help=argparse.SUPPRESS)


def _run_check(args) -> int:
    import json

    from .errors import UsageError
    from .read.toml import derivation_paths, load_derivation
    from .verify.steps import check

    if not args.timeout > 0:
        raise UsageError(f"--timeout: expected a positive number of seconds, found {args.timeout}")
    if not args.timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout: expected at most {MAX_TIMEOUT:g} seconds, found {args.timeout:g}")
    memory = _memory_mb(args.memory)
    paths = derivation_paths(args.paths)
    load = load_derivation
    if args.declarations is not None or not all(p.lower().endswith(".toml") for p in paths):
        from .read.notes import load_any  # the notes readers (LaTeX tokenizer, rows): only for notes

        def load(path):
            return load_any(path, args.declarations)
    derivations = [load(p) for p in paths]  # all parsed before any is checked
    reports = [check(d, timeout=args.timeout, memory_mb=memory) for d in derivations]
    rule = {"allow_numeric": args.allow_numeric, "all_k": not args.small_k}
    passed = all(r.passed(**rule) for r in reports)
    if args.json:
        files = [{**r.as_dict(**rule), "notes": list(r.derivation.notes)} for r in reports]
        for data, report in zip(files, reports):
            for step, r in zip(data["steps"], report.steps):
                step["line"] = _step_line(report, r, rule)
        doc = {"passed": passed, **rule, "files": files}
        print(json.dumps(doc, indent=2))
        return EXIT_OK if passed else EXIT_FAILED
    for report in reports:
        print(_shown(f"{report.derivation.path}: {report.derivation.title}"))
        for note in report.derivation.notes:  # what a notes reader inferred (cases from prose, entries)
            print(_shown(f"  note {note}"))
        for r in report.steps:
            line = _step_line(report, r, rule)
            reason = " ".join(r.reason.split())
            print(_shown(f"  {'ok  ' if r.passes(**rule) else 'FAIL'} {r.chain} step {r.index}: {r.evidence_text}"
                         f" ({r.seconds:.2f} s{f'; line {line}' if line else ''})" + (f" -- {reason}" if reason else "")))
    for report in reports:
        bad = report.first_failure(**rule)
        if bad is None:
            continue
        line = _step_line(report, bad, rule)
        at = f"{report.derivation.path}, chain {bad.chain!r}, step {bad.index}" + (f" (line {line})" if line else "")
        print(_shown(f"first failing step: {at}: {bad.evidence_text}" + (f" ({bad.detail})" if bad.detail else "")))
        if bad.counterexample is not None:
            cx = bad.counterexample
            print("  counterexample: " + ", ".join(f"{k} = {v}" for k, v in cx.values.items()))
            print(f"  previous expression = {cx.lhs}")
            print(f"  this step's expression = {cx.rhs}")
            if cx.difference:
                print(f"  difference (certified by interval arithmetic) = {cx.difference}")
        break
    n = sum(len(r.steps) for r in reports)
    good = sum(s.passes(**rule) for r in reports for s in r.steps)
    small = sum(s.passes(**rule) and s.evidence.name == "PROVED_SMALL_K" for r in reports for s in r.steps)
    print(f"{good} of {n} steps hold in {len(reports)} file{'s' if len(reports) != 1 else ''}"
          + ("" if passed else f"; {n - good} do not")
          + (f" ({small} of them only for k <= 6, passed by {_SMALL_K_FLAG})" if small else ""))
    return EXIT_OK if passed else EXIT_FAILED


def _memory_mb(value: float | None) -> float:
    from .errors import UsageError
    from .verify.timelimit import DEFAULT_MEMORY_MB

    if value is None:
        return DEFAULT_MEMORY_MB
    if not 64 <= value <= 1 << 20:  # below 64 MB SymPy cannot even start a step
        raise UsageError(f"--memory: expected 64 to {1 << 20} megabytes, found {value:g}")
    return value


def _step_line(report, result, rule: dict) -> int | None:
    """The line to blame for a step: its own, or, when every entry of a vector row written with a
    factor in front fails there, the factor's line (the one thing the entries share)."""
    line = report.line_of(result)
    chain = next((c for c in report.derivation.chains if c.name == result.chain), None)
    step = chain.steps[result.index - 1] if chain is not None and result.index <= len(chain.steps) else None
    if step is None or step.factor_line is None or result.passes(**rule):
        return line
    row = {(c.name, n) for c in report.derivation.chains for n, s in enumerate(c.steps, start=1)
           if s.factor_line == step.factor_line and s.source == step.source}
    if len(row) > 1 and all(not r.passes(**rule) for r in report.steps if (r.chain, r.index) in row):
        return step.factor_line
    return line


# --- latex (issue 4) --------------------------------------------------------

def _add_latex(sub) -> None:
    from .typeset import FORMATS

    p = sub.add_parser("latex", help="typeset a verified derivation",
                       description="Check a derivation file, then typeset its steps as lecture notes.")
    p.add_argument("path", help="a derivation file (TOML) or notes (Markdown .md, LaTeX .tex)")
    p.add_argument("--declarations", metavar="FILE", help="YAML declarations for a notes file that carries none")
    p.add_argument("--format", choices=FORMATS, default="tex",
                   help="tex: LaTeX fragments (default); md: Markdown for Jekyll/kramdown with MathJax")
    p.add_argument("--standalone", action="store_true",
                   help="a complete LaTeX document (amsmath and amssymb only)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.add_argument("--allow-unverified", action="store_true",
                   help="typeset steps that did not pass, marked (unverified)")
    _add_small_k(p)
    p.set_defaults(run=_run_latex)


def _run_latex(args) -> int:
    from .typeset.document import check_options, render
    from .read.notes import load_any
    from .output import output_target, write_output
    from .verify.steps import check

    check_options(args.format, args.standalone)  # refuse bad options before the slow check
    reads = [args.path] + ([args.declarations] if args.declarations else [])
    target = None if args.output is None else output_target(args.output, reads=reads)
    report = check(load_any(args.path, args.declarations))  # checked once; the renderer reads this report
    # A step that did not pass raises UnverifiedStepError, a ProofError: main() exits 1.
    text = render(report, format=args.format, standalone=args.standalone,
                  allow_unverified=args.allow_unverified, all_k=not args.small_k)
    if target is None:
        sys.stdout.write(text)
    else:
        write_output(args.output, target, text)
    return EXIT_OK


# --- export (issue 5) -------------------------------------------------------

def _add_export(sub) -> None:
    from .export import BACKENDS
    from .model.catalogue import EXPORTS

    p = sub.add_parser("export", help="write a numeric module for a proved loss and its gradient",
                       description="Write a standalone module with loss, grad and loss_and_grad, after "
                                   "checking the derivations its formulas come from. NAME is one of "
                                   f"{', '.join(EXPORTS)}, or a derivation file with an [export] table.")
    p.add_argument("name", metavar="NAME", help=f"{', '.join(EXPORTS)}, or a derivation file (TOML)")
    # argparse lists the known backends when a choice is unknown, and exits 2.
    p.add_argument("--backend", choices=BACKENDS, default="numpy", help="array library (default: numpy)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(run=_run_export)


def _run_export(args) -> int:
    import os

    from .errors import UsageError
    from .model.catalogue import EXPORTS
    from .output import output_target, write_output

    target = None if args.output is None else output_target(args.output)
    if args.name in EXPORTS:
        from .export.losses import named_source

        source = named_source(args.name, args.backend)
    elif args.name.endswith(".toml") or os.path.sep in args.name or os.path.exists(args.name):
        from .export.user import user_source
        from .read.toml import load_derivation

        source = user_source(load_derivation(args.name), args.backend)
    else:
        raise UsageError(f"unknown loss {args.name!r}; known: {', '.join(EXPORTS)} "
                         "(or a derivation file with an [export] table)")
    if target is None:
        sys.stdout.write(source)
        return EXIT_OK
    write_output(args.output, target, source)
    print(f"symce: wrote {args.output} ({args.name}, {args.backend})", file=sys.stderr)
    return EXIT_OK


# --- -o FILE (latex, export) -------------------------------------------------

# --- entry point ------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symce", description="Prove, check, typeset and export gradient identities.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_prove, _add_check, _add_latex, _add_export):
        add(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM or SIGHUP reached symce: unwind (workers are killed on the way) and exit 128 + n."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):  # noqa: ARG001 - the signal module's handler signature
    raise Terminated(signum)


def _on_signals() -> dict:
    """Install the SIGTERM/SIGHUP handlers (main thread only); returns the ones replaced."""
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            previous[sig] = signal.signal(sig, _terminate)
        except ValueError:  # not the main thread: the default action stays
            pass
    return previous


def _shown(text: str) -> str:
    r"""``text`` on one line and inert on a terminal: a newline, an escape sequence or a
    bidirectional override (in a file name, say) is shown as its Python escape.

    >>> _shown("bad\nname\x1b[31m.toml")
    'bad\\nname\\x1b[31m.toml'
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _say(message: str) -> None:
    """One line on stderr; a stderr that is gone must not turn a verdict into a traceback."""
    try:
        print(_shown(message), file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass


def _stdio() -> None:
    """Descriptors 0-2 closed by the caller (``symce check F >&-``): hold them with /dev/null.

    Otherwise the next file opened takes the number 1, and a forked worker's pipe or
    the file being written could receive what was meant for stdout. Python has then
    set ``sys.stdout`` to None: output goes nowhere, as with ``>/dev/null``.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


def _pipe_closed() -> int:
    """The reader of stdout went away: stop quietly, as a program killed by SIGPIPE would."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())  # the flush at exit must not fail again
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
    return EXIT_PIPE


def main(argv: list[str] | None = None) -> int:
    """Run one symce command; returns the exit code (the console script exits with it)."""
    _stdio()
    try:
        return _main(argv)
    except BrokenPipeError:
        return _pipe_closed()


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        sys.stdout.flush()  # --help into a closed pipe is a broken pipe, not a traceback
        raise
    previous = _on_signals()
    try:
        code = args.run(args)
        sys.stdout.flush()
        return code
    except ProofError as exc:  # a claim that does not hold is not bad input
        _say(f"symce: {exc}")
        return EXIT_FAILED
    except SymceError as exc:
        _say(f"symce: error: {exc}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _say("symce: interrupted")
        return EXIT_SIGNAL_BASE + signal.SIGINT
    except Terminated as exc:
        _say(f"symce: terminated by {signal.Signals(exc.signum).name}")
        return EXIT_SIGNAL_BASE + exc.signum
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the last resort: symce's bug, said to be one
        _say(f"symce: internal error (a bug in symce, not in the input; please report it): "
             f"{type(exc).__name__}: {exc}")
        return EXIT_INTERNAL
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
