"""What a step's expression means: definitions unfolded, derivatives taken, assumptions applied.

The verifier compares *meanings*, never the folded text. Three pieces live here:

* ``Meaning.of`` unfolds defined names and evaluates every ``Derivative``. When the
  variable is itself a defined name (``Derivative(L, s[c])``), that name is held as an
  independent variable while differentiating and unfolded afterwards -- the way
  ``dL/ds_c`` is read on paper.
* ``Meaning.assume`` applies the file's assumptions and a chain's case.
* ``normal_form`` rewrites sums over ``1..k`` for symbolic ``k`` with three exact rules
  (after writing exp(a + b) as exp(a) exp(b) inside the sum):
  a sum of terms is a sum of sums, factors free of the index leave the sum, and a
  ``KroneckerDelta(j, a)`` factor with ``a`` known to lie in ``1..k`` picks the ``j = a``
  term. ``is_zero`` then decides a difference with the remaining sums held opaque.

>>> from symce.read.toml import loads_derivation
>>> d = loads_derivation('''
... title = "t"
... [symbols]
... k = "symbolic"
... indices = ["i", "j"]
... vectors = { z = "real" }
... [definitions]
... "s[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"
... [[chains]]
... name = "x"
... start = "Derivative(s[i], z[i])"
... steps = [{ expr = "s[i] * (1 - s[i])", reason = "quotient rule" }]
... ''')
>>> m = Meaning(d)
>>> lhs, rhs = m.of(d.chains[0].start), m.of(d.chains[0].steps[0].expr)
>>> is_zero(normal_form(lhs - rhs, m.k, m.indices))
True
"""

from __future__ import annotations

import sympy
from sympy import Derivative, Dummy, Indexed, IndexedBase, KroneckerDelta, Sum, Symbol

from ..model.derivation import Case, Derivation
from .functions import Functions

_CANONICAL = [Dummy(f"b{n}", integer=True) for n in range(16)]  # bound names, by nesting depth


