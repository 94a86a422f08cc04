"""The step checker: evidence levels, counterexamples, the first wrong step, time limits."""

import re
import time
from pathlib import Path

import pytest

import symce.verify.steps as verify
from symce.read.toml import load_derivation, loads_derivation
from symce.verify.steps import Evidence, check

WRONG = Path(__file__).parent / "fixtures" / "wrong"

# fixture -> (chain, step) of the first step that must be rejected
FIRST_FAILURE = {
    "sign_error_i_ne_c": ("ds_c_dz_i_other", 2),
    "s_c_times_one_minus_s_i": ("ds_c_dz_i_same", 4),
    "forgot_minus_one": ("gradient", 3),
    "square_dropped": ("ds_c_dz_i_same", 2),
    "onehot_without_assumption": ("loss", 2),
    "index_off_by_one": ("jacobian", 1),
    "outer_derivative_sign": ("dL_ds_c", 2),
}

SMALL = '''
title = "small"
assumptions = ["onehot(y, c)"]
[symbols]
k = {k}
indices = ["i", "j", "c"]
vectors = {{ z = "real", y = "real" }}
[definitions]
"s[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"
[[chains]]
name = "x"
start = "Derivative(s[c], z[i])"
steps = [
  {{ expr = "s[c] * (KroneckerDelta(i, c) - s[i])", reason = "quotient rule, both cases" }},
  {{ expr = "s[c] * (1 - s[i])", reason = "wrong unless i = c" }},
]
'''


def test_every_wrong_fixture_is_listed():
    assert sorted(p.stem for p in WRONG.glob("*.toml")) == sorted(FIRST_FAILURE)


@pytest.mark.parametrize("name", sorted(FIRST_FAILURE))
def test_wrong_fixture_rejected_at_its_step(name):
    report = check(load_derivation(WRONG / f"{name}.toml"))
    bad = report.first_failure()
    assert (bad.chain, bad.index) == FIRST_FAILURE[name]
    assert bad.evidence is Evidence.FAILS
    cx = bad.counterexample
    assert cx is not None and cx.lhs != cx.rhs
    assert "k" in cx.values and any(key.startswith("z[") for key in cx.values)
    # every step before it is still proved: the checker blames the right step, not a neighbour
    before = report.steps[: report.steps.index(bad)]
    assert all(r.evidence.proved for r in before)


def test_symbolic_k_proof_and_failure_with_counterexample():
    report = check(loads_derivation(SMALL.format(k='"symbolic"')))
    first, second = report.steps
    assert first.evidence is Evidence.PROVED_ALL_K
    assert second.evidence is Evidence.FAILS and not second.evidence.proved
    values = second.counterexample.values
    assert values["i"] != values["c"]  # the step only fails off the diagonal
    assert not report.passed() and report.first_failure() is second


def test_concrete_k_is_proved_for_that_k_only():
    report = check(loads_derivation(SMALL.format(k=3)))
    assert report.steps[0].evidence is Evidence.PROVED_FOR_K
    assert report.steps[0].evidence.proved
    assert report.steps[1].evidence is Evidence.FAILS
    assert report.steps[1].counterexample.values["k"] == "3"


def _undecided_for_symbolic_k(real):
    """Stand-in for SymPy giving up whenever a sum over the symbolic k is left."""
    def is_zero(d):
        return False if any(str(s.limits[0][2]) == "k" for s in d.atoms(verify.sympy.Sum)) else real(d)
    return is_zero


def test_small_k_evidence_when_symbolic_k_is_undecided(monkeypatch):
    monkeypatch.setattr(verify, "is_zero", _undecided_for_symbolic_k(verify.is_zero))
    first = check(loads_derivation(SMALL.format(k='"symbolic"'))).steps[0]
    assert first.evidence is Evidence.PROVED_SMALL_K
    assert first.evidence.proved


