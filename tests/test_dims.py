"""Checking files with named dims, functions, matrices and facts (verify/dims.py, verify/functions.py,
verify/facts.py): evidence never overstated, and a wrong step of each kind located with a counterexample."""

import random

import pytest

from symce.read.toml import loads_derivation
from symce.verify.dims import _Instances
from symce.verify.meaning import Meaning
from symce.verify.steps import Evidence, check, verify_step


def verdicts(text: str) -> list:
    """(evidence, detail, counterexample) of every step, in order, without worker processes."""
    d = loads_derivation(text, path="f.toml")
    out = []
    for chain in d.chains:
        previous = chain.start
        for n, step in enumerate(chain.steps, start=1):
            out.append(verify_step(d, previous, step.expr, chain.case, seed=f"{chain.name}:{n}"))
            previous = step.expr
    return out


def one_chain(symbols: str, start: str, steps: list[str], definitions: str = "", assumptions: str = "") -> str:
    rows = ",\n".join(f'  {{ expr = "{s}", reason = "step" }}' for s in steps)
    return (f'title = "t"\n{assumptions}\n[symbols]\n{symbols}\n[definitions]\n{definitions}\n'
            f'[[chains]]\nname = "c"\nstart = "{start}"\nsteps = [\n{rows}\n]\n')


REGRESSION = '''dims = { n = "symbolic", d = "symbolic" }
indices = { i = "n", j = "d", l = "d" }
vectors = { w = "real[d]", y = "real[n]" }
matrices = { X = "real[n, d]" }'''
REGRESSION_DEFS = '''"r[i]" = "Sum(X[i, l] * w[l], (l, 1, d)) - y[i]"
L = "Sum(r[i]**2, (i, 1, n)) / n"'''

LAYER = '''dims = { n = "symbolic" }
indices = { i = "n", j = "n", m = "n" }
vectors = { x = "real[n]", b = "real[n]" }
matrices = { W = "real[n, n]" }
functions = { L = ["u"] }'''
LAYER_DEFS = '''"u[i]" = "Sum(W[i, m] * x[m], (m, 1, n)) + b[i]"
"delta[i]" = "Derivative(L, u[i])"'''


def test_named_dims_are_proved_for_all_of_them():
    text = one_chain(REGRESSION, "Derivative(L, w[j])",
                     ["2 / n * Sum(r[i] * X[i, j], (i, 1, n))"], REGRESSION_DEFS)
    (evidence, detail, cx), = verdicts(text)
    assert evidence is Evidence.PROVED_ALL_DIMS and cx is None
    assert detail.startswith("exact, for all n, d")
    report = check(loads_derivation(text))
    assert report.steps[0].evidence_text == "proved for all n, d" and report.passed()


def test_wrong_dimension_in_a_step_fails_with_the_sizes_that_show_it():
    text = one_chain(REGRESSION, "Derivative(L, w[j])",
                     ["2 / d * Sum(r[i] * X[i, j], (i, 1, n))"], REGRESSION_DEFS)
    (evidence, detail, cx), = verdicts(text)
    assert evidence is Evidence.FAILS
    assert cx.values["n"] != cx.values["d"] and "j" in cx.values and cx.lhs != cx.rhs


def test_probes_vary_every_dim_through_1_and_7():
    text = one_chain(REGRESSION, "w[j]", ["w[j]"])
    d = loads_derivation(text)
    m = Meaning(d)
    lhs = m.of(d.chains[0].start)
    inst = _Instances(m, lhs, lhs, None)
    sizes = {tuple(s.values()) for s, _ in inst.probe_plan(random.Random(0))}
    for pos in range(2):
        assert {1, 7} <= {values[pos] for values in sizes}
    assert any(len(set(values)) == 2 for values in sizes)  # n != d somewhere


def test_scalar_problem_is_simply_proved():
    text = one_chain('scalars = { z = "real" }', "Derivative(sigma(z), z, 2)",
                     ["sigma(z) * (1 - sigma(z)) * (1 - 2 * sigma(z))", "sigma(z) * (1 - sigma(z))"],
                     '"sigma(t)" = "1 / (1 + exp(-t))"')
    (ok, _, _), (bad, detail, cx) = verdicts(text)
    assert ok is Evidence.PROVED
    assert bad is Evidence.FAILS and "z" in cx.values
    report = check(loads_derivation(text))
    assert report.steps[0].evidence_text == "proved"


