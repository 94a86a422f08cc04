"""Check every step of a derivation: exact proof first, numeric probes beside it.

(Result types are fixed here so that the printers can be written against them;
the checker itself is filled in with the derivation-file work.)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .derivation import Derivation


class Evidence(enum.Enum):
    """How strongly a step was shown; never stronger than what was actually done."""

    PROVED_ALL_K = "proved for all k"  # exact proof with k symbolic (or for the file's concrete k)
    PROVED_SMALL_K = "proved for k = 2..6"  # exact proof of every instance k = 2..6
    NUMERIC = "numeric only"  # high-precision probes agreed; no proof
    FAILS = "fails"  # the two sides differ (a counterexample is attached)
    UNVERIFIED = "unverified"  # neither proved nor refuted (time limit, SymPy gave up)

    @property
    def proved(self) -> bool:
        return self in (Evidence.PROVED_ALL_K, Evidence.PROVED_SMALL_K)


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


@dataclass(frozen=True)
class Report:
    """All verdicts on one derivation file, in file order."""

    derivation: Derivation  # what was checked
    steps: tuple[StepResult, ...]  # one per step of every chain

    def passed(self, allow_numeric: bool = False) -> bool:
        """True when every step is proved (or numeric, when that is allowed)."""
        ok = {e for e in Evidence if e.proved}
        if allow_numeric:
            ok.add(Evidence.NUMERIC)
        return all(r.evidence in ok for r in self.steps)

    def first_failure(self, allow_numeric: bool = False) -> StepResult | None:
        """The first step that does not pass, or None."""
        for r in self.steps:
            if not (r.evidence.proved or (allow_numeric and r.evidence is Evidence.NUMERIC)):
                return r
        return None


def check(derivation: Derivation, *, timeout: float = 10.0) -> Report:
    """Verify every step of ``derivation``; each step gets at most ``timeout`` seconds."""
    raise NotImplementedError("the step checker is being written (issue 3)")
