"""The whitelist parser and the loader: good forms accepted, hostile input refused by text."""

import time

import pytest
import sympy

from symce.errors import DerivationFormatError, UnsafeExpressionError
from symce.read.toml import load_derivation, loads_derivation
from symce.read.expr import read_expression

I, J, C = sympy.symbols("i j c", integer=True, positive=True)
K = sympy.Symbol("k", integer=True, positive=True)
Z = sympy.IndexedBase("z", real=True)
NAMES = {"i": I, "j": J, "c": C, "k": K, "z": Z}

MINIMAL = '''
title = "t"
[symbols]
k = "symbolic"
indices = ["i", "j"]
vectors = { z = "real" }
[[chains]]
name = "x"
start = "exp(z[i])"
steps = [{ expr = "exp(z[i])", reason = "nothing changes" }]
'''


def parse(text):
    return read_expression(text, NAMES, where="f.toml, chain 'x', step 1")


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", sympy.Integer(7)),
    ("-z[i]", -Z[I]),
    ("z[i] ** 2", Z[I] ** 2),
    ("0.1", sympy.Rational(1, 10)),
    ("exp(z[i]) / Sum(exp(z[j]), (j, 1, k))", sympy.exp(Z[I]) / sympy.Sum(sympy.exp(Z[J]), (J, 1, K))),
    ("log(sqrt(z[c]))", sympy.log(sympy.sqrt(Z[C]))),
    ("KroneckerDelta(i, c)", sympy.KroneckerDelta(I, C)),
    ("z[i + 1]", Z[I + 1]),
])
def test_accepts_the_whitelisted_forms(text, expected):
    # k = 3 writes sums out, so sums over differently assumed j's compare as numbers.
    assert sympy.simplify((parse(text) - expected).subs(K, 3).doit()) == 0


def test_derivative_stays_unevaluated_for_the_checker():
    d = parse("Derivative(exp(z[i]), z[i])")
    assert isinstance(d, sympy.Derivative) and d.doit() == sympy.exp(Z[I])


def test_steps_keep_the_authors_form():
    assert str(parse("exp(z[c]) * exp(z[c])")) == "exp(z[c])*exp(z[c])"


@pytest.mark.parametrize("text, message", [
    ("__import__('os')", r"f\.toml, chain 'x', step 1: name '__import__' is not allowed \(dunder names"),
    ("().__class__.__bases__", r"attribute access \('\.__bases__'\) is not allowed"),
    ("z.__class__", r"attribute access \('\.__class__'\) is not allowed"),
    ("lambda: 1", r"lambda is not allowed"),
    ("[x for x in ()]", r"comprehension is not allowed"),
    ("sum(x for x in ())", r"calling 'sum' \(allowed: exp, log"),
    ("exp(x=1)", r"keyword argument in exp\(\) is not allowed"),
    ("exp(*z)", r"starred argument in exp\(\) is not allowed"),
    ("open('/etc/passwd')", r"calling 'open'"),
    ("__builtins__", r"name '__builtins__' is not allowed"),
    ("'text'", r"literal 'text' is not allowed"),
    ("i if c else j", r"conditional expression is not allowed"),
    ("1 < 2", r"comparison"),
    ("Eq(i, c)", r"calling 'Eq'"),
])
def test_refuses_hostile_forms(text, message):
    with pytest.raises(UnsafeExpressionError, match=message):
        parse(text)


def test_power_tower_is_refused_at_once():
    start = time.perf_counter()
    with pytest.raises(UnsafeExpressionError, match=r"exponent 387420489 is too large"):
        parse("9**9**9**9")
    assert time.perf_counter() - start < 1.0  # refused, not computed (a generous bound)


@pytest.mark.parametrize("text, message", [
    ("2 ** 10000", r"exponent 10000 is too large"),
    ("(10 ** 29) ** 64", r"\*\*64 would have about \d+ bits \(at most 4096\)"),
    ("1" * 40, r"integer literal has more than 30 digits"),
    ("z[i] ** (2 ** 64)", r"exponent 18446744073709551616 is too large"),
    ("+".join(["z[i]"] * 300), r"expression has \d+ syntax nodes \(at most 600\)"),
    ("z[i] + " * 1000 + "1", r"expression is \d+ characters long \(at most 4000\)"),
    ("(" * 300 + "1" + ")" * 300, r"too deeply nested|not a valid expression"),
])
def test_caps_sizes(text, message):
    with pytest.raises(DerivationFormatError, match=message):
        parse(text)


