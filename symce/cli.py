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
import signal
import sys

from .errors import ProofError, SymceError
from .process import Terminated, hold_stdio, on_signals, pipe_closed, say, shown

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
    p.add_argument("--format", choices=("text", "json", "junit", "gradescope"), default="text",
                   help="text (default), json (as --json), junit (JUnit XML, a test per step) or "
                        "gradescope (results.json); junit and gradescope check the files in parallel")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report here (atomically) instead of stdout")
    p.add_argument("--jobs", type=int, metavar="N", help="files checked at once by the local process pool "
                   "(junit, gradescope; default: the number of CPUs)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="send the files to this Dask scheduler instead (needs the 'dask' extra)")
    p.set_defaults(run=_run_check)


def _add_small_k(p) -> None:
    p.add_argument(_SMALL_K_FLAG, dest="small_k", action="store_true", help=_SMALL_K_HELP)
    # --all-k is the default now; still accepted so that old scripts keep working.
    p.add_argument("--all-k", action="store_true", help=argparse.SUPPRESS)


def _run_check(args) -> int:
    import json

    from .errors import UsageError
    from .read.files import derivation_paths
    from .read.toml import load_derivation
    from .verify.steps import check

    if not args.timeout > 0:
        raise UsageError(f"--timeout: expected a positive number of seconds, found {args.timeout}")
    if not args.timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout: expected at most {MAX_TIMEOUT:g} seconds, found {args.timeout:g}")
    memory = _memory_mb(args.memory)
    if args.format in ("junit", "gradescope") or args.scheduler is not None:
        return _run_grade(args)
    paths = derivation_paths(args.paths)
    load = load_derivation
    if args.declarations is not None or not all(p.lower().endswith(".toml") for p in paths):
        from .read.notes import load_any  # the notes readers (LaTeX tokenizer, rows): only for notes

        def load(path):
            return load_any(path, args.declarations)
    derivations = [load(p) for p in paths]  # all parsed before any is checked
    reads = [*paths, *([args.declarations] if args.declarations else [])]
    target = None if args.output is None else _target(args.output, reads)
    reports = [check(d, timeout=args.timeout, memory_mb=memory) for d in derivations]
    rule = {"allow_numeric": args.allow_numeric, "all_k": not args.small_k}
    goals = [_goal(r, rule) for r in reports]
    passed = all(r.passed(**rule) for r in reports) and all(g is None or g.reached for g in goals)
    if args.json or args.format == "json":
        files = [{**r.as_dict(**rule), "notes": list(r.derivation.notes), "goal": None if g is None else g.as_dict()}
                 for r, g in zip(reports, goals)]
        for data, report in zip(files, reports):
            for step, r in zip(data["steps"], report.steps):
                step["line"] = _step_line(report, r, rule)
        doc = {"passed": passed, **rule, "files": files}
        _emit(json.dumps(doc, indent=2) + "\n", args.output, target)
        return EXIT_OK if passed else EXIT_FAILED
    if target is not None:
        raise UsageError("-o: the text report is printed; write a file with --format json, junit or gradescope")
    for report in reports:
        print(shown(f"{report.derivation.path}: {report.derivation.title}"))
        for note in report.derivation.notes:  # what a notes reader inferred (cases from prose, entries)
            print(shown(f"  note {note}"))
        for r in report.steps:
            line = _step_line(report, r, rule)
            reason = " ".join(r.reason.split())
            print(shown(f"  {'ok  ' if r.passes(**rule) else 'FAIL'} {r.chain} step {r.index}: {r.evidence_text}"
                         f" ({r.seconds:.2f} s{f'; line {line}' if line else ''})" + (f" -- {reason}" if reason else "")))
    for report in reports:
        bad = report.first_failure(**rule)
        if bad is None:
            continue
        line = _step_line(report, bad, rule)
        at = f"{report.derivation.path}, chain {bad.chain!r}, step {bad.index}" + (f" (line {line})" if line else "")
        print(shown(f"first failing step: {at}: {bad.evidence_text}" + (f" ({bad.detail})" if bad.detail else "")))
        if bad.counterexample is not None:
            cx = bad.counterexample
            print("  counterexample: " + ", ".join(f"{k} = {v}" for k, v in cx.values.items()))
            print(f"  previous expression = {cx.lhs}")
            print(f"  this step's expression = {cx.rhs}")
            if cx.difference:
                print(f"  difference (certified by interval arithmetic) = {cx.difference}")
        if bad.feedback is not None:
            print("\n".join("  " + line for line in bad.feedback.text().splitlines()))
        break
    for report, goal in zip(reports, goals):
        if goal is not None:
            print(f"goal of {report.derivation.path}: {goal.goal}: "
                  f"{'reached' if goal.reached else 'NOT reached'} ({goal.detail})")
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


def _goal(report, rule):
    from .verify.goal import check_goal

    return check_goal(report, **rule)


def _target(path: str, reads) -> str:
    from .output import output_target

    return output_target(path, reads=reads)


def _emit(text: str, path: str | None, target: str | None) -> None:
    from .output import write_output

    if target is None:
        sys.stdout.write(text)
    else:
        write_output(path, target, text)


def _run_grade(args) -> int:
    """junit / gradescope (or any format with --scheduler): one task per file on an executor."""
    from .errors import UsageError
    from .grade import grade, gradescope_json, junit_xml, passed
    from .read.files import derivation_paths

    if args.format not in ("junit", "gradescope"):
        raise UsageError(f"--scheduler: expected --format junit or gradescope, found {args.format!r}")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs: expected a positive number of processes, found {args.jobs}")
    reads = [*derivation_paths(args.paths), *([args.declarations] if args.declarations else [])]
    target = None if args.output is None else _target(args.output, reads)
    rule = {"timeout": args.timeout, "memory_mb": _memory_mb(args.memory), "allow_numeric": args.allow_numeric,
            "all_k": not args.small_k, "declarations": args.declarations}
    if args.scheduler is None:
        results = grade(args.paths, workers=args.jobs, **rule)
    else:
        client = _dask_client(args.scheduler)
        try:
            results = grade(args.paths, executor=client.get_executor(), **rule)
        finally:
            client.close()
    text = junit_xml(results) if args.format == "junit" else gradescope_json(results)
    _emit(text, args.output, target)
    good = sum(passed(r) for r in results)
    print(f"symce: {good} of {len(results)} file{'s' if len(results) != 1 else ''} hold"
          + (f"; report in {args.output}" if args.output else ""), file=sys.stderr)
    return EXIT_OK if good == len(results) else EXIT_FAILED


def _dask_client(address: str):
    from .errors import UsageError

    try:
        from dask.distributed import Client
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install 'symce[dask]'") from None
    try:
        return Client(address, timeout=30)
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(f"--scheduler {address}: cannot reach the Dask scheduler ({exc})") from None


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
    p.add_argument("--numbered", action="store_true", help="number every step's equation")
    p.add_argument("--paper", choices=("letter", "a4"), default="letter",
                   help="paper size of a --standalone document (default: letter)")
    p.add_argument("--front-matter", action="store_true",
                   help="md: start with Jekyll front matter (title, layout, the file's date)")
    p.add_argument("--layout", choices=("columns", "stacked"), default="columns",
                   help="md: reasons beside their steps (default), or stacked under them for narrow screens")
    p.set_defaults(run=_run_latex)


def _run_latex(args) -> int:
    from .typeset.document import check_options, render
    from .read.notes import load_any
    from .output import output_target, write_output
    from .verify.steps import check

    options = {"numbered": args.numbered, "paper": args.paper, "front_matter": args.front_matter,
               "layout": args.layout}
    check_options(args.format, args.standalone, paper=args.paper, front_matter=args.front_matter,
                  layout=args.layout)  # refuse bad options before the slow check
    reads = [args.path] + ([args.declarations] if args.declarations else [])
    target = None if args.output is None else output_target(args.output, reads=reads)
    report = check(load_any(args.path, args.declarations))  # checked once; the renderer reads this report
    # A step that did not pass raises UnverifiedStepError, a ProofError: main() exits 1.
    text = render(report, format=args.format, standalone=args.standalone,
                  allow_unverified=args.allow_unverified, all_k=not args.small_k, **options)
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


def main(argv: list[str] | None = None) -> int:
    """Run one symce command; returns the exit code (the console script exits with it)."""
    hold_stdio()
    try:
        return _main(argv)
    except BrokenPipeError:
        return pipe_closed(EXIT_PIPE)


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        sys.stdout.flush()  # --help into a closed pipe is a broken pipe, not a traceback
        raise
    previous = on_signals()
    try:
        code = args.run(args)
        sys.stdout.flush()
        return code
    except ProofError as exc:  # a claim that does not hold is not bad input
        say(f"symce: {exc}")
        return EXIT_FAILED
    except SymceError as exc:
        say(f"symce: error: {exc}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        say("symce: interrupted")
        return EXIT_SIGNAL_BASE + signal.SIGINT
    except Terminated as exc:
        say(f"symce: terminated by {signal.Signals(exc.signum).name}")
        return EXIT_SIGNAL_BASE + exc.signum
    except BrokenPipeError:
        raise
    except Exception as exc:  # noqa: BLE001 - the last resort: symce's bug, said to be one
        say(f"symce: internal error (a bug in symce, not in the input; please report it): "
             f"{type(exc).__name__}: {exc}")
        return EXIT_INTERNAL
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
