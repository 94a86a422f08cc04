"""The LaTeX expression reader: one test per construct, and every refusal by its message."""

from pathlib import Path

import pytest
import sympy

from symce.errors import DerivationFormatError, UnsafeExpressionError
from symce.read.tex import Scope, read_latex

I, J, C = (sympy.Symbol(n, integer=True, positive=True) for n in "ijc")
K = sympy.Symbol("k", integer=True, positive=True)
Z, Y, S = sympy.IndexedBase("z", real=True), sympy.IndexedBase("y", real=True), sympy.IndexedBase("s")
L, M, SIGMA = sympy.Symbol("L"), sympy.Symbol("m", real=True), sympy.Symbol("sigma", real=True)
ENTRY = sympy.Symbol("_e", integer=True, positive=True)


def scope():
    return Scope({"i": I, "j": J, "c": C, "k": K, "z": Z, "y": Y, "s": S, "L": L, "m": M, "sigma": SIGMA},
                 {"L": ("s", "y")})


def read(text, entry=None):
    return read_latex(text, scope(), path="post.md", entry=entry).expr


def same(a, b):
    """Equal as numbers: the reader builds unevaluated trees, so compare them evaluated."""
    return sympy.simplify(a.doit() - b.doit()) == 0


def jsum(body):
    j = sympy.Symbol("j", integer=True)
    return sympy.Sum(body(j), (j, 1, K))


@pytest.mark.parametrize("text, want", [
    (r"\frac{e^{z_c}}{2}", sympy.exp(Z[C]) / 2),
    (r"\dfrac{1}{s_c} + \tfrac{1}{2}", 1 / S[C] + sympy.Rational(1, 2)),
    (r"\mathbf{z}_{i} + \boldsymbol{z}_i + z_{i} + z_i", 4 * Z[I]),
    (r"\exp(z_i) - e^{z_i}", sympy.Integer(0)),
    (r"\log s_c + \ln(s_c)", 2 * sympy.log(S[C])),
    (r"2 \cdot m \times m", 2 * M**2),
    (r"\left( m + 1 \right)^{2} - [m + 1]^2", sympy.Integer(0)),
    (r"\sqrt{m^{2}}", sympy.sqrt(M**2)),
    (r"\sigma m", SIGMA * M),
    (r"0.5 m", M / 2),
])
def test_constructs(text, want):
    assert same(read(text), want)


@pytest.mark.parametrize("text, want", [
    (r"\frac12 m", M / 2),  # TeX shows one half of m; once read as 12 / m
    (r"\frac123", sympy.Rational(3, 2)),  # \frac{1}{2} 3
    (r"m^10", 0 * M),  # TeX shows m^1 0; once read as m^{10}
    (r"z_12", 2 * Z[1]),  # TeX shows z_1 2; once read as z_{12}
    (r"m^{10}", M ** 10),
])
def test_an_unbraced_argument_is_one_character_as_in_tex(text, want):
    assert same(read(text), want)


def test_sum_body_is_the_rest_of_the_product_up_to_plus_or_minus():
    got = read(r"\sum_{j} y_j \log s_j - m")
    assert same(got, jsum(lambda j: Y[j] * sympy.log(S[j])) - M)
    assert isinstance(read(r"\sum_j e^{z_j}"), sympy.Sum)


@pytest.mark.parametrize("text", [r"\sum_{j} e^{z_j}", r"\sum_j e^{z_j}", r"\sum_{j=1}^{k} e^{z_j}", r"\sum_{j=1}^k e^{z_j}"])
def test_sum_limits_default_to_one_to_k(text):
    got = read(text)
    assert got.limits[0][1:] == (1, K)


def test_sum_index_binds_so_a_sum_is_not_k_times_one_term():
    # The flaw of readers that fuse z_j into one symbol: e^{z_c}/sum_j e^{z_j} read as e^{z_c}/(k e^{z_j}).
    got = read(r"\frac{e^{z_c}}{\sum_{j=1}^k e^{z_j}}")
    assert not got.free_symbols & {sympy.Symbol("j", integer=True)}
    assert got.atoms(sympy.Sum)


def test_derivatives_partial_operator_and_total():
    assert read(r"\frac{\partial L}{\partial s_c}") == sympy.Derivative(L, S[C])
    assert read(r"\frac{dL}{dz_i}") == sympy.Derivative(L, Z[I])
    assert read(r"\frac{\mathrm{d} L}{\mathrm{d} z_i}") == sympy.Derivative(L, Z[I])
    assert read(r"\frac{d}{dm} m^{2}") == sympy.Derivative(M**2, M)
    assert read(r"\nabla_{\mathbf{z}} L", entry=ENTRY) == sympy.Derivative(L, Z[ENTRY])


def test_derivative_operator_takes_the_rest_of_the_product():
    got = read(r"\frac{\partial}{\partial z_i} e^{z_i} m + 1")
    assert isinstance(got, sympy.Add)
    deriv = [a for a in got.args if isinstance(a, sympy.Derivative)][0]
    assert same(deriv.expr, sympy.exp(Z[I]) * M)


