"""Check every step of a derivation: numeric probes, then an exact proof, evidence never overstated.

A step claims that the previous expression equals its own, under the file's
assumptions and its chain's case. Both sides are given their meaning (definitions
unfolded, derivatives taken; ``meaning.py``), then:

1. probed at random points with high precision for a few concrete k and every
   placement of the free indices -- a disagreement is a FAILS with a counterexample;
2. proved exactly for symbolic k (sums over 1..k rewritten by exact rules);
3. failing that, proved exactly for every instance k = 2..6 and every placement
   (or, for a file with a concrete k, for that k).

Each step runs in a forked worker process under its own hard time limit
(``timelimit.run_in_workers``); a worker runs many steps in turn, so the meaning of
an expression shared by neighbouring steps is computed once per worker.
"""

from __future__ import annotations

import enum
import itertools
import math
import os
import random
import time
from dataclasses import dataclass
from functools import partial

import mpmath
import sympy

from ..model.derivation import Case, Chain, Derivation, Step
from .feedback import Feedback, explain_limited
from .meaning import Meaning, apply_case, is_zero, normal_form, sum_to_one
from .probe import Point, Unevaluable
from .timelimit import run_in_workers

SMALL_K = (2, 3, 4, 5, 6)  # instances tried when symbolic k is undecided
PROBE_K = (2, 3, 5)  # class counts probed numerically
PROBES_PER_K = 12  # at most this many index placements probed per k
MAX_PLACEMENTS = 400  # give up enumerating placements beyond this (evidence drops to NUMERIC)
DIGITS = 50  # working precision (decimal digits) of a probe
TOLERANCE = mpmath.mpf("1e-30")  # relative disagreement that counts as a difference
MAX_WORKERS = 4  # worker processes at most, whatever the machine
STEPS_PER_WORKER = 4  # a worker's cold start costs about a step: fewer steps than this share one


class Evidence(enum.Enum):
    """How strongly a step was shown; never stronger than what was actually done."""

    PROVED_ALL_K = "proved for all k"  # exact proof with k symbolic
    PROVED_FOR_K = "proved for the file's k"  # exact proof for the concrete k the file declares
    PROVED_SMALL_K = "proved for k = 2..6"  # exact proof of every instance k = 2..6
    NUMERIC = "numeric only"  # high-precision probes agreed; no proof
    FAILS = "fails"  # the two sides differ (a counterexample is attached)
    UNVERIFIED = "unverified"  # neither proved nor refuted (time limit, SymPy gave up)

    @property
    def proved(self) -> bool:
        return self in (Evidence.PROVED_ALL_K, Evidence.PROVED_FOR_K, Evidence.PROVED_SMALL_K)


@dataclass(frozen=True)
class Counterexample:
    """Values at which the two sides of a step differ."""

    values: dict[str, str]  # symbol name -> value, as printed text
    lhs: str  # value of the previous expression there
    rhs: str  # value of the step's expression there


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
    feedback: Feedback | None = None  # for FAILS: how the sides differ, telling values (feedback.py)

    def passes(self, allow_numeric: bool = False, all_k: bool = False) -> bool:
        """Proved; or numeric only, when the user allowed numeric evidence to pass.

        ``all_k`` refuses "proved for k = 2..6": a claim such as
        ``(k-2)(k-3)(k-4)(k-5)(k-6) = 0`` holds at every one of those instances.
        """
        if all_k and self.evidence is Evidence.PROVED_SMALL_K:
            return False
        return self.evidence.proved or (allow_numeric and self.evidence is Evidence.NUMERIC)