def test_defined_function_at_any_argument_by_the_chain_rule():
    text = one_chain(REGRESSION, "Derivative(sigma(Sum(X[i, l] * w[l], (l, 1, d))), w[j])",
                     ["sigma(Sum(X[i, l] * w[l], (l, 1, d))) * (1 - sigma(Sum(X[i, l] * w[l], (l, 1, d)))) * X[i, j]",
                      "sigma(Sum(X[i, l] * w[l], (l, 1, d))) * X[i, j]"],
                     '"sigma(t)" = "1 / (1 + exp(-t))"')
    (ok, _, _), (bad, _, cx) = verdicts(text)
    assert ok is Evidence.PROVED_ALL_DIMS
    assert bad is Evidence.FAILS and cx is not None


def test_abstract_upstream_loss_multivariable_chain_rule():
    text = one_chain(LAYER, "Derivative(L, W[i, j])", [
        "Sum(Derivative(L, u[m]) * Derivative(u[m], W[i, j]), (m, 1, n))",
        "delta[i] * x[j]",
        "delta[j] * x[i]",  # transposed: wrong for a square W as well
    ], LAYER_DEFS)
    (a, _, _), (b, _, _), (c, _, cx) = verdicts(text)
    assert a is b is Evidence.PROVED_ALL_DIMS
    assert c is Evidence.FAILS
    assert any(name.startswith("dL/du[") for name in cx.values)  # the upstream gradient's values


def test_input_gradient_needs_the_transpose():
    text = one_chain(LAYER, "Derivative(L, x[j])",
                     ["Sum(W[m, j] * delta[m], (m, 1, n))", "Sum(W[j, m] * delta[m], (m, 1, n))"], LAYER_DEFS)
    (ok, _, _), (bad, _, cx) = verdicts(text)
    assert ok is Evidence.PROVED_ALL_DIMS and bad is Evidence.FAILS and int(cx.values["n"]) >= 2


def test_mixed_partials_of_an_abstract_function_are_one_quantity():
    text = one_chain(LAYER, "Derivative(L, u[i], u[j])", ["Derivative(L, u[j], u[i])"], LAYER_DEFS)
    assert verdicts(text)[0][0] is Evidence.PROVED_ALL_DIMS


def test_derivative_of_order_n_of_an_abstract_function():
    symbols = 'scalars = { x = "real", a = "real" }\nfunctions = { f = ["t"] }'
    text = one_chain(symbols, "Derivative(f, x, 2)", [
        "a**2 * Derivative(f, t, 2)", "a * Derivative(f, t, 2)"], 't = "a * x"')
    (ok, _, _), (bad, _, cx) = verdicts(text)
    assert ok is Evidence.PROVED and bad is Evidence.FAILS and "d2f/dt dt" in cx.values


def whole_layer(whole: str, last: str) -> str:
    text = one_chain(LAYER, "Derivative(L, W[i, j])", [last], LAYER_DEFS)
    return text.replace('name = "c"', f'name = "c"\nentry = ["i", "j"]\nwhole = "{whole}"')


def test_whole_matrix_row_is_checked_entry_by_entry():
    good = verdicts(whole_layer("delta @ x.T", "delta[i] * x[j]"))
    assert [v[0] for v in good] == [Evidence.PROVED_ALL_DIMS] * 2
    bad = verdicts(whole_layer("x @ delta.T", "delta[i] * x[j]"))  # same dims, transposed
    assert bad[0][0] is Evidence.PROVED_ALL_DIMS and bad[1][0] is Evidence.FAILS and bad[1][2] is not None


def test_whole_matrix_row_failure_is_reported_at_its_step():
    report = check(loads_derivation(whole_layer("2 * delta @ x.T", "delta[i] * x[j]"), path="f.toml"))
    bad = report.first_failure()
    assert (bad.chain, bad.index, bad.evidence) == ("c", 2, Evidence.FAILS)
    assert bad.reason == "the whole array, entry by entry"


SOFTMAX = '''dims = { k = "symbolic" }
indices = { i = "k", j = "k", l = "k" }
vectors = { z = "real[k]" }'''


def test_softmax_jacobian_in_both_index_orders():
    text = one_chain(SOFTMAX, "Derivative(s[j], z[i])", ["KroneckerDelta(i, j) * s[i] - s[i] * s[j]",
                                                        "KroneckerDelta(i, j) * s[j] - s[i] * s[i]"],
                     '"s[i]" = "exp(z[i]) / Sum(exp(z[l]), (l, 1, k))"')
    (ok, _, _), (bad, _, cx) = verdicts(text)
    assert ok is Evidence.PROVED_ALL_DIMS and bad is Evidence.FAILS and cx.values["i"] != cx.values["j"]


