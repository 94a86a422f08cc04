"""Reasons and titles: author text with math between backticks, each piece read as an expression.

Split from ``expr`` (the expression reader), which each math piece goes through
with the same names and caps, so a reason is no way around the whitelist.
"""

from __future__ import annotations

from typing import Mapping

import sympy

from ..errors import DerivationFormatError, UnsafeExpressionError
from .bounds import Budget
from .expr import read_expression
from .hints import located

__all__ = ["MAX_PROSE_PIECES", "read_prose"]

MAX_PROSE_PIECES = 32  # math pieces in one reason or title


def read_prose(text: str, names: Mapping[str, sympy.Basic], *, where: str = "<text>",
               budget: Budget | None = None, at: tuple[int, int] | None = None) -> tuple:
    """Split author text into words and math: the pieces between backticks are expressions.

    A reason names math ("every `y[j]` vanishes"); typeset as text, ``y_j`` would show
    its underscore. Each backticked piece is read by ``read_expression`` with the
    same names and caps, so a reason is no way around the whitelist. A piece may be
    one relation, ``a = b`` or ``a != b``, split at its single top-level operator;
    a bare vector name (``y``) means the whole vector. The result alternates text
    (``str``, possibly empty) and SymPy objects, starting and ending with text.

    >>> i = sympy.Symbol("i", integer=True)
    >>> y = sympy.IndexedBase("y")
    >>> read_prose("every `y[i]` vanishes except `y[i] = 1`", {"i": i, "y": y})
    ('every ', y[i], ' vanishes except ', Eq(y[i], 1), '')
    >>> read_prose("the `y[i` term", {"i": i, "y": y}, where="f.toml, step 2.reason")
    Traceback (most recent call last):
    ...
    symce.errors.DerivationFormatError: f.toml, step 2.reason: cannot read `y[i`: not a valid expression ('[' was never closed): 'y[i'
    >>> read_prose("an odd ` backtick", {}, where="f.toml, step 2.reason")
    Traceback (most recent call last):
    ...
    symce.errors.DerivationFormatError: f.toml, step 2.reason: unmatched backtick; math goes between a pair of backticks, e.g. `y[c] = 1`
    """
    pieces = text.split("`")
    if len(pieces) % 2 == 0:
        raise DerivationFormatError(
            f"{where}: unmatched backtick; math goes between a pair of backticks, e.g. `y[c] = 1`"
        )
    if len(pieces) // 2 > MAX_PROSE_PIECES:
        raise UnsafeExpressionError(
            f"{where}: {len(pieces) // 2} pieces of math between backticks (at most {MAX_PROSE_PIECES})"
        )
    out: list = []
    offset = 0  # where the piece starts in ``text``
    for n, piece in enumerate(pieces):
        piece_at = None if at is None else (at[0], at[1] and at[1] + offset)
        out.append(_read_math_piece(piece, names, where, budget, piece_at) if n % 2 else piece)
        offset += len(piece) + 1
    return tuple(out)


def _read_math_piece(piece: str, names: Mapping[str, sympy.Basic], where: str,
                     budget: Budget | None = None, spot: tuple[int, int] | None = None) -> sympy.Basic:
    shown = piece if len(piece) <= 40 else piece[:37] + "..."
    place = "" if spot is None else f" ({located(spot, None)})"
    at = f"{where}: cannot read `{shown}`"
    if not piece.strip():
        raise DerivationFormatError(f"{at}: nothing between the backticks{place}")

    def read(part: str, offset: int = 0) -> sympy.Basic:
        part_at = None if spot is None else (spot[0], spot[1] and spot[1] + offset)
        return read_expression(part, names, where=at, relations=True, whole_vectors=True,
                               budget=budget, at=part_at)

    try:
        relation = top_level_relation(piece, at)
    except DerivationFormatError as exc:
        raise DerivationFormatError(f"{exc}{place}") from None
    if relation is None:
        return read(piece)
    start, op = relation
    lhs, rhs = read(piece[:start]), read(piece[start + len(op):], start + len(op))
    return (sympy.Eq if op == "=" else sympy.Ne)(lhs, rhs, evaluate=False)


def top_level_relation(text: str, where: str) -> tuple[int, str] | None:
    """Where the one ``=`` or ``!=`` outside brackets is, if there is one.

    ``==``, ``<=`` and ``>=`` are left to the expression reader, which refuses them.
    """
    found, depth = [], 0
    for n, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch == "!" and text[n + 1:n + 2] == "=":
            found.append((n, "!="))
        elif (depth == 0 and ch == "=" and text[n - 1:n] not in ("=", "!", "<", ">")
              and text[n + 1:n + 2] != "="):
            found.append((n, "="))
    if len(found) > 1:
        raise DerivationFormatError(f"{where}: at most one '=' or '!=' in one piece of math")
    return found[0] if found else None
