"""Reading named dimensions, matrices, functions, facts and whole-matrix rows (read/shapes.py,
read/whole.py, read/facts.py): what loads, and the one-line error for each bad input."""

import pytest
import sympy

from symce.cli import main
from symce.errors import DerivationFormatError, UnsafeExpressionError
from symce.read.toml import loads_derivation

LINEAR = '''
title = "linear"
[symbols]
dims = { n = "symbolic", d = 4 }
indices = { i = "n", m = "n", j = "d", l = "d" }
vectors = { x = "real[d]", b = "real[n]" }
matrices = { W = "real[n, d]" }
functions = { L = ["u"] }
[definitions]
"sigma(t)" = "1 / (1 + exp(-t))"
"u[i]" = "Sum(W[i, l] * x[l], (l, 1, d)) + b[i]"
"delta[i]" = "Derivative(L, u[i])"
[[chains]]
name = "weights"
entry = ["i", "j"]
whole = "delta @ x.T"
start = "START"
steps = [{ expr = "STEP", reason = "r" }]
'''


def load(start="Derivative(L, W[i, j])", step="delta[i] * x[j]", text=LINEAR, **swap):
    for old, new in swap.items():
        text = text.replace(old, new)
    return loads_derivation(text.replace("START", start).replace("STEP", step), path="f.toml")


def test_named_dims_indices_and_shapes():
    d = load()
    assert [(dim.name, dim.size) for dim in d.dims] == [("n", None), ("d", 4)]
    n = d.symbols["n"]
    assert d.ranges[d.symbols["i"]] == n and d.ranges[d.symbols["j"]] == 4
    assert d.shapes["W"] == (n, 4) and d.shapes["x"] == (4,) and d.shapes["u"] == (n,)
    assert d.uses_dims and d.k is None
    assert [f.name for f in d.functions] == ["sigma"] and [f.args for f in d.abstract] == [("u",)]


def test_a_file_without_dims_is_a_scalar_problem():
    d = loads_derivation('''
title = "s"
[symbols]
scalars = { z = "real" }
[[chains]]
name = "c"
start = "z"
steps = [{ expr = "z", reason = "r" }]
''')
    assert d.uses_dims and d.dims == () and d.indices == ()


def test_a_file_in_k_keeps_its_old_reading():
    d = loads_derivation('''
title = "k"
[symbols]
k = "symbolic"
indices = ["i"]
vectors = { z = "real" }
[[chains]]
name = "c"
start = "z[i]"
steps = [{ expr = "z[i]", reason = "r" }]
''')
    assert not d.uses_dims and d.dims == ()


def test_whole_row_is_an_extra_step_with_its_entry():
    d = load()
    whole = d.chains[0].steps[-1]
    assert str(whole.expr) == "delta[i]*x[j]"
    lhs, rhs = whole.whole
    assert str(lhs) == "Derivative(L, W)"
    assert isinstance(rhs, sympy.MatMul)


def test_whole_form_entries_sum_over_the_inner_dimension():
    d = load(start="Derivative(L, x[j])", step="Sum(W[m, j] * delta[m], (m, 1, n))",
             **{'entry = ["i", "j"]': 'entry = ["j"]', '"delta @ x.T"': '"W.T @ delta"'})
    entry = d.chains[0].steps[-1].expr
    assert isinstance(entry, sympy.Sum) and entry.limits[0][2] == d.symbols["n"]


def test_whole_row_vector():
    d = load(start="Derivative(L, x[j])", step="Sum(delta[m] * W[m, j], (m, 1, n))",
             **{'entry = ["i", "j"]': 'entry = ["j"]', '"delta @ x.T"': '"delta.T @ W"'})
    assert isinstance(d.chains[0].steps[-1].expr, sympy.Sum)


def test_defined_function_is_kept_folded_when_called():
    d = load(start="sigma(u[i])", step="sigma(u[i])",
             **{'entry = ["i", "j"]\nwhole = "delta @ x.T"\n': ""})
    call = d.chains[0].start
    assert call.func.__name__ == "sigma" and call.args == (sympy.IndexedBase("u")[d.symbols["i"]],)