class Meaning:
    """Unfolds and differentiates the expressions of one derivation."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        self.k = derivation.symbols.get("k")  # None in a file with named dims or none
        self.indices = frozenset(derivation.indices)
        self.defs = {d.name: d for d in derivation.definitions}
        self.functions = Functions(derivation, self._unfold)  # sigma(x), abstract L(u)

    def of(self, expr: sympy.Basic) -> sympy.Basic:
        """The expression with every definition unfolded and every derivative taken."""
        return self._unfold(fresh_bound(expr), frozenset())

    def _name(self, e: sympy.Basic) -> str | None:
        if isinstance(e, Indexed) and str(e.base.label) in self.defs:
            return str(e.base.label)
        if isinstance(e, Symbol) and e.name in self.defs and not self.defs[e.name].params:
            return e.name
        return None

    def _unfold(self, e: sympy.Basic, hold: frozenset[str]) -> sympy.Basic:
        if isinstance(e, Derivative):
            return self._derivative(e, hold)
        called = self.functions.meaning(e, hold)
        if called is not None:
            return called
        name = self._name(e)
        if name is not None and name not in hold:
            d = self.defs[name]
            args = e.indices if isinstance(e, Indexed) else ()
            args = tuple(self._unfold(a, hold) for a in args)
            body = fresh_bound(d.body).xreplace(dict(zip(d.params, args)))
            return self._unfold(body, hold)
        if isinstance(e, Indexed):
            return e.base[tuple(self._unfold(a, hold) for a in e.indices)]
        if e.is_Atom or isinstance(e, IndexedBase) or not e.args:
            return e
        return e.func(*(self._unfold(a, hold) for a in e.args))

    def _derivative(self, e: Derivative, hold: frozenset[str]) -> sympy.Basic:
        f = e.expr
        for var, count in e.variable_count:
            name = self._name(var)
            # With respect to a defined name, that name is held still; it is unfolded only
            # once every variable has been taken (unfolding between passes made the
            # second derivative by s[c] of -log(s[c]) come out as 0). With respect to
            # anything else, everything is unfolded first.
            keep = hold | {name} if name is not None else frozenset()
            f = self.functions.diff(self._unfold(f, keep), var, count, keep)
        return self._unfold(f, hold)

    def assume(self, e: sympy.Basic, case: Case | None) -> sympy.Basic:
        """Apply one-hot assumptions (``y[a]`` -> ``KroneckerDelta(a, c)``) and the case."""
        for a in self.derivation.assumptions:
            if a.kind == "onehot":
                base = self.derivation.symbols[a.vector]
                e = e.replace(lambda x, base=base: isinstance(x, Indexed) and x.base == base,
                              lambda x, c=a.index: KroneckerDelta(x.indices[0], c))
        if case is not None:
            e = apply_case(e, case.condition, self.indices)
        return e

    def simplex_vectors(self) -> list[IndexedBase]:
        """Vectors assumed to sum to one (and not already replaced by a one-hot)."""
        onehot = {a.vector for a in self.derivation.assumptions if a.kind == "onehot"}
        return [self.derivation.symbols[a.vector] for a in self.derivation.assumptions
                if a.kind == "simplex" and a.vector not in onehot]


def apply_case(e: sympy.Basic, condition: sympy.Basic, indices=frozenset()) -> sympy.Basic:
    """``Eq(i, c)``: put c for i. ``Ne(i, c)``: the delta of i and c is 0.

    Under ``Eq(k, i)`` it is the index that is replaced, never the class count k.
    """
    a, b = condition.args
    if isinstance(condition, sympy.Eq):
        if a in indices or (isinstance(a, Symbol) and b not in indices):
            return e.subs(a, b)
        return e.subs(b, a)
    # Only deltas: KroneckerDelta(i, i) evaluates to the number 1, and replacing that
    # by 0 would rewrite every 1 in the expression.
    deltas = (KroneckerDelta(a, b), KroneckerDelta(b, a))
    return e.xreplace({d: sympy.S.Zero for d in deltas if isinstance(d, KroneckerDelta)})


def fresh_bound(e: sympy.Basic) -> sympy.Basic:
    """Give every summation index a fresh name, so unfolding can never capture a free index."""
    if not isinstance(e, sympy.Basic) or e.is_Atom or not e.args:
        return e
    if isinstance(e, Sum):
        body = fresh_bound(e.function)
        limits = []
        for var, low, high in e.limits:
            new = Dummy(var.name, integer=True)
            body = body.xreplace({var: new})
            limits.append((new, fresh_bound(low), fresh_bound(high)))
        return Sum(body, *limits)
    return e.func(*(fresh_bound(a) for a in e.args))


def normal_form(e: sympy.Basic, k: sympy.Basic, in_range: frozenset) -> sympy.Basic:
    """Exact rewriting of sums over ``1..k``; ``in_range`` are symbols known to lie in 1..k."""
    return canonical_bounds(_normal(e, k, in_range))


def _normal(e: sympy.Basic, k, in_range: frozenset) -> sympy.Basic:
    if isinstance(e, Sum):
        # SymPy merges Sum(Sum(f, a), b) into Sum(f, a, b): the outermost limit is the last
        j, low, high = e.limits[-1]
        body = Sum(e.function, *e.limits[:-1]) if len(e.limits) > 1 else e.function
        inner = in_range | {j} if (low == 1 and high == k) else in_range
        return _split_sum(_normal(body, k, inner), j, low, high, k, in_range)
    if e.is_Atom or isinstance(e, (Indexed, IndexedBase)) or not e.args:
        return e
    return e.func(*(_normal(a, k, in_range) for a in e.args))


def _split_sum(f, j, low, high, k, in_range) -> sympy.Basic:
    total = []
    # exp(a + b) = exp(a) exp(b) and log(a b) = log(a) + log(b) first, so that a factor
    # such as exp(-m) in Sum(exp(z[j] - m), (j, 1, k)), or a term such as log(S) in
    # Sum(y[n] log(exp(z[n]) / S), (n, 1, k)), is free of the index and can leave the sum.
    for term in sympy.Add.make_args(sympy.expand_mul(_expand_logs(sympy.expand_power_exp(f)))):
        outside, inside = [], []
        for factor in sympy.Mul.make_args(term):
            (inside if j in factor.free_symbols else outside).append(factor)
        if not inside:
            count = high - low + 1
            # A sum whose range may run backwards is left alone: symce reads such a range as
            # empty (as the probes and the k = 2..6 instances do), SymPy's Karr convention
            # as a negative count; (3, k) gives k - 2 terms only where k >= 2.
            total.append(sympy.Mul(*outside) * count if count.is_nonnegative
                         else Sum(sympy.Mul(*outside), (j, low, high)))
            continue
        pick = _picking_delta(inside, j, low, high, k, in_range)
        if pick is not None:
            delta, value = pick
            rest = sympy.Mul(*(x for x in inside if x is not delta))
            total.append(sympy.Mul(*outside) * _normal(rest.subs(j, value), k, in_range))
        else:
            total.append(sympy.Mul(*outside) * Sum(sympy.Mul(*inside), (j, low, high)))
    return sympy.Add(*total)


def _picking_delta(factors, j, low, high, k, in_range):
    """A factor ``KroneckerDelta(j, a)`` with ``a`` surely inside the summation range."""
    # SymPy's own Sum(KroneckerDelta(i, j) * f(j), (j, 1, k)).doit() returns a Piecewise
    # guarded by 1 <= i <= k that it cannot discharge from the summation limits
    # (sympy/sympy#13993), and simplify() on such Sum/Piecewise mixes can even free the
    # bound index (sympy/sympy#27359). We know the range of every index, so we pick the
    # term ourselves and never hand a delta-sum to doit() or simplify().
    for x in factors:
        if isinstance(x, KroneckerDelta) and j in x.args:
            a = x.args[1] if x.args[0] == j else x.args[0]
            if j in a.free_symbols:
                continue
            inside = (low == 1 and high == k and a in in_range) or (
                a.is_Integer and low.is_Integer and high.is_Integer and low <= a <= high)
            if inside:
                return x, a
    return None


def canonical_bounds(e: sympy.Basic) -> sympy.Basic:
    """Rename every sum's bound index by its nesting depth, so equal sums compare equal.

    Sum(y[j], (j, 1, k)) and Sum(y[n], (n, 1, k)) are the same number, but SymPy
    compares them structurally; renamed, they are one object and cancel as terms.
    """
    return _canonical(e, 0)


def _canonical(e: sympy.Basic, depth: int) -> sympy.Basic:
    if e.is_Atom or isinstance(e, (Indexed, IndexedBase)) or not e.args:
        return e
    if isinstance(e, Sum) and depth + len(e.limits) <= len(_CANONICAL):
        # outermost (last) limit first, so that a merged Sum(f, a, b) is named as the nested one
        body, limits = e.function, list(e.limits)
        for n, (j, low, high) in enumerate(reversed(e.limits)):
            new = _CANONICAL[depth + n]
            body = body.xreplace({j: new})
            limits = [(v, lo.xreplace({j: new}), hi.xreplace({j: new})) for v, lo, hi in limits]
            limits[len(limits) - 1 - n] = (new, *limits[len(limits) - 1 - n][1:])
        return Sum(_canonical(body, depth + len(limits)), *limits)
    return e.func(*(_canonical(a, depth) for a in e.args))


def sum_to_one(e: sympy.Basic, vectors: list[IndexedBase], k) -> sympy.Basic:
    """Replace ``Sum(y[j], (j, 1, k))`` by 1 for each vector assumed to sum to one."""
    def hit(x):
        return (isinstance(x, Sum) and len(x.limits) == 1 and x.limits[0][1:] == (1, k)
                and isinstance(x.function, Indexed) and x.function.base in vectors
                and x.function.indices == (x.limits[0][0],))
    return e.replace(hit, lambda x: sympy.S.One)


def is_zero(d: sympy.Basic) -> bool:
    """True only when ``d`` is shown identically zero; False means "not shown".

    Sums and deltas are replaced by fresh symbols (positive where their values are),
    logarithms of positive products are split, and exponentials of sums become
    products of exponentials of single logits, each a fresh positive symbol. An
    identity that holds for *independent* values of these symbols holds for their
    actual values, so a zero here is a proof.
    """
    if d == 0:
        return True
    d = _opaque(d)
    d = sympy.expand_log(d)
    d = _split_exp(d)
    try:
        if sympy.cancel(sympy.together(d)) == 0:
            return True
        return sympy.simplify(d) == 0
    except (sympy.PolynomialError, sympy.CoercionFailed, RecursionError, ValueError):
        return False


def _positive_sum(s: Sum) -> bool:
    """A sum of positive terms over a surely non-empty range (Sum(..., (j, 1, k - 1)) is 0 at k = 1)."""
    (_, low, high), = s.limits[-1:]
    return bool(s.function.is_positive) and len(s.limits) == 1 and bool((high - low).is_nonnegative)


def _expand_logs(f: sympy.Basic) -> sympy.Basic:
    """``expand_log`` (never forced) with each positive sum standing in as a positive symbol.

    SymPy does not infer that a sum of exponentials is positive, so without the
    stand-ins log(exp(z[n]) / Sum(...)) would not split.
    """
    if not f.has(sympy.log):
        return f
    table = {s: Dummy("P", positive=True) for s in f.atoms(Sum) if _positive_sum(s)}
    back = {v: s for s, v in table.items()}
    return sympy.expand_log(f.xreplace(table)).xreplace(back)


def _opaque(d: sympy.Basic) -> sympy.Basic:
    table = {}
    for s in sorted(d.atoms(Sum), key=sympy.default_sort_key):
        # Real only when its terms are: a sum of logs of negative numbers is complex,
        # and a real stand-in let SymPy fold log(exp(S)) to S.
        table[s] = (Dummy("S", positive=True) if _positive_sum(s)
                    else Dummy("S", real=True) if s.function.is_real else Dummy("S"))
    d = d.xreplace(table)
    deltas = {x: Dummy("delta", nonnegative=True) for x in d.atoms(KroneckerDelta)}
    return d.xreplace(deltas)


def _split_exp(d: sympy.Basic) -> sympy.Basic:
    table: dict[sympy.Basic, Dummy] = {}

    def atom(rest):
        if rest not in table:
            table[rest] = Dummy("E", positive=True) if rest.is_real else Dummy("E")
        return table[rest]

    def split(x):
        factors = []
        for term in sympy.Add.make_args(sympy.expand(x.args[0])):
            coeff, rest = term.as_coeff_Mul()
            # exp(c w) = exp(w)**c for every c only when w is real; for complex w only
            # integer powers are safe (sqrt(exp(w)) = exp(w/2) fails off the principal branch).
            if coeff.is_Integer or (coeff.is_Rational and rest.is_real):
                factors.append(atom(rest) ** coeff)
            else:
                factors.append(atom(term))
        return sympy.Mul(*factors)

    return d.replace(lambda x: isinstance(x, sympy.exp), split)