@dataclass(frozen=True)
class Report:
    """All verdicts on one derivation file, in file order."""

    derivation: Derivation  # what was checked
    steps: tuple[StepResult, ...]  # one per step of every chain

    def passed(self, allow_numeric: bool = False, all_k: bool = False) -> bool:
        """True when every step passes (see ``StepResult.passes``)."""
        return all(r.passes(allow_numeric, all_k) for r in self.steps)

    def line_of(self, result: StepResult) -> int | None:
        """The file line of the step a result speaks of, when the loader found it."""
        for chain in self.derivation.chains:
            if chain.name == result.chain and 1 <= result.index <= len(chain.steps):
                return chain.steps[result.index - 1].line
        return None

    def as_dict(self, allow_numeric: bool = False, all_k: bool = False) -> dict:
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
                "feedback": None if r.feedback is None else r.feedback.as_dict(),
            })
        return {"path": self.derivation.path, "title": self.derivation.title,
                "passed": self.passed(allow_numeric, all_k), "steps": steps}

    def first_failure(self, allow_numeric: bool = False, all_k: bool = False) -> StepResult | None:
        """The first step that does not pass, or None."""
        return next((r for r in self.steps if not r.passes(allow_numeric, all_k)), None)


def check(derivation: Derivation, *, timeout: float = 10.0, parallel: int | None = None,
          memory_mb: float | None = None) -> Report:
    """Verify every step of ``derivation``; each step gets at most ``timeout`` seconds
    (and, with ``memory_mb``, that many MiB beyond what its worker holds; see ``run_in_workers``).

    Steps run in ``parallel`` forked worker processes (default: ``workers_for`` the
    number of steps), each step under its own deadline; a worker past it is killed and
    the step is UNVERIFIED.

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
    work = []
    for chain in derivation.chains:
        previous = chain.start
        for n, step in enumerate(chain.steps, start=1):
            work.append((chain, n, previous, step))
            previous = step.expr
    jobs = [partial(_timed, derivation, chain, n, lhs, step, timeout) for chain, n, lhs, step in work]
    workers = workers_for(len(jobs)) if parallel is None else parallel
    outcomes = run_in_workers(jobs, timeout=timeout, workers=workers, memory_mb=memory_mb)
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


def workers_for(steps: int, load: float | None = None) -> int:
    """Worker processes for ``steps`` steps: one, plus one per CPU left idle by the machine's
    load (``load``: default, the load average of the last minute), at most MAX_WORKERS, and
    no more than one per STEPS_PER_WORKER steps.

    Each worker pays a fork and a cold start, and splits the work that neighbouring steps
    share: a file of a few steps does not win that back, and neither does a worker that
    only takes turns on a busy CPU (measured: two workers 25% slower than one at a load
    of 7 on 2 CPUs).

    >>> workers_for(1, load=0.0)
    1
    >>> workers_for(100, load=0.0) == min(_cpus(), MAX_WORKERS)
    True
    >>> workers_for(100, load=float(_cpus()))
    1
    """
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average here: assume an idle machine
            load = 0.0
    idle = int(_cpus() - load)  # whole CPUs nobody else is using
    return max(1, min(1 + max(0, idle), _cpus(), MAX_WORKERS, steps // STEPS_PER_WORKER))


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _SharedMeaning(Meaning):
    """A ``Meaning`` that remembers ``of``: each step's expression is the next step's left
    side, and a worker runs neighbouring steps in turn. ``assume`` (which depends on the
    step's case) is not remembered."""

    def __init__(self, derivation: Derivation):
        super().__init__(derivation)
        self._of: dict = {}

    def of(self, expr: sympy.Basic) -> sympy.Basic:
        if expr not in self._of:
            self._of[expr] = super().of(expr)
        return self._of[expr]


_shared: list = [None, None]  # [the derivation, its _SharedMeaning]: the last one asked about


def _meaning(derivation: Derivation) -> Meaning:
    if _shared[0] is not derivation:
        _shared[:] = [derivation, _SharedMeaning(derivation)]
    return _shared[1]


def _timed(derivation: Derivation, chain: Chain, n: int, lhs: sympy.Basic, step: Step,
           timeout: float | None = None) -> StepResult:
    start = time.perf_counter()
    evidence, detail, counterexample = verify_step(derivation, lhs, step.expr, chain.case,
                                                   seed=f"{chain.name}:{n}")
    feedback = None if counterexample is None else explain_limited(  # within the step's own time limit
        derivation, lhs, step.expr, chain.case, counterexample.values,
        None if timeout is None else timeout - (time.perf_counter() - start) - 0.5)
    return StepResult(chain=chain.name, index=n, reason=step.reason, evidence=evidence,
                      seconds=time.perf_counter() - start, detail=detail, counterexample=counterexample,
                      feedback=feedback)


def verify_step(derivation: Derivation, lhs: sympy.Basic, rhs: sympy.Basic, case: Case | None,
                *, seed: str = "0") -> tuple[Evidence, str, Counterexample | None]:
    """Decide ``lhs == rhs`` under the derivation's assumptions and ``case`` (no time limit)."""
    meaning = _meaning(derivation)
    left = meaning.assume(meaning.of(lhs), case)
    right = meaning.assume(meaning.of(rhs), case)
    condition = case.condition if case is not None else None
    inst = _Instances(meaning, left, right, condition)

    # Probes first: a wrong step is usually refuted in milliseconds, with its counterexample.
    rng = random.Random(seed)
    probes = inst.probe_plan(rng)
    agreed = 0
    for k, placement in probes:
        verdict = inst.probe(k, placement, rng)
        if isinstance(verdict, Counterexample):
            return Evidence.FAILS, f"differs at k = {k}", verdict
        agreed += verdict
    if derivation.k is None:
        diff = normal_form(left - right, meaning.k, meaning.indices | shown_positions(left, right, meaning.k))
        if case is not None:  # a sum's picked term can bring out a delta the case decides: KroneckerDelta(1, c)
            diff = apply_case(diff, case.condition, meaning.indices)
        diff = sum_to_one(diff, meaning.simplex_vectors(), meaning.k)
        if is_zero(diff):
            return Evidence.PROVED_ALL_K, f"exact, symbolic k; {agreed} probes agreed", None
    ks = (derivation.k,) if derivation.k is not None else SMALL_K
    unproved = []
    for k in ks:
        placements = inst.placements(k)
        if placements is None:
            unproved.append(f"k = {k}: too many index placements to try them all")
            continue
        for placement in placements:
            if not is_zero(inst.instance(left, k, placement) - inst.instance(right, k, placement)):
                verdict = inst.probe(k, placement, rng)
                if isinstance(verdict, Counterexample):
                    return Evidence.FAILS, f"differs at k = {k}", verdict
                unproved.append(_describe(k, placement))
    if not unproved:
        if derivation.k is not None:
            return Evidence.PROVED_FOR_K, f"exact, k = {derivation.k}, every index placement", None
        return Evidence.PROVED_SMALL_K, "symbolic k undecided; every instance k = 2..6 exact", None
    if agreed:
        return Evidence.NUMERIC, f"{agreed} probes agreed; not proved at {unproved[0]}", None
    return Evidence.UNVERIFIED, f"not proved at {unproved[0]}; no probe could be evaluated", None


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

    def probe_plan(self, rng: random.Random) -> list[tuple[int, dict]]:
        plan = []
        concrete = self.meaning.derivation.k
        for k in (concrete,) if concrete is not None else PROBE_K:
            placements = self.placements(k) or []
            if len(placements) > PROBES_PER_K:
                placements = [placements[0], placements[-1]] + rng.sample(placements[1:-1], PROBES_PER_K - 2)
            plan += [(k, p) for p in placements]
        return plan

    def instance(self, e, k: int, placement: dict):
        e = _unroll(e.xreplace({self.meaning.k: sympy.Integer(k), **placement}))
        for y in self.simplex:  # the last entry is whatever makes the vector sum to one
            e = e.xreplace({y[k]: 1 - sympy.Add(*(y[n] for n in range(1, k)))})
        return e

    def probe(self, k: int, placement: dict, rng: random.Random) -> Counterexample | int:
        """Compare both sides at two random points: moderate logits, and logits near +-500.

        Returns a Counterexample, or the number of points where both sides could be
        evaluated and agreed. A disagreement must survive a second evaluation at more
        than twice the precision; round-off would shrink, a real difference does not.
        """
        agreed = 0
        for large in (False, True):
            point = self._point(k, placement, rng, large)
            try:
                a, b = point.value(self.left, DIGITS), point.value(self.right, DIGITS)
                if not (_finite(a) and _finite(b)):
                    continue
                if _close(a, b):
                    agreed += 1
                    continue
                fine = _finer_digits(point)
                a2, b2 = point.value(self.left, fine), point.value(self.right, fine)
            except (Unevaluable, ZeroDivisionError, OverflowError, ValueError):
                continue
            if _close(a2, b2) or abs(a2 - b2) < abs(a - b) * mpmath.mpf(10) ** -DIGITS:
                agreed += 1
                continue
            shown = {"k": str(k), **{str(s): str(v) for s, v in placement.items()}}
            for base, values in point.vectors.items():
                if base in self.used:
                    shown.update({f"{base}[{n}]": mpmath.nstr(v, 8) for n, v in enumerate(values, 1)})
            shown.update({f"{b_}[{n}] (outside 1..k)": mpmath.nstr(v, 8)
                          for (b_, n), v in point.extra_values.items()})
            shown.update({str(s): mpmath.nstr(v, 8) for s, v in point.scalars.items()})
            return Counterexample(values=shown, lhs=_show(a2), rhs=_show(b2))
        return agreed

    def _point(self, k: int, placement: dict, rng: random.Random, large: bool) -> Point:
        offset = rng.choice((-1, 1)) * rng.randint(300, 700) if large else 0

        def draw(base):
            if base in self.simplex:
                # Dyadic entries (n / 2^e) are exact in binary at any precision, so the
                # last entry 1 - sum(others) makes the sum exactly 1. With n / (100 k) the
                # sum was off by about 1e-50 at every precision, and a true step that
                # multiplies by sum(y) was reported as failing.
                return mpmath.ldexp(rng.randint(1, 99), -(7 + k.bit_length()))
            if base.assumptions0.get("positive") or base.assumptions0.get("nonnegative"):
                return mpmath.mpf(rng.randint(1, 5000)) / 1000
            return offset + mpmath.mpf(rng.randint(-3000, 3000)) / 1000

        vectors = {}
        for base in self.vectors:
            values = [draw(base) for _ in range(k)]
            if base in self.simplex:
                values[-1] = 1 - mpmath.fsum(values[:-1])
            vectors[base] = values
        extra_values: dict = {}

        def extra(base, n):  # entries outside 1..k, reached by an index that is off by one
            if base not in vectors:
                raise Unevaluable(f"no values for {base}")
            return extra_values.setdefault((base, n), draw(base))

        scalars = {s: mpmath.mpf(rng.randint(1 if s.is_nonnegative else -5000, 5000)) / 1000
                   for s in self.scalars}  # a scalar declared real takes negative values too
        point = Point({self.meaning.k: k, **placement}, vectors, scalars, extra)
        point.extra_values = extra_values
        return point


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


def _show(x) -> str:
    """12 significant digits; a Python int (an exact integer value) would print every digit."""
    return mpmath.nstr(mpmath.mpmathify(x), 12)


def _finite(x) -> bool:
    return isinstance(x, int) or mpmath.isfinite(x)


def _finer_digits(point: Point) -> int:
    """Digits for the second evaluation of a disagreeing probe.

    Round-off is relative to the largest intermediate value: at z near 375,
    (exp(z) + 1) exp(-z) - 1 needs 163 digits before the 1 is seen at all, and at
    a fixed 110 digits a true step looked false. So the second evaluation adds the
    digits of the largest magnitude the first one met (``Point.peak``), or of
    exp(2 max|value|) if that is larger, to twice the first's.
    """
    values = [abs(v) for vs in point.vectors.values() for v in vs]
    values += [abs(v) for v in point.scalars.values()] + [abs(v) for v in point.extra_values.values()]
    from_inputs = 2 * max(values, default=0) / math.log(10)
    from_peak = float(mpmath.log10(point.peak)) if point.peak > 1 else 0.0
    return 2 * DIGITS + 10 + int(max(from_inputs, from_peak)) + 1


def _close(a, b) -> bool:
    return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))
