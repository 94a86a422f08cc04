"""Whether a derivation's chains prove its declared goal, start to end.

An assignment names the result to reach (``goal = "Derivative(L, z[i]) = s[i] - y[i]"``);
every step being right is not enough if the chains prove something else. The goal is
reached when some sequence of chains, every step of each passing, leads from the
goal's left side to its right side: the first chain starts at the left side, each
next one starts where the previous ended, the last ends at the right side. "Starts
at" and "ends at" mean the same expression as written, up to algebra on the folded
text (``same_written``); a chain checked under a case proves that case only and is
not used.
"""

from __future__ import annotations

from dataclasses import dataclass
import sympy

from .meaning import canonical_bounds
from .steps import Report

__all__ = ["GoalResult", "check_goal"]


@dataclass(frozen=True)
class GoalResult:
    """The verdict on a file's goal."""

    goal: str  # the goal as text, ``lhs = rhs``
    reached: bool  # some sequence of passing chains proves it
    chains: tuple[str, ...]  # those chains, in order (empty when not reached)
    detail: str  # one line: how it was reached, or what is missing

    def as_dict(self) -> dict:
        return {"goal": self.goal, "reached": self.reached, "chains": list(self.chains), "detail": self.detail}


def check_goal(report: Report, *, allow_numeric: bool = False, all_k: bool = True) -> GoalResult | None:
    """The goal's verdict for a checked derivation, or None when it declares no goal."""
    d = report.derivation
    if d.goal is None:
        return None
    text = f"{sympy.sstr(d.goal.lhs, order='none')} = {sympy.sstr(d.goal.rhs, order='none')}"
    failing = {r.chain for r in report.steps if not r.passes(allow_numeric, all_k)}
    usable = [c for c in d.chains if c.name not in failing and c.case is None]
    same = _Equality()
    # Breadth first from the chains that start at the goal's left side: the shortest proof.
    paths = [[c] for c in usable if same(d.goal.lhs, c.start)]
    seen = {p[0].name for p in paths}
    while paths:
        path = paths.pop(0)
        if same(path[-1].steps[-1].expr, d.goal.rhs):
            names = tuple(c.name for c in path)
            via = " then ".join(repr(n) for n in names)
            return GoalResult(text, True, names, f"proved by chain{'s' if len(names) > 1 else ''} {via}")
        for c in usable:
            if c.name not in seen and same(path[-1].steps[-1].expr, c.start):
                seen.add(c.name)
                paths.append(path + [c])
    if not any(same(d.goal.lhs, c.start) for c in usable):
        why = "no chain whose steps all pass starts at its left side"
    else:
        why = "no chain whose steps all pass ends at its right side"
    cased = [c.name for c in d.chains if c.case is not None]
    if cased:
        why += f" (chains under a case prove that case only: {', '.join(map(repr, cased))})"
    return GoalResult(text, False, (), why)


class _Equality:
    """``a`` and ``b`` are the same expression as written: equal by algebra on the folded text.

    Derivatives stay unevaluated and defined names folded: that the end of a chain
    *equals* the goal's right side after differentiating is for the chain's steps to
    show, not for this test (else a chain that only restates ``Derivative(L, z[i])``
    would reach any true goal).
    """

    def __init__(self):
        self.known: dict[tuple, bool] = {}

    def __call__(self, a: sympy.Basic, b: sympy.Basic) -> bool:
        if a == b:
            return True
        if (a, b) not in self.known:
            self.known[(a, b)] = same_written(a, b)
        return self.known[(a, b)]


_SAME: dict[tuple[str, str], bool] = {}  # (srepr a, srepr b) -> verdict: a grading worker meets
                                         # the same chain ends in every submission


def same_written(a: sympy.Basic, b: sympy.Basic) -> bool:
    """True when ``a - b`` cancels to 0 with derivatives and sums held as opaque symbols.

    >>> x, y = sympy.symbols("x y")
    >>> same_written(x * (y + 1), x + y * x), same_written(sympy.Derivative(x**2, x), 2 * x)
    (True, False)
    """
    key = (sympy.srepr(a), sympy.srepr(b))
    if key not in _SAME:
        if len(_SAME) > 100_000:
            _SAME.clear()
        _SAME[key] = _cancels(a, b)
    return _SAME[key]


def _cancels(a: sympy.Basic, b: sympy.Basic) -> bool:
    diff = canonical_bounds(_evaluated(a) - _evaluated(b))
    opaque = {}
    for x in sorted(diff.atoms(sympy.Derivative, sympy.Sum), key=sympy.default_sort_key):
        opaque[x] = sympy.Dummy("held")
    try:
        return sympy.cancel(sympy.together(diff.xreplace(opaque))) == 0
    except (sympy.PolynomialError, sympy.CoercionFailed, RecursionError, ValueError):
        return False


def _evaluated(e: sympy.Basic) -> sympy.Basic:
    """An expression the parser built unevaluated (author's order), rebuilt with evaluation."""
    if e.is_Atom or isinstance(e, (sympy.Indexed, sympy.IndexedBase)) or not e.args:
        return e
    return e.func(*(_evaluated(a) for a in e.args))
