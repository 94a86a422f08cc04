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
with the reason. Each step runs in a forked worker process under its own hard time limit
(``timelimit.run_in_workers``); a worker runs many steps in turn, so the meaning of
an expression shared by neighbouring steps is computed once per worker.
"""

from __future__ import annotations

import enum
import os
import random
import time
from dataclasses import dataclass
from functools import partial

import sympy

from ..model.derivation import Case, Chain, Derivation, Step
from .dims import scope, verify_dims_step
from .feedback import Feedback, explain_limited
from .instances import DEEP_PROBES, MORE_K, Counterexample, _describe, _Instances
from .meaning import Meaning, Refused, apply_case, is_zero, normal_form, sum_to_one
from .probe import STYLES as _STYLES
from .timelimit import DEFAULT_MEMORY_MB, run_in_workers

SMALL_K = (1, 2, 3, 4, 5, 6)  # instances tried when symbolic k is undecided (from the file's min)
MAX_WORKERS = 4  # worker processes at most, whatever the machine
STEPS_PER_WORKER = 4  # a worker's cold start costs about a step: fewer steps than this share one


class Evidence(enum.Enum):
    """How strongly a step was shown; never stronger than what was actually done."""

    PROVED_ALL_K = "proved for all k"  # exact proof with k symbolic
    PROVED_FOR_K = "proved for the file's k"  # exact proof for the concrete k the file declares
    PROVED_SMALL_K = "proved only for k <= 6"  # exact proof of every instance k = min..6, no more
    NUMERIC = "numeric only"  # high-precision probes agreed; no proof
    FAILS = "fails"  # the two sides surely differ (a certified counterexample is attached)
    UNVERIFIED = "unverified"  # neither proved nor refuted (time limit, uncertain difference, refused)
    # files with named dims (verify/dims.py); the text names the dims: "proved for all n, d"
    PROVED_ALL_DIMS = "proved for all dims"  # exact proof with every symbolic dim symbolic
    PROVED = "proved"  # exact proof of a scalar problem, or for the file's concrete dims
    SMALL_DIMS = "proved for small dims only"  # instances exact, no proof for all: passes as numeric does

    @property
    def proved(self) -> bool:
        return self in (Evidence.PROVED_ALL_K, Evidence.PROVED_FOR_K, Evidence.PROVED_SMALL_K,
                        Evidence.PROVED_ALL_DIMS, Evidence.PROVED)


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
    scope: str = ""  # the symbolic dims a PROVED_ALL_DIMS covers ("n, d")
    feedback: Feedback | None = None  # for FAILS: how the sides differ, telling values (feedback.py)

    @property
    def evidence_text(self) -> str:
        """The evidence as reports print it: ``proved for all n, d`` names the dims."""
        if self.evidence is Evidence.PROVED_ALL_DIMS and self.scope:
            return f"proved for all {self.scope}"
        return self.evidence.value

    def passes(self, allow_numeric: bool = False, all_k: bool = True) -> bool:
        """Proved for every k the file claims; or numeric only, when the user allowed it.

        ``all_k=False`` lets "proved only for k <= 6" pass too, giving up every larger
        k: a claim such as ``(k-2)(k-3)(k-4)(k-5)(k-6) = 0`` holds at each of those.
        """
        if all_k and self.evidence is Evidence.PROVED_SMALL_K:
            return False
        weaker = (Evidence.NUMERIC, Evidence.SMALL_DIMS)  # evidence, no proof for every size
        return self.evidence.proved or (allow_numeric and self.evidence in weaker)


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
                "evidence": r.evidence.name.lower(), "evidence_text": r.evidence_text,
                "proved": r.evidence.proved,
                "passed": r.passes(allow_numeric, all_k),
                "seconds": round(r.seconds, 4), "detail": r.detail,
                "counterexample": None if cx is None else {"values": cx.values, "lhs": cx.lhs, "rhs": cx.rhs},
                "feedback": None if r.feedback is None else r.feedback.as_dict(),
            })
        return {"path": self.derivation.path, "title": self.derivation.title,
                "passed": self.passed(allow_numeric, all_k), "steps": steps}

    def first_failure(self, allow_numeric: bool = False, all_k: bool = True) -> StepResult | None:
        """The first step that does not pass, or None."""
        return next((r for r in self.steps if not r.passes(allow_numeric, all_k)), None)


def check(derivation: Derivation, *, timeout: float = 10.0, parallel: int | None = None,
          memory_mb: float | None = DEFAULT_MEMORY_MB) -> Report:
    """Verify every step of ``derivation``; each step gets at most ``timeout`` seconds
    (and ``memory_mb`` MB beyond what its worker holds; None: no limit; see ``run_in_workers``).

    Steps run in ``parallel`` forked worker processes (default: ``workers_for`` the
    number of steps), each step under its own deadline; a worker past it is killed and
    the step is UNVERIFIED, and so is one that needs more than
    ``memory_mb`` megabytes (each worker's cap beyond what it inherits).

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
                      scope=scope(derivation), feedback=feedback)


def verify_step(derivation: Derivation, lhs: sympy.Basic, rhs: sympy.Basic, case: Case | None,
                *, seed: str = "0") -> tuple[Evidence, str, Counterexample | None]:
    """Decide ``lhs == rhs`` under the derivation's assumptions and ``case`` (no time limit)."""
    meaning = _meaning(derivation)
    if derivation.uses_dims:  # named dims, matrices, abstract functions, or a scalar problem
        name, detail, cx = verify_dims_step(derivation, lhs, rhs, case, seed=seed, meaning=meaning)
        return Evidence[name], detail, None if cx is None else Counterexample(*cx)
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
    return _zero_in_both_cases(sum_to_one(diff, meaning.simplex_vectors(), k), meaning.indices | {meaning.k})


def _zero_in_both_cases(d, names, depth: int = 2) -> bool:
    """Zero, or zero both where a delta of two free indices is 1 (one put for the other) and where it is 0.

    is_zero holds each delta as an independent number, so it cannot see that
    ``KroneckerDelta(i, k) * x[i] = KroneckerDelta(i, k) * x[k]``; the two cases can.
    """
    if is_zero(d):
        return True
    deltas = sorted((x for x in d.atoms(sympy.KroneckerDelta) if set(x.args) <= names), key=sympy.default_sort_key)
    if depth == 0 or not deltas:
        return False
    a, b = sorted(deltas[0].args, key=lambda v: v in names and v.name == "k")  # put k for i, never i for k
    return (_zero_in_both_cases(d.subs(a, b), names, depth - 1)
            and _zero_in_both_cases(d.xreplace({deltas[0]: sympy.S.Zero}), names, depth - 1))


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
