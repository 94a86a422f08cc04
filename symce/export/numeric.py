"""Numeric evidence beside the proof: the symbolic loss and gradient, lambdified and compared.

The exact proof (``symce.verify.identity``) is what establishes ``dL/dz_i = s_i * sum_j y_j - y_i``.
This module is a cross-check of a different kind: it turns the *symbolic* loss and
the *symbolic* gradient (SymPy's own derivative of the loss) into NumPy functions
with ``sympy.lambdify`` and compares the gradient with central finite differences
of the loss at points symce draws itself (seeded). Agreement is numeric evidence,
never proof, and every result says so.

The one entry point for ``symce prove --numeric`` is :func:`numeric_check`::

    >>> check = numeric_check(4)
    >>> check.passed
    True
    >>> check.summary().startswith("numeric evidence (not a proof): k=4, assume simplex")
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, ClassVar

import numpy as np
import sympy

from ..errors import UsageError
from ..model.losses import softmax_ce

#: The assumptions on y a check can be run under (the prover's ``--assume`` values).
ASSUMPTIONS = ("simplex", "none", "onehot")
#: The point families, in report order.
FAMILIES = ("random", "large", "near-onehot", "soft")
#: Points drawn per family.
POINTS = 3
#: Seed of ``numpy.random.default_rng``; the check is reproducible run to run.
SEED = 0
#: Central-difference step per family. Large logits make the loss itself large
#: (|L| ~ 1e3), so rounding in the loss dominates sooner and a larger step is better.
STEPS = {"random": 1e-5, "large": 1e-3, "near-onehot": 1e-5, "soft": 1e-5}
#: Safety factor over the error model of the central difference (see ``_tolerance``).
SAFETY = 10.0

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class NumericFunctions:
    """The lambdified symbolic loss and gradient for one k, vectorised over a batch.

    Arrays have classes on the last axis: ``z`` and ``y`` of shape ``(..., k)``;
    ``loss`` returns shape ``(...)`` and ``grad`` and ``target`` shape ``(..., k)``.
    Both are evaluated at ``z - max(z)``: loss and gradient are invariant under a
    common shift of the logits (proved exactly in ``symce.export.stable``), and without
    the shift ``exp`` overflows for logits above about 709.
    """

    k: int  # number of classes
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray]  # L(z, y) from the symbolic loss
    grad: Callable[[np.ndarray, np.ndarray], np.ndarray]  # SymPy's derivative dL/dz
    target: Callable[[np.ndarray, np.ndarray], np.ndarray]  # s * sum(y) - y, the identity's right side


@lru_cache(maxsize=8)
def lambdified(k: int) -> NumericFunctions:
    """Lambdify the symbolic loss of ``softmax_ce(k)`` and SymPy's gradient of it.

    Why the chain rule through ``S``: with the denominator written out the loss is
    O(k^2) in size. In ``loss_in_S`` (``S`` standing for sum_j exp(z_j)) only the
    i-th term contains z_i, so ``dL/dz_i = dL/dz_i|_S + dL/dS * dS/dz_i``, each
    factor differentiated by SymPy, keeps every expression O(k).

    >>> f = lambdified(3)
    >>> z, y = np.array([1.0, 2.0, 3.0]), np.array([0.2, 0.3, 0.5])
    >>> bool(np.allclose(f.grad(z, y), f.target(z, y)))
    True
    """
    model = softmax_ce(k)
    z, y, S = model.z, model.y, model.S
    # log(exp(z_i)/S) -> z_i - log(S) is exact here (z_i real, S positive) and keeps
    # the lambdified loss free of exp(z_i), which underflows to 0 and gives log(0).
    loss_in_S = sympy.expand_log(model.loss_in_S)
    dL_dS = sympy.diff(loss_in_S, S)
    G = sympy.Dummy("dL_dS")
    L_term, S_term = _term_per_logit(loss_in_S, z), _term_per_logit(model.denominator, z)
    grad = [sympy.diff(L_term[zi], zi) + G * sympy.diff(S_term[zi], zi) for zi in z]
    Y = sympy.Dummy("y_sum")  # sum_j y_j, evaluated once rather than inside all k components
    target = [model.softmax(i, folded=True) * Y - y[i] for i in range(k)]

    f_loss = sympy.lambdify([z, y, S], loss_in_S, "numpy")
    f_dS = sympy.lambdify([y, S], dL_dS, "numpy")
    f_grad = sympy.lambdify([z, y, G], grad, "numpy")
    f_target = sympy.lambdify([z, y, S, Y], target, "numpy")
    f_Y = sympy.lambdify([y], model.y_sum, "numpy")
    f_S = sympy.lambdify([z], model.denominator, "numpy")

    def shifted(zs, ys):
        zs, ys = np.asarray(zs, dtype=float), np.asarray(ys, dtype=float)
        zs = zs - zs.max(axis=-1, keepdims=True)
        zc, yc = np.moveaxis(zs, -1, 0), np.moveaxis(ys, -1, 0)  # component-major for unpacking
        return zc, yc, f_S(zc)

    def loss(zs, ys):
        zc, yc, s = shifted(zs, ys)
        return f_loss(zc, yc, s)

    def grad_fn(zs, ys):
        zc, yc, s = shifted(zs, ys)
        return _stack(f_grad(zc, yc, f_dS(yc, s)), zc.shape[1:])

    def target_fn(zs, ys):
        zc, yc, s = shifted(zs, ys)
        return _stack(f_target(zc, yc, s, f_Y(yc)), zc.shape[1:])

    return NumericFunctions(k, loss, grad_fn, target_fn)


def _term_per_logit(expr: sympy.Expr, z) -> dict:
    """Map each z_i to the one term of the sum ``expr`` that contains it.

    This is the premise of differentiating term by term; it is checked, not assumed.
    """
    term_of = {}
    for term in sympy.Add.make_args(expr):
        (zi,) = term.free_symbols & set(z)
        term_of[zi] = term
    assert len(term_of) == len(z), "each logit must appear in exactly one term"
    return term_of


def _stack(components, batch_shape) -> np.ndarray:
    """Stack k lambdified components (arrays or scalars) onto a last class axis."""
    return np.stack([np.broadcast_to(c, batch_shape) for c in components], axis=-1)


@dataclass(frozen=True)
class FamilyResult:
    """Finite differences against the symbolic gradient for one family of points."""

    family: str  # how the points were drawn: random, large, near-onehot, soft
    points: int  # number of points drawn
    step: float  # central-difference step h
    max_abs_error: float  # max |grad - fd| over points and components
    max_rel_error: float  # max over points of max|grad - fd| / max|fd|
    tolerance: float  # the bound max_abs_error is held to (error model x SAFETY)
    target_max_abs: float  # max |grad - (s * sum(y) - y)|: the identity at the same points
    passed: bool  # max_abs_error <= tolerance and target_max_abs <= tolerance


@dataclass(frozen=True)
class NumericCheck:
    """Numeric evidence for one k: finite differences of the symbolic loss, per family.

    This is evidence, never proof; ``evidence`` says so in every summary.
    """

    evidence: ClassVar[str] = "numeric evidence (not a proof)"
    k: int  # number of classes
    assume: str  # assumption on y the targets were drawn under
    seed: int  # seed of numpy.random.default_rng
    families: tuple[FamilyResult, ...]  # one result per point family, in FAMILIES order
    seconds: float  # wall time of the check

    @property
    def passed(self) -> bool:
        """True when every family is within its tolerance."""
        return all(f.passed for f in self.families)

    def summary(self) -> str:
        """One line: the verdict, then worst error / tolerance per family."""
        verdict = "agree" if self.passed else "DISAGREE"
        parts = ", ".join(
            f"{f.family} {f.max_abs_error:.1e}/{f.tolerance:.1e}" for f in self.families
        )
        return (
            f"{self.evidence}: k={self.k}, assume {self.assume}: gradient and central "
            f"differences {verdict} at {sum(f.points for f in self.families)} seeded points "
            f"(max abs error/tolerance: {parts}) in {self.seconds:.2f} s"
        )


def numeric_check(k: int, assume: str = "simplex") -> NumericCheck:
    """Compare SymPy's gradient of the loss with central differences of the loss.

    This is the API behind ``symce prove --numeric``. Points come from
    ``numpy.random.default_rng(SEED)``; targets are drawn to satisfy ``assume``
    (``simplex``: y sums to 1; ``onehot``: y is one-hot; ``none``: y sums to
    neither 0 nor 1 and may be negative). Each family also checks the identity's
    right side ``s * sum(y) - y`` against the gradient at the same points.

    >>> numeric_check(3, assume="none").families[0].family
    'random'
    >>> numeric_check(3, assume="both")
    Traceback (most recent call last):
    ...
    symce.errors.UsageError: assume must be one of simplex, none, onehot, got 'both'
    """
    if assume not in ASSUMPTIONS:
        raise UsageError(f"assume must be one of {', '.join(ASSUMPTIONS)}, got {assume!r}")
    start = time.perf_counter()
    f = lambdified(k)
    rng = np.random.default_rng(SEED)
    results = []
    for family in FAMILIES:
        z, y = _draw(family, assume, k, rng)
        results.append(_check_family(f, family, z, y))
    return NumericCheck(k, assume, SEED, tuple(results), time.perf_counter() - start)


def _draw(family: str, assume: str, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw POINTS logits and targets of one family, shape (POINTS, k) each."""
    n = POINTS
    if family == "large":
        z = rng.uniform(-1e3, 1e3, (n, k))
    else:
        z = rng.normal(0.0, 3.0, (n, k))
    if family == "near-onehot":
        c = rng.integers(0, k, n)
        y = np.full((n, k), 1e-3 / (k - 1))
        y[np.arange(n), c] = 1 - 1e-3
        z[np.arange(n), c] += 5.0  # the model is nearly right too: s ~ y, the gradient is small
    else:
        y = rng.dirichlet(np.full(k, 0.5 if family == "soft" else 1.0), n)
    if assume == "onehot":
        y = (y == y.max(axis=-1, keepdims=True)).astype(float)
    elif assume == "none":
        # Off the simplex: scaled and shifted so that sum(y) != 1 and entries may be negative.
        y = y * rng.uniform(0.5, 2.0, (n, 1)) - rng.uniform(0.0, 0.5 / k, (n, k))
    return z, y


