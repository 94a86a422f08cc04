"""Property-based attacks (hypothesis): generated expressions, files and command lines.

The promise under test is the same for every input: it ends refused (a ``SymceError``,
exit 2 on one line), judged (exit 0 or 1) or read, within a bound, with no other
exception, no traceback, no internal error, no file written but the output and no
process left behind. Each example runs in a forked worker killed at a deadline and with
its memory capped (``hostile.bounded``), so a regression is a failure, not a hung run.
The runs are derandomized (fixed examples, the same in CI) and kept small enough for CI.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import sympy
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hostile import ROOT, bounded, descendants
from symce.errors import SymceError
from symce.read.expr import read_expression
from symce.read.toml import loads_derivation

def fuzz(examples: int) -> settings:
    """Fixed examples (the same in CI), no deadline (each example is bounded by its worker)."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))

I, J = sympy.symbols("i j", integer=True, positive=True)
K = sympy.Symbol("k", integer=True, positive=True)
NAMES = {"i": I, "j": J, "k": K, "z": sympy.IndexedBase("z", real=True),
         "y": sympy.IndexedBase("y", real=True), "m": sympy.Symbol("m", real=True)}

ATOMS = st.sampled_from([
    "z[i]", "z[j]", "y[i]", "y[j]", "i", "j", "k", "m", "0", "1", "2", "3", "64", "10**29", "0.5", "1e300",
    "1e-300", "-1", "2**64", "z[k]", "z[1]", "z[0]", "z[i+1]", "z", "q", "exp", "__import__", "().__class__",
    "'s'", "None", "True", "1j", "z[i, j]", "z[1/2]", "9**9**9",
])


def _grow(inner):
    pair = st.tuples(inner, inner)
    return st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**", "%", "//", "@", "==", "<"]), inner)
        .map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(st.sampled_from(["exp", "log", "sqrt", "-", "+", "~", "abs", "Sum", "Derivative"]), inner)
        .map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, st.sampled_from(["i", "j", "k", "z[i]"])).map(lambda t: f"Sum({t[0]}, ({t[1]}, 1, k))"),
        inner.map(lambda e: f"Derivative({e}, z[i])"),
        pair.map(lambda t: f"KroneckerDelta({t[0]}, {t[1]})"),
        pair.map(lambda t: f"Eq({t[0]}, {t[1]})"),
        inner.map(lambda e: f"z[{e}]"),
        inner.map(lambda e: f"({e})**64"),
        inner.map(lambda e: f"({e}).real"),
    )


SAFE = st.sampled_from(["z[i]", "z[j]", "y[i]", "m", "i", "k", "1", "2", "3", "0.5", "z[c]", "y[c]"])


def _grow_safe(inner):
    """Forms the reader accepts, so that generated files get as far as the checker."""
    return st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda e: f"({e}) / (1 + exp({e}))"),
        inner.map(lambda e: f"({e})**2"),
        st.sampled_from(["exp", "log"]).map(lambda f: f + "(exp(z[i]))"),
        inner.map(lambda e: f"exp({e})"),
        inner.map(lambda e: f"Sum({e}, (j, 1, k))"),
        inner.map(lambda e: f"Derivative({e}, z[i])"),
        inner.map(lambda e: f"KroneckerDelta(i, c) * ({e})"),
    )


VALID = st.recursive(SAFE, _grow_safe, max_leaves=8)
EXPRESSIONS = st.one_of(
    VALID,
    st.recursive(ATOMS, _grow, max_leaves=24),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.text(alphabet="()[]*+-/.,_ 0123456789eijkzSumexplogDrvt=!<>'\"\\", max_size=60),
)


def _read(text: str) -> str:
    try:
        read_expression(text, NAMES, where="f.toml, step 1")
        return "read"
    except SymceError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("f.toml, step 1: "), message
        return "refused"


@fuzz(150)
@given(EXPRESSIONS)
def test_any_expression_is_read_or_refused(text):
    outcome = bounded(lambda: _read(text), seconds=30)
    event(outcome)
    assert outcome in ("read", "refused")
    assert descendants(os.getpid()) == []


