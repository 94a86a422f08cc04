"""Facts about scalars and vector entries: where probes draw them from.

``0 < p < 1``, ``T > 0``, ``0 <= y[i] <= 1`` and ``y in {0, 1}`` restrict the
values a step must hold for. Probes draw every such quantity inside its fact
(a counterexample outside it would be no counterexample). The exact proof does
not use interval facts beyond what the declared domain already says: a step
that needs more is left to the instances or the probes, never passed on them.

>>> import random, sympy
>>> from symce.read.toml import loads_derivation
>>> d = loads_derivation('''
... title = "t"
... assumptions = ["0 < p < 1"]
... [symbols]
... scalars = { p = "real" }
... [[chains]]
... name = "c"
... start = "p"
... steps = [{ expr = "p", reason = "r" }]
... ''')
>>> v = Facts(d).draw(d.symbols["p"], random.Random(0))
>>> 0 < v < 1
True
"""

from __future__ import annotations

import random

import mpmath
import sympy

from ..model.derivation import Derivation


class Facts:
    """The interval and membership facts of one derivation, by the scalar or vector they bound."""

    def __init__(self, derivation: Derivation):
        self.by_target: dict = {}
        for a in derivation.assumptions:
            if a.kind in ("interval", "member") and a.target is not None:
                target = a.target.base if isinstance(a.target, sympy.Indexed) else a.target
                self.by_target.setdefault(target, []).append(a)

    def signs(self) -> dict:
        """Scalars a fact keeps to one side of zero, each with a symbol that says so (for proofs).

        ``T > 0`` lets SymPy use ``T`` positive (``Max(0, T) = T``, ``sqrt(T**2) = T``), and
        ``z[i] > 0`` every entry of ``z``; the step is claimed only where the facts hold, so
        proving it there is the whole claim.
        """
        out = {}
        for obj, facts in self.by_target.items():
            if not isinstance(obj, (sympy.Symbol, sympy.IndexedBase)):
                continue
            lows = [a.low for a in facts if a.kind == "interval" and a.low is not None]
            highs = [a.high for a in facts if a.kind == "interval" and a.high is not None]
            members = [set(a.members) for a in facts if a.kind == "member"]
            kind = None
            if any(v > 0 or (v == 0 and strict) for v, strict in lows):
                kind = "positive"
            elif any(v >= 0 for v, _ in lows) or any(all(m >= 0 for m in ms) for ms in members):
                kind = "nonnegative"
            elif any(v < 0 or (v == 0 and strict) for v, strict in highs):
                kind = "negative"
            elif any(v <= 0 for v, _ in highs):
                kind = "nonpositive"
            if kind is None:
                continue
            if isinstance(obj, sympy.IndexedBase):  # a fact on y[i] with a free index: every entry
                out[obj] = sympy.IndexedBase(obj.name, real=True, **{kind: True})
            else:
                out[obj] = sympy.Dummy(obj.name, real=True, **{kind: True})
        return out

    def draw(self, obj, rng: random.Random):
        """A random value satisfying every fact on ``obj``; None when no fact names it."""
        facts = self.by_target.get(obj)
        if not facts:
            return None
        for a in facts:
            if a.kind == "member":
                return _number(rng.choice(a.members))
        # inside the declared domain as well: a fact p < 1 on a positive p keeps 0 < p
        domain = obj.assumptions0 if isinstance(obj, sympy.Basic) else {}
        low = mpmath.mpf(0) if domain.get("positive") or domain.get("nonnegative") else -mpmath.mpf(5)
        high = mpmath.mpf(5)
        for a in facts:
            if a.low is not None:
                low = max(low, _number(a.low[0]))
            if a.high is not None:
                high = min(high, _number(a.high[0]))
        if high < low:
            return None
        # strictly inside: an open end must not be drawn, a closed one need not be
        return low + (high - low) * mpmath.mpf(rng.randint(1, 999)) / 1000


def _number(x) -> mpmath.mpf:
    x = sympy.Rational(x)
    return mpmath.mpf(x.p) / x.q