def test_numeric_evidence_is_not_a_proof(monkeypatch):
    monkeypatch.setattr(verify, "is_zero", lambda d: False)
    report = check(loads_derivation(SMALL.format(k='"symbolic"')))
    first, second = report.steps
    assert first.evidence is Evidence.NUMERIC and not first.evidence.proved
    assert second.evidence is Evidence.FAILS  # probes still refute the wrong step
    assert report.first_failure() is first
    assert report.first_failure(allow_numeric=True) is second


def test_time_limit_gives_unverified_never_passed(monkeypatch):
    def slow(*args, **kwargs):
        time.sleep(30)

    monkeypatch.setattr(verify, "verify_step", slow)
    start = time.perf_counter()
    report = check(loads_derivation(SMALL.format(k='"symbolic"')), timeout=0.5)
    assert time.perf_counter() - start < 10
    assert [r.evidence for r in report.steps] == [Evidence.UNVERIFIED] * 2
    assert "time limit of 0.5 s reached" in report.steps[0].detail
    assert not report.passed(allow_numeric=True)


def test_a_crash_in_the_checker_is_unverified(monkeypatch):
    def broken(*args, **kwargs):
        raise RecursionError("deep")

    monkeypatch.setattr(verify, "verify_step", broken)
    report = check(loads_derivation(SMALL.format(k='"symbolic"')))
    assert report.steps[0].evidence is Evidence.UNVERIFIED
    assert "RecursionError: deep" in report.steps[0].detail


def test_report_as_dict_carries_counterexample_and_line():
    report = check(loads_derivation(SMALL.format(k='"symbolic"')))
    doc = report.as_dict()
    assert doc["passed"] is False
    assert doc["steps"][0]["evidence"] == "proved_all_k" and doc["steps"][0]["line"] == 14
    assert set(doc["steps"][1]["counterexample"]) == {"values", "lhs", "rhs"}


def test_held_name_convention_for_derivatives():
    # d/ds_c of the cross-entropy holds s fixed: -y_c / s_c, then one-hot gives -1/s_c.
    text = SMALL.format(k='"symbolic"').replace(
        '"s[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"',
        '"s[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"\nL = "-Sum(y[j] * log(s[j]), (j, 1, k))"')
    text = text.replace('start = "Derivative(s[c], z[i])"', 'start = "Derivative(L, s[c])"')
    text = text.replace('"s[c] * (KroneckerDelta(i, c) - s[i])"', '"-1 / s[c]"')
    text = text.replace('"s[c] * (1 - s[i])"', '"-1 / s[i]"')
    first, second = check(loads_derivation(text)).steps
    assert first.evidence is Evidence.PROVED_ALL_K
    assert second.evidence is Evidence.FAILS


# --- hostile steps: evidence never stronger than what was shown ---------------------

def test_a_case_that_removes_nothing_leaves_the_numbers_alone():
    import sympy

    from symce.verify.meaning import apply_case

    i = sympy.Symbol("i", integer=True, positive=True)
    z = sympy.IndexedBase("z", real=True)
    # KroneckerDelta(i, i) is the number 1; "putting 0 for it" once turned z[i] + 1 into z[i].
    assert apply_case(z[i] + 1, sympy.Ne(i, i, evaluate=False)) == z[i] + 1


def test_absolute_values_are_probed_so_a_wrong_step_fails():
    # sqrt(z**2) is |z| for real z; the probes could not evaluate Abs, so this wrong
    # step was "unverified, no probe could be evaluated" instead of failing.
    result = check(loads_derivation(SCALAR_STEP.format(start="sqrt(z[i]**2)", step="z[i]"))).steps[0]
    assert result.evidence is Evidence.FAILS
    cx = result.counterexample
    assert float(cx.lhs) == abs(float(cx.rhs)) and float(cx.rhs) < 0


def test_a_huge_value_in_a_counterexample_is_printed_short():
    result = check(loads_derivation(SCALAR_STEP.format(start="z[i]", step="1e308 * 10"))).steps[0]
    assert result.evidence is Evidence.FAILS
    assert result.counterexample.rhs == "1.0e+309"