@pytest.mark.parametrize("text, message", [
    ("w[i]", r"'w' is not a vector and cannot be indexed"),
    ("q + 1", r"unknown name 'q'"),
    ("z", r"vector 'z' needs an index"),
    ("exp", r"function 'exp' must be called"),
    ("z[i] +", r"not a valid expression"),
    ("1 / 0", r"division by zero"),
    ("z[1/2]", r"index 1/2 of 'z' is not an integer"),
    ("Sum(z[j], j)", r"Sum\(\) needs limits written as \(index, low, high\)"),
    ("Derivative(z[i], 2)", r"Derivative\(\) with respect to 2"),
    # A tuple made the checker crash ("unsupported operand type(s) for -"): unverified
    # instead of a malformed-input error.
    ("(z[i], z[j])", r"tuple \(allowed only as the limits of Sum\) is not allowed"),
    ("Derivative(z[i], (z[i], 2))", r"tuple \(allowed only as the limits of Sum\) is not allowed"),
    # Differentiating by an integer (the class count, an index) has no meaning; it gave 0.
    ("Derivative(z[i], k)", r"Derivative\(\) with respect to k: an integer \(the class count or an index\)"
                            r" is not a variable"),
    ("Derivative(z[i], i)", r"Derivative\(\) with respect to i: an integer"),
    ("Sum(z[j], (j, 1, z[i]))", r"Sum\(\) limit z\[i\] is not an integer expression"),
    ("Sum(z[j], (j, 1/2, k))", r"Sum\(\) limit 1/2 is not an integer expression"),
    # log(0) is SymPy's zoo: no value to check a step against.
    ("log(0)", r"log\(0\) has no finite value"),
    ("z[i] + log(1 - 1)", r"log\(0\) has no finite value"),
])
def test_reports_mistakes_with_place(text, message):
    with pytest.raises(DerivationFormatError, match=r"^f\.toml, chain 'x', step 1: " + message):
        parse(text)


def test_several_megabyte_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.toml"
    path.write_text(MINIMAL + "# " + "x" * 3_000_000 + "\n")
    with pytest.raises(UnsafeExpressionError, match=r"huge\.toml: file is \d+ bytes \(at most 100000\)"):
        load_derivation(path)


def test_hostile_step_names_file_chain_and_step():
    text = MINIMAL.replace('expr = "exp(z[i])"', "expr = \"exp(__import__('os'))\"")
    with pytest.raises(UnsafeExpressionError, match=r"^bad\.toml, chain 'x', step 1: name '__import__'"):
        loads_derivation(text, path="bad.toml")


@pytest.mark.parametrize("change, message", [
    (('title = "t"', 'title = "t"\ncolour = "red"'), r"x\.toml, colour: unknown key"),
    (('title = "t"\n', ""), r"x\.toml, top level: missing key 'title'"),
    (('k = "symbolic"', "k = 2.5"), r"x\.toml, symbols\.k: expected integer or string or table, found float"),
    (('k = "symbolic"', "k = { symbolic = true, min = 0 }"), r"x\.toml, symbols\.k\.min: expected an integer in 1\.\.50, found 0"),
    (('k = "symbolic"', "k = { symbolic = false, min = 2 }"), r"x\.toml, symbols\.k\.symbolic: expected true"),
    (('k = "symbolic"', "k = { symbolic = true }"), r"x\.toml, symbols\.k: missing key 'min'"),
    (('k = "symbolic"', "k = { symbolic = true, min = 2, max = 3 }"), r"x\.toml, symbols\.k\.max: unknown key"),
    (('k = "symbolic"', 'k = "many"'), r"symbols\.k: expected an integer or \"symbolic\", found 'many'"),
    (('"nothing changes"', "3"), r"x\.toml, chain 'x', step 1\.reason: expected string, found integer"),
    (('reason = "nothing changes"', 'reason = "nothing changes", why = "x"'), r"chain 'x', step 1\.why: unknown key"),
    (('vectors = { z = "real" }', 'vectors = { z = "complex" }'), r"symbols\.vectors\.z: expected one of"),
    (('indices = ["i", "j"]', 'indices = ["i", "i"]'), r"symbols\.indices\[1\]: 'i' is declared twice"),
    (('start = "exp(z[i])"', 'start = "exp(z[i])"\ncase = "nope"'), r"chain 'x', case: expected one of \[\]"),
    (("steps = [", "steps = [ 1, "), r"chain 'x', step 1: expected table, found integer"),
    (('name = "x"', 'name = "x"\nbad ='), r"x\.toml: not valid TOML"),
])
def test_schema_errors_say_where_and_what(change, message):
    with pytest.raises(DerivationFormatError, match=message):
        loads_derivation(MINIMAL.replace(*change), path="x.toml")