def test_derivative_of_order_n():
    d = load(start="Derivative(sigma(x[j]), x[j], 2)", step="0",
             **{'entry = ["i", "j"]\nwhole = "delta @ x.T"\n': ""})
    assert d.chains[0].start.variable_count[0][1] == 2


@pytest.mark.parametrize("start, swap, message", [
    # an index over the wrong dimension
    ("W[j, i]", {}, r"^f\.toml, chain 'weights', start: index j ranges over d, but position 1 of W\[j, i\] "
                    r"ranges over n$"),
    ("Sum(x[m], (m, 1, n))", {}, r"^f\.toml, chain 'weights', start: index m ranges over n, but position 1 "
                                 r"of x\[m\] ranges over d$"),
    ("x[5]", {}, r"^f\.toml, chain 'weights', start: index 5 of x\[5\] is outside 1\.\.4$"),
    # calls: undeclared, or with the wrong number of arguments
    ("tanh(x[j])", {}, r"^f\.toml, chain 'weights', start: calling 'tanh' \(allowed: .*sigma; a function of "
                       r"your own is defined as"),
    ("sigma(x[j], x[l])", {}, r"^f\.toml, chain 'weights', start: sigma\(\) takes 1 argument, found 2$"),
    ("sigma", {}, r"^f\.toml, chain 'weights', start: function 'sigma' must be called"),
    # an abstract function by something it does not depend on
    ("Derivative(L, sigma(x[j]))", {}, r"Derivative\(\) with respect to sigma\(x\[j\]\)"),
    ("Derivative(L, z[j])", {'x = "real[d]"': 'x = "real[d]", z = "real[d]"'},
     r"^f\.toml, chain 'weights', start: L depends on u \(and what they are defined from\), not on z: "
     r"Derivative\(L, z\[j\]\) would be 0; add z to functions\.L, or write 0$"),
    ("Derivative(sigma(x[j]), x[j], 9)", {}, r"Derivative\(\) order 9: expected 1\.\.8"),
])
def test_bad_expressions_name_file_chain_and_step(start, swap, message):
    with pytest.raises((DerivationFormatError, UnsafeExpressionError), match=message):
        load(start=start, **{'entry = ["i", "j"]\nwhole = "delta @ x.T"\n': "", **swap})


@pytest.mark.parametrize("swap, message", [
    ({'dims = { n = "symbolic", d = 4 }': 'dims = { n = "symbolic", d = 0 }'},
     r"^f\.toml, symbols\.dims\.d: expected an integer in 1\.\.50"),
    ({'i = "n", m = "n"': 'i = "q", m = "n"'}, r"^f\.toml, symbols\.indices\.i: expected one of the dims"),
    ({'x = "real[d]"': 'x = "real"'}, r"^f\.toml, symbols\.vectors\.x: expected its dims, e\.g\. 'real\[d\]'"),
    ({'W = "real[n, d]"': 'W = "real[n]"'}, r"^f\.toml, symbols\.matrices\.W: expected 2 of the dims"),
    ({'functions = { L = ["u"] }': 'functions = { L = ["i"] }', '"delta[i]" = "Derivative(L, u[i])"': ''},
     r"^f\.toml, symbols\.functions\.L\[0\]: expected a declared or defined scalar, vector or matrix, found 'i'"),
    ({'"sigma(t)"': '"sigma(t, t)"'}, r"^f\.toml, definitions\.'sigma\(t, t\)': expected name\(parameter, \.\.\.\)"),
    ({'whole = "delta @ x.T"': 'whole = "x @ delta.T"'},
     r"^f\.toml, chain 'weights', whole: 'x @ delta\.T' has dims d x n, but entry \['i', 'j'\] ranges over n x d$"),
    ({'whole = "delta @ x.T"': 'whole = "delta @ x"'},
     r"^f\.toml, chain 'weights', whole: A @ B needs the columns of A to match the rows of B, found n x 1 @ d x 1 in 'delta @ x'$"),
    ({'whole = "delta @ x.T"': 'whole = "delta + x.T"'}, r"^f\.toml, chain 'weights', whole: \+ and - need arrays"),
    ({'entry = ["i", "j"]\n': ''}, r"^f\.toml, chain 'weights', whole: expected entry = "),
    ({'entry = ["i", "j"]': 'entry = ["i", "q"]'}, r"^f\.toml, chain 'weights', whole\.entry: expected declared"),
    ({'entry = ["i", "j"]\nwhole = "delta @ x.T"': 'vector = "i"'},
     r"^f\.toml, chain 'weights', vector: vector needs an index over a dim named k \(of size 3 or more\); "
     r'with other dims, end the chain with entry = \["i"\] and whole = "\.\.\."$'),
])
def test_bad_declarations_are_one_line_errors(swap, message):
    with pytest.raises(DerivationFormatError, match=message):
        load(**swap)


