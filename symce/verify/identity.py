"""Prove the softmax cross-entropy gradient identity, component by component.

For each logit z_i the prover computes dL/dz_i and shows, by exact symbolic
algebra, that it equals the chosen target form:

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

For a concrete k the algebra runs on an exact kernel (``kernel.py``): symengine
when installed, SymPy otherwise, with the same verdicts and residuals. Symbolic
k is SymPy's (``symbolic_k.py``): indexed sums are beyond symengine.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Callable

from ..errors import UsageError
from ..model.catalogue import ASSUMPTIONS, DEFAULT_FORM, FORMS, IDENTITIES
from ..model.losses import SoftmaxCE, check_k, loss_term, softmax_ce
from . import kernel as kernels

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
    kernel: str = "sympy"  # the exact algebra the proof ran on, with its version


def _check_choice(value: str, known, what: str) -> str:
    if value not in known:
        raise UsageError(f"unknown {what} {value!r}; known: {', '.join(known)}")
    return value


def prove(identity: str = "softmax-ce", *, k: int | None = None, assume: str = "simplex",
          form: str | None = None, numeric: bool = True, progress: Progress | None = None,
          kernel: str | None = None) -> Proof:
    """Prove ``identity`` for ``k`` classes (``k=None``: for every k, symbolically).

    ``kernel`` names the exact algebra of a concrete-k proof ("symengine" or
    "sympy"); by default symengine when it is installed (see ``kernel.load``).

    >>> p = prove(k=3, assume="simplex")
    >>> p.holds, p.identity, p.components
    (True, 'dL/dz_i = s_i - y_i', 3)
    >>> q = prove(k=3, assume="none", form="s-y", numeric=False, kernel="sympy")
    >>> q.holds, q.residual, q.missing_assumption
    (False, 's_i*(Y - 1) where Y = sum_j y_j', 'simplex')
    """
    _check_choice(identity, IDENTITIES, "identity")
    _check_choice(assume, ASSUMPTIONS, "assumption")
    form = _check_choice(form or DEFAULT_FORM[assume], FORMS, "form")
    if k is None:
        return _prove_symbolic(assume, form)
    k = check_k(k)
    return _prove_concrete(k, assume, form, numeric, progress, kernels.load(kernel))


# --- concrete k ---------------------------------------------------------------

def _terms_by_symbol(expr, wanted) -> dict:
    """Group the terms of a sum by which of the ``wanted`` symbols they contain."""
    groups = defaultdict(list)
    for term in type(expr).make_args(expr):
        for sym in term.free_symbols & wanted:
            groups[sym].append(term)
    return groups


def _sparse_diff(groups, var, alg):
    """d/dvar of a sum, given its terms grouped by symbol.

    Why not ``expr.diff(var)``: differentiating the whole k-term sum for each of
    the k components is O(k^2) (about 70 s at k = 1000 in SymPy). The derivative
    of a term free of ``var`` is 0 (linearity), so only the group that contains
    ``var`` is differentiated, each term by the kernel's own ``diff``.
    """
    return alg.Add(*[term.diff(var) for term in groups.get(var, ())])


def dL_dS(m: SoftmaxCE, progress: Progress | None = None):
    """dF/dS, where L(z) = F(z, S(z)): the derivative through the denominator, computed once.

    >>> dL_dS(softmax_ce(2))
    y_1/S + y_2/S
    """
    alg = m._algebra()
    parts = []
    for n, term in enumerate(alg.Add.make_args(m.loss_in_S), start=1):
        parts.append(term.diff(m.S))
        if progress is not None and n % 100 == 0:
            progress("terms of dL/dS", n, m.k)
    return alg.Add(*parts)


def gradient(m: SoftmaxCE, dF_dS):
    """Yield dL/dz_i for i = 1..k, in terms of the symbol S, given dF/dS.

    Chain rule through the denominator: L(z) = F(z, S(z)), so
    dL/dz_i = dF/dz_i (S held fixed) + dF/dS * dS/dz_i, with dF/dS the same
    for every component. The prover passes Y/S (Y standing for sum_j y_j, by
    the lemma it proves from ``dL_dS``), so that each component costs O(1).

    >>> m = softmax_ce(2)
    >>> list(gradient(m, dL_dS(m)))[0]
    -y_1 + (y_1/S + y_2/S)*exp(z_1)
    """
    alg = m._algebra()
    z_set = set(m.z)
    loss_terms = _terms_by_symbol(m.loss_in_S, z_set)
    den_terms = _terms_by_symbol(m.denominator, z_set)
    for z_i in m.z:
        yield _sparse_diff(loss_terms, z_i, alg) + dF_dS * _sparse_diff(den_terms, z_i, alg)


def _target(form: str, m: SoftmaxCE, i: int, Y, hot):
    """The one target form asked for, for component i (0-based); ``hot`` stands for [i = c]."""
    s_i = m.softmax(i, folded=True)
    if form == "general":
        return s_i * Y - m.y[i]
    return s_i - (m.y[i] if form == "s-y" else hot)


def _under(assume: str, m: SoftmaxCE, i: int, Y, hot) -> dict:
    """The replacements an assumption licenses in component i's difference.

    ``simplex`` replaces Y = y_1 + ... + y_k by 1. ``onehot`` also sets
    y_i = [i = c]; it implies ``simplex`` by the lemma sum_{j=1}^{k} [j = c] = 1
    for 1 <= c <= k, proved once for symbolic k.
    """
    if assume == "none":
        return {}
    one = m._algebra().Integer(1)
    return {Y: one} if assume == "simplex" else {Y: one, m.y[i]: hot}


def _prove_concrete(k: int, assume: str, form: str, numeric: bool, progress: Progress | None,
                    alg) -> Proof:
    """Every component's difference, in exact algebra, with Y = sum_j y_j held as a symbol.

    Why Y may be a symbol: the lemma dF/dS = Y/S is checked with the sum written
    out, and a difference that vanishes identically in Y vanishes at Y's value.
    The converse also holds (for k >= 2, Y -> y_1 + ... + y_k maps polynomials in
    Y, y_i and the rest one-to-one, as some y_j with j != i occurs only in Y), so a
    residual never comes from the abstraction. The residual that is reported is
    checked once more with the sum written out.
    """
    start = time.perf_counter()
    m = softmax_ce(k, algebra=alg)
    Y = alg.Symbol("Y")
    total = dL_dS(m, progress)
    if alg.expand(total * m.S - m.y_sum) != 0:  # pragma: no cover - would mean the kernel is wrong
        raise ArithmeticError(f"dL/dS = Y/S failed for k = {k}")
    lemmas = ["dL/dS = Y/S where Y = sum_j y_j (chain rule through S = sum_j exp(z_j), computed once)"]
    if assume == "onehot":
        from .symbolic_k import onehot_sums_to_one

        lemmas.append(onehot_sums_to_one())
    wants_hot = "onehot" in (assume, form)
    failing, residual = 0, None
    for i, grad_i in enumerate(gradient(m, Y / m.S)):
        hot = alg.Symbol(f"[{i + 1} = c]") if wants_hot else None
        difference = alg.expand((grad_i - _target(form, m, i, Y, hot)).xreplace(_under(assume, m, i, Y, hot)))
        if difference != 0:
            if residual is None:
                if alg.expand(difference.xreplace({Y: m.y_sum})) == 0:  # pragma: no cover - see above
                    raise ArithmeticError(f"component {i + 1}: a residual in Y vanishes with Y written out")
                residual = (difference, i, hot)
            failing += 1
        if progress is not None and (i + 1) % 50 == 0:
            progress("components", i + 1, k)
    seconds = time.perf_counter() - start  # printing the residual (in SymPy) is not the proof
    if residual is not None:
        residual = _show(*residual[:2], Y, residual[2], m)
    holds = failing == 0
    name = kernels.describe(alg)
    proof = Proof(
        identity=FORMS[form], assumption=assume, k=k, components=k - failing, holds=holds,
        evidence=(f"exact symbolic algebra ({alg.__name__}): dL/dz_i - target reduced to 0 for all {k} components"
                  if holds else f"exact symbolic algebra ({alg.__name__}): {failing} of {k} components leave a residual"),
        lemmas=tuple(lemmas), seconds=seconds, residual=residual,
        missing_assumption=None if holds else _missing_assumption(form, assume), kernel=name,
    )
    if numeric and holds:
        proof = replace(proof, numeric=_spot_check(m, assume, form))
    return proof


def _show(difference, i: int, Y, hot, m: SoftmaxCE) -> str:
    """Print component i's residual with Y, s_i, y_i and [i = c], as a reader writes it."""
    import sympy

    from .symbolic_k import HOT, S_I, Y_I, show_residual

    alg = m._algebra()
    to = kernels.to_sympy
    renames = {to(alg.exp(m.z[i])): S_I * to(m.S), to(m.y[i]): Y_I}
    if hot is not None:
        renames[to(hot)] = HOT
    return show_residual(to(difference).xreplace({to(Y): sympy.Symbol("Y")}), sympy.Symbol("Y"), renames)


