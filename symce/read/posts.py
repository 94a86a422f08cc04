"""What makes a derivation file a post and an assignment: prose around chains, and a goal.

Prose is Markdown-like text with math between backticks, read exactly as a reason is
(``read_prose``: the same whitelist and caps), split into paragraphs at blank lines.
A goal is one equation, ``lhs = rhs``, that the file's chains must prove start to end.

>>> import sympy
>>> z, i = sympy.IndexedBase("z"), sympy.Symbol("i", integer=True)
>>> read_goal("Derivative(L, z[i]) = z[i]", {"z": z, "i": i, "L": sympy.Symbol("L")}, "goal")
Eq(Derivative(L, z[i]), z[i])
>>> read_paragraphs("First `z[i]`.\\n\\nSecond.", {"z": z, "i": i}, "text")
(('First ', z[i], '.'), ('Second.',))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sympy

from ..errors import DerivationFormatError
from .expr import quoted, read_expression
from .reasons import read_prose, top_level_relation


def read_paragraphs(text: str, names: Mapping[str, sympy.Basic], where: str,
                    locate: Callable[[str], tuple[int, int] | None] = lambda _: None) -> tuple[tuple, ...]:
    """Paragraphs (split at blank lines), each text and math alternating as ``read_prose`` gives.

    ``locate``: where a piece of text stands in the file, (line, column), for messages.
    """
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return tuple(read_prose(p, names, where=where, at=locate(p.split("\n")[0])) for p in paragraphs)


def read_prose_around(chain: dict, names: Mapping[str, sympy.Basic], where: str, locate) -> dict:
    """A chain table's ``text`` and ``text_after``, as the ``Chain`` fields of the same names."""
    return {key: read_paragraphs(chain.get(key, ""), names, f"{where}.{key}", locate)
            for key in ("text", "text_after")}


def read_goal(text: str, names: Mapping[str, sympy.Basic], where: str,
              locate: Callable[[str], tuple[int, int] | None] = lambda _: None) -> sympy.Basic:
    """``"Derivative(L, z[i]) = s[i] - y[i]"`` as ``Eq(lhs, rhs)``, unevaluated.

    >>> read_goal("1 + 1", {}, "f.toml, goal")
    Traceback (most recent call last):
    ...
    symce.errors.DerivationFormatError: f.toml, goal: expected an equation 'lhs = rhs', found '1 + 1'
    """
    relation = top_level_relation(text, where)
    if relation is None or relation[1] != "=":
        raise DerivationFormatError(f"{where}: expected an equation 'lhs = rhs', found {quoted(text)}")
    split, at = relation[0], locate(text)
    right_at = None if at is None else (at[0], at[1] and at[1] + split + 1)
    lhs = read_expression(text[:split], names, where=f"{where} (left side)", at=at)
    rhs = read_expression(text[split + 1:], names, where=f"{where} (right side)", at=right_at)
    return sympy.Eq(lhs, rhs, evaluate=False)
