"""Concrete instances of one step: probe points, their comparison, exact instances.

A probe compares both sides of a step at one point: in double precision first, then
with mpmath at 50 digits, and a disagreement becomes a counterexample only once
interval arithmetic has certified it (``probe.certify``). Instances fix k and the
free indices so that the exact proof can be tried at each (``steps.verify_step``).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import mpmath
import sympy

from .meaning import Meaning, is_zero
from .probe import CERTIFY_BITS, STYLES as _STYLES, Point, Unevaluable, certify
from .probe import draw as _draw, simplex_draw as _simplex_draw

PROBE_K = (1, 2, 3, 5, 8, 11)  # class counts probed numerically (from the file's min)
MIN_POINTS = 36  # a step with few placements is probed at least this often (more corners)
MORE_K = (4, 6, 7, 9, 10)  # also probed, with one random k in 12..40, when there is no proof
PROBES_PER_K = 8  # at most this many index placements probed per k
MAX_PLACEMENTS = 400  # give up enumerating placements beyond this (evidence drops to NUMERIC)
DIGITS = 50  # working precision (decimal digits) of a second look at a probe
TOLERANCE = mpmath.mpf("1e-30")  # relative disagreement at DIGITS that asks for certification
ROUNDOFF = mpmath.mpf("1e-12")  # an uncertified relative gap below this is round-off, not a doubt
DEEP_PROBES = 6  # points of an unproved step where a difference beyond 50 digits is looked for
DEEP_BITS = (704, 3200)  # about 210, then 960 digits: a gap such as exp(-1000) beside 1
FAST_TOLERANCE = 1e-9  # relative disagreement in double precision that asks for a second look


@dataclass(frozen=True)
class Counterexample:
    """Values at which the two sides of a step differ."""

    values: dict[str, str]  # symbol name -> value, as printed text
    lhs: str  # value of the previous expression there
    rhs: str  # value of the step's expression there
    difference: str = ""  # previous minus this step's, certified nonzero (shows a tiny gap)


def _describe(k: int, placement: dict) -> str:
    return ", ".join([f"k = {k}"] + [f"{s} = {v}" for s, v in placement.items()])


class _Instances:
    """Concrete instances of one step: fixed k, fixed values of the free indices."""

    def __init__(self, meaning: Meaning, left, right, condition):
        self.meaning = meaning
        self.left, self.right = left, right
        self.condition = condition
        free = (left.free_symbols | right.free_symbols) & meaning.indices
        self.free = sorted(free, key=lambda s: s.name)
        self.simplex = meaning.simplex_vectors()
        symbols = meaning.derivation.symbols
        self.vectors = {symbols[v]: symbols[v] for v in meaning.derivation.vectors
                        if isinstance(symbols[v], sympy.IndexedBase) and v not in meaning.defs}
        used = left.free_symbols | right.free_symbols
        self.scalars = [o for o in symbols.values() if isinstance(o, sympy.Symbol)
                        and o not in meaning.indices and o is not meaning.k and o in used]
        self.used = {x.base for side in (left, right) for x in side.atoms(sympy.Indexed)}
        # A step that names z[2] speaks of k >= 2 only (see shown_positions): no probe below.
        literal = [int(x) for e in left.atoms(sympy.Indexed) | right.atoms(sympy.Indexed)
                   for x in e.indices if x.is_Integer and x >= 1]
        self.least_k = max([meaning.derivation.k_min] + literal)
        numbers = {abs(x) for x in (left - right).atoms(sympy.Rational) if abs(x) not in (0, 1)}
        self.landmarks = [mpmath.mpf(x.p) / x.q for x in sorted(numbers)][:16]

    def placements(self, k: int, limit: int = MAX_PLACEMENTS) -> list[dict] | None:
        """Every placement of the free indices in 1..k that the case allows (None: too many)."""
        if k ** len(self.free) > limit:
            return None
        out = []
        for values in itertools.product(range(1, k + 1), repeat=len(self.free)):
            placement = dict(zip(self.free, values))
            if self.condition is not None:  # k too: Ne(i, k) excludes i = k
                holds = self.condition.xreplace({**placement, self.meaning.k: sympy.Integer(k)})
                if holds is sympy.false:
                    continue
            out.append(placement)
        return out

    def proved_at(self, k: int) -> bool:
        """Exact proof at one concrete k, for every placement of the free indices."""
        placements = self.placements(k)
        return placements is not None and all(
            is_zero(self.instance(self.left, k, p) - self.instance(self.right, k, p)) for p in placements)

    def points(self, rng: random.Random, ks=None) -> list[tuple[int, dict, Point]]:
        """The probe points: for each probed k, some placements, each at two styles or more."""
        plan = []
        derivation = self.meaning.derivation
        if ks is None:
            ks = (derivation.k,) if derivation.k is not None else sorted(
                {k for k in PROBE_K if k >= self.least_k} | {self.least_k})
        for k in ks:
            placements = self.placements(k) or []
            if len(placements) > PROBES_PER_K:
                placements = [placements[0], placements[-1]] + rng.sample(placements[1:-1], PROBES_PER_K - 2)
            plan += [(k, p) for p in placements]
        # Every placement at ordinary values and at one of the other styles in turn; a step
        # with few placements (scalars only) gets every style, and more corners.
        rounds = 1 if len(plan) > MIN_POINTS // 2 else max(3, MIN_POINTS // max(len(plan), 1))
        points = []
        for n, (k, p) in enumerate(plan):
            styles = ["plain", _STYLES[1 + n % 3]] if rounds == 1 else list(_STYLES[:rounds]) + ["wide"] * (rounds - 4)
            points += [(k, p, self.point(k, p, rng, style)) for style in styles]
        return points

    def instance(self, e, k: int, placement: dict):
        e = _unroll(e.xreplace({self.meaning.k: sympy.Integer(k), **placement}))
        for y in self.simplex:  # the last entry is whatever makes the vector sum to one
            e = e.xreplace({y[k]: 1 - sympy.Add(*(y[n] for n in range(1, k)))})
        return e

    def compare(self, k: int, placement: dict, point: Point, precise: bool, deep: bool = False):
        """Compare both sides at one point.

        Returns a certified Counterexample, or "agree", "skip" (not evaluable here) or
        "doubt: ..." (the sides disagree, but interval arithmetic could not show it).
        ``precise``: skip the double-precision look and certify any difference at 50
        digits; ``deep``: try to certify a difference even where 50 digits see none.
        """
        if not precise:
            try:
                a, b = point.fast(self.left), point.fast(self.right)
                if abs(a - b) <= FAST_TOLERANCE * max(abs(a), abs(b), 1e-300):
                    return "agree"
            except Unevaluable:
                pass
        try:
            a, b = point.value(self.left, DIGITS), point.value(self.right, DIGITS)
        except (Unevaluable, ZeroDivisionError, OverflowError, ValueError, TypeError):
            return "skip"
        if not (_finite(a) and _finite(b)):
            return "skip"
        if not precise and _close(a, b):
            return "agree"
        # A difference below 50 digits (z[i] + exp(-200) against z[i]) is looked for too,
        # by intervals of up to 3200 bits, but only at the first points of an unproved step.
        if (a == b or _close(a, b)) and not deep:
            return "agree"
        sure = certify(point, self.left, self.right, DEEP_BITS if a == b or _close(a, b) else CERTIFY_BITS)
        if sure is None:
            if _close(a, b) or abs(a - b) <= ROUNDOFF * max(abs(a), abs(b), 1e-28):
                return "agree"  # within what 50 digits lose to cancellation: no sign of a difference
            return (f"doubt: the sides differ in floating point at {_describe(k, placement)} "
                    f"({_show(a)} and {_show(b)}), but the difference could not be certified")
        shown = {"k": str(k), **{str(s): str(v) for s, v in placement.items()}}
        for base, values in point.vectors.items():
            if base in self.used:
                shown.update({f"{base}[{n}]": mpmath.nstr(v, 8) for n, v in enumerate(values, 1)})
        shown.update({f"{b_}[{n}] (outside 1..k)": mpmath.nstr(v, 8)
                      for (b_, n), v in point.extra_values.items()})
        shown.update({str(s): mpmath.nstr(v, 8) for s, v in point.scalars.items()})
        with mpmath.workprec(4000):
            gap = sure[0] - sure[1]
            return Counterexample(values=shown, lhs=_show(sure[0], sure[1]), rhs=_show(sure[1], sure[0]),
                                  difference=mpmath.nstr(gap, 3))

    def _landmark(self, symbol, rng: random.Random):
        if not self.landmarks:
            return _draw(symbol, rng, "wide")
        c = rng.choice(self.landmarks) * rng.choice((1, -1)) + mpmath.ldexp(rng.randint(-8, 8), -6)
        return abs(c) if (symbol.is_nonnegative or symbol.is_positive) and c != 0 else c

    def point(self, k: int, placement: dict, rng: random.Random, style: str) -> Point:
        """One random point; every value an exact binary number (see ``_draw``)."""
        offset = rng.choice((-1, 1)) * rng.randint(300, 700) if style == "offset" else 0
        vectors = {}
        for base in self.vectors:
            if base in self.simplex:
                vectors[base] = _simplex_draw(k, rng, corner=style != "plain")
            else:
                vectors[base] = [_shift(base, offset) + _draw(base, rng, style) for _ in range(k)]
        extra_values: dict = {}

        def extra(base, n):  # entries outside 1..k, reached by an index that is off by one
            if base not in vectors:
                raise Unevaluable(f"no values for {base}")
            return extra_values.setdefault((base, n), _shift(base, offset) + _draw(base, rng, style))

        if style == "landmark":  # a scalar near a number the step names: |t - 6| at t = 6.125
            scalars = {s: self._landmark(s, rng) for s in self.scalars}
        else:
            scalars = {s: _draw(s, rng, style) for s in self.scalars}
        point = Point({self.meaning.k: k, **placement}, vectors, scalars, extra)
        point.extra_values = extra_values
        return point


def _shift(base, offset):
    """The offset of the ``offset`` style, for vectors whose domain allows it (a positive w stays positive)."""
    signed = not (base.assumptions0.get("positive") or base.assumptions0.get("nonnegative"))
    return offset if signed else 0


def _unroll(e):
    """Write out sums with integer limits as additions.

    Much faster than ``Sum.doit``, which tries closed forms and delta summation on
    every term; here every index is a number, so plain substitution is exact.
    """
    if e.is_Atom or not e.args:
        return e
    if isinstance(e, sympy.Indexed):
        return e.base[tuple(_unroll(a) for a in e.indices)]
    if isinstance(e, sympy.Sum):
        body = _unroll(e.function)
        for var, low, high in e.limits:
            low, high = _unroll(low), _unroll(high)
            if not (low.is_Integer and high.is_Integer and high - low < 10_000):
                return sympy.Sum(body, *e.limits)
            body = sympy.Add(*(body.xreplace({var: n}) for n in range(int(low), int(high) + 1)))
        return body
    return e.func(*(_unroll(a) for a in e.args))


def _show(x, other=None) -> str:
    """12 significant digits, or as many as it takes to tell ``x`` from ``other`` (up to 40).

    A Python int (an exact integer value) would print every digit.
    """
    with mpmath.workprec(4000):
        x = mpmath.mpmathify(x)
        digits = 12
        if other is not None and x != other:
            gap = abs(x - other) / max(abs(x), abs(other))
            digits = min(40, max(12, int(-mpmath.log10(gap)) + 4))
        return mpmath.nstr(x, digits)


def _finite(x) -> bool:
    return isinstance(x, int) or mpmath.isfinite(x)


def _close(a, b) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))
