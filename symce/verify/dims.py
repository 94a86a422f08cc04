"""Check one step of a file with named dimensions (``dims``), matrices, functions, or none at all.

The same three stages as for a file in ``k`` (``steps.py``), over every dimension:

1. probes at random points, with each symbolic dimension set to 1, to distinct
   small sizes (so that an index over the wrong dimension shows), and to 7 while
   the others stay small, and the free indices placed over their own dimensions;
   a disagreement confirmed at higher precision is a counterexample;
2. an exact proof for all sizes: sums over each dimension rewritten by the exact
   rules of ``meaning.normal_form`` (a ``KroneckerDelta(j, a)`` picks a term only
   when ``a`` ranges over the sum's own dimension), abstract quantities and
   remaining sums held opaque. Evidence: "proved for all n, d"; "proved" for a file
   without a symbolic dimension;
3. failing that, exact proofs of the instances: for concrete dims that is the whole
   claim ("proved"); for symbolic ones only small sizes, which never passes.

The result is plain data (the evidence's name, a detail, the counterexample's
values), turned into ``steps.Evidence`` by the caller.
"""

from __future__ import annotations

import itertools
import math
import random

import mpmath
import sympy

from ..model.derivation import Case, Derivation
from .facts import Facts
from .functions import AbstractValue, opaque_values
from .meaning import Meaning, apply_case, canonical_bounds, is_zero, normal_form, sum_to_one
from .probe import Point, Unevaluable, certify

DIGITS = 50  # working precision of a probe
MAX_DIGITS = 2000  # a disagreement needing more digits than this to settle is left undecided
TOLERANCE = mpmath.mpf("1e-30")  # relative disagreement that counts as a difference
PROBES_PER_SIZE = 8  # index placements probed per assignment of the dims
FIRST_PROBES = 6  # probes before the proof, spread over the assignments of the dims
MAX_PLACEMENTS = 400  # instances beyond this many placements are not enumerated
SMALL = (1, 2, 3)  # sizes of each symbolic dim tried exactly when the proof for all is undecided
MAX_INSTANCES = 60  # assignments of the dims tried exactly
LARGE = 7  # each symbolic dim is also tried at this size, in probes and instances


def symbolic_dims(derivation: Derivation) -> list:
    return [d for d in derivation.dims if d.size is None]


def scope(derivation: Derivation) -> str:
    """What a proof for all sizes covers: ``"n, d"`` ("" for a file without symbolic dims).

    >>> from symce.read.toml import loads_derivation
    >>> scope(loads_derivation('''
    ... title = "t"
    ... [symbols]
    ... dims = { n = "symbolic", d = "symbolic", k = 3 }
    ... [[chains]]
    ... name = "c"
    ... start = "n"
    ... steps = [{ expr = "n", reason = "r" }]
    ... '''))
    'n, d'
    """
    return ", ".join(d.name for d in symbolic_dims(derivation))


