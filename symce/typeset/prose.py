"""Prose: the author's words (reasons, titles) escaped and wrapped around printed math.

A reason is a tuple of pieces, text at even places and SymPy math at odd ones
(``("every ", y[j], " vanishes")``); the math is printed by the caller's printer,
passed in as ``tex``, so no LaTeX for math is made here.

>>> inline_prose(("with ", "y_c", " = 1"), lambda m: m, "tex")
'with $y_c$ = 1'
"""

from __future__ import annotations

import re

from ..read.text import tex_text

__all__ = ["escape_text", "prose_pieces", "inline_prose", "math_prose", "wrap_prose"]

# --- text -------------------------------------------------------------------

_TEX_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}
# Inside \text{} MathJax (without its textmacros extension) knows only \$, \{ and \};
# "\%" or "\textasciitilde{}" would show as written. Other characters are literal there,
# so the few that need a macro leave the text for math mode ("}\%\text{"), and the
# rest stay as they are ("_", "^", "|"). "{%" can still never appear, and neither can a
# "<" or ">" that a Markdown reader would take for HTML (<script> inside $$ ... $$).
_MATHJAX_TEXT_ESCAPES = {
    "{": r"\{", "}": r"\}", "$": r"\$",
    **{ch: "}" + macro + r"\text{" for ch, macro in
       {"%": r"\%", "#": r"\#", "&": r"\&", "~": r"\sim", "\\": r"\backslash",
        "<": r"\lt", ">": r"\gt"}.items()},
}
# Markdown text outside math: backslash escapes for kramdown, and braces/percent as
# HTML entities so that no "{{" or "{%" can ever reach Liquid.
_MD_ESCAPES = {
    **{ch: "\\" + ch for ch in "\\`*_[]#<>|$"},
    "{": "&#123;", "}": "&#125;", "%": "&#37;", "&": "&amp;",
}


def escape_text(text: str, fmt: str = "tex") -> str:
    r"""Author text (a reason, a title) made safe as LaTeX text, MathJax ``\text``, or Markdown.

    Whitespace runs, newlines included, become one space.

    >>> escape_text("50% of y_c & {z}")
    '50\\% of y\\_c \\& \\{z\\}'
    >>> escape_text("{{ y_c }}", "md")
    '&#123;&#123; y\\_c &#125;&#125;'
    """
    table = {"tex": _TEX_ESCAPES, "mathjax": _MATHJAX_TEXT_ESCAPES, "md": _MD_ESCAPES}[fmt]
    out = "".join(table.get(ch, ch) for ch in " ".join(text.split()))
    # pdflatex with no package but amsmath has no glyph for a bare α or é: spell them out.
    return tex_text(out) if fmt == "tex" else out


# --- prose: text with math between backticks ----------------------------------

def prose_pieces(parts: tuple, plain: str) -> tuple:
    """A reason's or title's pieces (text, math, text, ...); plain text when it has none."""
    return parts or (plain,)


def _escape_keeping_ends(text: str, fmt: str) -> str:
    """``escape_text``, but a space at either end survives: it separates text from math."""
    inner = escape_text(text, fmt)
    if not inner:
        return " " if text else ""
    return (" " if text[:1].isspace() else "") + inner + (" " if text[-1:].isspace() else "")


def _math_piece(tex: str) -> str:
    # After \text{...} TeX reads a leading minus as binary (spaced); braces make it unary.
    return "{" + tex + "}" if tex[:1] in "-+" else tex


def inline_prose(parts: tuple, tex, fmt: str) -> str:
    """Prose for a paragraph or heading: text escaped for ``fmt``, math as inline formulas.

    kramdown reads ``$$...$$`` inside a paragraph or heading as inline math.
    """
    dollar = "$" if fmt == "tex" else "$$"
    return "".join(_escape_keeping_ends(p, fmt) if n % 2 == 0 else dollar + tex(p) + dollar
                   for n, p in enumerate(parts)).strip()


def math_prose(parts: tuple, tex, text_fmt: str, command: str = r"\text") -> str:
    """Prose inside a formula: ``\\text{every } \\mathbf{y}_j \\text{ vanishes}``."""
    out = []
    for n, p in enumerate(parts):
        if n % 2:
            out.append(_math_piece(tex(p)))
        elif p.strip() or (p and 0 < n < len(parts) - 1):
            out.append(command + "{" + _escape_keeping_ends(p, text_fmt) + "}")
    return " ".join(out)


def _prose_atoms(parts: tuple) -> list[tuple]:
    """The units a reason is wrapped between: a word, with any math or punctuation
    written against it (a piece of math followed by a comma stays one unit)."""
    atoms, current = [], []
    for n, part in enumerate(parts):
        tokens = [part] if n % 2 else re.findall(r"\S+|\s+", part)
        for token in tokens:
            if isinstance(token, str) and token.isspace():
                atoms, current = atoms + ([tuple(current)] if current else []), []
            else:
                current.append(token)
    return atoms + ([tuple(current)] if current else [])


def _visible_width(piece, tex) -> int:
    """Roughly how many characters of text a piece takes on the page.

    Math is measured by its printed symbols: a command (``\\partial``) counts one, a
    relation or operator two for its spacing, bold and bracket sizing nothing.
    """
    if isinstance(piece, str):
        return len(piece)
    printed = re.sub(r"\\(mathbf|operatorname|left|right)\b", "", tex(piece))
    printed = re.sub(r"\\[A-Za-z]+", "x", printed)
    return len(re.sub(r"[\s{}^_]", "", printed)) + len(re.findall(r"[=+<>-]|xneq", printed))


def wrap_prose(parts: tuple, tex, width: int) -> list[tuple]:
    """Greedy line filling, as ``textwrap`` does for words, over words and math alike.

    Each line comes back as prose pieces again: text at even places, math at odd ones.
    """
    lines, line, used = [], [], 0
    for atom in _prose_atoms(parts):
        size = sum(_visible_width(p, tex) for p in atom)
        if line and used + 1 + size > width:
            lines.append(line)
            line, used = [], 0
        line, used = line + ([" "] if line else []) + list(atom), used + (1 if line else 0) + size
    if line:
        lines.append(line)
    return [_alternate(line) for line in lines]


def _alternate(pieces: list) -> tuple:
    """Merge adjacent strings so that text and math alternate, starting and ending with text."""
    out: list = [""]
    for p in pieces:
        if isinstance(p, str):
            out[-1] += p
        else:
            out += [p, ""]
    return tuple(out)


