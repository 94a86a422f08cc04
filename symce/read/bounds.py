"""How large the exact numbers an expression can make may get, read off its tree alone.

A 44-character text such as ``((((10**29*z[i])**64)**64)**64)**64`` is small, yet
SymPy computes ``10**(29*64**4)`` the moment anything evaluates it: an assumption
query (``is_zero`` asks ``Pow._eval_is_rational``, which builds the power), a
constructor that evaluates (``KroneckerDelta`` forms ``a - b``), the loader putting
an index to 1..k, the typesetter's row vector. None of those may run on a text
until it is known to be cheap, and no SymPy call can tell that without doing the
work. So the reader sizes every node it builds *before* anything looks at it, by
rules on the tree (SymPy issue 21897 is the same hazard in ``sympify``):

- a number has the bits it is written with; an index or ``k`` has ``INDEX_BITS``
  (values up to 50) since the checker and the typesetter put numbers in for them;
  a real symbol or a vector entry is never given an exact value, so it has none;
- a product adds bits and degrees; a sum of fractions adds the denominators;
- ``b**n`` multiplies by ``|n|``, and a symbolic exponent by the largest value it
  can take (``2**bits``), which is how nesting compounds;
- ``exp(c*log(u))`` is ``u**c`` to SymPy, so ``exp`` multiplies the log's size by
  its coefficient; a ``Sum`` multiplies by the number of its terms, a
  ``Derivative`` by the degree per differentiation.

The bounds are over-estimates (never under), and loose enough for every
derivation a person writes: the reference files stay below 400 bits. Also here:
the file-wide budget of syntax nodes (``Budget``), and the tests the reader makes on
the form of what it built (``literal_zero``, ``integer_by_form``) instead of asking
SymPy's assumptions, which evaluate.

>>> import sympy
>>> z = sympy.IndexedBase("z", real=True)
>>> i = sympy.Symbol("i", integer=True, positive=True)
>>> tower = sympy.Pow(sympy.Mul(10**29, z[i], evaluate=False), 64, evaluate=False)
>>> Reach().of(tower).num
6208
>>> Reach().check(sympy.Pow(tower, 64, evaluate=False), "f.toml, step 1")
Traceback (most recent call last):
...
symce.errors.UnsafeExpressionError: f.toml, step 1: expression could make numbers of about 397312 bits once evaluated (at most 8192; a power of a power multiplies the exponents)
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from ..errors import DerivationFormatError, UnsafeExpressionError

MAX_REACH_BITS = 1 << 13  # size of any exact number evaluating an expression could make (printable:
# 2467 digits, under the 4300 that Python converts to text by default)
MAX_DEGREE = 1 << 16  # degree of a power of symbols, exponents multiplied through nesting
INDEX_BITS = 6  # an index or k is put to values in 1..50 (a file's k is at most 50)
MAX_FILE_NODES = 8_000  # ast nodes over all expressions of one file (the softmax file has ~1300)
MAX_ENTRIES = 200  # names, definitions, assumptions or cases of a file: each is checked at load time
MAX_FILE_TOKENS = 10_000  # LaTeX tokens over all display blocks of a notes file (the post has ~1100)
_HUGE = 1 << 80  # saturation: every bound is kept below this, so no bound itself grows large


def _cap(n: int) -> int:
    return min(n, _HUGE)


def _pow2(bits: int) -> int:
    """2**bits, saturated: the largest value a number of ``bits`` bits can have."""
    return _HUGE if bits >= 80 else 1 << bits


@dataclass(frozen=True)
class Size:
    """Bounds on what evaluating (and expanding) one expression can make."""

    num: int = 0  # bits of any numerator
    den: int = 0  # bits of any denominator
    degree: int = 0  # total degree in the symbols
    log_bits: int = 0  # bits of u**c that exp(c*log(u)) would make, c the coefficient met so far
    log_degree: int = 0  # degree of that u**c
    exact: bool = True  # may become a number once indices have values (no vector entry, no real symbol)
    values: frozenset = frozenset()  # integer symbols that occur as numbers, not only as indices

    @property
    def bits(self) -> int:
        return max(self.num, self.den)

    def scaled(self, factor: int) -> Size:
        """Raised to a power of at most ``factor`` (either sign)."""
        bits = _cap(max(self.bits * factor, 1))  # b**0 is 1, of one bit
        return Size(bits, bits, _cap(self.degree * factor), _cap(self.log_bits * factor),
                    _cap(self.log_degree * factor), self.exact, self.values)


_LEAF = Size()


class Reach:
    """Sizes of expressions under one assignment of bits to the integer symbols (memoised).

    ``env`` gives the bits of a summation variable (those of its limits); any other
    integer symbol has ``INDEX_BITS``.
    """

    def __init__(self, env: dict | None = None):
        self.env = env or {}
        self.memo: dict[sympy.Basic, Size] = {}
        self.inside: dict[tuple, Reach] = {}  # the reaches of summation bodies, each made once

    def inner(self, var: sympy.Symbol, low: sympy.Basic, high: sympy.Basic) -> Reach:
        """The reach inside ``Sum(..., (var, low, high))``: ``var`` is as large as its limits."""
        key = (var, max(self.of(low).num, self.of(high).num, 1))
        if key not in self.inside:
            self.inside[key] = Reach({**self.env, var: key[1]})
        return self.inside[key]

    def check(self, expr: sympy.Basic, where: str) -> sympy.Basic:
        """``expr``, refused when evaluating it could make a number or a degree beyond the caps."""
        size = self.of(expr)
        bits = max(size.bits, size.log_bits)
        if bits > MAX_REACH_BITS:
            about = f"about {bits}" if bits < 10**9 else "over 10**9"
            raise UnsafeExpressionError(
                f"{where}: expression could make numbers of {about} bits once evaluated (at most "
                f"{MAX_REACH_BITS}; a power of a power multiplies the exponents)")
        degree = max(size.degree, size.log_degree)
        if degree > MAX_DEGREE:
            about = f"up to {degree}" if degree < 10**9 else "over 10**9"
            raise UnsafeExpressionError(
                f"{where}: expression has degree {about} once evaluated (at most {MAX_DEGREE}; a power "
                f"of a power multiplies the exponents)")
        return expr

    def of(self, e: sympy.Basic) -> Size:
        size = self.memo.get(e)
        if size is None:
            size = self.memo[e] = self._size(e)
        return size

    def _size(self, e: sympy.Basic) -> Size:  # noqa: C901 - one branch per node kind, flat on purpose
        if e.is_Integer:
            return Size(num=abs(int(e)).bit_length())
        if e.is_Rational:
            return Size(num=abs(e.p).bit_length(), den=e.q.bit_length())
        if isinstance(e, sympy.Symbol):
            if e.is_integer:
                return Size(num=self.env.get(e, INDEX_BITS), degree=1, values=frozenset((e,)))
            return Size(degree=1, exact=False)
        if isinstance(e, sympy.Indexed):
            return Size(degree=1, exact=False)  # never given an exact value; its index is sized where built
        args = [self.of(a) for a in e.args]
        if isinstance(e, sympy.Mul):
            return self._product(args, [_magnitude(a, s) for a, s in zip(e.args, args)])
        if isinstance(e, sympy.Add):
            return self._sum(args)
        if isinstance(e, sympy.Pow):
            return self._power(args[0], e.exp)
        if isinstance(e, sympy.exp):
            (a,) = args
            return Size(a.log_bits, a.log_bits, a.log_degree, a.log_bits, a.log_degree, a.exact, a.values)
        if isinstance(e, sympy.log):
            (a,) = args  # log(u**n) expands to n*log(u), log(8) to 3*log(2): small coefficients
            bits = max(a.bits, a.degree, 1).bit_length()
            return Size(bits, 0, 1, max(a.bits, a.log_bits), max(a.degree, a.log_degree, 1), a.exact,
                        a.values)
        if isinstance(e, sympy.Sum):
            return self._summation(e)
        if isinstance(e, sympy.Derivative):
            return self._derivative(args[0], sum(int(n) for _, n in e.variable_count))
        # KroneckerDelta, Eq, Ne and anything else: no larger than its arguments.
        delta = isinstance(e, sympy.KroneckerDelta)  # its arguments are compared, not computed with
        return Size(*(max((getattr(a, f) for a in args), default=0)
                      for f in ("num", "den", "degree", "log_bits", "log_degree")),
                    exact=delta or all(a.exact for a in args),
                    values=frozenset() if delta else _union(args))

    @staticmethod
    def _product(args: list[Size], magnitudes: list[int]) -> Size:
        num, den = sum(a.num for a in args), sum(a.den for a in args)
        log_bits = log_degree = 0
        for n, a in enumerate(args):
            # exp(c*log(u)) is u**c when the other factors c become a number; with a
            # vector entry or a real symbol among them, exp stays as written.
            if (a.log_bits or a.log_degree) and all(b.exact for m, b in enumerate(args) if m != n):
                coefficient = 1
                for m, magnitude in enumerate(magnitudes):
                    coefficient = coefficient if m == n else _cap(coefficient * magnitude)
                log_bits = max(log_bits, _cap(a.log_bits * coefficient))
                log_degree = max(log_degree, _cap(a.log_degree * coefficient))
        return Size(_cap(num), _cap(den), _cap(sum(a.degree for a in args)), log_bits, log_degree,
                    all(a.exact for a in args), _union(args))

    @staticmethod
    def _sum(args: list[Size]) -> Size:
        den = sum(a.den for a in args)  # a/b + c/d = (ad + cb)/(bd)
        num = max(a.num + den - a.den for a in args) + len(args).bit_length()
        return Size(_cap(num), _cap(den), max(a.degree for a in args),
                    max(a.log_bits for a in args), max(a.log_degree for a in args), all(a.exact for a in args),
                    _union(args))

    def _power(self, base: Size, exponent: sympy.Basic) -> Size:
        if exponent.is_Rational:
            p, q = abs(exponent.p), exponent.q
            # b**(p/q) = b**n * b**(r/q): an integer power and a root, at most as large as b.
            scaled = base.scaled(p if q == 1 else p // q + 1)
            if exponent == 1:
                return scaled
            # log(u)**2 is no log
            return Size(scaled.num, scaled.den, scaled.degree, exact=scaled.exact, values=scaled.values)
        size = self.of(exponent)
        scaled = base.scaled(self._largest(exponent))
        return Size(max(scaled.num, size.num), max(scaled.den, size.num), scaled.degree,
                    max(base.log_bits, size.log_bits), max(base.log_degree, size.log_degree),
                    base.exact and size.exact, base.values | size.values)

    def _largest(self, e: sympy.Basic) -> int:
        """A bound on ``|e|`` once its integer symbols have values: 32*i is at most 32*63."""
        if e.is_Rational:
            return _cap(-(-abs(e.p) // e.q))
        if isinstance(e, sympy.Add):
            return _cap(sum(self._largest(a) for a in e.args))
        if isinstance(e, sympy.Mul):
            out = 1
            for a in e.args:
                out = _cap(out * self._largest(a))
            return out
        if isinstance(e, sympy.Pow) and e.exp.is_Integer and 0 <= e.exp <= 64:
            base = self._largest(e.base)  # once: twice per level would double with every level
            return _cap(base ** int(e.exp)) if base < 1 << 16 else _HUGE
        return _pow2(self.of(e).num) - 1  # a number of num bits is below 2**num

    def _summation(self, e: sympy.Sum) -> Size:
        reach, terms_bits = self, 0
        for var, low, high in e.limits:
            reach = reach.inner(var, low, high)
            # high - low + 1 terms: at most high when low is a positive number (1..k)
            terms_bits += reach.env[var] + (0 if low.is_Integer and low > 0 else 1)
        body = reach.of(e.function)
        bits = body.bits + terms_bits  # as many terms as that, each no larger than the body
        variables = {var for var, *_ in e.limits}
        if body.values & variables:
            # A closed form (Faulhaber's) of a degree-d body is a polynomial of degree d + 1
            # in the limits, with Bernoulli-number coefficients of about d*log(d) bits.
            bits += (body.degree + 2) * (terms_bits + body.degree.bit_length() + 1)
        bits = _cap(bits)
        factor = _pow2(terms_bits)
        return Size(bits, bits, _cap(body.degree + len(e.limits)), _cap(body.log_bits * factor),
                    _cap(body.log_degree * factor), body.exact, body.values - variables)

    @staticmethod
    def _derivative(body: Size, times: int) -> Size:
        # Each differentiation multiplies by an exponent (at most the degree) or by an inner
        # coefficient (at most the body's bits), and divides by a log's argument.
        step = max(body.degree.bit_length(), body.bits, 1)
        bits = _cap(body.bits + times * step)
        return Size(bits, bits, _cap(body.degree + times), body.log_bits, body.log_degree, body.exact,
                    body.values)



def _magnitude(expr: sympy.Basic, size: Size) -> int:
    """A bound on ``|expr|`` as an exact number: its value for a number, else from its bits."""
    if expr.is_Rational:
        return _cap(-(-abs(expr.p) // expr.q))
    return _pow2(size.num)


def _union(sizes: list[Size]) -> frozenset:
    return frozenset().union(*(a.values for a in sizes))


class Budget:
    """Syntax nodes left for the rest of one file: each expression is small, but a file of
    thousands of them would still take seconds to read (a few milliseconds each).

    >>> b = Budget(10)
    >>> b.spend(8, "f.toml, step 1"); b.left
    2
    >>> b.spend(8, "f.toml, step 2")
    Traceback (most recent call last):
    ...
    symce.errors.UnsafeExpressionError: f.toml, step 2: the file's expressions have more than 10 syntax nodes in all
    """

    def __init__(self, nodes: int = MAX_FILE_NODES, what: str = "syntax nodes"):
        self.nodes = self.left = nodes
        self.what = what

    def spend(self, nodes: int, where: str) -> None:
        self.left -= nodes
        if self.left < 0:
            raise UnsafeExpressionError(
                f"{where}: the file's expressions have more than {self.nodes} {self.what} in all")


# The reader asks SymPy no questions about what it builds: an assumption query may
# evaluate the whole expression (is_zero of a Sum rebuilds its body), which took
# seconds on a file of a few hundred steps and was how the power tower hung the
# parser. These tests read the form alone; the verifier decides the rest, in a worker.

def literal_zero(e: sympy.Basic) -> bool:
    """A literal zero (numbers are folded as they are read: ``1 - 1`` is already 0)."""
    return e.is_Number and e == 0


def integer_by_form(e: sympy.Basic) -> bool:
    """Whether ``e`` is an integer by its form: integers and integer symbols under +, * and ``**n``.

    >>> i = sympy.Symbol("i", integer=True)
    >>> integer_by_form(sympy.Add(i, sympy.Mul(-2, i, evaluate=False), 1, evaluate=False)), integer_by_form(i / 2)
    (True, False)
    """
    if e.is_Integer or isinstance(e, sympy.KroneckerDelta):
        return True
    if isinstance(e, sympy.Symbol):
        return e.is_integer is True  # the symbol's own declaration; nothing is evaluated
    if isinstance(e, (sympy.Add, sympy.Mul)):
        return all(integer_by_form(a) for a in e.args)
    if isinstance(e, sympy.Pow):
        return integer_by_form(e.base) and e.exp.is_Integer and e.exp >= 0
    return False


def at_most(items, where: str, limit: int = MAX_ENTRIES):
    """``items`` (a TOML table or array) when it has at most ``limit`` entries, else an error.

    >>> at_most([1, 2, 3], "f.toml, cases", 2)
    Traceback (most recent call last):
    ...
    symce.errors.DerivationFormatError: f.toml, cases: expected at most 2 entries, found 3
    """
    if len(items) > limit:
        raise DerivationFormatError(f"{where}: expected at most {limit} entries, found {len(items)}")
    return items