def verify_dims_step(derivation: Derivation, lhs, rhs, case: Case | None, *, seed: str = "0",
                     meaning: Meaning | None = None):
    """Decide ``lhs == rhs``; returns (evidence name, detail, (values, lhs, rhs) or None).

    ``meaning``: the derivation's, when the caller shares one between steps.
    """
    meaning = Meaning(derivation) if meaning is None else meaning
    left = meaning.assume(meaning.of(lhs), case)
    right = meaning.assume(meaning.of(rhs), case)
    inst = _Instances(meaning, left, right, case.condition if case is not None else None)
    rng = random.Random(seed)
    agreed = 0
    # A few probes first (a wrong step is usually refuted at once), then the proof; the
    # other probes only when it is not proved: they can only add a counterexample.
    plan = inst.probe_plan(rng)
    first, rest = plan[:FIRST_PROBES], plan[FIRST_PROBES:]
    for sizes, placement in first:
        verdict = inst.probe(sizes, placement, rng)
        if isinstance(verdict, tuple):
            return "FAILS", f"differs at {_describe(sizes, {})}", verdict
        agreed += verdict
    symbolic = symbolic_dims(derivation)
    proved = is_zero(inst.normal(left - right))
    for sizes, placement in [] if proved else rest:
        verdict = inst.probe(sizes, placement, rng)
        if isinstance(verdict, tuple):
            return "FAILS", f"differs at {_describe(sizes, {})}", verdict
        agreed += verdict
    if proved:
        if symbolic:
            return "PROVED_ALL_DIMS", f"exact, for all {scope(derivation)}; {agreed} probes agreed", None
        return "PROVED", f"exact; {agreed} probes agreed", None
    unproved = []
    for sizes in inst.exact_plan():
        placements = inst.placements(sizes)
        if placements is None:
            unproved.append(f"{_describe(sizes, {})}: too many index placements")
            continue
        for placement in placements:
            if not is_zero(opaque_values(inst.instance(left, sizes, placement)
                                         - inst.instance(right, sizes, placement))):
                verdict = inst.probe(sizes, placement, rng)
                if isinstance(verdict, tuple):
                    return "FAILS", f"differs at {_describe(sizes, {})}", verdict
                unproved.append(_describe(sizes, placement))
    if not unproved:
        if not symbolic:
            return "PROVED", "exact, the file's sizes, every index placement", None
        names = scope(derivation)
        return "SMALL_DIMS", (f"not proved for all {names}; exact for {names} in {SMALL[0]}..{SMALL[-1]} "
                              f"and each at {LARGE}"), None
    if agreed:
        return "NUMERIC", f"{agreed} probes agreed; not proved at {unproved[0]}", None
    return "UNVERIFIED", f"not proved at {unproved[0]}; no probe could be evaluated", None


def _describe(sizes: dict, placement: dict) -> str:
    parts = [f"{s} = {v}" for s, v in sizes.items()] + [f"{s} = {v}" for s, v in placement.items()]
    return ", ".join(parts) or "the file's values"


