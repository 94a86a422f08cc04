"""What a step's expression means: definitions unfolded, derivatives taken, assumptions applied.

The verifier compares *meanings*, never the folded text. Three pieces live here:

* ``Meaning.of`` unfolds defined names and evaluates every ``Derivative``. When a
  variable is itself a defined name (``Derivative(L, s[c])``), the entries of that
  name are held as independent variables while differentiating and unfolded
  afterwards -- the way ``dL/ds_c`` is read on paper. That reading has one meaning
  only when the expression depends on what ``s`` is made of (``z``) through ``s``
  alone; otherwise the derivative is refused (``Refused``) with a line saying why.
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

import re

import sympy
from sympy import Derivative, Dummy, Indexed, IndexedBase, KroneckerDelta, Sum, Symbol

from ..model.derivation import Case, Derivation
from .functions import Functions, opaque_values

_CANONICAL = [Dummy(f"b{n}", integer=True) for n in range(16)]  # bound names, by nesting depth


class Refused(Exception):
    """A derivative whose value would depend on how its expression happens to be written."""


class Meaning:
    """Unfolds and differentiates the expressions of one derivation."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        self.k = derivation.symbols.get("k")  # None in a file with named dims or none
        self.indices = frozenset(derivation.indices)
        self.defs = {d.name: d for d in derivation.definitions}
        self.functions = Functions(derivation, self._unfold)  # sigma(x), abstract L(u)
        self._leaves: dict[str, frozenset] = {}

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
        variables = [(self._alias(v), n) for v, n in e.variable_count]
        held = frozenset(name for v, _ in variables if (name := self._name(v)) is not None)
        if not held:  # by declared symbols only: everything is unfolded first
            f = self._unfold(e.expr, frozenset())
        else:
            # By a defined name: the entries of every such name are held as independent
            # variables, in one pass for all the variables, so that the order of a mixed
            # partial cannot matter (holding per variable made Derivative(L, z[i], s[c])
            # 0 and Derivative(L, s[c], z[i]) not).
            leaves = frozenset().union(*(self.leaves(name) for name in held))
            for v, _ in variables:
                if self._name(v) is None and _base(v) in leaves:
                    raise Refused(_MIXED.format(e=_shown(e), v=v, base=_base(v), name=_owner(held, _base(v), self)))
            f = self._unfold(e.expr, hold | held)
            stray = sorted({str(_base(x)) for x in _mentions(f) if _base(x) in leaves})
            if stray:
                raise Refused(_STRAY.format(e=_shown(e), names=", ".join(sorted(held)), stray=", ".join(stray)))
        for var, count in variables:
            f = self.functions.diff(f, var, count, hold | held)
        return self._unfold(f, hold)

    def _alias(self, var: sympy.Basic) -> sympy.Basic:
        """``p`` defined as ``s[c]`` is differentiated by as ``s[c]`` (one name, one variable)."""
        for _ in range(len(self.defs)):
            name = self._name(var)
            if name is None:
                return var
            d = self.defs[name]
            args = var.indices if isinstance(var, Indexed) else ()
            body = d.body.xreplace(dict(zip(d.params, args)))
            if self._name(body) is None:
                return var
            var = body
        return var

    def leaves(self, name: str) -> frozenset:
        """The declared vectors and scalars a defined name is made of (``s``: ``{z}``)."""
        if name not in self._leaves:
            body = self._unfold(fresh_bound(self.defs[name].body), frozenset())
            self._leaves[name] = frozenset(
                _base(x) for x in _mentions(body)
                if _base(x) not in self.indices and _base(x) != self.k)
        return self._leaves[name]

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


_STRAY = ("{e}: refused, its meaning would depend on how the expression is written: with the "
          "entries of {names} held as independent variables, it still depends on {stray} outside "
          "{names}; write the expression in {names} alone, or differentiate by {stray}")
_MIXED = ("{e}: refused, {name} is made of {base}, so {v} and {name} are not independent "
          "variables and a derivative by both has no single meaning; differentiate by one, write "
          "the result as a step, then differentiate that")


def _shown(e: sympy.Basic) -> str:
    """``e`` as the author wrote it: fresh summation indices print as _j, file names never start with _."""
    return re.sub(r"(?<!\w)_(?=[A-Za-z])", "", str(e))


def _base(x: sympy.Basic) -> sympy.Basic:
    return x.base if isinstance(x, Indexed) else x


def _mentions(e: sympy.Basic) -> set:
    """The vector entries and plain symbols in ``e`` (not bound summation indices).

    An abstract function's value depends on its arguments only (that is its chain rule),
    so what they are made of is not mentioned by it.
    """
    e = opaque_values(e)
    entries = e.atoms(Indexed)
    labels = {x.base.label for x in entries}
    return entries | {s for s in e.free_symbols if isinstance(s, Symbol) and s not in labels}


def _owner(held, base, meaning) -> str:
    return next(name for name in sorted(held) if base in meaning.leaves(name))


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
    if isinstance(e, Sum) and len(e.limits) > 1:  # Sum(f, (n, ..), (j, ..)) is a sum over j of a sum over n
        # Sum(Sum(f, l1), l2) is merged back by SymPy, so the outer sums are split here
        # directly, never rebuilt as a Sum and normalised again.
        inner = _normal(Sum(e.function, e.limits[0]), k, in_range | _ranged(e.limits[1:], k))
        for n, (j, low, high) in enumerate(e.limits[1:], start=1):
            outer = in_range | _ranged(e.limits[n + 1:], k)
            inner = _split_sum(inner, j, low, high, k, outer)
        return inner
    if isinstance(e, Sum) and len(e.limits) == 1:
        e = _unshift(e)
        peeled = _peel(e, k)
        if peeled is not None:
            return _normal(peeled, k, in_range)
        (j, low, high), = e.limits
        inner = in_range | {j} if (low == 1 and high == k) else in_range
        return _split_sum(_normal(e.function, k, inner), j, low, high, k, in_range)
    if e.is_Atom or isinstance(e, (Indexed, IndexedBase)) or not e.args:
        return e
    return e.func(*(_normal(a, k, in_range) for a in e.args))