REFERENCE = (ROOT / "derivations" / "softmax_cross_entropy.toml").read_text()
TEMPLATE = '''title = {title}
[symbols]
k = {k}
indices = ["i", "j", "c"]
vectors = {{ z = "real", y = "real" }}
scalars = {{ m = "real" }}
[definitions]
"s[i]" = {definition}
[cases]
i_ne_c = {case}
[[chains]]
name = "x"
{vector}start = {start}
steps = [{{ expr = {step}, reason = {reason} }}]
'''


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


STRUCTURED = st.builds(
    lambda title, k, definition, case, vector, start, step, reason: TEMPLATE.format(
        title=_toml(title), k=k, definition=_toml(definition), case=_toml(case), vector=vector,
        start=_toml(start), step=_toml(step), reason=_toml(reason)),
    title=st.text(max_size=20), k=st.sampled_from(['"symbolic"', "3", "50", "0", "-1", '"x"', "1e9"]),
    definition=EXPRESSIONS, case=st.one_of(EXPRESSIONS, st.just("Ne(i, c)")),
    vector=st.sampled_from(["", 'vector = "i"\n', 'vector = "q"\n', 'case = "i_ne_c"\n']),
    start=EXPRESSIONS, step=EXPRESSIONS,
    reason=st.one_of(st.text(max_size=30), EXPRESSIONS.map(lambda e: f"because `{e}` holds")),
)


@st.composite
def _mutated(draw) -> str:
    """The reference derivation with a few slices deleted, replaced or repeated."""
    text = REFERENCE
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 40)))
        piece = draw(st.one_of(st.text(alphabet='[]{}"=,.\n#\\ ()*', max_size=8), st.just(text[start:end] * 3),
                               EXPRESSIONS))
        text = text[:start] + piece + text[end:]
    return text


FILES = st.one_of(STRUCTURED, _mutated(), st.text(max_size=200))


def _load(text: str) -> str:
    try:
        loads_derivation(text, path="f.toml")
        return "loaded"
    except SymceError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("f.toml"), message
        return "refused"


@fuzz(120)
@given(FILES)
def test_any_file_is_loaded_or_refused(text):
    outcome = bounded(lambda: _load(text), seconds=30)
    event(outcome)
    assert outcome in ("loaded", "refused")
    assert descendants(os.getpid()) == []


def _judge(text: str) -> str:
    from symce.verify.steps import check

    try:
        d = loads_derivation(text, path="f.toml")
    except SymceError:
        return "refused"
    report = check(d, timeout=5, memory_mb=512)
    from symce.typeset.document import render

    for fmt, standalone in (("tex", True), ("md", False)):  # every accepted file typesets
        text = render(report, format=fmt, standalone=standalone, allow_unverified=True)
        assert text.strip() and (fmt == "tex" or "<script" not in text)
    return "passed" if report.passed() else "judged"


JUDGED = st.builds(
    lambda k, start, step, vector: TEMPLATE.format(
        title='"t"', k=k, definition='"exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"', case='"Ne(i, c)"',
        vector=vector, start=_toml(start), step=_toml(step), reason='"r"'),
    k=st.sampled_from(['"symbolic"', "3"]), start=VALID, step=st.one_of(VALID, st.just("z[i]")),
    vector=st.sampled_from(["", 'case = "i_ne_c"\n', 'vector = "i"\n']),
)


@fuzz(12)
@given(JUDGED)
def test_any_loaded_file_is_judged_within_the_limits(text):
    outcome = bounded(lambda: _judge(text), seconds=120)
    event(outcome)
    assert outcome in ("refused", "judged", "passed")
    assert descendants(os.getpid()) == []


# --- the command line ------------------------------------------------------------------

WORDS = st.sampled_from([
    "check", "latex", "export", "prove", "softmax-ce", "good.toml", "deep.toml", "missing.toml", ".", "",
    "--json", "--timeout", "0", "-1", "nan", "1e400", "2", "--memory", "64", "10", "--allow-numeric", "--all-k",
    "--format", "md", "tex", "--standalone", "--backend", "numpy",
    "torch", "--assume", "none", "simplex", "--k", "3", "--symbolic", "--form", "s-y", "--numeric", "-h",
    "--", "-", "\x00", "\n", "é",
])