class _Instances:
    """One step's two sides at concrete sizes of the dims and values of the free indices."""

    def __init__(self, meaning: Meaning, left, right, condition):
        d = meaning.derivation
        self.meaning, self.derivation = meaning, d
        self.left, self.right, self.condition = left, right, condition
        self.free = sorted((_free(left) | _free(right)) & meaning.indices, key=lambda s: s.name)
        self.simplex = meaning.simplex_vectors()
        self.facts = Facts(d)
        self.signs = self.facts.signs()  # scalars a fact keeps on one side of zero, for proofs
        declared = set(d.vectors) - set(meaning.defs)
        self.arrays = {d.symbols[n]: d.shapes[n] for n in declared if n in d.shapes}
        used = _free(left) | _free(right)
        named = set(meaning.defs) | {f.name for f in d.abstract}  # not inputs: never drawn
        self.scalars = [o for n, o in d.symbols.items() if isinstance(o, sympy.Symbol) and o in used
                        and n not in named and o not in meaning.indices and not o.is_integer]
        self.used = {x.base for side in (left, right) for x in side.atoms(sympy.Indexed)}
        self.symbolic = [dim.symbol for dim in d.dims if dim.size is None]

    def normal(self, e):
        """Sums over each dimension rewritten exactly; then abstract quantities made symbols."""
        e = _nested_sums(e.xreplace(self.signs))
        ranges = self.derivation.ranges
        for _ in range(2):  # a sum over n inside one over d needs both passes
            for dim in self.derivation.dims:
                e = normal_form(e, dim.symbol, frozenset(i for i, r in ranges.items() if r == dim.symbol))
                e = _exp_of_sums(e)
        for y in self.simplex:  # (as the facts' signs renamed it: 0 <= y[i] together with simplex(y))
            e = sum_to_one(e, [self.signs.get(y, y)], self.derivation.shapes[y.name][0])
        if self.condition is not None:  # a picked term can bring out a delta the case decides
            e = apply_case(e, self.condition, self.meaning.indices)
        return opaque_values(_delta_substitute(e, self.meaning.indices))

    def sizes_of(self, values) -> dict:
        return dict(zip(self.symbolic, values))

    def probe_plan(self, rng: random.Random) -> list:
        n = len(self.symbolic)
        plans = [(1,) * n, tuple(range(2, 2 + n)), tuple(range(1 + n, 1, -1))]
        plans += [tuple(LARGE if m == pos else 2 for m in range(n)) for pos in range(n)]
        out = []
        for values in dict.fromkeys(plans):
            sizes = self.sizes_of(values)
            placements = self.placements(sizes) or []
            if len(placements) > PROBES_PER_SIZE:
                placements = [placements[0], placements[-1]] + rng.sample(placements[1:-1], PROBES_PER_SIZE - 2)
            out.append([(sizes, p) for p in placements])
        # round robin: the first few probes cover every assignment (1, distinct sizes, 7)
        return [x for group in itertools.zip_longest(*out) for x in group if x is not None]

    def exact_plan(self) -> list[dict]:
        """Every dim in 1..3, then each at 7 with the others at 1."""
        n = len(self.symbolic)
        plans = list(itertools.product(SMALL, repeat=n))[:MAX_INSTANCES]
        plans += [tuple(LARGE if m == pos else 1 for m in range(n)) for pos in range(n)]
        return [self.sizes_of(values) for values in plans]

    def size_of(self, dim, sizes: dict) -> int:
        return int(dim.xreplace(sizes))

    def placements(self, sizes: dict, limit: int = MAX_PLACEMENTS) -> list[dict] | None:
        ranges = [self.size_of(self.derivation.ranges[i], sizes) for i in self.free]
        if math.prod(ranges) > limit:
            return None
        out = []
        for values in itertools.product(*(range(1, r + 1) for r in ranges)):
            placement = dict(zip(self.free, values))
            if self.condition is not None:
                if self.condition.xreplace({**placement, **sizes}) is sympy.false:
                    continue
            out.append(placement)
        return out

    def instance(self, e, sizes: dict, placement: dict):
        e = _unroll(e.xreplace({**sizes, **placement, **self.signs}))
        for y in self.simplex:  # the last entry is whatever makes the vector sum to one
            last = self.size_of(self.derivation.shapes[y.name][0], sizes)
            y = self.signs.get(y, y)
            e = e.xreplace({y[last]: 1 - sympy.Add(*(y[n] for n in range(1, last)))})
        return e

    def probe(self, sizes: dict, placement: dict, rng: random.Random):
        """A counterexample (values, lhs, rhs), or how many points agreed (0..2)."""
        agreed = 0
        for large in (False, True):
            point = _ArrayPoint(self, sizes, placement, rng, large)
            try:
                a, b = point.value(self.left, DIGITS), point.value(self.right, DIGITS)
                if not (_finite(a) and _finite(b)):
                    continue
                if _close(a, b):
                    agreed += 1
                    continue
                fine = point.finer_digits()
                if fine > MAX_DIGITS:
                    continue  # too costly to settle at this point; others decide
                a2, b2 = point.value(self.left, fine), point.value(self.right, fine)
            except (Unevaluable, ZeroDivisionError, OverflowError, ValueError):
                continue
            if _close(a2, b2) or abs(a2 - b2) < abs(a - b) * mpmath.mpf(10) ** -DIGITS:
                agreed += 1
                continue
            # a counterexample only when interval arithmetic shows the sides apart (probe.certify)
            certified = certify(point, self.left, self.right)
            if certified is None:
                continue  # too close to tell: neither agreement nor a counterexample
            return point.shown(), _show(certified[0]), _show(certified[1])
        return agreed