def test_deltas_and_indicators():
    assert read(r"\delta_{ij}") == sympy.KroneckerDelta(I, J)
    assert read(r"\delta_{i,c}") == sympy.KroneckerDelta(I, C)
    assert read(r"\mathbb{1}[i = c]") == sympy.KroneckerDelta(I, C)
    assert same(read(r"\mathbb{1}_{i \neq c}"), 1 - sympy.KroneckerDelta(I, C))


def test_defined_name_with_its_arguments():
    assert read(r"L(\mathbf{s}, \mathbf{y})") == L
    assert read("L") == L
    with pytest.raises(DerivationFormatError, match=r"post.md, line 1, column 1: expected L\(s, y\) as defined, found L\(y, s\)"):
        read(r"L(\mathbf{y}, \mathbf{s})")


def test_whole_vector_is_its_entry_where_one_is_given():
    assert read(r"\frac{\partial L}{\partial \mathbf{z}}", entry=ENTRY) == sympy.Derivative(L, Z[ENTRY])
    with pytest.raises(DerivationFormatError, match="expected an entry such as z_i, found the whole vector z"):
        read(r"\frac{\partial L}{\partial \mathbf{z}}")


@pytest.mark.parametrize("text, message", [
    (r"\mathbf{z} \cdot \mathbf{y}", r"column 18: expected at most one whole vector in a product or quotient"),
    (r"\frac{\mathbf{z}}{\mathbf{y}}", r"expected at most one whole vector in a quotient"),
    (r"\mathbf{z}^{2}", r"expected a scalar to raise to a power, or entries such as z_i, found a power of a whole vector"),
    (r"\frac{\partial \mathbf{s}}{\partial \mathbf{z}}", r"found a vector by a vector \(a Jacobian has no single entry i\)"),
])
def test_whole_vectors_only_where_entry_by_entry_is_their_meaning(text, message):
    with pytest.raises(DerivationFormatError, match=message):
        read(text, entry=ENTRY)
    assert same(read(r"2 \mathbf{z} - \frac{\mathbf{y}}{m}", entry=ENTRY), 2 * Z[ENTRY] - Y[ENTRY] / M)


@pytest.mark.parametrize("text, message", [
    (r"\foo + 1", r"post.md, line 1, column 1: expected a known LaTeX command, found unknown macro \\foo"),
    (r"\frac{e^{z_c}}{2", r"post.md, line 1, column 15: expected '}' to close this '{', found the end of the expression"),
    (r"m + 1}", r"post.md, line 1, column 6: expected an operator or the end of the expression, found '}'"),
    (r"\sum_{j}", r"post.md, line 1, column 9: expected the body of \\sum \(the rest of the product\), found the end"),
    (r"\sum_{j} + m", r"post.md, line 1, column 10: expected the body of \\sum \(the rest of the product\), found '\+'"),
    (r"w + 1", r"post.md, line 1, column 1: expected a declared name, found 'w' \(not declared\)"),
    (r"q_i", r"post.md, line 1, column 1: expected a declared name, found 'q' \(not declared\)"),
    (r"m_i", r"post.md, line 1, column 2: expected no subscript after 'm', which is not a vector, found '_'"),
    (r"z_{ij}", r"post.md, line 1, column 5: expected one index \(or '\+', '-' between parts of one\), found 'j'"),
    (r"\log s_c s_i", r"expected the end of the product after \\log without parentheses"),
    (r"m / 2 m", r"a/b c is ambiguous"),
    (r"2 3", r"expected an operator between two numbers, found '3'"),
    (r"\sum_{m} z_m", r"expected a declared index under \\sum, found 'm'"),
    (r"\frac{\partial L}{\partial k}", r"expected a name or an entry such as z_i to differentiate by, found k"),
    (r"\frac{m}{0}", r"expected a divisor other than 0, found division by zero"),
    (r"\log 0", r"expected a log of something other than 0"),
    ("m \u00d7 2", r"expected a LaTeX character, found '\u00d7' \(U\+00D7\)"),
])
def test_bad_latex_is_refused_with_place_expected_and_found(text, message):
    with pytest.raises(DerivationFormatError, match=message):
        read(text)


def test_caps_are_those_of_the_toml_reader():
    with pytest.raises(UnsafeExpressionError, match="exponent 100 is too large"):
        read("m^{100}")
    with pytest.raises(UnsafeExpressionError, match="would have about"):
        read("123456789012345678901234567890^{64}")
    with pytest.raises(UnsafeExpressionError, match="more than 30 digits"):
        read("1" * 31)
    with pytest.raises(UnsafeExpressionError, match="nested more than"):
        read("(" * 100 + "m" + ")" * 100)
    with pytest.raises(UnsafeExpressionError, match="characters long"):
        read("m" + " " * 4100 + "+ m")


@pytest.mark.parametrize("module", ["tex", "notes", "rows", "declare"])
def test_readers_never_evaluate_text(module):
    import ast
    import importlib

    tree = ast.parse(Path(importlib.import_module(f"symce.read.{module}").__file__).read_text())
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert not used & {"eval", "exec", "sympify", "parse_expr", "parse_latex", "load", "unsafe_load"}