def _ranged(limits, k) -> frozenset:
    """Summation indices that run over exactly 1..k (known to lie in 1..k inside their sum)."""
    return frozenset(j for j, low, high in limits if low == 1 and high == k)


def _unshift(e: Sum) -> Sum:
    """``Sum(x[j + 1], (j, 1, k - 1))`` as ``Sum(x[j], (j, 2, k))``: every entry indexed by j plainly.

    Exact for any shift c (the range moves with it, and a backwards range stays
    backwards); done only when every entry of the body is indexed by j + c with one c.
    """
    (j, low, high), = e.limits
    offsets = {x.indices[0] - j for x in e.function.atoms(Indexed)
               if len(x.indices) == 1 and j in x.indices[0].free_symbols}
    if len(offsets) != 1:
        return e
    c, = offsets
    if not (c.is_Integer and c != 0):
        return e
    return Sum(e.function.xreplace({j: j - c}), (j, low + c, high + c))


def _peel(e: Sum, k, most: int = 4):
    """``Sum(f, (j, 1 + a, k - b))`` as the sum over 1..k less its first a and last b terms.

    Exact only where the range never runs backwards by more than one (an empty range
    is read as 0, never with SymPy's Karr sign): high - low + 1 >= 0 for every k the
    file claims, which SymPy decides from k's assumptions. Sum(f, (j, 3, k)) at
    k = 1 is 0, not f(1) + ... taken away.
    """
    (j, low, high), = e.limits
    a, b = low - 1, k - high
    if not (a.is_Integer and b.is_Integer and 0 <= a <= most and 0 <= b <= most and a + b > 0):
        return None
    if not (high - low + 1).is_nonnegative:
        return None
    f = e.function
    cut = [f.xreplace({j: sympy.Integer(n)}) for n in range(1, int(a) + 1)]
    cut += [f.xreplace({j: k - n}) for n in range(int(b))]
    return Sum(f, (j, 1, k)) - sympy.Add(*cut)


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
            # empty (as the probes and the k <= 6 instances do), SymPy's Karr convention
            # as a negative count; (3, k) gives k - 2 terms only where k >= 2.
            total.append(sympy.Mul(*outside) * count if count.is_nonnegative
                         else Sum(sympy.Mul(*outside), (j, low, high)))
            continue
        if _delta_outside(inside, j, low, high):
            continue  # KroneckerDelta(j, k + 1) never fires for j in 1..k: the term is 0
        pick = _picking_delta(inside, j, low, high, k, in_range)
        if pick is not None:
            delta, value = pick
            rest = sympy.Mul(*(x for x in inside if x is not delta))
            total.append(sympy.Mul(*outside) * _normal(rest.subs(j, value), k, in_range))
        else:
            total.append(sympy.Mul(*outside) * Sum(sympy.Mul(*inside), (j, low, high)))
    return sympy.Add(*total)


def _delta_outside(factors, j, low, high) -> bool:
    """A factor ``KroneckerDelta(j, a)`` with ``a`` surely outside low..high."""
    for x in factors:
        if isinstance(x, KroneckerDelta) and j in x.args:
            a = x.args[1] if x.args[0] == j else x.args[0]
            if j not in a.free_symbols and ((a - high).is_positive or (low - a).is_positive):
                return True
    return False


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
            if j in a.free_symbols or not a.is_integer:  # j never equals 3/2
                continue
            # an index of the file lies in 1..k; anything else must provably lie in the
            # range (k itself does, from k >= 1; 7 does not, for k < 7)
            inside = (low == 1 and high == k and a in in_range) or (
                bool((a - low).is_nonnegative) and bool((high - a).is_nonnegative))
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
    d = sympy.expand_log(_opaque(d))
    split = _split_exp(d)
    try:
        if sympy.cancel(sympy.together(split)) == 0:
            return True
        if _exp_is_one(d, split):
            return True
        return sympy.simplify(split) == 0
    except (sympy.PolynomialError, sympy.CoercionFailed, RecursionError, ValueError):
        return False


def _exp_is_one(d: sympy.Basic, split: sympy.Basic) -> bool:
    """A real ``d`` whose logarithms all have positive arguments is 0 when exp(d) is 1.

    exp(d) = 1 leaves d = 2 pi i n; a real d is then 0. This proves steps that move a
    term in or out of a logarithm, which SymPy's simplify leaves alone:
    log(exp(a) + exp(b)) = a + log(1 + exp(b - a)) and log(1 + exp(-t)) + t = log(1 + exp(t)).
    """
    logs = split.atoms(sympy.log)
    if not logs or not all(x.args[0].is_positive for x in logs) or not split.is_real:
        return False
    product = _split_exp(sympy.expand_power_exp(sympy.exp(sympy.expand(d))))
    if product.has(sympy.log):
        return False
    return sympy.cancel(sympy.together(product - 1)) == 0


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
