"""Prove the softmax cross-entropy gradient identity, component by component.

For each logit z_i the prover computes dL/dz_i with SymPy and shows, by exact
symbolic algebra, that it equals the chosen target form:

===========  ==========================  ===============================
form         target for dL/dz_i          holds when
===========  ==========================  ===============================
general      s_i * sum_j y_j - y_i       always
s-y          s_i - y_i                   y sums to 1 (``simplex``)
onehot       s_i - [i = c]               y is one-hot at c (``onehot``)
===========  ==========================  ===============================

A form asked for without the assumption that makes it true is *not* proved:
the result carries the residual (e.g. ``s_i*(Y - 1)``) and names the missing
assumption. Floating point never proves anything here; the numeric spot check
is reported beside the proof, as evidence only.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import sympy
from sympy.simplify.simplify import factor_sum

from ..errors import UsageError
from ..model.losses import SoftmaxCE, SymbolicSoftmaxCE, check_k, loss_term, softmax_ce, softmax_ce_symbolic
from ..model.catalogue import ASSUMPTIONS, DEFAULT_FORM, FORMS, IDENTITIES
from .meaning import canonical_bounds

Progress = Callable[[str, int, int], None]  # (what is being counted, done, in all)


@dataclass(frozen=True)
class Proof:
    """The outcome of one proof attempt: what was claimed, whether it holds, and how it was shown."""

    identity: str  # the claim, e.g. "dL/dz_i = s_i - y_i"
    assumption: str  # key of ASSUMPTIONS in force
    k: int | None  # the class count, None for symbolic k
    components: int  # components shown equal to the target (k, or 0 for symbolic k)
    holds: bool  # True when every component's difference reduced to 0
    evidence: str  # how it was shown, in one line
    lemmas: tuple[str, ...]  # facts proved on the way and used by the proof
    seconds: float  # wall time of the proof, numeric check excluded
    residual: str | None = None  # dL/dz_i - target, when it does not hold
    missing_assumption: str | None = None  # an assumption that would make it hold, if one would
    numeric: str | None = None  # the numeric spot check, labelled as evidence only


def _check_choice(value: str, known, what: str) -> str:
    if value not in known:
        raise UsageError(f"unknown {what} {value!r}; known: {', '.join(known)}")
    return value


def prove(identity: str = "softmax-ce", *, k: int | None = None, assume: str = "simplex",
          form: str | None = None, numeric: bool = True, progress: Progress | None = None) -> Proof:
    """Prove ``identity`` for ``k`` classes (``k=None``: for every k, symbolically).

    >>> p = prove(k=3, assume="simplex")
    >>> p.holds, p.identity, p.components
    (True, 'dL/dz_i = s_i - y_i', 3)
    >>> q = prove(k=3, assume="none", form="s-y", numeric=False)
    >>> q.holds, q.residual, q.missing_assumption
    (False, 's_i*(Y - 1) where Y = sum_j y_j', 'simplex')
    """
    _check_choice(identity, IDENTITIES, "identity")
    _check_choice(assume, ASSUMPTIONS, "assumption")
    form = _check_choice(form or DEFAULT_FORM[assume], FORMS, "form")
    if k is None:
        return _prove_symbolic(assume, form)
    return _prove_concrete(check_k(k), assume, form, numeric, progress)


# --- concrete k ---------------------------------------------------------------

def _terms_by_symbol(expr: sympy.Expr, wanted) -> dict[sympy.Symbol, list[sympy.Expr]]:
    """Group the terms of a sum by which of the ``wanted`` symbols they contain."""
    groups = defaultdict(list)
    for term in sympy.Add.make_args(expr):
        for sym in term.free_symbols & wanted:
            groups[sym].append(term)
    return groups


def _sparse_diff(groups, var) -> sympy.Expr:
    """d/dvar of a sum, given its terms grouped by symbol.

    Why not ``expr.diff(var)``: SymPy's ``Add._eval_derivative`` visits all k
    terms for each of the k components, O(k^2) Derivative constructions,
    about 70 s at k = 1000. The derivative of a term free of ``var`` is 0
    (linearity), so only the group that contains ``var`` is differentiated,
    each term by SymPy's own ``diff``.
    """
    return sympy.Add(*[term.diff(var) for term in groups.get(var, ())])


def _targets(m: SoftmaxCE, i: int, c: sympy.Symbol):
    s_i = m.softmax(i, folded=True)
    return {
        "general": s_i * m.y_sum - m.y[i],
        "s-y": s_i - m.y[i],
        "onehot": s_i - sympy.KroneckerDelta(i + 1, c),
    }


def _under(assume: str, m: SoftmaxCE, i: int, c: sympy.Symbol) -> dict:
    """The replacements an assumption licenses in component i's difference.

    ``simplex`` replaces the sum y_1 + ... + y_k (one shared SymPy object) by 1.
    ``onehot`` also sets y_i = [i = c]; it implies ``simplex`` by the lemma
    sum_{j=1}^{k} [j = c] = 1 for 1 <= c <= k, proved once for symbolic k.
    """
    if assume == "none":
        return {}
    if assume == "simplex":
        return {m.y_sum: sympy.Integer(1)}
    return {m.y_sum: sympy.Integer(1), m.y[i]: sympy.KroneckerDelta(i + 1, c)}


def gradient(m: SoftmaxCE, progress: Progress | None = None):
    """Yield dL/dz_i for i = 1..k, in terms of the symbol S, and dF/dS first.

    Chain rule through the denominator: L(z) = F(z, S(z)), so
    dL/dz_i = dF/dz_i (S held fixed) + dF/dS * dS/dz_i. dF/dS is the same for
    every component: it is computed once and reduced exactly (to Y/S).

    >>> m = softmax_ce(2)
    >>> dF_dS, *grad = gradient(m)
    >>> dF_dS, grad[0]
    ((y_1 + y_2)/S, -y_1 + (y_1 + y_2)*exp(z_1)/S)
    """
    z_set = set(m.z)
    loss_terms = _terms_by_symbol(m.loss_in_S, z_set)
    den_terms = _terms_by_symbol(m.denominator, z_set)
    parts = []
    for n, term in enumerate(sympy.Add.make_args(m.loss_in_S), start=1):
        parts.append(term.diff(m.S))
        if progress is not None and n % 100 == 0:
            progress("terms of dL/dS", n, m.k)
    dF_dS = sympy.factor_terms(sympy.Add(*parts))
    yield dF_dS
    for z_i in m.z:
        yield _sparse_diff(loss_terms, z_i) + dF_dS * _sparse_diff(den_terms, z_i)


def _prove_concrete(k: int, assume: str, form: str, numeric: bool, progress: Progress | None) -> Proof:
    start = time.perf_counter()
    m = softmax_ce(k)
    c = sympy.Symbol("c", integer=True, positive=True)
    components = gradient(m, progress)
    dF_dS = next(components)
    lemmas = [f"dL/dS = {_show(dF_dS, m)} (chain rule through S = sum_j exp(z_j), computed once)"]
    if assume == "onehot":
        lemmas.append(_onehot_sums_to_one())
    failing, first_residual = 0, None
    for i, grad_i in enumerate(components):
        difference = (grad_i - _targets(m, i, c)[form]).xreplace(_under(assume, m, i, c))
        if not _is_zero(difference, m):
            failing += 1
            first_residual = first_residual or _show(difference, m, i, c)
        if progress is not None and (i + 1) % 50 == 0:
            progress("components", i + 1, k)
    seconds = time.perf_counter() - start
    holds = failing == 0
    proof = Proof(
        identity=FORMS[form], assumption=assume, k=k, components=k - failing, holds=holds,
        evidence=(f"exact symbolic algebra: dL/dz_i - target reduced to 0 for all {k} components"
                  if holds else f"exact symbolic algebra: {failing} of {k} components leave a residual"),
        lemmas=tuple(lemmas), seconds=seconds,
        residual=None if holds else first_residual,
        missing_assumption=None if holds else _missing_assumption(form, assume),
    )
    if numeric and holds:
        from dataclasses import replace
        proof = replace(proof, numeric=_spot_check(m, assume, form))
    return proof


def _is_zero(difference: sympy.Expr, m: SoftmaxCE) -> bool:
    """Exact zero test of one component's difference, cheap when it holds.

    The sum Y = y_1 + ... + y_k is first replaced by a fresh symbol: an
    expression that vanishes identically in that symbol vanishes for its
    value too, and the test costs O(1) instead of expanding k-term products.
    Only when that fails is the full expansion tried, so "does not hold" is
    never a by-product of the abstraction.
    """
    if difference == 0:
        return True
    if sympy.expand(difference.xreplace({m.y_sum: sympy.Dummy("Y")})) == 0:
        return True
    return sympy.expand(difference) == 0


def _show(expr: sympy.Expr, m: SoftmaxCE, i: int | None = None, c: sympy.Symbol | None = None) -> str:
    """Print an expression with Y for sum_j y_j and s_i for exp(z_i)/S, as a reader would."""
    Y = sympy.Symbol("Y")
    expr = expr.xreplace({m.y_sum: Y})
    note = " where Y = sum_j y_j" if Y in expr.free_symbols else ""
    if i is not None:
        # exp(z_i) = s_i * S by the definition of s_i.
        expr = sympy.factor_terms(sympy.expand(expr.xreplace({sympy.exp(m.z[i]): _S_I * m.S})))
        expr = expr.xreplace({m.y[i]: _Y_I, sympy.KroneckerDelta(i + 1, c): _HOT})
    return f"{sympy.sstr(expr)}{note}"


# Display-only symbols for residuals, named as the report's reader writes them.
_S_I, _Y_I, _HOT = sympy.Symbol("s_i"), sympy.Symbol("y_i"), sympy.Symbol("[i = c]")


def _missing_assumption(form: str, assume: str) -> str | None:
    """The weakest assumption whose default form is ``form``, if it is stronger than ``assume``."""
    needed = {"s-y": "simplex", "onehot": "onehot"}.get(form)
    order = ["none", "simplex", "onehot"]
    if needed and order.index(needed) > order.index(assume):
        return needed
    return None


def _onehot_sums_to_one() -> str:
    """Prove sum_{j=1}^{k} [j = c] = 1 for symbolic k and 1 <= c <= k; return it as a lemma line."""
    m = softmax_ce_symbolic()
    total = _resolve_range_guards(sympy.Sum(sympy.KroneckerDelta(m.j, m.c), (m.j, 1, m.k)).doit(), m)
    if total != 1:  # pragma: no cover - would mean SymPy changed under us
        raise ArithmeticError(f"one-hot lemma failed: sum_j [j = c] reduced to {total}")
    return "sum_{j=1}^{k} [j = c] = 1 for 1 <= c <= k (proved for symbolic k), so one-hot y sums to 1"


def _spot_check(m: SoftmaxCE, assume: str, form: str, digits: int = 60) -> str:
    """Central differences of L at 60 digits against the target, at random and large logits.

    Only a sample of components is probed: this is evidence beside the proof, not the proof.
    """
    import mpmath

    rng = random.Random(0)
    k = m.k
    # The loss is a sum of k copies of one term (expressions.loss_term); evaluating that
    # term k times keeps the generated code small: lambdify of the whole k-term sum
    # overflows Python's compiler stack (RecursionError) near k = 5000.
    zs, ys = sympy.Dummy("z", real=True), sympy.Dummy("y", real=True)
    term = sympy.lambdify([zs, ys, m.S], loss_term(zs, ys, m.S), modules="mpmath")
    exp = sympy.lambdify([zs], sympy.exp(zs), modules="mpmath")

    def den(z):
        return mpmath.fsum(exp(v) for v in z)

    def loss(z, y, S):
        return mpmath.fsum(term(a, b, S) for a, b in zip(z, y))

    sample = sorted({0, k - 1, *rng.sample(range(k), min(k, 6))})
    worst, probes = mpmath.mpf(0), 0
    with mpmath.workdps(digits):
        h = mpmath.mpf(10) ** (-digits // 3)
        for scale in (3, 1000):
            z = [mpmath.mpf(rng.uniform(-scale, scale)) for _ in range(k)]
            y, hot = _sample_y(rng, k, assume)
            Y = mpmath.fsum(y)
            for i in sample:
                up, down = list(z), list(z)
                up[i] += h
                down[i] -= h
                fd = (loss(up, y, den(up)) - loss(down, y, den(down))) / (2 * h)
                s_i = mpmath.exp(z[i]) / den(z)
                target = {"general": s_i * Y - y[i], "s-y": s_i - y[i],
                          "onehot": s_i - (1 if i == hot else 0)}[form]
                worst = max(worst, abs(fd - target))
                probes += 1
        return (f"numeric evidence only: max |central difference - target| = {mpmath.nstr(worst, 3)} "
                f"over {probes} probes (components {_ranges(sample)}, logits up to 1e3, {digits} digits)")


def _sample_y(rng: random.Random, k: int, assume: str):
    import mpmath

    if assume == "onehot":
        hot = rng.randrange(k)
        return [mpmath.mpf(int(j == hot)) for j in range(k)], hot
    y = [mpmath.mpf(rng.uniform(0, 1)) for _ in range(k)]
    if assume == "simplex":
        total = mpmath.fsum(y)
        y = [v / total for v in y]
    else:
        y = [v * 3 - 1 for v in y]
    return y, None


def _ranges(indices) -> str:
    return ", ".join(str(i + 1) for i in indices)


# --- symbolic k ---------------------------------------------------------------

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


def _prove_symbolic(assume: str, form: str) -> Proof:
    start = time.perf_counter()
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
        lemmas.append(_onehot_sums_to_one())
    return Proof(
        identity=FORMS[form], assumption=assume, k=None, components=0, holds=holds,
        evidence=("exact symbolic algebra for symbolic k: dL/dz_i - target reduced to 0 for every k and i"
                  if holds else "exact symbolic algebra for symbolic k: a residual remains"),
        lemmas=tuple(lemmas), seconds=time.perf_counter() - start,
        residual=None if holds else _show_symbolic(difference, m),
        missing_assumption=None if holds else _missing_assumption(form, assume),
    )


def _show_symbolic(expr: sympy.Expr, m: SymbolicSoftmaxCE) -> str:
    Y = sympy.Symbol("Y")
    expr = expr.xreplace({canonical_bounds(m.y_sum): Y,
                          sympy.exp(m.z[m.i]): _S_I * canonical_bounds(m.denominator)})
    expr = sympy.factor_terms(sympy.expand(expr))
    expr = expr.xreplace({m.y[m.i]: _Y_I, sympy.KroneckerDelta(m.i, m.c): _HOT,
                          sympy.KroneckerDelta(m.c, m.i): _HOT})
    note = " where Y = sum_j y_j" if Y in expr.free_symbols else ""
    return f"{sympy.sstr(expr)}{note}"
