"""Check every step of a derivation: numeric probes, then an exact proof, evidence never overstated.

A step claims that the previous expression equals its own, under the file's
assumptions and its chain's case. Both sides are given their meaning (definitions
unfolded, derivatives taken; ``meaning.py``), then:

1. probed at random points in double precision for several concrete k (k = 1 and
   k >= 7 among them) and index placements, at ordinary values and at corners (wide
   logit spreads, scalars near 0, near 1 and large, simplex vectors with tiny or
   dominant entries); a disagreement is confirmed in mpmath and *certified* with
   interval arithmetic before it becomes FAILS with a counterexample;
2. proved exactly for symbolic k (sums over 1..k rewritten by exact rules);
3. failing that, probed again at 50 digits (each difference certified), and proved
   exactly for every instance k <= 6 and every placement (or, for a file with a
   concrete k, for that k). "Proved for k <= 6" is shown as what it is and does
   not pass unless the user gives that up explicitly (``all_k=False``).

A disagreement that cannot be certified never makes a FAILS: the step is UNVERIFIED
with the reason. Each step runs in its own forked process under a hard time limit
(``timelimit.py``).
"""

from __future__ import annotations

import enum
import itertools
import os
import random
import time
from dataclasses import dataclass
from functools import partial

import mpmath
import sympy

from ..model.derivation import Case, Chain, Derivation, Step
from .meaning import Meaning, Refused, apply_case, is_zero, normal_form, sum_to_one
from .probe import CERTIFY_BITS, STYLES as _STYLES, Point, Unevaluable, certify
from .probe import draw as _draw, simplex_draw as _simplex_draw
from .timelimit import run_limited

SMALL_K = (1, 2, 3, 4, 5, 6)  # instances tried when symbolic k is undecided (from the file's min)
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


class Evidence(enum.Enum):
    """How strongly a step was shown; never stronger than what was actually done."""

    PROVED_ALL_K = "proved for all k"  # exact proof with k symbolic
    PROVED_FOR_K = "proved for the file's k"  # exact proof for the concrete k the file declares
    PROVED_SMALL_K = "proved only for k <= 6"  # exact proof of every instance k = min..6, no more
    NUMERIC = "numeric only"  # high-precision probes agreed; no proof
    FAILS = "fails"  # the two sides surely differ (a certified counterexample is attached)
    UNVERIFIED = "unverified"  # neither proved nor refuted (time limit, uncertain difference, refused)

    @property
    def proved(self) -> bool:
        return self in (Evidence.PROVED_ALL_K, Evidence.PROVED_FOR_K, Evidence.PROVED_SMALL_K)


@dataclass(frozen=True)
class Counterexample:
    """Values at which the two sides of a step differ."""

    values: dict[str, str]  # symbol name -> value, as printed text
    lhs: str  # value of the previous expression there
    rhs: str  # value of the step's expression there
    difference: str = ""  # previous minus this step's, certified nonzero (shows a tiny gap)


@dataclass(frozen=True)
class StepResult:
    """The verdict on one step."""

    chain: str  # the chain's name
    index: int  # 1-based step number within the chain
    reason: str  # the step's reason, copied for reports
    evidence: Evidence  # how strongly it was shown
    seconds: float  # wall time spent on this step
    detail: str = ""  # one line: which instances were proved, why unverified, ...
    counterexample: Counterexample | None = None  # present when evidence is FAILS

    def passes(self, allow_numeric: bool = False, all_k: bool = True) -> bool:
        """Proved for every k the file claims; or numeric only, when the user allowed it.

        ``all_k=False`` lets "proved only for k <= 6" pass too, giving up every larger
        k: a claim such as ``(k-2)(k-3)(k-4)(k-5)(k-6) = 0`` holds at each of those.
        """
        if all_k and self.evidence is Evidence.PROVED_SMALL_K:
            return False
        return self.evidence.proved or (allow_numeric and self.evidence is Evidence.NUMERIC)