FACTS = '''
title = "facts"
assumptions = ["FACT"]
[symbols]
dims = { k = "symbolic" }
indices = { i = "k" }
vectors = { y = "real[k]", w = "positive[k]" }
scalars = { p = "real", T = "positive" }
[[chains]]
name = "c"
start = "p"
steps = [{ expr = "p", reason = "r" }]
'''


@pytest.mark.parametrize("fact, kind, low, high, members", [
    ("0 < p < 1", "interval", (0, True), (1, True), ()),
    ("T > 0", "interval", (0, True), None, ()),
    ("0 <= y[i] <= 1", "interval", (0, False), (1, False), ()),
    ("1 >= p", "interval", None, (1, False), ()),
    ("y[i] in {0, 1}", "member", None, None, (0, 1)),
    ("p in {0, 1/2, 1}", "member", None, None, (0, sympy.Rational(1, 2), 1)),
])
def test_facts(fact, kind, low, high, members):
    a = loads_derivation(FACTS.replace("FACT", fact)).assumptions[0]
    assert (a.kind, a.low, a.high, a.members) == (kind, low, high, members)


@pytest.mark.parametrize("fact, message", [
    ("1 < p < 0", r"'1 < p < 0' never holds \(no number lies in that interval\)"),
    ("p < 1 < p", r"one scalar or entry between numbers"),
    ("0 < p <= 0", r"'0 < p <= 0' never holds"),
    ("T < 0", r"'T < 0' never holds \(T is declared positive\)"),
    ("w[i] <= 0", r"'w\[i\] <= 0' never holds \(w is declared positive\)"),
    ("T in {-1, 0}", r"'T in \{-1, 0\}' never holds \(T is declared positive\)"),
    ("0 < 1", r"one scalar or entry between numbers"),
    ("0 < p > 1", r"one direction"),
    ("p in {q}", r"unknown name 'q'"),
    ("p < T", r"one scalar or entry between numbers"),
])
def test_facts_that_cannot_hold_or_cannot_be_read(fact, message):
    with pytest.raises(DerivationFormatError, match=r"^f\.toml, assumptions\[0\]: .*" + message):
        loads_derivation(FACTS.replace("FACT", fact), path="f.toml")


def test_cli_reports_a_bad_index_on_one_line(tmp_path, capsys):
    path = tmp_path / "f.toml"
    path.write_text(LINEAR.replace("START", "W[j, i]").replace("STEP", "0"))
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "chain 'weights', start: index j ranges over d" in err[0]


@pytest.mark.parametrize("start", ["Sum(x[l], (l, 1, d - 1))", "Sum(x[l] * Sum(x[j], (j, 1, l)), (l, 1, d))",
                                   "Sum(x[l + 1], (l, 0, d - 1))"])
def test_partial_ranges_inside_a_dim_are_not_refused(start):
    load(start=start, step="0", **{'entry = ["i", "j"]\nwhole = "delta @ x.T"\n': ""})


@pytest.mark.parametrize("whole", ["- " * 400 + "delta @ x.T", " + ".join(["delta @ x.T"] * 300)])
def test_huge_whole_forms_are_refused_before_they_are_read(whole):
    with pytest.raises(DerivationFormatError, match=r"^f\.toml, chain 'weights', whole: form (has more than 600|is \d+ characters)"):
        load(**{'"delta @ x.T"': f'"{whole}"'})


def test_function_parameters_are_capped():
    params = ", ".join(f"t{n}" for n in range(9))
    with pytest.raises(DerivationFormatError, match=r"at most 8 parameters, found 9"):
        load(**{'"sigma(t)"': f'"sigma({params})"'})
