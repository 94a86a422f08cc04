"""Numeric probes: evaluate a symbolic-k expression at one concrete point, three ways.

The verifier's probes walk the SymPy tree with numbers instead of building a concrete
SymPy instance and calling ``evalf`` -- orders of magnitude faster, which is what keeps
a whole ``symce check`` within seconds. One walker, three kinds of number:

* ``Point.fast``: double precision, the first look (most probes stop here);
* ``Point.value``: mpmath at a chosen number of digits, to look again;
* ``Point.interval``: mpmath interval arithmetic, whose result is guaranteed to
  contain the exact value. Only an interval difference that excludes zero makes a
  counterexample (``certify``); round-off can never do that.

>>> import sympy
>>> i, j = sympy.symbols("i j", integer=True, positive=True)
>>> k = sympy.Symbol("k", integer=True, positive=True)
>>> z = sympy.IndexedBase("z", real=True)
>>> point = Point({k: 3, i: 2}, {z: [0, 1, 2]})
>>> s_i = sympy.exp(z[i]) / sympy.Sum(sympy.exp(z[j]), (j, 1, k))
>>> round(float(point.value(s_i)), 12), round(point.fast(s_i), 12)
(0.244728471055, 0.244728471055)
>>> certify(point, s_i, s_i) is None, certify(point, s_i, s_i + sympy.exp(-300)) is not None
(True, True)
"""

from __future__ import annotations

import functools
import math
import random

import mpmath
import sympy
from mpmath import iv


class Unevaluable(Exception):
    """The expression holds something a probe cannot put a number on."""


class Point:
    """Values for indices (ints) and vector entries (lists, 1-based positions).

    Every input value is an exact binary number (an int or an mpf), so the three
    evaluations speak of the same point.
    """

    def __init__(self, env: dict, vectors: dict, scalars: dict | None = None, extra=None):
        self.env = dict(env)  # Symbol -> int (k and indices)
        self.vectors = vectors  # IndexedBase -> list of numbers; entry n is vectors[base][n - 1]
        self.scalars = scalars or {}  # Symbol -> number
        self.extra = extra  # callable (base, n) -> number for entries outside 1..len, or None
        self.memo: dict = {}  # (sum, kind of number, values of its free symbols) -> its value

    def value(self, e: sympy.Basic, dps: int = 50):
        """``e`` at this point, as an mpmath number computed with ``dps`` digits."""
        with mpmath.workdps(dps):
            return _ev(e, self.env, self, _MP)

    def fast(self, e: sympy.Basic) -> float:
        """``e`` in double precision; Unevaluable on overflow, a complex value or a pole."""
        try:
            v = _ev(e, self.env, self, _FLOAT)
            if isinstance(v, complex) or not math.isfinite(v):
                raise Unevaluable("double precision: not a finite real number")
            return float(v)
        except (OverflowError, ZeroDivisionError, ValueError, TypeError) as exc:
            raise Unevaluable(f"double precision: {exc}") from None

    def interval(self, e: sympy.Basic, bits: int):
        """An interval of ``bits`` bits of precision guaranteed to contain ``e``'s exact value."""
        old = iv.prec
        iv.prec = bits
        try:
            v = _ev(e, self.env, self, _IV)
            return iv.mpf(v) if isinstance(v, int) else v  # an exact int becomes a point interval
        except (ZeroDivisionError, ValueError, ArithmeticError, TypeError, AttributeError,
                NotImplementedError) as exc:  # e.g. no interval log of a complex interval
            raise Unevaluable(f"interval arithmetic: {exc}") from None
        finally:
            iv.prec = old

    def entry(self, base, n: int):
        values = self.vectors.get(base)
        if values is None:
            raise Unevaluable(f"no values for {base}")
        if 1 <= n <= len(values):
            return values[n - 1]
        if self.extra is None:
            raise Unevaluable(f"{base}[{n}] is outside 1..{len(values)}")
        return self.extra(base, n)


