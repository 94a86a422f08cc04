r"""LaTeX text -> tokens, each with its place in the file; the first step of ``tex.py``.

Written by hand rather than taken from a library: the grammar is small, every
token must carry its offset for messages (file, line, column), and a token that
is not LaTeX we know is refused here with its place.

>>> [t.shown() for t in tokenize(Source(r"\frac{a}{2}\, x_{12}"))]
['\\frac', "'{'", "'a'", "'}'", "'{'", "'2'", "'}'", "'x'", "'_'", "'{'", "'12'", "'}'"]
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..errors import DerivationFormatError, UnsafeExpressionError
from .expr import MAX_EXPRESSION_CHARS, MAX_NODES

MAX_DEPTH = 60  # nested groups in one expression; the reference's deepest is 5

GREEK = ("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi "
         "pi rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma "
         "Upsilon Phi Psi Omega").split()
FONTS = ("mathbf", "boldsymbol", "bm", "vec", "mathrm", "mathit", "operatorname", "mathsf")
FRACS = ("frac", "dfrac", "tfrac")
DOTS = ("cdots", "ldots", "dots", "vdots")
SPACES = (",", ";", ":", "!", " ", "displaystyle", "textstyle", "nonumber", "notag", "limits")
SIZES = ("left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr")
OPERATORS = ("cdot", "times", "sum", "partial", "nabla", "exp", "log", "ln", "sqrt", "mathbb", "quad", "qquad",
             "neq", "ne", "text", "textrm", "mbox", "begin", "end", "delta", "{", "}", "\\", "&")
KNOWN = set(GREEK) | set(FONTS) | set(FRACS) | set(DOTS) | set(SPACES) | set(SIZES) | set(OPERATORS)
_OPEN, _CLOSE = {"(": ")", "[": "]", "{": "}"}, (")", "]", "}")
_STOP = {"+", "-", "=", ")", "]", "}", "&", ",", "!", "<", ">"}


@dataclass(frozen=True)
class Tok:
    """One token: ``kind`` is cmd, letter, num, sym, dots, begin or end; ``text`` without the backslash."""

    kind: str
    text: str
    start: int  # offset in the source text
    end: int

    def shown(self) -> str:
        if self.kind == "cmd":
            return "\\" + self.text
        if self.kind in ("begin", "end"):
            return f"\\{self.kind}{{{self.text}}}"
        return repr(self.text)


class Source:
    """The text of one file, for turning offsets into ``file, line L, column C``."""

    def __init__(self, text: str, path: str = "<string>"):
        self.text, self.path = text, path
        self.starts = [0] + [n + 1 for n, ch in enumerate(text) if ch == "\n"]

    def line(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)

    def at(self, offset: int) -> str:
        line = self.line(offset)
        return f"{self.path}, line {line}, column {offset - self.starts[line - 1] + 1}"

    def error(self, offset: int, expected: str, found: str) -> DerivationFormatError:
        return DerivationFormatError(f"{self.at(offset)}: expected {expected}, found {found}")


def tokenize(src: Source, start: int = 0, end: int | None = None) -> list[Tok]:
    r"""The tokens of ``src.text[start:end]``; spacing commands and ``%`` comments are dropped.

    >>> [t.shown() for t in tokenize(Source(r"\frac{a}{2}\, x_{12}"))]
    ['\\frac', "'{'", "'a'", "'}'", "'{'", "'2'", "'}'", "'x'", "'_'", "'{'", "'12'", "'}'"]
    """
    text, end = src.text, len(src.text) if end is None else end
    if end - start > MAX_EXPRESSION_CHARS * 4:
        raise UnsafeExpressionError(f"{src.at(start)}: block is {end - start} characters long "
                                    f"(at most {MAX_EXPRESSION_CHARS * 4})")
    out, n = [], start
    while n < end:
        ch = text[n]
        if ch.isspace():
            n += 1
        elif ch == "%":
            while n < end and text[n] != "\n":
                n += 1
        elif ch == "\\":
            m = n + 1
            while m < end and text[m].isascii() and text[m].isalpha():
                m += 1
            if m == n + 1:
                m = min(n + 2, end)
            name = text[n + 1:m]
            if name in ("begin", "end"):
                m, env = _environment_name(src, name, m, end)
                out.append(Tok(name, env, n, m))
            elif name in ("label", "tag"):  # equation labels and tags say nothing about the math
                m = _skip_group(src, m, end)
            elif name in DOTS:
                out.append(Tok("dots", name, n, m))
            elif name not in SPACES and name != "":
                out.append(Tok("cmd", name, n, m))
            n = m
        elif ch.isdigit():
            m = n
            while m < end and text[m].isdigit():
                m += 1
            if m + 1 < end and text[m] == "." and text[m + 1].isdigit():
                m += 1
                while m < end and text[m].isdigit():
                    m += 1
            out.append(Tok("num", text[n:m], n, m))
            n = m
        elif ch.isascii() and ch.isalpha():
            out.append(Tok("letter", ch, n, n + 1))
            n += 1
        elif text.startswith("...", n):
            out.append(Tok("dots", "...", n, n + 3))
            n += 3
        elif ch.isascii() and ch in "+-*/=()[]{}^_&,.|'!<>:;":
            out.append(Tok("sym", ch, n, n + 1))
            n += 1
        else:
            raise src.error(n, "a LaTeX character", f"{ch!r} (U+{ord(ch):04X})")
    if len(out) > MAX_NODES * 4:
        raise UnsafeExpressionError(f"{src.at(start)}: block has {len(out)} tokens (at most {MAX_NODES * 4})")
    return out


def one_character(toks: list[Tok], n: int) -> list[Tok]:
    """``toks`` with the number at ``n`` cut after its first digit: TeX's unbraced argument is one character.

    So ``\\frac12 t`` is (1/2) t, never 12 / t, and ``t^10`` is t^1 followed by 0, as shown.

    >>> [t.text for t in one_character([Tok("num", "12", 0, 2)], 0)]
    ['1', '2']
    """
    t = toks[n]
    if len(t.text) == 1:
        return toks
    return [*toks[:n], Tok("num", t.text[0], t.start, t.start + 1), Tok("num", t.text[1:], t.start + 1, t.end),
            *toks[n + 1:]]


def _skip_group(src: Source, n: int, end: int) -> int:
    """The offset after the ``{...}`` argument at ``n`` (spaces before it allowed)."""
    text = src.text
    while n < end and text[n].isspace():
        n += 1
    close = text.find("}", n, end)
    if n >= end or text[n] != "{" or close < 0:
        raise src.error(n, "{...} after \\label or \\tag", repr(text[n:n + 12]) if n < end else "the end")
    return close + 1


def _environment_name(src: Source, which: str, n: int, end: int) -> tuple[int, str]:
    text = src.text
    close = text.find("}", n, end)
    if not text.startswith("{", n) or close < 0 or not text[n + 1:close].replace("*", "").isalpha():
        raise src.error(n, f"{{name}} after \\{which}", repr(text[n:n + 12]) if n < end else "the end")
    return close + 1, text[n + 1:close]