def _cli(argv: list[str], folder: str) -> tuple:
    from symce.cli import main

    os.chdir(folder)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help, or a usage error
            code = exc.code
    return code, err.getvalue()


OUTPUTS = st.sampled_from([None, "out.tex", "/dev/null", "good.toml", "deep.toml", ".", "", "no/such/dir/x",
                           "a\0b"])
COMMANDS = st.sampled_from([["check", "good.toml"], ["latex", "good.toml"], ["export", "softmax-ce"],
                            ["prove", "softmax-ce", "--k", "3"], ["check", "deep.toml", "good.toml"]])
ARGV = st.one_of(st.lists(WORDS, max_size=8),
                 st.tuples(COMMANDS, st.lists(WORDS, max_size=4)).map(lambda t: t[0] + t[1]))


@fuzz(60)
@given(ARGV, OUTPUTS, st.integers(0, 8))
def test_any_command_line_ends_with_a_documented_code(tmp_path_factory, words, output, at):
    argv = list(words)
    if output is not None:
        argv[at:at] = ["-o", output]
    folder = tmp_path_factory.mktemp("cli")
    (folder / "good.toml").write_text((ROOT / "derivations" / "softmax_cross_entropy_k3.toml").read_text())
    (folder / "deep.toml").write_text("title = " + "[" * 3000 + "]" * 3000)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, err = bounded(lambda: _cli(argv, str(folder)), seconds=120)
    event(f"exit {code}")
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.count("\n") <= 1 or err.startswith("usage:") or "\nusage:" in err, err
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    changed = {n for n in set(before) | set(after) if before.get(n) != after.get(n)}
    assert changed <= {output}, (argv, changed)  # nothing written but the output, no input damaged
    assert descendants(os.getpid()) == []


def test_the_fuzzing_reaches_every_outcome():
    """The strategies are not all refused: some inputs are read, loaded and judged (a fuzz
    that only ever hits the first check would prove nothing)."""
    assert _read("exp(z[i]) / Sum(exp(z[j]), (j, 1, k))") == "read"
    assert _load(REFERENCE) == "loaded"
    ok = TEMPLATE.format(title='"t"', k='"symbolic"', definition='"exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"',
                         case='"Ne(i, c)"', vector="", start='"Derivative(exp(z[i]), z[i])"',
                         step='"exp(z[i])"', reason='"r"')
    assert bounded(lambda: _judge(ok), seconds=120) == "passed"
    assert Path(ROOT / "derivations").is_dir()


# --- the size bound is a bound ---------------------------------------------------------

NUMBERS = st.sampled_from(["i", "k", "2", "3", "7", "10**29", "1/2", "2/3", "(k - 1)", "(i + 1)"])


def _grow_numbers(inner):
    return st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        st.tuples(inner, st.integers(-8, 8)).map(lambda t: f"({t[0]})**{t[1]}"),
        st.tuples(st.sampled_from(["2", "3"]), inner).map(lambda t: f"{t[0]}**({t[1]})"),
    )


def _measured(text: str):
    """Bits of the number ``text`` becomes at i = k = 50, beside the bound read off its tree."""
    from symce.read.bounds import Reach

    try:
        expr = read_expression(text, NAMES, where="e")
    except SymceError:
        return None
    size = Reach().of(expr)
    value = expr.xreplace({I: sympy.Integer(50), K: sympy.Integer(50)})
    if not value.is_Rational:  # a division by zero at this point, or a root left unevaluated
        return None
    den = value.q.bit_length() if value.q > 1 else 0  # a denominator of 1 takes no bits
    return (abs(value.p).bit_length(), den, size.num, size.den)


@fuzz(100)
@given(st.recursive(NUMBERS, _grow_numbers, max_leaves=10))
def test_the_size_bound_is_never_below_the_size_reached(text):
    measured = bounded(lambda: _measured(text), seconds=30)
    event("refused or not a number" if measured is None else "measured")
    if measured is not None:
        num, den, num_bound, den_bound = measured
        # The cap is on the larger of the two (Size.bits); that is the bound that must hold.
        assert max(num, den) <= max(num_bound, den_bound), (text, measured)