STYLES = ("plain", "offset", "wide", "landmark")  # ordinary; logits near +-500; corners; near constants


def draw(symbol, rng: random.Random, style: str):
    """One value for an entry or a scalar, with the sign its domain allows.

    ``wide`` reaches the corners: near 0, near 1, and large (up to 900), so that
    |t - 6|, log(1 + exp(t + 80)) or a logit far from the others are probed.
    """
    nonneg = bool(symbol.is_nonnegative) or bool(getattr(symbol, "assumptions0", {}).get("nonnegative"))
    positive = bool(symbol.is_positive) or bool(getattr(symbol, "assumptions0", {}).get("positive"))
    if style != "wide":
        if positive or nonneg:
            return mpmath.mpf(rng.randint(1, 5000)) / 1024
        return mpmath.mpf(rng.randint(-3000, 3000)) / 1024
    kind = rng.choice(("small", "near one", "large", "moderate"))
    if kind == "small":
        magnitude = mpmath.ldexp(rng.randint(1, 1023), -rng.randint(20, 60))
    elif kind == "near one":
        magnitude = 1 + mpmath.ldexp(rng.randint(-1023, 1023), -rng.randint(10, 40))
    elif kind == "large":
        magnitude = mpmath.mpf(rng.randint(20, 900)) + mpmath.ldexp(rng.randint(0, 1023), -10)
    else:
        magnitude = mpmath.ldexp(rng.randint(1, 8191), -10)
    return magnitude if positive or nonneg or rng.random() < 0.5 else -magnitude


def simplex_draw(k: int, rng: random.Random, corner: bool) -> list:
    """Non-negative dyadic entries that add up to exactly one (one entry balances the rest).

    Dyadic values (n / 2^e) are exact in binary, so the sum is exactly 1 at every
    precision; with n / (100 k) it was off by about 1e-50 and a true step that
    multiplies by sum(y) was reported as failing. At a corner, entries are tiny
    (about 2^-40) or ordinary, and the balancing entry, which may then dominate, sits
    at a random position.
    """
    scale = -(7 + k.bit_length())
    with mpmath.workprec(256):
        values = []
        for _ in range(k - 1):
            tiny = corner and rng.random() < 0.5
            values.append(mpmath.ldexp(rng.randint(1, 99), -rng.randint(30, 45) if tiny else scale))
        where = rng.randrange(k) if corner else k - 1
        values.insert(where, 1 - mpmath.fsum(values))
    return values


CERTIFY_BITS = (128, 640, 3200)  # interval precisions tried before a difference is called uncertain


def certify(point: Point, left: sympy.Basic, right: sympy.Basic, schedule=CERTIFY_BITS):
    """``(left, right)`` as mpmath numbers when they surely differ at ``point``, else None.

    Surely: the interval enclosures of the two sides do not overlap at some precision.
    None means "not shown to differ" (equal, or too close to tell, or not evaluable
    in interval arithmetic, e.g. a complex value).
    """
    for bits in schedule:
        try:
            a, b = point.interval(left, bits), point.interval(right, bits)
        except Unevaluable:
            return None
        d = a - b
        parts = (d.real, d.imag) if isinstance(d, iv.mpc) else (d,) if _is_iv(d) else ()
        if not parts or not all(_finite_iv(x) for x in parts):
            continue
        if any(0 not in x for x in parts):
            with mpmath.workprec(bits):
                return _mid(a), _mid(b)
    return None


def _is_iv(x) -> bool:
    return isinstance(x, iv.mpf)


def _finite_iv(x) -> bool:
    return _is_iv(x) and mpmath.isfinite(x.a) and mpmath.isfinite(x.b)


def _mid(x):
    if isinstance(x, iv.mpc):
        return mpmath.mpc(_mid(x.real), _mid(x.imag))
    return mpmath.mpf(x.mid) if _is_iv(x) else mpmath.mpf(x)