def test_assumptions_and_cases_are_parsed():
    text = MINIMAL.replace('title = "t"', 'title = "t"\nassumptions = ["onehot(y, c)", "simplex(y)"]')
    text = text.replace('indices = ["i", "j"]', 'indices = ["i", "j", "c"]')
    text = text.replace('vectors = { z = "real" }', 'vectors = { z = "real", y = "real" }\n[cases]\nsame = "Eq(i, c)"')
    d = loads_derivation(text)
    assert [a.kind for a in d.assumptions] == ["onehot", "simplex"]
    assert d.cases[0].label == "i = c"


@pytest.mark.parametrize("assumption, message", [
    ("onehot(y)", r"assumptions\[0\]: expected onehot\(vector, index\) or simplex\(vector\), found 'onehot\(y\)'"),
    ("simplex(w)", r"assumptions\[0\]: expected a declared vector, found 'w'"),
    ("__import__('os')", r"assumptions\[0\]: expected onehot"),
])
def test_bad_assumptions(assumption, message):
    text = MINIMAL.replace('title = "t"', f'title = "t"\nassumptions = ["{assumption}"]'.replace("'", "'"))
    with pytest.raises(DerivationFormatError, match=message):
        loads_derivation(text.replace('vectors = { z = "real" }', 'vectors = { z = "real", y = "real" }'))


def test_reference_file_loads_with_lines_and_notation():
    d = load_derivation("derivations/softmax_cross_entropy.toml")
    assert d.k is None and d.notation.softmax_name == "s"
    assert [c.name for c in d.chains][:2] == ["loss", "dL_ds_c"]
    assert all(s.line for c in d.chains for s in c.steps)


# --- found by a hostile user: each was accepted and left to the checker -------------


@pytest.mark.parametrize("text, shown", [
    # Python folds the full-width z to z (NFKC), so the file would be read as z[i]
    # while showing something else; the Cyrillic e merely gave "calling 'еxp'".
    ("\uff5a[i]", r"'\uff5a' \(U\+FF5A\) at column 1"),
    ("\u0435xp(z[i])", r"'\u0435' \(U\+0435\) at column 1"),
    ("z[i] \u2212 1", r"'\u2212' \(U\+2212\) at column 6"),
])
def test_refuses_characters_outside_ascii(text, shown):
    with pytest.raises(DerivationFormatError,
                       match=r"^f\.toml, chain 'x', step 1: character " + shown + r"; expressions are ASCII"):
        parse(text)


def test_functions_are_kept_as_written():
    """log(exp(z[i])) must reach the printer as written; SymPy would fold it to z[i]."""
    e = parse("log(exp(z[i]))")
    assert isinstance(e, sympy.log) and isinstance(e.args[0], sympy.exp)
    assert e.doit() == Z[I]


def test_the_class_count_is_not_a_summation_index():
    with pytest.raises(DerivationFormatError, match=r"Sum\(\) index k is not a declared index symbol"):
        parse("Sum(z[k], (k, 1, 3))")


def test_a_long_expression_is_echoed_short():
    with pytest.raises(DerivationFormatError) as err:
        parse("(" * 200)
    assert "(200 characters)" in str(err.value) and len(str(err.value)) < 200


def test_a_delta_of_non_integers_is_refused():
    with pytest.raises(DerivationFormatError, match=r"KroneckerDelta\(\) argument z\[i\] is not an integer"):
        parse("KroneckerDelta(z[i], 1)")


def test_a_summation_variable_ranges_over_its_limits_not_over_1_to_k():
    # With the declared (positive) j, KroneckerDelta(j, 0) was folded to 0 as it was read.
    s = parse("Sum(KroneckerDelta(j, 0), (j, 0, k))")
    assert s.subs(K, 3).doit() == 1



@pytest.mark.parametrize("text", ["0.5**(-(2**(32*i)))", "2**(10**29 * i)", "3**(2**i)"])
def test_a_number_to_a_growing_symbolic_power_is_refused(text):
    # Typesetting the row vector puts i = 1: 0.5**(-2**32) was computed exactly, 23 s and 4 GB.
    with pytest.raises(UnsafeExpressionError, match=r"could grow too large once its symbols have values"):
        parse(text)
    assert parse("2**(32*i)") == sympy.Pow(2, 32 * I, evaluate=False)
