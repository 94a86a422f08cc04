"""The gradient identity for symbolic k: indexed sums, exact rewriting, no instance of k.

Split from ``identity`` so that a concrete-k proof on symengine never imports SymPy:
``identity`` asks this module only for symbolic k and for the one-hot lemma.
"""

from __future__ import annotations

import sympy
from sympy.simplify.simplify import factor_sum

from ..model.losses import SymbolicSoftmaxCE, softmax_ce_symbolic
from .meaning import canonical_bounds

# Display-only symbols for residuals, named as the report's reader writes them.
S_I, Y_I, HOT = sympy.Symbol("s_i"), sympy.Symbol("y_i"), sympy.Symbol("[i = c]")


def onehot_sums_to_one() -> str:
    """Prove sum_{j=1}^{k} [j = c] = 1 for symbolic k and 1 <= c <= k; return it as a lemma line."""
    m = softmax_ce_symbolic()
    total = _resolve_range_guards(sympy.Sum(sympy.KroneckerDelta(m.j, m.c), (m.j, 1, m.k)).doit(), m)
    if total != 1:  # pragma: no cover - would mean SymPy changed under us
        raise ArithmeticError(f"one-hot lemma failed: sum_j [j = c] reduced to {total}")
    return "sum_{j=1}^{k} [j = c] = 1 for 1 <= c <= k (proved for symbolic k), so one-hot y sums to 1"


def _resolve_range_guards(expr: sympy.Expr, m: SymbolicSoftmaxCE) -> sympy.Expr:
    """Drop the Piecewise guards that index ranges put in ``Sum(... KroneckerDelta ...).doit()``.

    SymPy returns ``Piecewise((y[i], i <= k), (0, True))`` because it cannot
    infer from summation limits that i and c lie in 1..k (sympy/sympy#13993).
    Here they do by definition, so guards ``1 <= x <= k`` for x in {i, c} are
    true. ``simplify`` is never used on these Sum/Piecewise mixes: it can free
    a bound index and return a wrong result (sympy/sympy#27359).
    """
    true_facts = {}
    for x in (m.i, m.c):
        for rel in (sympy.Le(x, m.k), sympy.Ge(m.k, x), sympy.Le(1, x), sympy.Ge(x, 1)):
            true_facts[rel] = sympy.true
    return sympy.piecewise_fold(expr.xreplace(true_facts)).xreplace(true_facts).doit()


def _normalize(expr: sympy.Expr) -> sympy.Expr:
    """Expand, pull factors free of the bound variable out of each Sum, rename bound variables."""
    for _ in range(4):
        before = expr
        expr = sympy.expand(expr)
        expr = expr.replace(lambda e: isinstance(e, sympy.Sum), factor_sum)
        expr = canonical_bounds(expr)
        if expr == before:
            break
    return expr


def _symbolic_assumption(expr: sympy.Expr, assume: str, m: SymbolicSoftmaxCE) -> sympy.Expr:
    if assume == "none":
        return expr
    if assume == "onehot":
        # y[x] = [x = c] for every index expression x, then resolve the sums it creates.
        expr = expr.replace(lambda e: isinstance(e, sympy.Indexed) and e.base == m.y,
                            lambda e: sympy.KroneckerDelta(e.indices[0], m.c))
        return _normalize(_resolve_range_guards(expr.doit(), m))
    total = canonical_bounds(m.y_sum)
    return _normalize(expr.xreplace({total: sympy.Integer(1)}))


def symbolic_gradient(m: SymbolicSoftmaxCE) -> sympy.Expr:
    """dL/dz_i for symbolic k: SymPy's diff of the indexed sums, KroneckerDelta sums evaluated.

    >>> symbolic_gradient(softmax_ce_symbolic())
    -y[i] - Sum(-exp(z[i])*y[n]/Sum(exp(z[j]), (j, 1, k)), (n, 1, k))
    """
    return _resolve_range_guards(sympy.diff(m.loss, m.z[m.i]).doit(), m)


def prove_symbolic(assume: str, form: str) -> tuple[bool, str | None, tuple[str, ...]]:
    """Whether dL/dz_i equals the ``form`` for every k under ``assume``; the residual; the lemmas.

    >>> prove_symbolic("none", "s-y")[:2]
    (False, 's_i*(Y - 1) where Y = sum_j y_j')
    """
    m = softmax_ce_symbolic()
    i, c = m.i, m.c
    grad = symbolic_gradient(m)
    target = {"general": m.softmax(i) * m.y_sum - m.y[i], "s-y": m.softmax(i) - m.y[i],
              "onehot": m.softmax(i) - sympy.KroneckerDelta(i, c)}[form]
    difference = _symbolic_assumption(_normalize(grad - target), assume, m)
    if difference != 0:
        difference = sympy.factor_terms(difference)
    holds = difference == 0
    lemmas = ["dL/dz_i by SymPy's diff of the indexed sums; KroneckerDelta sums evaluated with 1 <= i <= k"]
    if assume == "onehot":
        lemmas.append(onehot_sums_to_one())
    return holds, None if holds else _show_symbolic(difference, m), tuple(lemmas)


def _show_symbolic(expr: sympy.Expr, m: SymbolicSoftmaxCE) -> str:
    Y = sympy.Symbol("Y")
    expr = expr.xreplace({canonical_bounds(m.y_sum): Y,
                          sympy.exp(m.z[m.i]): S_I * canonical_bounds(m.denominator)})
    expr = sympy.factor_terms(sympy.expand(expr))
    expr = expr.xreplace({m.y[m.i]: Y_I, sympy.KroneckerDelta(m.i, m.c): HOT,
                          sympy.KroneckerDelta(m.c, m.i): HOT})
    note = " where Y = sum_j y_j" if Y in expr.free_symbols else ""
    return f"{sympy.sstr(expr)}{note}"


def show_residual(expr: sympy.Expr, Y: sympy.Symbol, renames: dict) -> str:
    """A concrete component's residual as a reader writes it: s_i, y_i, [i = c], Y = sum_j y_j.

    ``renames`` maps exp(z_i) to s_i * S and the component's own symbols to the display
    ones; the expression is expanded and its common factors pulled out first.

    >>> z, S, Y = sympy.symbols("z_2 S Y")
    >>> show_residual(sympy.exp(z) * Y / S - sympy.exp(z) / S, Y, {sympy.exp(z): S_I * S})
    's_i*(Y - 1) where Y = sum_j y_j'
    """
    exp_key = [key for key in renames if isinstance(key, sympy.exp)]
    expr = sympy.factor_terms(sympy.expand(expr.xreplace({key: renames[key] for key in exp_key})))
    expr = expr.xreplace({key: value for key, value in renames.items() if key not in exp_key})
    note = " where Y = sum_j y_j" if Y in expr.free_symbols else ""
    return f"{sympy.sstr(expr)}{note}"