class _Floats:
    """Double precision, through the math module."""

    name = "float"

    exp, log = staticmethod(math.exp), staticmethod(math.log)
    pi, e = math.pi, math.e
    imaginary = 1j

    @staticmethod
    def of(x):
        return float(x)

    @staticmethod
    def rational(p, q):
        return p / q

    @staticmethod
    def fsum(values):
        return math.fsum(values)

    @staticmethod
    def sign(x):
        return (x > 0) - (x < 0)

    @staticmethod
    def power(base, exp):
        if isinstance(base, float) and base < 0 and not float(exp).is_integer():
            raise ValueError("a fractional power of a negative number")
        return base ** exp


class _Mp:
    """mpmath at the working precision (complex where the value is)."""

    name = "mp"

    exp, log, sign = staticmethod(mpmath.exp), staticmethod(mpmath.log), staticmethod(mpmath.sign)
    imaginary = mpmath.mpc(0, 1)

    @property
    def pi(self):
        return +mpmath.pi

    @property
    def e(self):
        return +mpmath.e

    @staticmethod
    def of(x):
        return mpmath.mpmathify(x)

    @staticmethod
    def rational(p, q):
        return mpmath.mpf(p) / q

    @staticmethod
    def fsum(values):
        return mpmath.fsum(values)

    @staticmethod
    def power(base, exp):
        return base ** exp


class _Iv:
    """mpmath intervals, every operation rounded outwards (complex ones through iv.mpc)."""

    name = "iv"
    exp = staticmethod(iv.exp)

    @staticmethod
    def log(x):
        """The principal logarithm; of a negative interval, log|x| + i pi (iv.log refuses it)."""
        if _is_iv(x) and x.b < 0:
            return iv.mpc(iv.log(-x), iv.pi)
        return iv.log(x)

    @property
    def pi(self):
        return iv.pi

    @property
    def e(self):
        return iv.e

    @property
    def imaginary(self):
        return iv.mpc(0, 1)

    @staticmethod
    def of(x):
        return iv.mpf(x)

    @staticmethod
    def rational(p, q):
        return iv.mpf(p) / q

    @staticmethod
    def fsum(values):
        return sum(values, iv.mpf(0))

    @staticmethod
    def sign(x):
        if not _is_iv(x):
            raise Unevaluable("the sign of a complex interval")
        if 0 not in x:
            return 1 if x.a > 0 else -1
        if x.a == 0 and x.b == 0:
            return 0
        raise Unevaluable("the sign of an interval around zero")

    @staticmethod
    def power(base, exp):
        if isinstance(exp, int):
            if exp < 0 and 0 in base:
                raise Unevaluable("division by an interval around zero")
            return base ** exp
        if isinstance(base, int):
            base = iv.mpf(base)
        if _is_iv(base) and base.b < 0 and _is_iv(exp):
            # the principal value |x|^r (cos(r pi) + i sin(r pi)), as mpmath gives it
            size, turn = iv.exp(exp * iv.log(-base)), exp * iv.pi
            return iv.mpc(size * iv.cos(turn), size * iv.sin(turn))
        if not _is_iv(base) or not base.a > 0:
            raise Unevaluable("a fractional power of an interval reaching zero or below")
        return iv.exp(exp * iv.log(base))


_FLOAT, _MP, _IV = _Floats(), _Mp(), _Iv()


def _int(e, env, point, ctx) -> int:
    v = _ev(e, env, point, ctx)
    if isinstance(v, int):
        return v
    raise Unevaluable(f"{e} is not an integer here")