@dataclass(frozen=True)
class Report:
    """All verdicts on one derivation file, in file order."""

    derivation: Derivation  # what was checked
    steps: tuple[StepResult, ...]  # one per step of every chain

    def passed(self, allow_numeric: bool = False, all_k: bool = True) -> bool:
        """True when every step passes (see ``StepResult.passes``)."""
        return all(r.passes(allow_numeric, all_k) for r in self.steps)

    def line_of(self, result: StepResult) -> int | None:
        """The file line of the step a result speaks of, when the loader found it."""
        for chain in self.derivation.chains:
            if chain.name == result.chain and 1 <= result.index <= len(chain.steps):
                return chain.steps[result.index - 1].line
        return None

    def as_dict(self, allow_numeric: bool = False, all_k: bool = True) -> dict:
        """Plain data for JSON: the file, whether it passed, and one entry per step."""
        steps = []
        for r in self.steps:
            cx = r.counterexample
            steps.append({
                "chain": r.chain, "step": r.index, "line": self.line_of(r), "reason": r.reason,
                "evidence": r.evidence.name.lower(), "evidence_text": r.evidence.value,
                "proved": r.evidence.proved,
                "passed": r.passes(allow_numeric, all_k),
                "seconds": round(r.seconds, 4), "detail": r.detail,
                "counterexample": None if cx is None else {"values": cx.values, "lhs": cx.lhs, "rhs": cx.rhs},
            })
        return {"path": self.derivation.path, "title": self.derivation.title,
                "passed": self.passed(allow_numeric, all_k), "steps": steps}

    def first_failure(self, allow_numeric: bool = False, all_k: bool = True) -> StepResult | None:
        """The first step that does not pass, or None."""
        return next((r for r in self.steps if not r.passes(allow_numeric, all_k)), None)


def check(derivation: Derivation, *, timeout: float = 10.0, parallel: int | None = None) -> Report:
    """Verify every step of ``derivation``; each step gets at most ``timeout`` seconds.

    Steps run in forked worker processes (``parallel`` at a time, default: the number
    of CPUs, at most 4) and are killed at their deadline; a killed step is UNVERIFIED.

    >>> from symce.read.toml import loads_derivation
    >>> d = loads_derivation('''
    ... title = "t"
    ... [symbols]
    ... k = "symbolic"
    ... indices = ["i"]
    ... vectors = { z = "real" }
    ... [[chains]]
    ... name = "x"
    ... start = "Derivative(exp(2 * z[i]), z[i])"
    ... steps = [{ expr = "2 * exp(z[i])**2", reason = "chain rule" },
    ...          { expr = "exp(z[i])**2", reason = "a wrong factor" }]
    ... ''')
    >>> [r.evidence.name for r in check(d).steps]
    ['PROVED_ALL_K', 'FAILS']
    """
    if parallel is None:
        parallel = min(4, os.cpu_count() or 1)
    work = []
    for chain in derivation.chains:
        previous = chain.start
        for n, step in enumerate(chain.steps, start=1):
            work.append((chain, n, previous, step))
            previous = step.expr
    jobs = [partial(_timed, derivation, chain, n, lhs, step) for chain, n, lhs, step in work]
    outcomes = run_limited(jobs, timeout=timeout, parallel=parallel)
    results = []
    for (chain, n, _, step), (status, value) in zip(work, outcomes):
        if status == "ok":
            results.append(value)
            continue
        detail = f"time limit of {timeout:g} s reached" if status == "timeout" else f"checker gave up: {value}"
        seconds = timeout if status == "timeout" else 0.0
        results.append(StepResult(chain=chain.name, index=n, reason=step.reason,
                                  evidence=Evidence.UNVERIFIED, seconds=seconds, detail=detail))
    return Report(derivation=derivation, steps=tuple(results))


def _timed(derivation: Derivation, chain: Chain, n: int, lhs: sympy.Basic, step: Step) -> StepResult:
    start = time.perf_counter()
    evidence, detail, counterexample = verify_step(derivation, lhs, step.expr, chain.case,
                                                   seed=f"{chain.name}:{n}")
    return StepResult(chain=chain.name, index=n, reason=step.reason, evidence=evidence,
                      seconds=time.perf_counter() - start, detail=detail, counterexample=counterexample)


