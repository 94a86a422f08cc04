"""Facts among a file's assumptions: ``0 < p < 1``, ``T > 0``, ``0 <= y[i] <= 1``, ``y in {0, 1}``.

Each fact bounds one scalar, or every entry of one vector (``y[i]`` with a
declared index), by numbers. A fact that can never hold (``1 < p < 0``, or
``p < 0`` for a positive ``p``) is refused: every step would pass vacuously under it.

>>> from symce.read.toml import loads_derivation
>>> text = '''
... title = "t"
... assumptions = ["FACT"]
... [symbols]
... scalars = { p = "positive" }
... [[chains]]
... name = "c"
... start = "p"
... steps = [{ expr = "p", reason = "r" }]
... '''
>>> loads_derivation(text.replace("FACT", "0 < p < 1")).assumptions[0].high
(1, True)
>>> loads_derivation(text.replace("FACT", "p <= 0"), path="f.toml")
Traceback (most recent call last):
...
symce.errors.DerivationFormatError: f.toml, assumptions[0]: 'p <= 0' never holds (p is declared positive)
"""

from __future__ import annotations

import ast

import sympy

from ..model.derivation import Assumption

_SHAPE = "expected a fact such as 0 < p < 1, T > 0, 0 <= y[i] <= 1 or y in {0, 1}"
_LESS = {ast.Lt: True, ast.LtE: False}  # op -> strict
_MORE = {ast.Gt: True, ast.GtE: False}
MAX_MEMBERS = 16


class FactsMixin:
    """Facts for ``_Loader``: read, checked that they can hold, made ``Assumption`` objects."""

    def fact(self, node: ast.Compare, text: str, where: str) -> Assumption:
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.In):
            return self.membership(node, text, where)
        terms = [node.left, *node.comparators]
        if not all(type(op) in _LESS for op in node.ops) and not all(type(op) in _MORE for op in node.ops):
            raise self.error(where, f"{_SHAPE} (one direction), found {text!r}")
        values = [self.fact_term(t, text, where) for t in terms]
        targets = [v for v in values if not v.is_Number]
        if len(targets) != 1:
            raise self.error(where, f"{_SHAPE} (one scalar or entry between numbers), found {text!r}")
        target = targets[0]
        low = high = None
        for (a, b), op in zip(zip(values, values[1:]), node.ops):
            strict = _LESS.get(type(op), _MORE.get(type(op)))
            if type(op) in _MORE:
                a, b = b, a  # a > b is b < a
            if a == target:
                high = _tighter(high, (b, strict), upper=True)
            elif b == target:
                low = _tighter(low, (a, strict), upper=False)
        relation = self.fact_relation(target, low, high)
        if len(node.ops) == 1:  # one comparison: shown as written, T > 0 rather than 0 < T
            make = {ast.Lt: sympy.Lt, ast.LtE: sympy.Le, ast.Gt: sympy.Gt, ast.GtE: sympy.Ge}[type(node.ops[0])]
            relation = make(values[0], values[1], evaluate=False)
        fact = Assumption(kind="interval", text=text, target=target, low=low, high=high, relation=relation)
        self.can_hold_fact(fact, where)
        return fact

    def membership(self, node: ast.Compare, text: str, where: str) -> Assumption:
        target = self.fact_term(node.left, text, where)
        box = node.comparators[0]
        if target.is_Number or not isinstance(box, ast.Set) or len(box.elts) > MAX_MEMBERS:
            raise self.error(where, f"{_SHAPE}, found {text!r}")
        members = tuple(dict.fromkeys(self.fact_term(e, text, where) for e in box.elts))
        if not all(m.is_Rational for m in members):
            raise self.error(where, f"{_SHAPE} (the members are numbers), found {text!r}")
        domain = self.domain_of(target)
        if domain is not None and not any(domain(m) for m in members):
            raise self.error(where, f"{text!r} never holds ({_base(target)} is declared {_domain_word(target)})")
        relation = sympy.Contains(target, sympy.FiniteSet(*members), evaluate=False)
        return Assumption(kind="member", text=text, target=target, members=members, relation=relation)

    def fact_term(self, node: ast.AST, text: str, where: str) -> sympy.Basic:
        value = self.expression(ast.unparse(node), where)
        plain = (value.is_Rational or (isinstance(value, sympy.Symbol) and value in self.names.values()
                                       and not value.is_integer)
                 or (isinstance(value, sympy.Indexed) and all(i in self.indices for i in value.indices)
                     and str(value.base.label) in self.declared_vectors))
        if not plain:
            raise self.error(where, f"{_SHAPE} (each side a number, a declared scalar or an entry "
                                    f"such as y[i]), found {text!r}")
        return value

    def fact_relation(self, target, low, high) -> sympy.Basic:
        parts = []
        if low is not None:
            parts.append((sympy.Lt if low[1] else sympy.Le)(low[0], target, evaluate=False))
        if high is not None:
            parts.append((sympy.Lt if high[1] else sympy.Le)(target, high[0], evaluate=False))
        return parts[0] if len(parts) == 1 else sympy.And(*parts, evaluate=False)

    def domain_of(self, target):
        obj = target.base if isinstance(target, sympy.Indexed) else target
        if obj.is_positive or obj.assumptions0.get("positive"):
            return lambda x: x > 0
        if obj.is_nonnegative or obj.assumptions0.get("nonnegative"):
            return lambda x: x >= 0
        return None

    def can_hold_fact(self, fact: Assumption, where: str) -> None:
        low, high = fact.low, fact.high
        if low is not None and high is not None:
            if low[0] > high[0] or (low[0] == high[0] and (low[1] or high[1])):
                raise self.error(where, f"{fact.text!r} never holds (no number lies in that interval)")
        domain = self.domain_of(fact.target)
        if domain is not None and high is not None:
            if high[0] < 0 or (high[0] == 0 and (high[1] or not domain(sympy.Integer(0)))):
                raise self.error(where, f"{fact.text!r} never holds "
                                        f"({_base(fact.target)} is declared {_domain_word(fact.target)})")


def _tighter(old, new, upper: bool):
    if old is None:
        return new
    if old[0] == new[0]:
        return (old[0], old[1] or new[1])
    return new if (new[0] < old[0]) == upper else old


def _base(target) -> str:
    return str(target.base.label) if isinstance(target, sympy.Indexed) else str(target)


def _domain_word(target) -> str:
    obj = target.base if isinstance(target, sympy.Indexed) else target
    return "positive" if (obj.is_positive or obj.assumptions0.get("positive")) else "nonnegative"