def test_proved_only_for_small_dims_never_passes():
    # True for every k, but beyond the exact rules (a triangular double sum)
    text = one_chain(SOFTMAX, "Sum(z[l] * Sum(z[j], (j, 1, l)), (l, 1, k))",
                     ["(Sum(z[l], (l, 1, k))**2 + Sum(z[l]**2, (l, 1, k))) / 2"])
    report = check(loads_derivation(text))
    step = report.steps[0]
    assert step.evidence is Evidence.SMALL_DIMS and not step.evidence.proved and not report.passed()
    assert step.evidence_text == "proved for small dims only"
    assert step.detail == "not proved for all k; exact for k in 1..3 and each at 7"
    assert step.passes(allow_numeric=True) and not step.passes()


FACT = 'scalars = { p = "real", x = "real" }'


@pytest.mark.parametrize("assumptions, start, step, expected", [
    ('assumptions = ["0 < p < 1"]', "Abs(p)", "p", Evidence.PROVED),
    ('assumptions = ["0 < p < 1"]', "Abs(p)", "-p", Evidence.FAILS),
    ("", "Abs(p)", "p", Evidence.FAILS),  # without the fact, p < 0 is a counterexample
    ('assumptions = ["x > 0"]', "Derivative(Max(0, x), x)", "1", Evidence.PROVED),
    ('assumptions = ["x < 0"]', "Derivative(Max(0, x), x)", "0", Evidence.PROVED),
    ("", "Derivative(Max(0, x), x)", "1", Evidence.FAILS),  # the kink is stated by a fact, not hidden
    ('assumptions = ["x < 0"]', "Derivative(Abs(x), x)", "-1", Evidence.PROVED),
    ('assumptions = ["p > 0", "x < 0"]', "Min(p, x) + Max(p, x)", "p + x", Evidence.PROVED),
    ('assumptions = ["p > 0", "x < 0"]', "Min(p, x)", "p", Evidence.FAILS),
])
def test_facts_abs_max_min(assumptions, start, step, expected):
    (evidence, _, cx), = verdicts(one_chain(FACT, start, [step], assumptions=assumptions))
    assert evidence is expected
    if expected is Evidence.FAILS and assumptions:
        p = float(cx.values.get("p", "0.5"))
        assert 0 < p < 1 or "0 < p" not in assumptions  # drawn inside the fact


def test_relu_of_vector_entries_under_a_fact_on_every_entry():
    symbols = 'dims = { n = "symbolic" }\nindices = { i = "n", j = "n" }\nvectors = { z = "real[n]" }'
    text = one_chain(symbols, "Derivative(relu(z[i]), z[j])", ["KroneckerDelta(i, j)", "1"],
                     '"relu(t)" = "Max(0, t)"', assumptions='assumptions = ["z[i] > 0"]')
    (ok, _, _), (bad, _, cx) = verdicts(text)
    assert ok is Evidence.PROVED_ALL_DIMS and bad is Evidence.FAILS and cx.values["i"] != cx.values["j"]
    unstated = verdicts(text.replace('assumptions = ["z[i] > 0"]', ""))
    assert unstated[0][0] is Evidence.FAILS  # left of the kink the derivative is 0


def test_membership_fact_draws_its_members():
    text = one_chain(FACT, "p**2", ["p"], assumptions='assumptions = ["p in {0, 1}"]')
    (evidence, _, _), = verdicts(text)
    # p**2 = p for a 0/1 label: never refuted, but membership is not used by the proof
    assert evidence is Evidence.NUMERIC


def test_catalogue_style_file_through_the_cli(tmp_path, capsys):
    from symce.cli import main
    path = tmp_path / "f.toml"
    path.write_text(one_chain(REGRESSION, "Derivative(L, w[j])",
                              ["2 / n * Sum(r[i] * X[i, j], (i, 1, n))"], REGRESSION_DEFS))
    assert main(["check", str(path)]) == 0
    assert "ok   c step 1: proved for all n, d" in capsys.readouterr().out


def test_a_square_of_a_sum_is_a_double_sum():
    text = one_chain(SOFTMAX, "Sum(z[l], (l, 1, k))**2", ["Sum(Sum(z[l] * z[j], (j, 1, k)), (l, 1, k))"])
    assert verdicts(text)[0][0] is Evidence.PROVED_ALL_DIMS