def test_a_step_that_keeps_sympy_busy_is_stopped_and_unverified():
    # A true identity whose expansion has tens of thousands of terms: no mock, the
    # real algebra runs into the per-step limit and the step is unverified, not passed.
    start = "(z[i] + z[j] + z[c] + 1)**40 * (z[i] - z[j] + z[c] - 1)**40"
    expr = "((z[i] + z[c])**2 - (z[j] + 1)**2)**40"
    report = check(loads_derivation(SCALAR_STEP.format(start=start, step=expr)), timeout=0.5)
    assert report.steps[0].evidence is Evidence.UNVERIFIED
    assert report.steps[0].detail == "time limit of 0.5 s reached"
    assert not report.passed(allow_numeric=True)


SIMPLEX = '''
title = "simplex"
assumptions = ["simplex(y)"]
[symbols]
k = "symbolic"
indices = ["j", "n"]
vectors = {{ z = "real", y = "real" }}
scalars = {{ m = "real" }}
[[chains]]
name = "x"
start = "{start}"
steps = [{{ expr = "{step}", reason = "r" }}]
'''


def test_a_sum_of_simplex_entries_is_exactly_one_at_every_probe():
    """Probe points put sum(y) = 1 exactly; an error of 1e-50 in it once made this true step FAIL."""
    d = loads_derivation(SIMPLEX.format(start="log(Sum(exp(z[j] - m), (j, 1, k))) * Sum(y[n], (n, 1, k))",
                                        step="log(Sum(exp(z[j] - m), (j, 1, k)))"))
    [result] = check(d).steps
    assert result.evidence is Evidence.PROVED_ALL_K


@pytest.mark.parametrize("start, step", [
    ("Sum(exp(z[j] - m), (j, 1, k))", "exp(-m) * Sum(exp(z[j]), (j, 1, k))"),
    ("Sum(y[n] * log(exp(z[n]) / Sum(exp(z[j]), (j, 1, k))), (n, 1, k))",
     "Sum(y[n] * z[n], (n, 1, k)) - log(Sum(exp(z[j]), (j, 1, k)))"),
])
def test_exponentials_and_logs_are_split_inside_sums(start, step):
    [result] = check(loads_derivation(SIMPLEX.format(start=start, step=step))).steps
    assert result.evidence is Evidence.PROVED_ALL_K


def test_splitting_logs_inside_sums_does_not_hide_a_wrong_step():
    d = loads_derivation(SIMPLEX.format(start="Sum(y[n] * log(exp(z[n]) / Sum(exp(z[j]), (j, 1, k))), (n, 1, k))",
                                        step="Sum(y[n] * z[n], (n, 1, k)) + log(Sum(exp(z[j]), (j, 1, k)))"))
    [result] = check(d).steps
    assert result.evidence is Evidence.FAILS and result.counterexample is not None


def one_step(start, step):
    [result] = check(loads_derivation(SCALAR_STEP.format(start=start, step=step))).steps
    return result


def test_a_range_that_may_run_backwards_is_not_counted_as_high_minus_low_plus_one():
    # Read as SymPy's Karr convention, Sum over (k, 4) has 5 - k terms for every k; read as
    # symce reads ranges (empty when high < low), it is 0 at k = 6. Both halves agree now.
    assert one_step("Sum(exp(z[i]), (j, k, 4))", "(5 - k) * exp(z[i])").evidence is Evidence.FAILS
    # (k - 2) terms for (3, k) is true for k >= 2 only: false at k = 1, which is probed.
    assert one_step("Sum(exp(z[i]), (j, 3, k))", "(k - 2) * exp(z[i])").evidence is Evidence.FAILS
    from_two = loads_derivation(SCALAR_STEP.format(start="Sum(exp(z[i]), (j, 3, k))", step="(k - 2) * exp(z[i])")
                                .replace('k = "symbolic"', 'k = { symbolic = true, min = 2 }'))
    assert check(from_two).steps[0].evidence is Evidence.PROVED_ALL_K
    assert one_step("Sum(exp(z[i]), (j, 1, k))", "k * exp(z[i])").evidence is Evidence.PROVED_ALL_K