def verify_step(derivation: Derivation, lhs: sympy.Basic, rhs: sympy.Basic, case: Case | None,
                *, seed: str = "0") -> tuple[Evidence, str, Counterexample | None]:
    """Decide ``lhs == rhs`` under the derivation's assumptions and ``case`` (no time limit)."""
    meaning = Meaning(derivation)
    try:
        left = meaning.assume(meaning.of(lhs), case)
        right = meaning.assume(meaning.of(rhs), case)
    except Refused as exc:
        return Evidence.UNVERIFIED, str(exc), None
    condition = case.condition if case is not None else None
    inst = _Instances(meaning, left, right, condition)

    # Probes first, in double precision: a wrong step is usually refuted in milliseconds.
    rng = random.Random(seed)
    points = inst.points(rng)
    agreed, doubts = 0, []
    for k, placement, point in points:
        verdict = inst.compare(k, placement, point, precise=False)
        if isinstance(verdict, Counterexample):
            return Evidence.FAILS, f"differs at k = {k} (certified by interval arithmetic)", verdict
        agreed += verdict == "agree"
        if verdict.startswith("doubt"):
            doubts.append(verdict)
    if derivation.k is None and _proved_all_k(meaning, left, right, case):
        return Evidence.PROVED_ALL_K, f"exact, symbolic k >= {_k_min(derivation)}; {agreed} probes agreed", None
    if derivation.k is not None and inst.proved_at(derivation.k):
        return Evidence.PROVED_FOR_K, f"exact, k = {derivation.k}, every index placement", None
    # Not proved: look again at every point with 50 digits, certifying any difference, and
    # at k not probed yet (a claim can vanish at every k of the first plan).
    agreed, doubts = 0, []
    if derivation.k is None:
        points += inst.points(rng, [k for k in MORE_K + (rng.randint(12, 40),) if k >= inst.least_k])
    for n, (k, placement, point) in enumerate(points):
        verdict = inst.compare(k, placement, point, precise=True, deep=n < DEEP_PROBES)
        if isinstance(verdict, Counterexample):
            return Evidence.FAILS, f"differs at k = {k} (certified by interval arithmetic)", verdict
        agreed += verdict == "agree"
        if verdict.startswith("doubt"):
            doubts.append(verdict)
    ks = (derivation.k,) if derivation.k is not None else tuple(k for k in SMALL_K if k >= inst.least_k)
    unproved = []
    for k in ks:
        placements = inst.placements(k)
        if placements is None:
            unproved.append(f"k = {k}: too many index placements to try them all")
            continue
        for placement in placements:
            if not is_zero(inst.instance(left, k, placement) - inst.instance(right, k, placement)):
                for point in (inst.point(k, placement, rng, style) for style in _STYLES):
                    verdict = inst.compare(k, placement, point, precise=True)
                    if isinstance(verdict, Counterexample):
                        return Evidence.FAILS, f"differs at k = {k} (certified by interval arithmetic)", verdict
                unproved.append(_describe(k, placement))
    doubt = f"; {doubts[0][len('doubt: '):]}" if doubts else ""
    if not ks:  # min >= 7: no instance up to 6 is claimed, so none is evidence
        unproved.append(f"k = {inst.least_k} and above: no proof for symbolic k")
    if not unproved:
        if derivation.k is not None:
            return Evidence.PROVED_FOR_K, f"exact, k = {derivation.k}, every index placement", None
        return (Evidence.PROVED_SMALL_K, f"symbolic k undecided; every instance k = {ks[0]}..{ks[-1]} "
                f"exact, no proof for larger k{doubt}", None)
    if doubts:
        return Evidence.UNVERIFIED, f"not proved at {unproved[0]}{doubt}", None
    if agreed:
        return Evidence.NUMERIC, f"{agreed} probes agreed; not proved at {unproved[0]}", None
    return Evidence.UNVERIFIED, f"not proved at {unproved[0]}; no probe could be evaluated", None


def _k_min(derivation: Derivation) -> int:
    return derivation.k_min


def _proved_all_k(meaning: Meaning, left, right, case: Case | None) -> bool:
    """Exact proof for every symbolic k >= the file's minimum.

    k >= m is written k = K + m - 1 with K a positive integer, so that SymPy's
    assumptions see the minimum (a sum over 3..k has k - 2 >= 0 terms once m >= 2).
    """
    k, m = meaning.k, _k_min(meaning.derivation)
    diff = left - right
    if m > 1:
        shifted = sympy.Dummy("K", integer=True, positive=True) + (m - 1)
        diff, k = diff.xreplace({k: shifted}), shifted
    diff = normal_form(diff, k, meaning.indices | shown_positions(left, right, k))
    if case is not None:  # a sum's picked term can bring out a delta the case decides: KroneckerDelta(1, c)
        diff = apply_case(diff, case.condition, meaning.indices)
    return is_zero(sum_to_one(diff, meaning.simplex_vectors(), k))


def shown_positions(left, right, k) -> frozenset:
    """Positions surely in 1..k wherever the step is defined: 1, k, and each literal entry index.

    A step about ``z[2]`` speaks of k >= 2 only (a vector has k entries), so a sum over
    1..k of ``KroneckerDelta(j, 2) * f(j)`` is ``f(2)`` there; ``k + 1`` is never added (an
    index off by one must stay visible).

    >>> z, k = sympy.IndexedBase("z"), sympy.Symbol("k")
    >>> sorted(shown_positions(z[2] + z[k + 1], sympy.S.Zero, k), key=str)
    [1, 2, k]
    """
    found = {sympy.Integer(1), k}
    for side in (left, right):
        for entry in side.atoms(sympy.Indexed):
            found |= {x for x in entry.indices if x.is_Integer and x >= 1}
    return frozenset(found)


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