class _ArrayPoint(Point):
    """A probe point holding vectors and matrices by index tuples, and abstract quantities."""

    def __init__(self, inst: _Instances, sizes: dict, placement: dict, rng: random.Random, large: bool):
        super().__init__({**sizes, **placement}, {}, {})
        self.inst, self.sizes, self.placement, self.rng = inst, sizes, placement, rng
        self.offset = rng.choice((-1, 1)) * rng.randint(300, 700) if large else 0
        self.arrays: dict = {}
        for base, shape in inst.arrays.items():
            dims = [inst.size_of(s, sizes) for s in shape]
            keys = list(itertools.product(*(range(1, n + 1) for n in dims)))
            # the large offset goes to vector entries (logits) only: on a weight matrix too,
            # every product would be of two large numbers (a pre-activation of 10^5)
            values = {key: self.draw(base, large=len(shape) == 1) for key in keys}
            if base in inst.simplex and keys:
                values[keys[-1]] = 1 - mpmath.fsum(values[key] for key in keys[:-1])
            self.arrays[base] = values
        self.scalars = {s: self.draw(s) for s in inst.scalars}
        self.opaque: dict = {}  # abstract quantities, by name and concrete partials
        self.peak = mpmath.mpf(0)  # (not tracked by the shared evaluator; the inputs size the digits)
        self.outside: dict = {}  # entries reached outside their dims

    def draw(self, obj, large: bool = True):
        if obj in self.inst.simplex:
            # dyadic: exact in binary at any precision, so the entries sum to 1 exactly; small,
            # so that the last entry, one minus the others, is in [0, 1] too (k <= 41)
            return mpmath.ldexp(self.rng.randint(1, 99), -12)
        fact = self.inst.facts.draw(obj, self.rng)
        if fact is not None:
            return fact
        if obj.is_positive or obj.is_nonnegative or obj.assumptions0.get("positive") \
                or obj.assumptions0.get("nonnegative"):
            return mpmath.mpf(self.rng.randint(1, 5000)) / 1000
        return (self.offset if large else 0) + mpmath.mpf(self.rng.randint(-3000, 3000)) / 1000

    def entry(self, base, n):
        key = n if isinstance(n, tuple) else (n,)
        values = self.arrays.get(base)
        if values is None:
            raise Unevaluable(f"no values for {base}")
        if key in values:
            return values[key]
        return self.outside.setdefault((base, key), self.draw(base))

    def other(self, e, ev, integer, ctx):
        """Abstract quantities (dyadic values: exact in every kind of number), Max, Min, Heaviside."""
        if isinstance(e, AbstractValue):
            key = (e.name,) + tuple(sorted(
                (p.base.name, tuple(integer(x) for x in p.indices)) if isinstance(p, sympy.Indexed)
                else (str(p), ()) for p in e.partials))
            if key not in self.opaque:
                self.opaque[key] = (self.rng.randint(-3000, 3000), 1024)
            p, q = self.opaque[key]
            return ctx.of(mpmath.ldexp(p, -10))
        if isinstance(e, (sympy.Max, sympy.Min)):
            values = [ev(a) for a in e.args]
            if any(hasattr(v, "a") for v in values):  # intervals: only a sure winner is taken
                values = [v if hasattr(v, "a") else ctx.of(v) for v in values]
                best = (max if isinstance(e, sympy.Max) else min)(values, key=lambda v: v.mid)
                sure = all(v is best or (best.a >= v.b if isinstance(e, sympy.Max) else best.b <= v.a)
                           for v in values)
                if not sure:
                    raise Unevaluable("Max or Min of overlapping intervals")
                return best
            return max(values) if isinstance(e, sympy.Max) else min(values)
        if isinstance(e, sympy.Heaviside):
            x = ev(e.args[0])
            low, high = (x.a, x.b) if hasattr(x, "a") else (x, x)
            if low <= 0 <= high:
                raise Unevaluable("Heaviside at (or near) 0")
            return ctx.of(1 if low > 0 else 0)
        raise Unevaluable(f"cannot evaluate {type(e).__name__}")

    def finer_digits(self) -> int:
        values = [abs(v) for vs in self.arrays.values() for v in vs.values()]
        values += [abs(v) for v in self.scalars.values()] + [abs(v) for v in self.outside.values()]
        from_inputs = 2 * max(values, default=0) / math.log(10)
        from_peak = float(mpmath.log10(self.peak)) if self.peak > 1 else 0.0
        return 2 * DIGITS + 10 + int(max(from_inputs, from_peak)) + 1

    def shown(self) -> dict[str, str]:
        out = {str(s): str(v) for s, v in self.sizes.items()}
        out.update({str(s): str(v) for s, v in self.placement.items()})
        for base, values in self.arrays.items():
            if base in self.inst.used:
                out.update({f"{base}[{', '.join(map(str, k))}]": mpmath.nstr(v, 8) for k, v in values.items()})
        out.update({f"{b}[{', '.join(map(str, k))}] (outside its dims)": mpmath.nstr(v, 8)
                    for (b, k), v in self.outside.items()})
        out.update({str(s): mpmath.nstr(v, 8) for s, v in self.scalars.items()})
        for key, (p, q) in self.opaque.items():
            out[_opaque_name(key)] = mpmath.nstr(mpmath.ldexp(p, -10), 8)
        return out


