"""Check a derivation, reusing verdicts on steps this process has already decided.

A class hands in 200 copies of one template, each with a few steps of its own; most
steps are the same text in the same context in every file. A step's verdict is a
function of its content only: the file's declared symbols, definitions and
assumptions, the chain's case, the two expressions, and the probe seed (the chain's
name and the step's place). So a verdict found once is reused for an identical step,
keyed by all of that written out with ``sympy.srepr`` (assumptions of every symbol
included). Only decided verdicts are kept: a step that ran out of time may be
decided on a quieter machine, so it is tried again.

The cache lives in the process (a grading worker keeps it across the files it is given).
"""

from __future__ import annotations

import hashlib
from functools import partial

import sympy

from ..model.derivation import Derivation
from .steps import Evidence, Report, StepResult, _timed
from .timelimit import run_in_workers

__all__ = ["check_cached"]

_VERDICTS: dict[str, tuple] = {}  # content key -> (evidence, detail, counterexample, feedback)
MAX_ENTRIES = 100_000  # a bound on memory; the cache is emptied when it is reached


def check_cached(derivation: Derivation, *, timeout: float = 10.0, memory_mb: float | None = None,
                 parallel: int = 1) -> Report:
    """``steps.check``, with each step's verdict reused when an identical step was decided before."""
    context = _context(derivation)
    work, results = [], []
    for chain in derivation.chains:
        previous = chain.start
        for n, step in enumerate(chain.steps, start=1):
            key = _key(context, chain.case, previous, step.expr, f"{chain.name}:{n}")
            work.append((chain, n, previous, step, key))
            previous = step.expr
    todo = [w for w in work if w[4] not in _VERDICTS]
    jobs = [partial(_timed, derivation, chain, n, lhs, step, timeout) for chain, n, lhs, step, _ in todo]
    outcomes = dict(zip((w[4] for w in todo), run_in_workers(jobs, timeout=timeout, workers=parallel,
                                                             memory_mb=memory_mb)))
    fresh: dict[str, StepResult] = {}
    for chain, n, _, step, key in work:
        if key in _VERDICTS:
            evidence, detail, cx, feedback = _VERDICTS[key]
            results.append(StepResult(chain.name, n, step.reason, evidence, 0.0, detail, cx, feedback))
            continue
        status, value = outcomes[key]
        if status == "ok":
            results.append(value)
            fresh[key] = value
            continue
        detail = f"time limit of {timeout:g} s reached" if status == "timeout" else f"checker gave up: {value}"
        results.append(StepResult(chain=chain.name, index=n, reason=step.reason, evidence=Evidence.UNVERIFIED,
                                  seconds=timeout if status == "timeout" else 0.0, detail=detail))
    if len(_VERDICTS) + len(fresh) > MAX_ENTRIES:
        _VERDICTS.clear()
    for key, r in fresh.items():
        if r.evidence is not Evidence.UNVERIFIED:
            _VERDICTS[key] = (r.evidence, r.detail, r.counterexample, r.feedback)
    return Report(derivation=derivation, steps=tuple(results))


def _context(d: Derivation) -> str:
    """Everything of a file that a step's verdict can depend on, besides the step itself."""
    parts = [repr(d.k)]
    parts += [f"{name}={sympy.srepr(obj)}" for name, obj in sorted(d.symbols.items())]
    parts += [f"{x.name}{sympy.srepr(x.params)}:={sympy.srepr(x.body)}" for x in d.definitions]
    parts += [f"{a.kind}({a.vector},{sympy.srepr(a.index)},{sympy.srepr(a.relation)})" for a in d.assumptions]
    return "\n".join(parts)


def _key(context: str, case, lhs, rhs, seed: str) -> str:
    text = "\n".join([context, "" if case is None else sympy.srepr(case.condition),
                      sympy.srepr(lhs), sympy.srepr(rhs), seed])
    return hashlib.sha256(text.encode()).hexdigest()