def _ev(e, env, point, ctx):  # noqa: C901 - one branch per node kind, flat on purpose
    """Evaluate one node; integers stay Python ints, so index arithmetic is exact."""
    if e.is_Integer:
        return int(e)
    if e.is_Rational:
        return ctx.rational(e.p, e.q)
    if e.is_Float:
        return ctx.of(mpmath.mpf(e))
    if isinstance(e, sympy.Symbol):
        if e in env:
            return env[e]
        if e in point.scalars:
            return ctx.of(point.scalars[e])
        raise Unevaluable(f"no value for {e}")
    if isinstance(e, sympy.Indexed):
        if len(e.indices) != 1:  # a matrix entry W[i, j]: points that hold matrices take a tuple
            return ctx.of(point.entry(e.base, tuple(_int(x, env, point, ctx) for x in e.indices)))
        return ctx.of(point.entry(e.base, _int(e.indices[0], env, point, ctx)))
    if isinstance(e, sympy.Add):
        values = [_ev(a, env, point, ctx) for a in e.args]
        return sum(values) if all(isinstance(v, int) for v in values) else ctx.fsum(values)
    if isinstance(e, sympy.Mul):
        out = 1
        for a in e.args:
            out = out * _ev(a, env, point, ctx)
        return out
    if isinstance(e, sympy.Pow):
        base, exp = _ev(e.base, env, point, ctx), _ev(e.exp, env, point, ctx)
        if isinstance(base, int) and isinstance(exp, int) and exp < 0:
            base = ctx.of(base)
        if isinstance(base, (int, float)) and base == 0 and isinstance(exp, (int, float)) and exp < 0:
            raise Unevaluable("division by zero")
        return ctx.power(base, exp)
    if isinstance(e, sympy.exp):
        return ctx.exp(_ev(e.args[0], env, point, ctx))
    if isinstance(e, sympy.log):
        x = _ev(e.args[0], env, point, ctx)
        if not _is_iv(x) and x == 0:
            raise Unevaluable("log of zero")
        return ctx.log(x)
    if isinstance(e, sympy.Abs):  # sqrt(z**2) of a real z becomes Abs(z)
        return abs(_ev(e.args[0], env, point, ctx))
    if isinstance(e, sympy.sign):  # the derivative of Abs
        return ctx.sign(_ev(e.args[0], env, point, ctx))
    if isinstance(e, sympy.KroneckerDelta):
        return int(_int(e.args[0], env, point, ctx) == _int(e.args[1], env, point, ctx))
    if isinstance(e, sympy.Sum):
        # An inner sum that does not depend on the outer index (the softmax denominator
        # inside a sum over j) is computed once per point, not once per outer term.
        key = (e, ctx.name, mpmath.mp.prec, iv.prec, tuple(env.get(x) for x in _bound_symbols(e)))
        if key not in point.memo:
            point.memo[key] = _sum(e.function, list(e.limits), env, point, ctx)
        return point.memo[key]
    if e is sympy.S.Pi:
        return ctx.pi
    if e is sympy.S.Exp1:
        return ctx.e
    if e is sympy.S.ImaginaryUnit:  # SymPy writes sqrt(-u) as I*sqrt(u): probe it too
        return ctx.imaginary
    other = getattr(point, "other", None)  # a point's own quantities (abstract functions, Max, ...)
    if other is not None:
        return other(e, lambda x: _ev(x, env, point, ctx), lambda x: _int(x, env, point, ctx), ctx)
    raise Unevaluable(f"cannot evaluate {type(e).__name__}")


@functools.lru_cache(maxsize=4096)
def _bound_symbols(e: sympy.Basic) -> tuple:
    """The free symbols of ``e``, in a fixed order: what its value can depend on."""
    return tuple(sorted(e.free_symbols, key=sympy.default_sort_key))


def _sum(body, limits, env, point, ctx):
    (var, low, high), rest = limits[0], limits[1:]
    low, high = _int(low, env, point, ctx), _int(high, env, point, ctx)
    if high - low > 10_000:
        raise Unevaluable("sum too long to probe")
    terms = []
    for n in range(low, high + 1):  # a range that runs backwards is empty
        inner = {**env, var: n}
        terms.append(_sum(body, rest, inner, point, ctx) if rest else _ev(body, inner, point, ctx))
    if all(isinstance(t, int) for t in terms):
        return sum(terms)
    return ctx.fsum(terms)
