"""Math in reasons and chain titles: backticked pieces, read safely and typeset as math."""

from __future__ import annotations

import json

import pytest
import sympy

from symce.errors import DerivationFormatError, UnsafeExpressionError
from symce.typeset.document import render, render_document, render_latex, render_markdown
from symce.read.toml import loads_derivation
from symce.read.expr import MAX_PROSE_PIECES, read_expression, read_prose
from symce.verify.steps import Evidence, Report, StepResult

TEMPLATE = '''
title = "t"
[symbols]
k = "symbolic"
indices = ["i", "j", "c"]
vectors = {{ z = "real", y = "real" }}
[definitions]
"s[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"
L = "-Sum(y[j] * log(s[j]), (j, 1, k))"
[[chains]]
name = "gradient"
title = {title}
start = "L"
steps = [
  {{ expr = "-Sum(y[j] * log(s[j]), (j, 1, k))", reason = "the loss as defined" }},
  {{ expr = "-Sum(y[j] * log(s[j]), (j, 1, k))", reason = {reason} }},
]
'''


def load(reason: str, title: str = "Gradient"):
    return loads_derivation(TEMPLATE.format(reason=_toml(reason), title=_toml(title)), path="f.toml")


def _toml(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a TOML basic string


def proved(d, **evidence) -> Report:
    return Report(d, tuple(
        StepResult(ch.name, n, st.reason, evidence.get(f"{ch.name}_{n}", Evidence.PROVED_ALL_K), 0.0)
        for ch in d.chains for n, st in enumerate(ch.steps, start=1)))


def reason_cell(d, fmt: str = "tex") -> str:
    """What follows ``&&`` on the second step's row."""
    out = render(proved(d), format=fmt)
    row = next(line for line in out.splitlines() if line.lstrip().startswith("&= ") and "&&" in line
               and "the loss as defined" not in line)
    return row.split(" && ", 1)[1].removesuffix(r" \\")


# --- the data model ----------------------------------------------------------------

def test_pieces_alternate_text_and_math_and_the_plain_reason_is_kept():
    step = load("every `y[j]` vanishes except `y[c] = 1`").chains[0].steps[1]
    y, j, c = step.reason_parts[1].base, step.reason_parts[1].indices[0], step.reason_parts[3].lhs.indices[0]
    assert step.reason == "every `y[j]` vanishes except `y[c] = 1`"
    assert step.reason_parts == ("every ", y[j], " vanishes except ", sympy.Eq(y[c], 1, evaluate=False), "")
    assert load("no math here").chains[0].steps[1].reason_parts == ("no math here",)


def test_relations_bare_vectors_and_eq_ne():
    i, c = sympy.symbols("i c", integer=True)
    y = sympy.IndexedBase("y")
    names = {"i": i, "c": c, "y": y}
    assert read_prose("`i != c`", names)[1] == sympy.Ne(i, c)
    assert read_prose("`Eq(i, c)`", names)[1] == sympy.Eq(i, c)
    assert read_prose("`y`", names)[1] == sympy.Symbol("y")  # the whole vector, in prose only
    assert read_prose("`KroneckerDelta(i, c) = 1`", names)[1] == sympy.Eq(
        sympy.KroneckerDelta(i, c), 1, evaluate=False)
    with pytest.raises(DerivationFormatError, match=r"vector 'y' needs an index"):
        read_expression("y", names)  # a step's expression still needs the index


# --- rendering ---------------------------------------------------------------------

def test_a_backticked_reason_renders_as_text_and_math():
    assert reason_cell(load("every `y[j]` vanishes except `y[c] = 1`")) == (
        r"\text{every } \mathbf{y}_j \text{ vanishes except } \mathbf{y}_c = 1")


def test_punctuation_stays_against_its_math_and_a_leading_minus_stays_unary():
    assert reason_cell(load("so `-log(s[c])`, by `c`-th term")) == (
        r"\text{so } {- \log \mathbf{s}_c} \text{, by } c \text{-th term}")


def test_a_single_line_reason_with_a_fraction_is_set_in_text_style():
    assert reason_cell(load("insert `Derivative(L, s[c]) = -1/s[c]`")) == (
        r"\textstyle \text{insert } \frac{\partial L}{\partial \mathbf{s}_c} = - \frac{1}{\mathbf{s}_c}")


def test_mixed_reasons_wrap_by_visible_width():
    cell = reason_cell(load("the numerator does not contain `z[i]`, so only the denominator with "
                            "derivative `exp(z[i])` contributes"))
    assert cell == (
        r"\begin{array}[t]{@{}l@{}} \text{the numerator does not contain } \mathbf{z}_i \text{,} \\ "
        r"\text{so only the denominator with} \\ \text{derivative } e^{\mathbf{z}_i} \text{ contributes} \end{array}")


def test_markdown_reason_keeps_underscores_literal_and_never_opens_liquid():
    d = load("`y[c] = 1` {{ and }} {% raw %} y_c")
    assert reason_cell(d, "md") == (r"\mathbf{y}_c = 1 \text{ \{\{ and \}\} \{}\%\text{ raw }\%\text{\} y_c}")
    out = render_markdown(proved(d))
    assert "{{" not in out and "{%" not in out


def test_titles_with_math_in_tex_md_and_jupyter():
    d = load("r", title="Derivative of `s[c]` for `i != c`")
    assert r"\subsection*{Derivative of $\mathbf{s}_c$ for $i \neq c$}" in render_latex(proved(d))
    assert "### Derivative of $$\\mathbf{s}_c$$ for $$i \\neq c$$\n" in render_markdown(proved(d))
    assert r"&\textbf{Derivative of } \mathbf{s}_c \textbf{ for } i \neq c \\" in d._repr_latex_()


def test_unverified_note_sets_the_reason_with_inline_math():
    d = load("with `y[c] = 1`")
    report = proved(d, gradient_2=Evidence.UNVERIFIED)
    tex = render_latex(report, allow_unverified=True)
    md = render_markdown(report, allow_unverified=True)
    assert r"Step 2 (with $\mathbf{y}_c = 1$) is not verified; its evidence: unverified." in tex
    assert r"Step 2 (with $$\mathbf{y}_c = 1$$) is not verified; its evidence: unverified." in md


def test_jupyter_step_repr():
    step = load("with `y[c] = 1`").chains[0].steps[1]
    assert step._repr_latex_().endswith(r"\qquad \text{with } y_c = 1$")


def test_document_with_math_in_reasons_has_only_amsmath():
    out = render_document(proved(load("with `y[c] = 1`", title="About `s[c]`")))
    assert out.count(r"\usepackage") == 2


# --- refused pieces ----------------------------------------------------------------

def test_a_piece_that_does_not_parse_names_file_chain_step_and_piece():
    with pytest.raises(DerivationFormatError,
                       match=r"^f\.toml, chain 'gradient', step 2\.reason: cannot read `s\[`: "
                             r"not a valid expression \('\[' was never closed\): 's\['$"):
        load("the term `s[` is cut")


@pytest.mark.parametrize("piece, message", [
    ("__import__('os')", r"cannot read `__import__\('os'\)`: name '__import__' is not allowed"),
    ("9**9**9**9", r"cannot read `9\*\*9\*\*9\*\*9`: exponent 387420489 is too large"),
    ("().__class__", r"cannot read `\(\).__class__`: attribute access \('.__class__'\) is not allowed"),
    ("eval(1)", r"cannot read `eval\(1\)`: calling 'eval' \(allowed: exp, log, sqrt, Sum, Derivative, KroneckerDelta, Abs, Max, Min, Eq, Ne;"),
    ("y[c] = __import__('os')", r"cannot read `y\[c\] = __import__\('os'\)`: name '__import__' is not allowed"),
])
def test_hostile_pieces_are_refused_like_any_expression(piece, message):
    with pytest.raises(UnsafeExpressionError, match=r"^f\.toml, chain 'gradient', step 2\.reason: " + message):
        load(f"see `{piece}`")


def test_a_long_piece_is_capped_and_shortened_in_the_message():
    piece = "+".join(["y[c]"] * 900)
    with pytest.raises(UnsafeExpressionError, match=r"cannot read `y\[c\]\+y\[c\]\+.{27}\.\.\.`: expression is"):
        load(f"see `{piece}`")


@pytest.mark.parametrize("reason, message", [
    ("an odd ` backtick", "unmatched backtick; math goes between a pair of backticks, e.g. `y\\[c\\] = 1`"),
    ("`y[c]` and `y[j]", "unmatched backtick"),
    ("empty `` pair", "cannot read ``: nothing between the backticks"),
    ("`y[c] = 1 = y[c]`", "cannot read `y\\[c\\] = 1 = y\\[c\\]`: at most one '=' or '!=' in one piece of math"),
    ("`y[c] == 1`", "cannot read `y\\[c\\] == 1`: comparison \\(write Eq\\(a, b\\) or Ne\\(a, b\\)\\) is not allowed"),
    ("`q`", "cannot read `q`: unknown name 'q'"),
])
def test_malformed_prose(reason, message):
    with pytest.raises(DerivationFormatError, match=r"^f\.toml, chain 'gradient', step 2\.reason: " + message):
        load(reason)


def test_a_bad_title_piece_names_the_title():
    with pytest.raises(DerivationFormatError, match=r"^f\.toml, chain 'gradient'\.title: cannot read `s\[`"):
        load("fine", title="About `s[`")


def test_the_number_of_pieces_is_capped():
    with pytest.raises(UnsafeExpressionError, match=f"at most {MAX_PROSE_PIECES}"):
        load(" ".join(["`c`"] * (MAX_PROSE_PIECES + 1)))