def test_cancellation_at_large_logits_is_not_a_counterexample():
    """At z near 375, (e^z + 1) e^-z - 1 needs 163 digits before the 1 is seen; 110 were used once."""
    for n in range(6):  # several seeds of probe points, through the chain name
        d = loads_derivation(SCALAR_STEP.format(start="(exp(z[i]) + 1) * exp(-z[i]) - 1", step="exp(-z[i])")
                             .replace('name = "x"', f'name = "x{n}"'))
        [result] = check(d).steps
        assert result.evidence is Evidence.PROVED_ALL_K


def test_a_polynomial_in_k_that_vanishes_at_2_to_6_fails_at_k_1_and_above_6():
    result = one_step("0", "(k - 2) * (k - 3) * (k - 4) * (k - 5) * (k - 6)")
    assert result.evidence is Evidence.FAILS and result.counterexample.values["k"] in ("1", "8", "11")


def test_proved_only_for_small_k_passes_only_when_asked(monkeypatch):
    monkeypatch.setattr(verify, "is_zero", _undecided_for_symbolic_k(verify.is_zero))
    result = check(loads_derivation(SMALL.format(k='"symbolic"'))).steps[0]
    assert result.evidence is Evidence.PROVED_SMALL_K and "k = 1..6" in result.detail
    assert not result.passes() and result.passes(all_k=False)


def test_an_entry_outside_the_range_is_marked_in_the_counterexample():
    result = one_step("Sum(z[j], (j, 1, k))", "Sum(z[j + 1], (j, 1, k))")
    assert result.evidence is Evidence.FAILS
    assert any(name.endswith("(outside 1..k)") for name in result.counterexample.values)


SCALAR_STEP = '''
title = "t"
[symbols]
k = "symbolic"
indices = ["i", "j", "c"]
vectors = {{ z = "real" }}
scalars = {{ t = "real" }}
[[chains]]
name = "x"
start = "{start}"
steps = [{{ expr = "{step}", reason = "r" }}]
'''


@pytest.mark.parametrize("start, step", [
    # The summation variable once kept the declared index's positivity: KroneckerDelta(j, 0)
    # was folded to 0 as it was read, and this false step was "proved for all k".
    ("Sum(exp(z[j + 1]) * KroneckerDelta(j, 0), (j, 0, k - 1))", "0"),
    # A sum of logs of possibly negative numbers stood in as a real symbol, so SymPy folded
    # log(exp(S)) to S; t = -3 makes the sum complex. (Probes once drew t > 0 only.)
    ("log(exp(Sum(log(t + exp(z[j])), (j, 1, k))))", "Sum(log(t + exp(z[j])), (j, 1, k))"),
    # exp(w / 16) was split as E**(1/16) for complex w = sqrt(z[i]); the principal branch
    # of the square root then made a false step "proved".
    ("sqrt(exp(sqrt(z[i]) / 16))", "exp(sqrt(z[i]) / 32)"),
])
def test_false_steps_found_by_review_are_not_passed(start, step):
    [result] = check(loads_derivation(SCALAR_STEP.format(start=start, step=step))).steps
    assert not result.passes(), result


def test_huge_intermediate_values_are_not_a_counterexample():
    """exp(64 z) near z = 430 is 10^12000: the finer evaluation must see past that, not 110 digits."""
    step = "1"
    start = "(exp(32 * z[i]) + 1)**2 - exp(64 * z[i]) - 2 * exp(32 * z[i])"
    for n in range(4):
        d = loads_derivation(SCALAR_STEP.format(start=start, step=step).replace('name = "x"', f'name = "x{n}"'))
        [result] = check(d).steps
        assert result.evidence is Evidence.PROVED_ALL_K


def test_cases_with_k_and_repeated_derivatives_by_a_held_name():
    """From a review: Eq(k, i) once replaced k (not i), Ne(i, k) was not applied to the instances,
    and a second derivative by s[c] came out as 0 (s was unfolded between the two passes)."""
    report = check(load_derivation(Path(__file__).parent / "fixtures" / "review" /
                                   "cases_with_k_and_held_derivatives.toml"))
    verdicts = {r.chain: r.evidence for r in report.steps}
    assert verdicts["A"] is Evidence.PROVED_ALL_K  # one-hot sums to one, under k = i
    assert verdicts["B"].proved  # true for every i < k
    assert verdicts["H"] is Evidence.FAILS and verdicts["H2"] is Evidence.FAILS  # both claim 0 falsely


