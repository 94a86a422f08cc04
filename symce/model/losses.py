"""Softmax and cross-entropy as SymPy expressions, for a chosen k and for symbolic k.

Everything downstream (the prover, the numeric export) starts from these
objects, so the definitions live in exactly one place:

    s_i = exp(z_i) / sum_j exp(z_j)        L(s, y) = -sum_i y_i log s_i

The concrete-k definitions are written once against an *algebra*: a module with
``symbols``, ``Symbol``, ``exp``, ``log`` and ``Add``. SymPy is the default;
the prover passes symengine (SymPy's C++ core, same names) for speed, and the
numeric spot check passes mpmath to evaluate the very same terms. SymPy itself
is imported on first use, so that ``symce prove --k`` on symengine and
``symce --help`` never pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

#: Smallest class count: with one class the softmax is the constant 1.
K_MIN = 2
#: Largest concrete k accepted: a proof on symengine takes about 1 s at k = 20000 on a
#: 2-core machine (the SymPy fallback about 10x that); beyond it the numeric spot check,
#: O(k) in mpmath per probe, dominates.
K_MAX = 20000


def _sympy():
    import sympy

    return sympy


def check_k(k: object) -> int:
    """Return ``k`` as an int if it is an allowed class count, else raise ``UsageError``.

    >>> check_k(3)
    3
    >>> check_k(1)
    Traceback (most recent call last):
    ...
    symce.errors.UsageError: k must be an integer from 2 to 20000, got 1
    """
    if isinstance(k, bool) or not isinstance(k, int) or not K_MIN <= k <= K_MAX:
        raise UsageError(f"k must be an integer from {K_MIN} to {K_MAX}, got {k!r}")
    return k


@dataclass(frozen=True)
class SoftmaxCE:
    """Softmax cross-entropy for a concrete number of classes k.

    The denominator is kept twice: ``denominator`` is the sum of exponentials
    itself, and ``S`` is a positive symbol standing for it. Expressions in
    ``S`` (``loss_in_S``) are what the prover differentiates with the chain
    rule; substituting ``denominator`` for ``S`` gives the plain definitions.
    """

    k: int  # number of classes
    z: tuple[sympy.Symbol, ...]  # logits z_1..z_k, real
    y: tuple[sympy.Symbol, ...]  # targets y_1..y_k, real
    S: sympy.Symbol  # positive symbol standing for sum_j exp(z_j)
    denominator: sympy.Expr  # sum_j exp(z_j), the value of S
    loss_in_S: sympy.Expr  # -sum_i y_i log(exp(z_i) / S)
    algebra: Any = field(default=None, repr=False, compare=False)  # the module built with; None: SymPy

    def _algebra(self):
        return self.algebra or _sympy()

    def softmax(self, i: int, *, folded: bool = False) -> sympy.Expr:
        """s_i for a 0-based component index; in terms of ``S`` when ``folded``."""
        return self._algebra().exp(self.z[i]) / (self.S if folded else self.denominator)

    @property
    def loss(self) -> sympy.Expr:
        """L(s(z), y) with the denominator written out."""
        return self.loss_in_S.xreplace({self.S: self.denominator})

    @property
    def y_sum(self) -> sympy.Expr:
        """sum_j y_j, the quantity the assumptions on y are about."""
        return self._algebra().Add(*self.y)


def softmax_ce(k: int, algebra=None) -> SoftmaxCE:
    """Build softmax cross-entropy with explicit symbols for ``k`` classes.

    ``algebra`` is the module the expressions are built with: SymPy (the default)
    or symengine, which has the same names for what is used here.

    >>> m = softmax_ce(2)
    >>> m.z
    (z_1, z_2)
    >>> m.loss_in_S
    -y_1*log(exp(z_1)/S) - y_2*log(exp(z_2)/S)
    """
    k = check_k(k)
    alg = algebra or _sympy()
    z = alg.symbols(f"z_1:{k + 1}", real=True)
    y = alg.symbols(f"y_1:{k + 1}", real=True)
    S = alg.Symbol("S", positive=True)  # symengine has no assumptions and ignores them
    loss = alg.Add(*[loss_term(zi, yi, S, alg) for zi, yi in zip(z, y)])
    return SoftmaxCE(k, tuple(z), tuple(y), S, alg.Add(*[alg.exp(zi) for zi in z]), loss, algebra)


def loss_term(z_i: sympy.Expr, y_i: sympy.Expr, S: sympy.Expr, algebra=None) -> sympy.Expr:
    """One class's term of the cross-entropy, -y_i log(exp(z_i) / S); the loss is their sum.

    ``algebra`` supplies ``exp`` and ``log``: SymPy by default, symengine for the
    prover, mpmath to evaluate the term at numbers.

    >>> import sympy, mpmath
    >>> loss_term(*sympy.symbols("z y S"))
    -y*log(exp(z)/S)
    >>> loss_term(mpmath.mpf(0), mpmath.mpf(1), mpmath.mpf(2), mpmath)
    mpf('0.69314718055994529')
    """
    alg = algebra or _sympy()
    return -y_i * alg.log(alg.exp(z_i) / S)


@dataclass(frozen=True)
class SymbolicSoftmaxCE:
    """Softmax cross-entropy for a symbolic number of classes k, with indexed sums."""

    k: sympy.Symbol  # the class count, a positive integer symbol
    z: sympy.IndexedBase  # logits z[j], real
    y: sympy.IndexedBase  # targets y[j], real
    i: sympy.Symbol  # the component index, 1 <= i <= k
    j: sympy.Symbol  # the denominator's summation index
    c: sympy.Symbol  # the correct class for one-hot targets, 1 <= c <= k
    denominator: sympy.Expr  # Sum(exp(z[j]), (j, 1, k))
    loss: sympy.Expr  # -Sum(y[n] * log(s_n), (n, 1, k))

    def softmax(self, index: sympy.Expr) -> sympy.Expr:
        """s at a given index expression: exp(z[index]) / Sum(exp(z[j]), (j, 1, k))."""
        return _sympy().exp(self.z[index]) / self.denominator

    @property
    def y_sum(self) -> sympy.Expr:
        """Sum(y[j], (j, 1, k))."""
        return _sympy().Sum(self.y[self.j], (self.j, 1, self.k))


def softmax_ce_symbolic() -> SymbolicSoftmaxCE:
    """Build softmax cross-entropy for symbolic k with ``Indexed`` z, y and ``Sum``.

    >>> softmax_ce_symbolic().loss
    -Sum(log(exp(z[n])/Sum(exp(z[j]), (j, 1, k)))*y[n], (n, 1, k))
    """
    sympy = _sympy()
    k = sympy.Symbol("k", integer=True, positive=True)
    i, j, n, c = sympy.symbols("i j n c", integer=True, positive=True)
    z = sympy.IndexedBase("z", real=True)
    y = sympy.IndexedBase("y", real=True)
    denominator = sympy.Sum(sympy.exp(z[j]), (j, 1, k))
    # The loss sums over its own index n so that neither i (the component being
    # differentiated) nor j (the denominator's index) is captured.
    loss = -sympy.Sum(y[n] * sympy.log(sympy.exp(z[n]) / denominator), (n, 1, k))
    return SymbolicSoftmaxCE(k, z, y, i, j, c, denominator, loss)
