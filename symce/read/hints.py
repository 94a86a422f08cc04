"""Help for a slip in an expression: the likely fix, and where in the file it is.

Students type what they see in notes: ``x^2``, ``s_i``, a Unicode minus pasted
from a web page. The reader refuses each, and these say what to write instead and
point at the line and column of the offending text.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy

__all__ = ["ASCII_FOR", "located", "name_hint", "spot", "with_column"]


def located(at: tuple[int, int], column: int | None) -> str:
    """``line 12, column 30``: ``column`` counts within the text, ``at`` is where the text starts.

    >>> located((12, 20), 11)
    'line 12, column 30'
    >>> located((12, 0), 11)
    'line 12'
    """
    line, start = at
    if not start:
        return f"line {line}"
    return f"line {line}, column {start + (column or 1) - 1}"


def spot(lines: list[str], text: str, line: int = 0) -> tuple[int, int] | None:
    """(line, column) where ``text`` first stands in ``lines`` from line ``line`` on; None if nowhere.

    Column 0: the line is known but the text is written there otherwise (with escapes).

    >>> spot(['a = "x"', 'b = "y + 1"'], "y + 1")
    (2, 6)
    """
    for n in range(max(0, line - 1), len(lines)):
        if text and text in lines[n]:
            return n + 1, lines[n].index(text) + 1
    return (line, 0) if line else None


def with_column(exc: Exception, column: int | None) -> Exception:
    """``exc`` carrying the 1-based column in the expression's text where it went wrong."""
    exc.column = column  # read by read_expression's ``at``: where in the text it went wrong
    return exc


# Characters that word processors and web pages put in place of ASCII operators.
ASCII_FOR = {
    "\u2212": ("-", "a minus sign"), "\u2013": ("-", "a minus sign"), "\u2014": ("-", "a minus sign"),
    "\u00d7": ("*", "a product"), "\u00b7": ("*", "a product"), "\u22c5": ("*", "a product"),
    "\u2217": ("*", "a product"), "\u00f7": ("/", "a quotient"), "\u2215": ("/", "a quotient"),
}


def name_hint(name: str, names: Mapping[str, sympy.Basic]) -> str:
    """What an unknown name was probably meant to be: ``s_i`` is entry ``s[i]``.

    >>> name_hint("s_i", {"s": sympy.IndexedBase("s"), "i": sympy.Symbol("i")})
    'entry i of s is written s[i]'
    """
    base, _, index = name.partition("_")
    if index and isinstance(names.get(base), sympy.IndexedBase):
        shown = index.strip("{}")
        return f"entry {shown} of {base} is written {base}[{shown}]"
    return "declare it under [symbols] or [definitions]"
