"""Feedback on a failing step: how its two sides differ, and the values that show it.

A counterexample proves a step wrong but rarely says what went wrong. A student who
forgot the ``-1`` at the correct class learns more from "the sides differ by the
term ``KroneckerDelta(i, c)``" and from ``s[i] = 0.245`` than from two raw numbers.
So, for a step already refuted, this module

* looks for a simple exact relation between the previous expression A and the
  step's B: B = -A (a sign), A = B + D for a small term D (a missing or extra
  term), A = R B for a small factor R, or A equal to B with two indices swapped.
  Every relation is *proved* the way a step is (definitions unfolded, sums put in
  normal form, the difference reduced to 0); a guess is never reported;
* evaluates both sides, the defined quantities the step uses (``s[i]``, ``s[c]``,
  ``L``) and the denominators of those definitions at a point chosen to make the
  error visible: logits spread apart, scalars far from 1 and from each other
  (a forgotten ``/T`` at T = 0.991 hides in the fourth digit), probability vectors
  drawn as probabilities and one-hot vectors as one-hot. The point is kept only
  when the two sides differ there at two precisions, as a probe's counterexample.

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
... steps = [{ expr = "-s[i] * (1 - s[i])", reason = "quotient rule, sign lost" }]
... ''')
>>> fb = explain(d, d.chains[0].start, d.chains[0].steps[0].expr, None, {"k": "3", "i": "2"})
>>> fb.kind, fb.words
('negation', 'this step is the negative of the previous expression (a sign error)')
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy
from sympy import Indexed, IndexedBase, KroneckerDelta, Sum, Symbol

from ..model.derivation import Case, Derivation
from .meaning import Meaning, is_zero, normal_form, sum_to_one
from .probe import Point, Unevaluable
from .timelimit import run_limited

__all__ = ["Feedback", "explain", "explain_limited"]

MAX_OPS = 8
SECONDS = 3.0  # feedback is extra: it never holds a refuted step up for long  # a relation term larger than this is no help to a reader; none is reported
DIGITS = 50


@dataclass(frozen=True)
class Feedback:
    """What symce can say about a failing step beyond its counterexample."""

    kind: str  # "negation", "term", "factor", "index_swap", or "" when no simple relation was found
    words: str  # the relation in words, with its math in the file's expression syntax
    term: sympy.Basic | None = None  # the missing term D, the factor R, or Eq(a, b) of the swapped indices
    values: tuple[tuple[str, str], ...] = ()  # (name, value) at the chosen point: inputs, then quantities
    previous: str = ""  # value of the previous expression at that point ("" when no point was kept)
    this: str = ""  # value of the step's expression there

    def as_dict(self) -> dict:
        """Plain data for JSON reports."""
        return {"relation": self.kind or None, "words": self.words,
                "math": None if self.term is None else _source(self.term),
                "values": dict(self.values), "previous": self.previous, "this": self.this}

    def text(self) -> str:
        """Two lines for a terminal or a failure message: the relation, then the values."""
        out = [self.words] if self.words else []
        if self.values:
            shown = ", ".join(f"{n} = {v}" for n, v in self.values)
            out.append(f"at {shown}: previous expression = {self.previous}, this step's = {self.this}")
        return "\n".join(out)


def explain(derivation: Derivation, lhs: sympy.Basic, rhs: sympy.Basic, case: Case | None,
            counterexample: dict[str, str]) -> Feedback:
    """Relation and telling values for a refuted step ``lhs = rhs`` (folded, as in the file).

    ``counterexample`` is the probe's ``values`` (its ``k`` and index placement are reused).
    """
    meaning = Meaning(derivation)
    left = meaning.assume(meaning.of(lhs), case)
    right = meaning.assume(meaning.of(rhs), case)
    kind, words, term = _relation(meaning, left, right, lhs, rhs, case)
    term = None if term is None else readable_bounds(term)  # Sum(..., (j, 1, k)), as a file writes it
    point = _visible_point(meaning, left, right, lhs, rhs, counterexample)
    if point is None:
        return Feedback(kind, words, term)
    values, previous, this = point
    return Feedback(kind, words, term, values, previous, this)


def explain_limited(derivation: Derivation, lhs, rhs, case, counterexample: dict[str, str],
                    budget: float | None = None) -> Feedback | None:
    """``explain`` in a child process killed after ``SECONDS`` (or the ``budget`` left, if
    less); None if it ran out or failed. The verdict stands without it: a step already
    refuted stays FAILS, never turned unverified by its step's time limit.
    """
    seconds = SECONDS if budget is None else min(SECONDS, budget)
    if seconds <= 0:
        return None
    (status, value), = run_limited([lambda: explain(derivation, lhs, rhs, case, counterexample)],
                                   timeout=seconds)
    return value if status == "ok" else None


# --- the relation -------------------------------------------------------------

def _proved_zero(meaning: Meaning, e: sympy.Basic) -> bool:
    d = normal_form(e, meaning.k, meaning.indices)
    return is_zero(sum_to_one(d, meaning.simplex_vectors(), meaning.k))


def _relation(meaning, left, right, lhs, rhs, case):
    if _proved_zero(meaning, left + right):
        return "negation", "this step is the negative of the previous expression (a sign error)", None
    swap = _index_swap(meaning, left, right, lhs, rhs, case)
    if swap is not None:
        a, b = swap
        return ("index_swap", f"indices {a} and {b} are swapped: exchanging them in this step "
                              "gives the previous expression", sympy.Eq(a, b, evaluate=False))
    short = _short_range(meaning, left, rhs, case)
    if short is not None:
        return short
    folder = _Folder(meaning)
    # A relation says something only when some of the two sides cancelled in it.
    budget = sympy.count_ops(_evaluated(lhs)) + sympy.count_ops(_evaluated(rhs))
    folder.budget = min(MAX_OPS, budget - 1)
    # First in the file's own names (s[c], L held as symbols), then unfolded and folded back.
    for term in (_folded_simple(lhs - rhs, folder.budget), folder.simple(_split_ranges(left - right))):
        if term is not None and _proved_zero(meaning, left - right - folder.meaning_of(term, case)):
            return "term", _term_words(term), term
    ratios = (_folded_simple(lhs / rhs, folder.budget), folder.simple(left / right)) if right != 0 else ()
    for factor in ratios:
        if factor is None or factor in (0, 1, -1) or not (factor.free_symbols or factor.is_Number):
            continue
        if _proved_zero(meaning, left - folder.meaning_of(factor, case) * right):
            return ("factor", f"the two sides differ by a factor {_source(factor)}: this step is "
                              f"({_source(1 / factor)}) times the previous expression", factor)
    return "", "", None


def _short_range(meaning, left, rhs, case):
    """A sum in the step over fewer terms than 1..k, which run over 1..k makes the step hold."""
    k = meaning.k
    for s in sorted(rhs.atoms(Sum), key=sympy.default_sort_key):
        if len(s.limits) != 1 or s.limits[0][1:] == (1, k):
            continue
        (j, low, high), f = s.limits[0], s.function
        full = rhs.xreplace({s: Sum(f, (j, 1, k))})
        below, above = low - 1, sympy.expand(k - high)
        if not (below.is_Integer and above.is_Integer and 0 <= below <= 3 and 0 <= above <= 3):
            continue
        if _proved_zero(meaning, left - meaning.assume(meaning.of(full), case)):
            missing = ([f.xreplace({j: n}) for n in range(1, int(below) + 1)]
                       + [f.xreplace({j: k - n}) for n in range(int(above))])
            term = sympy.Add(*missing, evaluate=False)
            return ("term", f"the sum over {j} runs from {low} to {high}, not over every class 1..{k}: "
                            f"this step is missing its term {_source(term)}", term)
    return None


def _parens(e: sympy.Basic) -> str:
    return f"({_source(e)})" if e.is_Add else _source(e)


def _folded_simple(e: sympy.Basic, budget: int = MAX_OPS) -> sympy.Basic | None:
    """``e`` simplified as written, defined names held as symbols; None if not small."""
    if e.has(sympy.Derivative):
        return None
    try:
        e = sympy.factor_terms(sympy.cancel(sympy.together(_evaluated(e))))
    except (sympy.PolynomialError, sympy.CoercionFailed, RecursionError, ValueError, TypeError):
        return None
    return None if e == 0 or sympy.count_ops(e) > budget else e


def _evaluated(e: sympy.Basic) -> sympy.Basic:
    """An expression the parser built unevaluated (author's order), rebuilt with evaluation."""
    if e.is_Atom or isinstance(e, (Indexed, IndexedBase)) or not e.args:
        return e
    return e.func(*(_evaluated(a) for a in e.args))


def _split_ranges(e: sympy.Basic) -> sympy.Basic:
    """``Sum(f, (j, a, b))`` next to ``Sum(f, (j, a, b - n))``: the longer one split as the
    shorter plus its last n terms, so that a sum stopped one term early leaves that term."""
    sums = [s for s in e.atoms(Sum) if len(s.limits) == 1]
    table = {}
    for s in sums:
        (j, a, b), f = s.limits[0], s.function
        for t in sums:
            (j2, a2, b2), f2 = t.limits[0], t.function
            gap = sympy.simplify(b - b2)
            if (t is not s and a2 == a and gap.is_Integer and 0 < gap <= 3
                    and f2.xreplace({j2: j}) == f):
                extra = sympy.Add(*(f.xreplace({j: b - n}) for n in range(int(gap))))
                table[s] = sympy.Sum(f, (j, a, b2)) + extra
    return e.xreplace(table)


def _term_words(term: sympy.Basic) -> str:
    """``previous = this step + term``, said as the term this step lacks."""
    if term.could_extract_minus_sign():
        extra = -term
        what = f"the constant {extra}" if extra.is_Number else f"the term {_source(extra)}"
        words = f"this step has {what} too many (previous = this step - {_parens(extra)})"
    else:
        what = f"the constant {term}" if term.is_Number else f"the term {_source(term)}"
        words = f"this step is missing {what} (previous = this step + {_parens(term)})"
    deltas = sorted(term.atoms(KroneckerDelta), key=sympy.default_sort_key)
    if deltas:
        a, b = deltas[0].args
        words += f"; {_source(deltas[0])} is 1 where {a} = {b} and 0 elsewhere"
    return words


def _index_swap(meaning, left, right, lhs, rhs, case):
    """Two free indices whose exchange in the step gives the previous expression."""
    free = sorted(((lhs.free_symbols | rhs.free_symbols) & meaning.indices), key=lambda s: s.name)
    if case is not None and isinstance(case.condition, sympy.Eq):
        return None  # under i = c an exchange of i and c changes nothing
    for n, a in enumerate(free):
        for b in free[n + 1:]:
            swapped = right.xreplace({a: b, b: a})
            if swapped != right and _proved_zero(meaning, left - swapped):
                return a, b
    return None


class _Folder:
    """Write an unfolded expression back in the file's defined names: ``s[a]`` for e^{z_a}/S.

    Only definitions of the softmax shape ``f(v[p]) / Sum(...)`` fold; the sum itself
    stays written out, which is how the file writes it.
    """

    def __init__(self, meaning: Meaning):
        self.meaning = meaning
        self.budget = MAX_OPS  # largest relation (in operations) worth reporting
        self.rules = []  # (numerator pattern with a Wild, denominator, IndexedBase of the name)
        for d in meaning.derivation.definitions:
            numer, denom = sympy.fraction(d.body)
            if len(d.params) == 1 and isinstance(denom, Sum) and not numer.has(Sum):
                w = sympy.Wild("w")
                self.rules.append((numer.xreplace({d.params[0]: w}), w, denom, IndexedBase(d.name)))

    def simple(self, e: sympy.Basic) -> sympy.Basic | None:
        """``e`` simplified and folded, or None when it is no small expression."""
        m = self.meaning
        try:
            e = sum_to_one(normal_form(e, m.k, m.indices), m.simplex_vectors(), m.k)
            sums = {s: Symbol(f"_S{n}", positive=True) for n, s in enumerate(
                sorted(e.atoms(Sum), key=sympy.default_sort_key))}
            back = {v: s for s, v in sums.items()}
            e = sympy.expand_power_exp(e.xreplace(sums))
            for numer, w, denom, name in self.rules:
                stand = next((v for s, v in sums.items() if _same_sum(s, denom)), None)
                if stand is not None:
                    e = self._fold(e, numer, w, name, stand)
            e = sympy.factor_terms(sympy.cancel(sympy.together(e)))
            e = e.xreplace(back)
        except (sympy.PolynomialError, sympy.CoercionFailed, RecursionError, ValueError, TypeError):
            return None
        if e.has(sympy.Derivative) or e == 0 or sympy.count_ops(e) > self.budget:
            return None
        return e

    @staticmethod
    def _fold(e, numer, w, name, stand):
        """Each ``numer`` at an index, or a whole power of it (SymPy writes exp(z)**2 as exp(2 z))."""
        def split(x):
            if isinstance(x, sympy.exp):
                power, rest = x.args[0].as_coeff_Mul()
                if power.is_Integer and power != 1:
                    return sympy.exp(rest), power
            return x, 1

        def hit(x):
            found = split(x)[0].match(numer)
            return found is not None and isinstance(found.get(w), sympy.Expr)

        def fold(x):
            base, power = split(x)
            return (name[base.match(numer)[w]] * stand) ** power
        return e.replace(hit, fold)

    def meaning_of(self, e: sympy.Basic, case: Case | None) -> sympy.Basic:
        return self.meaning.assume(self.meaning.of(e), case)


def _same_sum(a: Sum, b: Sum) -> bool:
    if len(a.limits) != 1 or len(b.limits) != 1 or a.limits[0][1:] != b.limits[0][1:]:
        return False
    return a.function.xreplace({a.limits[0][0]: b.limits[0][0]}) == b.function


def _source(e: sympy.Basic) -> str:
    """An expression as a file would write it (``s[i]``, ``KroneckerDelta(i, c)``)."""
    return sympy.sstr(readable_bounds(e))


def readable_bounds(e: sympy.Basic) -> sympy.Basic:
    """Bound indices (renamed by the checker) named j, n, m, ... again, avoiding free names."""
    taken = {s.name for s in e.free_symbols}
    names = [n for n in ("j", "n", "m", "l", "p", "q") if n not in taken]

    def rename(x, depth=0):
        if isinstance(x, Sum) and len(x.limits) == 1 and depth < len(names):
            (v, a, b), = x.limits
            new = Symbol(names[depth], integer=True)
            return Sum(rename(x.function.xreplace({v: new}), depth + 1), (new, a, b))
        if x.is_Atom or isinstance(x, (Indexed, IndexedBase)) or not x.args:
            return x
        return x.func(*(rename(a, depth) for a in x.args))
    return rename(e)


# --- the point ------------------------------------------------------------------

_LOGITS = (0.5, 2.0, -1.0, 1.5, -0.5, 3.0, -2.0, 1.0, 0.0, 2.5)  # spread, no ties
_POSITIVE = ("2.5", "0.4", "4", "0.25", "3.5", "0.6")  # away from 1 and from each other
_REAL = ("2.5", "-1.5", "4", "-0.75", "3.5", "-2")


def _visible_point(meaning, left, right, lhs, rhs, counterexample):
    try:
        k = int(counterexample.get("k", meaning.derivation.k or 3))
    except ValueError:
        return None
    # k = 1 makes every s_i 1: three classes show values better, unless the error needs this k
    ks = [max(k, 3), k] if meaning.derivation.k is None and k < 3 else [k]
    placement = {}
    for s in (left.free_symbols | right.free_symbols) & meaning.indices:
        if str(s) in counterexample:
            try:
                placement[s] = int(counterexample[str(s)])
            except ValueError:
                return None
    for k, shift in ((k, shift) for k in ks for shift in range(3)):  # the first that shows it
        point, shown = _point(meaning, k, placement, shift)
        try:
            a, b = point.value(left, DIGITS), point.value(right, DIGITS)
            a2, b2 = point.value(left, 2 * DIGITS + 20), point.value(right, 2 * DIGITS + 20)
        except (Unevaluable, ZeroDivisionError, OverflowError, ValueError, TypeError):
            continue
        if _differs(a, b) and _differs(a2, b2):
            shown += _quantities(meaning, point, lhs, rhs)
            return tuple(shown), _num(a2), _num(b2)
    return None


def _point(meaning, k, placement, shift):
    d = meaning.derivation
    onehot = {a.vector: a.index for a in d.assumptions if a.kind == "onehot"}
    simplex = {a.vector for a in d.assumptions if a.kind == "simplex"}
    shown = [("k", str(k))] + [(str(s), str(v)) for s, v in sorted(placement.items(), key=lambda x: x[0].name)]
    vectors, scalars = {}, {}
    for name in d.vectors:
        base = d.symbols.get(name)
        if not isinstance(base, IndexedBase) or name in meaning.defs:
            continue
        if name in onehot and onehot[name] in placement:
            values = [sympy.Integer(int(n == placement[onehot[name]])) for n in range(1, k + 1)]
        elif name in simplex or name in onehot:
            weights = [n + shift for n in range(1, k + 1)]
            values = [sympy.Rational(w, sum(weights)) for w in weights]
        elif base.assumptions0.get("positive") or base.assumptions0.get("nonnegative"):
            values = [sympy.Rational(_POSITIVE[(n + shift) % len(_POSITIVE)]) for n in range(k)]
        else:
            values = [sympy.Rational(str(_LOGITS[(n + 3 * shift) % len(_LOGITS)])) for n in range(k)]
        vectors[base] = [mpmath.mpf(v.p) / v.q for v in values]
        shown += [(f"{name}[{n}]", _num(v)) for n, v in enumerate(vectors[base], start=1)]
    plain = [o for o in d.symbols.values() if isinstance(o, Symbol) and o not in meaning.indices
             and o != meaning.k and o.name not in meaning.defs]
    for n, s in enumerate(sorted(plain, key=lambda x: x.name)):
        table = _POSITIVE if s.is_nonnegative else _REAL
        v = sympy.Rational(table[(n + shift) % len(table)])
        scalars[s] = mpmath.mpf(v.p) / v.q
        shown.append((s.name, _num(scalars[s])))
    env = {meaning.k: k, **placement}
    return Point(env, vectors, scalars), shown


def _quantities(meaning, point, lhs, rhs):
    """The defined names the step uses, and their definitions' denominators, at ``point``."""
    wanted = []
    for side in (lhs, rhs):
        for x in sorted(side.atoms(Indexed, Symbol), key=sympy.default_sort_key):
            name = str(x.base.label) if isinstance(x, Indexed) else x.name
            if name in meaning.defs and x not in wanted and x.free_symbols & meaning.indices <= set(point.env):
                wanted.append(x)
    for side in (lhs, rhs):  # sums the author wrote out, such as the softmax denominator
        wanted += [x for x in sorted(side.atoms(Sum), key=sympy.default_sort_key)
                   if x not in wanted and not x.has(sympy.Derivative)
                   and x.free_symbols & meaning.indices <= set(point.env)]
    for x in list(wanted):
        if isinstance(x, Sum):
            continue
        numer, denom = sympy.fraction(meaning.defs[str(x.base.label) if isinstance(x, Indexed) else x.name].body)
        if isinstance(denom, Sum) and denom not in wanted:
            wanted.append(denom)
    out = []
    for x in wanted:
        try:
            out.append((_source(x), _num(point.value(meaning.of(x), DIGITS))))
        except (Unevaluable, ZeroDivisionError, OverflowError, ValueError, TypeError):
            continue
    return out


def _differs(a, b) -> bool:
    return abs(a - b) > mpmath.mpf("1e-20") * max(abs(a), abs(b), 1)


def _num(x) -> str:
    return mpmath.nstr(mpmath.mpmathify(x), 6)
