"""The numerically stable forms of softmax cross-entropy, proved exactly for symbolic k.

The export prints code from these expressions, so the stable form is a result
of the algebra rather than a recipe. Three facts are proved, each by exact
rewriting to 0 (never by floating point), with k, the logits and the shift m
symbolic:

1. shift invariance: ``exp(z_i - m) / sum_j exp(z_j - m) = s_i`` for every real m;
2. log-sum-exp: ``L = sum(y) * log(sum_j exp(z_j - m)) - sum_n y_n (z_n - m)``;
3. the gradient: ``dL/dz_i = s_i * sum(y) - y_i``, and ``s_i - y_i`` when y sums to 1.

>>> forms = stable_forms("simplex")
>>> forms.grad == sympy.exp(forms.t[forms.c]) / sympy.Sum(sympy.exp(forms.t[forms.c]), (forms.c, 1, forms.k)) - forms.y[forms.c]
True
>>> forms.proofs[0].claim.endswith("= exp(z[i])/Sum(exp(z[j]), (j, 1, k))")
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy
from sympy.simplify.simplify import factor_sum

from ..errors import ProofError, UsageError
from ..model.losses import softmax_ce_symbolic
from ..verify.identity import prove
from . import EXPORT_ASSUMPTIONS


@dataclass(frozen=True)
class Proof:
    """One identity shown exactly: the difference of its sides rewrote to 0."""

    claim: str  # "lhs = rhs", as SymPy prints them
    method: str  # the rewrites used, in one line


@dataclass(frozen=True)
class StableForms:
    """The proved forms, in array notation ready for a code printer.

    Every ``Indexed`` carries the one class index ``c``: a printer maps ``z[c]``
    to the whole array ``z`` (classes on the last axis) and ``Sum(..., (c, 1, k))``
    to a reduction over that axis.
    """

    assume: str  # assumption on y: "simplex" (sums to 1) or "none"
    z: sympy.IndexedBase  # logits
    y: sympy.IndexedBase  # targets
    t: sympy.IndexedBase  # shifted logits, t = z - m
    m: sympy.Symbol  # the shift; any real value is proved safe, the export uses max(z)
    c: sympy.Symbol  # the class index, the arrays' last axis
    k: sympy.Symbol  # number of classes
    shift: sympy.Expr  # z[c] - m, the definition of t[c]
    loss: sympy.Expr  # Sum(y) * log(Sum(exp(t))) - Sum(y * t)
    grad: sympy.Expr  # s * Sum(y) - y  (assume none)  or  s - y  (assume simplex), s in t
    proofs: tuple[Proof, ...]  # what was proved on the way, in order


def _require_zero(expr: sympy.Expr, claim: str) -> None:
    if expr != 0:
        raise ProofError(f"could not prove {claim}: the difference rewrote to {expr}, not 0")


def _pull_constants(expr: sympy.Expr) -> sympy.Expr:
    """Split exp(a - m) into exp(a)*exp(-m), expand summands and pull constant factors out of Sums."""
    expr = sympy.expand_power_exp(expr)
    expr = expr.replace(lambda e: isinstance(e, sympy.Sum), lambda e: e.expand())
    return expr.replace(lambda e: isinstance(e, sympy.Sum), factor_sum)


def _shift_invariance(P, m) -> tuple[sympy.Expr, Proof]:
    z, i, j, k = P.z, P.i, P.j, P.k
    shifted = sympy.exp(z[i] - m) / sympy.Sum(sympy.exp(z[j] - m), (j, 1, k))
    claim = f"{shifted} = {P.softmax(i)}"
    _require_zero(sympy.cancel(_pull_constants(shifted) - P.softmax(i)), claim)
    return shifted, Proof(claim, "exp(a - m) = exp(a)*exp(-m); exp(-m) out of the Sum; cancel")


def _log_sum_exp(P, m, S) -> tuple[sympy.Expr, Proof]:
    z, y, j, k = P.z, P.y, P.j, P.k
    (n,) = [lim[0] for s in P.loss.atoms(sympy.Sum) for lim in s.limits if lim[0] != j]
    lse = sympy.log(sympy.Sum(sympy.exp(z[j] - m), (j, 1, k)))
    stable = sympy.Sum(y[n], (n, 1, k)) * lse - sympy.Sum(y[n] * (z[n] - m), (n, 1, k))
    claim = f"{P.loss} = {stable}"
    # The denominator is positive (k >= 1 exponentials of reals), which is what lets
    # log(exp(z_n)/S) split into z_n - log(S); the positive symbol S carries that fact.
    diff = _pull_constants(P.loss - stable).xreplace({P.denominator: S})
    diff = _pull_constants(sympy.expand_log(diff))
    _require_zero(sympy.expand(diff), claim)
    return stable, Proof(claim, "denominator -> positive S; expand_log; linearity of Sum; expand")


def _gradient(P, shifted) -> tuple[sympy.Expr, Proof]:
    y_sum = sympy.Sum(P.y[P.j], (P.j, 1, P.k))
    claim = f"d/dz[i] {P.loss} = {P.softmax(P.i) * y_sum - P.y[P.i]}"
    # The gradient identity is symce's own theorem (symce.verify.identity), for symbolic k and
    # nothing assumed about y; the export stands on it rather than on a second proof.
    proof = prove(k=None, assume="none", form="general", numeric=False)
    if not proof.holds:
        raise ProofError(f"could not prove {claim}: the difference rewrote to {proof.residual}, not 0")
    stable = shifted * y_sum - P.y[P.i]  # equal to it by shift invariance
    return stable, Proof(claim, proof.evidence)


def _to_arrays(expr: sympy.Expr, forms_z, m, t, c) -> sympy.Expr:
    """Write z[idx] - m as t[idx], then give every Indexed the class index c."""
    expr = expr.replace(
        lambda e: isinstance(e, sympy.Add) and len(e.args) == 2 and -m in e.args
        and any(isinstance(a, sympy.Indexed) and a.base == forms_z for a in e.args),
        lambda e: t[next(a for a in e.args if a != -m).indices[0]],
    )
    indices = {a.indices[0] for a in expr.atoms(sympy.Indexed)} | {
        lim[0] for s in expr.atoms(sympy.Sum) for lim in s.limits
    }
    return expr.xreplace({idx: c for idx in indices})


@lru_cache(maxsize=4)
def stable_forms(assume: str = "simplex") -> StableForms:
    """Prove the stable forms for symbolic k and return them in array notation.

    Raises ``ProofError`` if any of the three proofs does not go through, so a
    printed export always stands on proved expressions.

    >>> sorted(map(str, stable_forms("none").grad.args))
    ['-y[c]', 'exp(t[c])*Sum(y[c], (c, 1, k))/Sum(exp(t[c]), (c, 1, k))']
    >>> stable_forms("onehot")
    Traceback (most recent call last):
    ...
    symce.errors.UsageError: assume must be one of simplex, none for an export, got 'onehot'
    """
    if assume not in EXPORT_ASSUMPTIONS:
        raise UsageError(f"assume must be one of {', '.join(EXPORT_ASSUMPTIONS)} for an export, got {assume!r}")
    P = softmax_ce_symbolic()
    m = sympy.Symbol("m", real=True)
    S = sympy.Symbol("S", positive=True)
    shifted, p1 = _shift_invariance(P, m)
    loss, p2 = _log_sum_exp(P, m, S)
    grad, p3 = _gradient(P, shifted)
    proofs = [p1, p2, p3]
    if assume == "simplex":
        y_sum = sympy.Sum(P.y[P.j], (P.j, 1, P.k))
        grad = grad.xreplace({y_sum: sympy.Integer(1)})
        proofs.append(Proof(f"{y_sum} = 1", "assumed: y is a probability vector (simplex)"))
    t = sympy.IndexedBase("t", real=True)
    c = sympy.Symbol("c", integer=True, positive=True)
    return StableForms(
        assume=assume, z=P.z, y=P.y, t=t, m=m, c=c, k=P.k,
        shift=P.z[c] - m,
        loss=_to_arrays(loss, P.z, m, t, c),
        grad=_to_arrays(grad, P.z, m, t, c),
        proofs=tuple(proofs),
    )
