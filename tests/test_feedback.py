"""Feedback on a failing step: the relation between its sides, and the values that show it."""

from pathlib import Path

import pytest
import sympy

from symce.read.toml import load_derivation, loads_derivation
from symce.verify.feedback import explain
from symce.verify.steps import Evidence, check

WRONG = Path(__file__).parent / "fixtures" / "wrong"

# fixture -> (relation kind, text the words must contain, defined quantities shown)
EXPECTED = {
    "forgot_minus_one": ("term", "the term KroneckerDelta(c, i) too many", ["s[i]", "s[c]"]),
    "index_off_by_one": ("term", "missing its term Derivative(L, s[k])*Derivative(s[k], z[i])",
                         ["L", "Sum(exp(z[j]), (j, 1, k))"]),
    "onehot_without_assumption": ("term", "missing the term log(s[c]) - Sum(log(s[j])*y[j], (j, 1, k))",
                                  ["s[c]"]),
    "outer_derivative_sign": ("negation", "the negative of the previous expression", ["s[c]"]),
    "s_c_times_one_minus_s_i": ("term", "(-s[c] + s[i])*s[c]", ["s[c]", "s[i]"]),
    "sign_error_i_ne_c": ("negation", "a sign error", ["Sum(exp(z[j]), (j, 1, k))"]),
    "square_dropped": ("factor", "this step is (Sum(exp(z[j]), (j, 1, k))) times the previous expression",
                       ["Sum(exp(z[j]), (j, 1, k))"]),
}


def test_every_wrong_fixture_has_an_expected_relation():
    assert sorted(p.stem for p in WRONG.glob("*.toml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_wrong_fixture_reports_relation_and_quantities(name):
    report = check(load_derivation(WRONG / f"{name}.toml"))
    bad = report.first_failure()
    assert bad.evidence is Evidence.FAILS
    kind, words, quantities = EXPECTED[name]
    fb = bad.feedback
    assert fb is not None and fb.kind == kind
    assert words in fb.words
    shown = dict(fb.values)
    for q in quantities:
        assert q in shown, (q, shown)
    assert float(fb.previous) != float(fb.this)  # the chosen point shows the error
    assert fb.as_dict()["relation"] == kind
    entry = report.as_dict()["steps"][report.steps.index(bad)]
    assert (entry["chain"], entry["step"]) == (bad.chain, bad.index)
    assert entry["feedback"]["relation"] == kind


TEMPLATE = '''
title = "t"
[symbols]
k = "symbolic"
indices = ["i", "j", "c"]
vectors = {{ z = "real" }}
scalars = {{ T = "positive" }}
[definitions]
"s[i]" = "exp(z[i] / T) / Sum(exp(z[j] / T), (j, 1, k))"
[[chains]]
name = "x"
start = "{start}"
steps = [{{ expr = "{expr}", reason = "r" }}]
'''


def _feedback(start, expr, cx=None):
    d = loads_derivation(TEMPLATE.format(start=start, expr=expr))
    return explain(d, d.chains[0].start, d.chains[0].steps[0].expr, None, cx or {"k": "3", "i": "2", "c": "1"})


def test_a_forgotten_temperature_is_a_factor_and_shows_at_a_temperature_far_from_one():
    fb = _feedback("Derivative(s[i], z[i])", "s[i] * (1 - s[i])")
    assert fb.kind == "factor" and fb.term == 1 / sympy.Symbol("T", positive=True)
    shown = dict(fb.values)
    assert abs(float(shown["T"]) - 1) > 0.5  # T = 0.991 hid the error in the fourth digit
    assert abs(float(fb.previous) / float(fb.this) - 1) > 0.5


def test_an_index_swap_is_named():
    fb = _feedback("s[i] * (1 - s[c])", "s[c] * (1 - s[i])")
    assert fb.kind == "index_swap"
    assert fb.words.startswith("indices c and i are swapped")


def test_a_missing_constant_is_named():
    fb = _feedback("s[i] + 1", "s[i]")
    assert fb.kind == "term" and "missing the constant 1" in fb.words


def test_no_relation_is_guessed_when_none_is_simple():
    fb = _feedback("s[i]", "exp(s[c]) * log(2 + s[i]**3)")
    assert fb.kind == "" and fb.words == ""
    assert fb.values  # the values are still shown


def test_feedback_is_typeset_under_an_unverified_step():
    from symce.typeset.document import render

    report = check(load_derivation(WRONG / "forgot_minus_one.toml"))
    tex = render(report, allow_unverified=True)
    md = render(report, format="md", allow_unverified=True)
    assert "its evidence: fails. It has the term $\\delta_{ic}$ too many." in tex
    assert "its evidence: fails. It has the term $$\\delta_{ic}$$ too many." in md