def _opaque_name(key) -> str:
    name, partials = key[0], key[1:]
    if not partials:
        return name
    by = " ".join(f"d{b}[{', '.join(map(str, k))}]" if k else f"d{b}" for b, k in partials)
    return f"d{'' if len(partials) == 1 else len(partials)}{name}/{by}"


def _nested_sums(e) -> sympy.Basic:
    """``Sum(f, (m, 1, k), (i, 1, n))`` as two nested sums: the exact rules take one limit at a time."""
    def split(s):
        body = s.function
        for limit in s.limits:
            body = sympy.Sum(body, limit)
        return body
    return e.replace(lambda x: isinstance(x, sympy.Sum) and len(x.limits) > 1, split)


def _exp_of_sums(e) -> sympy.Basic:
    """``Product(exp(f), (q, a, b))`` back to ``exp(Sum(f, (q, a, b)))``.

    SymPy's ``expand_power_exp`` (used by the sum rules) writes an exponential of a sum
    as a product; where another side keeps ``exp(Sum(...))`` the two would not meet.
    Exact, by the same (Karr) convention for both over any range.
    """
    return canonical_bounds(e.replace(
        lambda x: isinstance(x, sympy.Product) and isinstance(x.function, sympy.exp),
        lambda x: sympy.exp(sympy.Sum(x.function.args[0], *x.limits))))


def _delta_substitute(e, indices) -> sympy.Basic:
    """In each term, a factor ``KroneckerDelta(i, j)`` of free indices puts ``i`` for ``j`` elsewhere.

    Exact: where ``i != j`` the term is zero either way. It lets ``KroneckerDelta(i, j) * s[j]``
    and ``KroneckerDelta(i, j) * s[i]`` cancel, which the opaque-delta simplifier cannot see.
    """
    if not any(set(d.args) <= indices for d in e.atoms(sympy.KroneckerDelta)):
        return e
    out = []
    for term in sympy.Add.make_args(sympy.expand_mul(e)):
        factors = list(sympy.Mul.make_args(term))
        for n, f in enumerate(factors):
            if isinstance(f, sympy.KroneckerDelta) and set(f.args) <= indices and f.args[0] != f.args[1]:
                keep, gone = sorted(f.args, key=sympy.default_sort_key)
                factors = [g if m == n else g.xreplace({gone: keep}) for m, g in enumerate(factors)]
        out.append(sympy.Mul(*factors))
    return sympy.Add(*out)


def _free(e) -> set:
    out = set(e.free_symbols)
    for x in e.atoms(AbstractValue):
        for p in x.partials:
            out |= p.free_symbols
    return out


def _unroll(e):
    """Sums with integer limits written out as additions (exact; faster than ``Sum.doit``)."""
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
            # again after the substitution: an inner sum may run up to this index, (j, 1, l)
            body = sympy.Add(*(_unroll(body.xreplace({var: n})) for n in range(int(low), int(high) + 1)))
        return body
    return e.func(*(_unroll(a) for a in e.args))


def _show(x) -> str:
    return mpmath.nstr(mpmath.mpmathify(x), 12)


def _finite(x) -> bool:
    return isinstance(x, int) or mpmath.isfinite(x)


def _close(a, b) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))