def _check_family(f: NumericFunctions, family: str, z: np.ndarray, y: np.ndarray) -> FamilyResult:
    """Central differences of ``f.loss`` in every component, against ``f.grad``."""
    h = STEPS[family]
    n, k = z.shape
    eye = np.eye(k)
    # All 2k perturbed points of one base point go through the loss as one batch.
    worst_abs = worst_rel = worst_tol = target_err = 0.0
    for zi, yi in zip(z, y):
        plus, minus = zi + h * eye, zi - h * eye
        steps = np.diagonal(plus - minus)  # the step actually taken, after rounding
        fd = (f.loss(plus, yi) - f.loss(minus, yi)) / steps
        g = f.grad(zi, yi)
        err = float(np.max(np.abs(g - fd)))
        worst_abs = max(worst_abs, err)
        worst_rel = max(worst_rel, err / max(float(np.max(np.abs(fd))), _EPS))
        worst_tol = max(worst_tol, _tolerance(zi, yi, h))
        target_err = max(target_err, float(np.max(np.abs(g - f.target(zi, yi)))))
    passed = bool(worst_abs <= worst_tol and target_err <= worst_tol)
    return FamilyResult(family, n, h, worst_abs, worst_rel, worst_tol, target_err, passed)


def _tolerance(z: np.ndarray, y: np.ndarray, h: float) -> float:
    """Error model of a central difference of L, times SAFETY.

    Truncation: h^2/6 * max|d^3L/dz_i^3|, and d^3L/dz_i^3 = sum(y) * s(1-s)(1-2s),
    bounded by |sum(y)| / (6*sqrt(3)). Rounding: the loss is a sum of k terms of
    size |y_i| * (|z_i - m| + log S); with errors growing like sqrt(k) that is
    eps * sqrt(k) * F per evaluation, and the difference divides two of them by 2h.
    """
    zs = z - z.max()
    log_S = float(np.log(np.exp(zs).sum()))
    F = float(np.sum(np.abs(y) * (np.abs(zs) + log_S))) + 1.0
    truncation = h * h / 6 * abs(float(y.sum())) / (6 * np.sqrt(3))
    rounding = _EPS * np.sqrt(z.size) * F / h
    return float(SAFETY * (truncation + rounding + _EPS))
