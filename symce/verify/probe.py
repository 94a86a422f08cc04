"""High-precision numeric probes: evaluate a symbolic-k expression at one concrete point.

The verifier's probes walk the SymPy tree with mpmath numbers instead of building a
concrete SymPy instance and calling ``evalf`` -- two orders of magnitude faster,
which is what keeps a whole ``symce check`` within seconds. Round-off is told apart
from a real difference by evaluating twice at different precisions: a real
difference stays put, round-off shrinks with the working precision.

>>> import sympy
>>> i, j = sympy.symbols("i j", integer=True, positive=True)
>>> k = sympy.Symbol("k", integer=True, positive=True)
>>> z = sympy.IndexedBase("z", real=True)
>>> point = Point({k: 3, i: 2}, {z: [0, 1, 2]})
>>> round(float(point.value(sympy.exp(z[i]) / sympy.Sum(sympy.exp(z[j]), (j, 1, k)))), 12)
0.244728471055
"""

from __future__ import annotations

import mpmath
import sympy


class Unevaluable(Exception):
    """The expression holds something a probe cannot put a number on."""


class Point:
    """Values for indices (ints) and vector entries (lists, 1-based positions)."""

    def __init__(self, env: dict, vectors: dict, scalars: dict | None = None, extra=None):
        self.env = dict(env)  # Symbol -> int (k and indices)
        self.vectors = vectors  # IndexedBase -> list of numbers; entry n is vectors[base][n - 1]
        self.scalars = scalars or {}  # Symbol -> number
        self.extra = extra  # callable (base, n) -> number for entries outside 1..len, or None
        self.peak = mpmath.mpf(0)  # largest |value| of any node evaluated so far (round-off scale)

    def value(self, e: sympy.Basic, dps: int = 50):
        """``e`` at this point, as an mpmath number computed with ``dps`` digits."""
        with mpmath.workdps(dps):
            return _ev(e, self.env, self)

    def entry(self, base, n: int):
        values = self.vectors.get(base)
        if values is None:
            raise Unevaluable(f"no values for {base}")
        if 1 <= n <= len(values):
            return values[n - 1]
        if self.extra is None:
            raise Unevaluable(f"{base}[{n}] is outside 1..{len(values)}")
        return self.extra(base, n)


def _int(e, env, point) -> int:
    v = _ev(e, env, point)
    if isinstance(v, int):
        return v
    if isinstance(v, mpmath.mpf) and v == int(v):
        return int(v)
    raise Unevaluable(f"{e} is not an integer here")


def _ev(e, env, point):
    """Evaluate one node, remembering the largest magnitude met: round-off is relative to it."""
    v = _ev_node(e, env, point)
    if not isinstance(v, int) and mpmath.isfinite(v):
        point.peak = max(point.peak, abs(v))
    return v


def _ev_node(e, env, point):  # noqa: C901 - one branch per node kind, flat on purpose
    if e.is_Integer:
        return int(e)
    if e.is_Rational:
        return mpmath.mpf(e.p) / e.q
    if e.is_Float:
        return mpmath.mpf(e)
    if isinstance(e, sympy.Symbol):
        if e in env:
            return env[e]
        if e in point.scalars:
            return point.scalars[e]
        raise Unevaluable(f"no value for {e}")
    if isinstance(e, sympy.Indexed):
        if len(e.indices) != 1:  # a matrix entry W[i, j]: points that hold matrices take a tuple
            return point.entry(e.base, tuple(_int(x, env, point) for x in e.indices))
        return point.entry(e.base, _int(e.indices[0], env, point))
    if isinstance(e, sympy.Add):
        return mpmath.fsum(_ev(a, env, point) for a in e.args)
    if isinstance(e, sympy.Mul):
        out = 1
        for a in e.args:
            out = out * _ev(a, env, point)
        return out
    if isinstance(e, sympy.Pow):
        base, exp = _ev(e.base, env, point), _ev(e.exp, env, point)
        if isinstance(base, int) and isinstance(exp, int) and exp < 0:
            base = mpmath.mpf(base)
        if base == 0 and exp < 0:
            raise Unevaluable("division by zero")
        return base ** exp
    if isinstance(e, sympy.exp):
        return mpmath.exp(_ev(e.args[0], env, point))
    if isinstance(e, sympy.log):
        x = _ev(e.args[0], env, point)
        if x == 0:
            raise Unevaluable("log of zero")
        return mpmath.log(x)
    if isinstance(e, sympy.Abs):  # sqrt(z**2) of a real z becomes Abs(z)
        return abs(_ev(e.args[0], env, point))
    if isinstance(e, sympy.sign):  # the derivative of Abs
        return mpmath.sign(_ev(e.args[0], env, point))
    if isinstance(e, sympy.KroneckerDelta):
        return int(_int(e.args[0], env, point) == _int(e.args[1], env, point))
    if isinstance(e, sympy.Sum):
        memo = getattr(point, "sums", None)  # a point may remember sums (a mean inside a variance)
        if memo is None:
            return _sum(e.function, list(e.limits), env, point)
        free = memo.get(e)
        if free is None:
            free = memo[e] = sorted((s for s in e.free_symbols if isinstance(s, sympy.Symbol)), key=str)
        key = (e, mpmath.mp.dps, tuple(env.get(s) for s in free))
        if key not in memo:
            memo[key] = _sum(e.function, list(e.limits), env, point)
        return memo[key]
    if e is sympy.S.Pi:
        return mpmath.pi
    if e is sympy.S.Exp1:
        return mpmath.e
    if e is sympy.S.ImaginaryUnit:  # SymPy writes sqrt(-u) as I*sqrt(u): probe it too
        return mpmath.mpc(0, 1)
    other = getattr(point, "other", None)  # a point's own quantities (abstract functions, Max, ...)
    if other is not None:
        return other(e, lambda x: _ev(x, env, point), lambda x: _int(x, env, point))
    raise Unevaluable(f"cannot evaluate {type(e).__name__}")


def _sum(body, limits, env, point):
    (var, low, high), rest = limits[0], limits[1:]
    low, high = _int(low, env, point), _int(high, env, point)
    if high - low > 10_000:
        raise Unevaluable("sum too long to probe")
    terms = []
    for n in range(low, high + 1):
        inner = {**env, var: n}
        terms.append(_sum(body, rest, inner, point) if rest else _ev(body, inner, point))
    return mpmath.fsum(terms) if terms else 0