def test_softmax_regression_nested_sums_over_three_dims():
    # Sum(Sum(...)) is merged by SymPy into one Sum with two limits, and exp(Sum(...)) is
    # written as a Product by expand_power_exp: both must still meet the other side.
    symbols = '''dims = { n = "symbolic", d = "symbolic", k = "symbolic" }
indices = { i = "n", l = "d", c = "k", m = "k", q = "d" }
matrices = { X = "real[n, d]", W = "real[d, k]", Y = "real[n, k]" }'''
    definitions = '''"z[i, c]" = "Sum(X[i, q] * W[q, c], (q, 1, d))"
"s[i, c]" = "exp(z[i, c]) / Sum(exp(z[i, m]), (m, 1, k))"
L = "-Sum(Sum(Y[i, m] * log(s[i, m]), (m, 1, k)), (i, 1, n)) / n"'''
    text = one_chain(symbols, "Derivative(L, W[l, c])", [
        "Sum(X[i, l] * (s[i, c] * Sum(Y[i, m], (m, 1, k)) - Y[i, c]), (i, 1, n)) / n",
        "Sum(X[i, l] * (s[i, c] - Y[i, c]), (i, 1, n)) / n",  # only if each row of Y sums to one
    ], definitions)
    (ok, _, _), (bad, _, cx) = verdicts(text)
    assert ok is Evidence.PROVED_ALL_DIMS
    assert bad is Evidence.FAILS and cx is not None


def test_second_derivative_through_a_linear_map_is_w_transpose_h_w():
    symbols = LAYER.replace('indices = { i = "n", j = "n", m = "n" }',
                            'indices = { i = "n", j = "n", m = "n", r = "n", l = "n" }')
    text = one_chain(symbols, "Derivative(L, x[j], x[l])", [
        "Sum(Sum(W[m, j] * W[r, l] * Derivative(L, u[m], u[r]), (r, 1, n)), (m, 1, n))",
        "Sum(Sum(W[m, l] * W[r, l] * Derivative(L, u[m], u[r]), (r, 1, n)), (m, 1, n))",
    ], LAYER_DEFS)
    (ok, _, _), (bad, _, cx) = verdicts(text)
    assert ok is Evidence.PROVED_ALL_DIMS
    assert bad is Evidence.FAILS and any(name.startswith("d2L/du[") for name in cx.values)


@pytest.mark.parametrize("case, step, expected", [
    ("Eq(i, c)", "s[c] * (1 - s[c])", Evidence.PROVED_ALL_DIMS),
    ("Ne(i, c)", "-s[i] * s[c]", Evidence.PROVED_ALL_DIMS),
    ("Ne(i, c)", "s[c] * (1 - s[c])", Evidence.FAILS),
])
def test_cases_in_a_dims_file(case, step, expected):
    symbols = SOFTMAX.replace('indices = { i = "k", j = "k", l = "k" }', 'indices = { i = "k", c = "k", l = "k" }')
    text = one_chain(symbols, "Derivative(s[c], z[i])", [step], '"s[i]" = "exp(z[i]) / Sum(exp(z[l]), (l, 1, k))"')
    text = text.replace("[[chains]]", f'[cases]\nx = "{case}"\n[[chains]]').replace('name = "c"', 'name = "c"\ncase = "x"')
    (evidence, _, cx), = verdicts(text)
    assert evidence is expected
    if cx is not None:
        assert cx.values["i"] != cx.values["c"]


def test_a_case_that_never_holds_in_a_dims_file():
    text = one_chain(SOFTMAX, "z[i]", ["z[i]"]).replace("[[chains]]", '[cases]\nx = "Ne(i, i)"\n[[chains]]')
    with pytest.raises(Exception, match=r"^f\.toml, cases\.x: 'Ne\(i, i\)' never holds for indices in their dims$"):
        loads_derivation(text, path="f.toml")


def test_a_sign_fact_keeps_the_simplex_of_the_same_vector():
    symbols = SOFTMAX.replace('vectors = { z = "real[k]" }', 'vectors = { z = "real[k]", y = "real[k]" }')
    text = one_chain(symbols, "Sum(y[l] * z[j], (l, 1, k))", ["z[j]"],
                     assumptions='assumptions = ["simplex(y)", "0 <= y[i] <= 1"]')
    assert verdicts(text)[0][0] is Evidence.PROVED_ALL_DIMS