def test_second_derivative_by_a_held_name():
    d = loads_derivation('''
title = "t"
[symbols]
k = "symbolic"
indices = ["i", "j", "c"]
vectors = { z = "real" }
[definitions]
"s[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"
[[chains]]
name = "x"
start = "Derivative(-log(s[c]), s[c], s[c])"
steps = [{ expr = "1 / s[c]**2", reason = "d/dx of -1/x" }]
[[chains]]
name = "y"
start = "Derivative(s[c] * s[i], s[c], s[i])"
steps = [{ expr = "1 + KroneckerDelta(i, c)", reason = "product rule twice" }]
''')
    assert [r.evidence for r in check(d).steps] == [Evidence.PROVED_ALL_K, Evidence.PROVED_ALL_K]


def test_steps_with_the_imaginary_unit_are_probed():
    """sqrt(-t) becomes I*sqrt(t) in SymPy; probes once skipped every such step."""
    d = loads_derivation(SCALAR_STEP.format(start="sqrt(-exp(z[i]))**2", step="-exp(z[i])"))
    [result] = check(d).steps
    assert result.evidence is Evidence.PROVED_ALL_K and re.search(r"; [1-9]\d* probes agreed", result.detail)
    d = loads_derivation(SCALAR_STEP.format(start="sqrt(-exp(z[i]))", step="sqrt(exp(z[i]))"))
    [result] = check(d).steps
    assert result.evidence is Evidence.FAILS and result.counterexample is not None


HELD = '''
title = "t"
assumptions = ["onehot(y, c)"]
[symbols]
k = "symbolic"
indices = ["i", "j", "c"]
vectors = {{ z = "real", y = "real" }}
[definitions]
"s[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"
L = "-Sum(y[j] * log(s[j]), (j, 1, k))"
p = "s[c]"
[[chains]]
name = "x"
start = "{start}"
steps = [{{ expr = "{step}", reason = "r" }}]
'''


def held_step(start, step):
    [result] = check(loads_derivation(HELD.format(start=start, step=step))).steps
    return result


def test_a_derivative_by_a_name_for_an_entry_means_the_entry():
    # L is written in s, not in p; p = s[c] is differentiated by as s[c], so L and -log(p),
    # which are equal under the one-hot target, have equal derivatives by p.
    assert held_step("Derivative(L, p)", "-1/p").evidence is Evidence.PROVED_ALL_K
    assert held_step("Derivative(-log(p), p)", "-1/p").evidence is Evidence.PROVED_ALL_K
    assert held_step("Derivative(L, p)", "0").evidence is Evidence.FAILS


@pytest.mark.parametrize("start", ["Derivative(L, z[i], s[c])", "Derivative(L, s[c], z[i])",
                                   "Derivative(Derivative(L, s[c]), z[i])"])
def test_a_mixed_derivative_by_a_name_and_what_it_is_made_of_is_refused_in_any_order(start):
    result = held_step(start, "0")
    assert result.evidence is Evidence.UNVERIFIED and not result.passes(allow_numeric=True)
    assert re.search(r"refused, s is made of z, so z\[i\] and s are not independent variables", result.detail)


def test_a_derivative_by_a_name_of_an_expression_not_written_in_it_is_refused():
    result = held_step("Derivative(L + z[c], s[c])", "-1/s[c]")
    assert result.evidence is Evidence.UNVERIFIED
    assert ("Derivative(L + z[c], s[c]): refused, its meaning would depend on how the expression is "
            "written: with the entries of s held as independent variables, it still depends on z") in result.detail
    sums = held_step("Derivative(log(Sum(exp(z[j]), (j, 1, k))), s[c])", "0")
    assert "Derivative(log(Sum(exp(z[j]), (j, 1, k))), s[c]): refused" in sums.detail  # no _j in the message