def _missing_assumption(form: str, assume: str) -> str | None:
    """The weakest assumption whose default form is ``form``, if it is stronger than ``assume``."""
    needed = {"s-y": "simplex", "onehot": "onehot"}.get(form)
    order = ["none", "simplex", "onehot"]
    if needed and order.index(needed) > order.index(assume):
        return needed
    return None


def _spot_check(m: SoftmaxCE, assume: str, form: str, digits: int = 60) -> str:
    """Central differences of L at 60 digits along random directions, against the target.

    At two points (logits up to 3, and up to 1e3) the loss, evaluated term by term
    from the model's own ``loss_term`` in mpmath, is differentiated numerically along
    a random direction v; the target's v-weighted sum must agree. One direction
    covers all k components at once, so the cost is four loss evaluations, O(k)
    each. This is evidence beside the proof, not the proof.
    """
    import mpmath

    rng = random.Random(0)
    k = m.k

    def loss(z, y):
        exps = [mpmath.exp(a) for a in z]
        S = mpmath.fsum(exps)
        # loss_term asks for exp(z_j) again: the same number, looked up instead of recomputed.
        at = SimpleNamespace(exp=dict(zip(z, exps)).__getitem__, log=mpmath.log)
        return mpmath.fsum(loss_term(a, b, S, at) for a, b in zip(z, y))

    worst = mpmath.mpf(0)
    with mpmath.workdps(digits):
        h = mpmath.mpf(10) ** (-digits // 3)
        for scale in (3, 1000):
            z = [mpmath.mpf(rng.uniform(-scale, scale)) for _ in range(k)]
            y, hot = _sample_y(rng, k, assume)
            v = [mpmath.mpf(rng.uniform(-1, 1)) for _ in range(k)]
            fd = (loss([a + h * b for a, b in zip(z, v)], y) - loss([a - h * b for a, b in zip(z, v)], y)) / (2 * h)
            exps = [mpmath.exp(a) for a in z]
            S, Y = mpmath.fsum(exps), mpmath.fsum(y)
            s = [e / S for e in exps]
            target = {"general": [s_i * Y - y_i for s_i, y_i in zip(s, y)],
                      "s-y": [s_i - y_i for s_i, y_i in zip(s, y)],
                      "onehot": [s_i - (1 if i == hot else 0) for i, s_i in enumerate(s)]}[form]
            worst = max(worst, abs(fd - mpmath.fsum(a * b for a, b in zip(v, target))))
        return (f"numeric evidence only: max |central difference - target| = {mpmath.nstr(worst, 3)} "
                f"along 2 random directions (all {k} components at once, logits up to 1e3, {digits} digits)")


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


# --- symbolic k ---------------------------------------------------------------

def _prove_symbolic(assume: str, form: str) -> Proof:
    import sympy

    from .symbolic_k import prove_symbolic

    start = time.perf_counter()
    holds, residual, lemmas = prove_symbolic(assume, form)
    return Proof(
        identity=FORMS[form], assumption=assume, k=None, components=0, holds=holds,
        evidence=("exact symbolic algebra for symbolic k: dL/dz_i - target reduced to 0 for every k and i"
                  if holds else "exact symbolic algebra for symbolic k: a residual remains"),
        lemmas=lemmas, seconds=time.perf_counter() - start, residual=residual,
        missing_assumption=None if holds else _missing_assumption(form, assume),
        kernel=kernels.describe(sympy),
    )
