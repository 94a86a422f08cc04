r"""Which characters an author's words (titles, reasons) may hold, and how LaTeX writes them.

Every accepted file must typeset: ``symce latex --standalone`` loads only amsmath
and amssymb, and pdflatex stops at a character it has no glyph for (``α`` or ``≠``
in a reason, without a package that maps it). So each non-ASCII character either
has a LaTeX spelling here (accented Latin letters as accent commands, Greek letters
and common symbols as math), or the loader refuses it, naming it and where it is.
Invisible characters are refused outright: a bidirectional override (U+202E)
shows a reader text in another order than the one written, and control
characters have no business in prose.

>>> tex_text("naïve ≠ Δ")
'na\\"{\\i}ve \\ensuremath{\\neq} \\ensuremath{\\Delta}'
>>> check_text("café", "f.toml, title")
>>> check_text("x \u202e y", "f.toml, title")
Traceback (most recent call last):
...
symce.errors.DerivationFormatError: f.toml, title: character U+202E (RIGHT-TO-LEFT OVERRIDE) at column 3 is invisible or a control character; it is not allowed in text
"""

from __future__ import annotations

import unicodedata

from ..errors import DerivationFormatError

# Combining marks (after NFD) and the LaTeX accent command of each.
_ACCENTS = {
    "\u0300": "`", "\u0301": "'", "\u0302": "^", "\u0303": "~", "\u0304": "=", "\u0306": "u",
    "\u0307": ".", "\u0308": '"', "\u030a": "r", "\u030b": "H", "\u030c": "v", "\u0327": "c",
    "\u0328": "k",
}
_LETTERS = {
    "ß": r"\ss{}", "æ": r"\ae{}", "Æ": r"\AE{}", "œ": r"\oe{}", "Œ": r"\OE{}", "ø": r"\o{}",
    "Ø": r"\O{}", "ł": r"\l{}", "Ł": r"\L{}", "ı": r"\i{}", "\u00a0": "~",
}
_TEXT_SYMBOLS = {
    "–": "--", "—": "---", "‘": "`", "’": "'", "“": "``", "”": "''", "…": r"\ldots{}",
    "§": r"\S{}", "¶": r"\P{}", "©": r"\copyright{}", "£": r"\pounds{}", "†": r"\dag{}",
    "‡": r"\ddag{}", "\u2212": "-",
}
_MATH_SYMBOLS = {
    "≠": r"\neq", "≤": r"\leq", "≥": r"\geq", "≈": r"\approx", "≡": r"\equiv", "∼": r"\sim",
    "∝": r"\propto", "×": r"\times", "÷": r"\div", "±": r"\pm", "∓": r"\mp", "·": r"\cdot",
    "⋅": r"\cdot", "∙": r"\cdot", "∘": r"\circ", "→": r"\to", "←": r"\leftarrow",
    "↔": r"\leftrightarrow", "⇒": r"\Rightarrow", "⇐": r"\Leftarrow", "⇔": r"\Leftrightarrow",
    "↦": r"\mapsto", "∞": r"\infty", "∑": r"\sum", "∏": r"\prod", "∫": r"\int", "∂": r"\partial",
    "∇": r"\nabla", "√": r"\surd", "∈": r"\in", "∉": r"\notin", "⊂": r"\subset",
    "⊆": r"\subseteq", "∪": r"\cup", "∩": r"\cap", "∅": r"\emptyset", "∀": r"\forall",
    "∃": r"\exists", "¬": r"\neg", "∧": r"\wedge", "∨": r"\vee", "⊗": r"\otimes",
    "⊕": r"\oplus", "′": r"\prime", "°": r"^\circ", "µ": r"\mu", "ℝ": r"\mathbb{R}",
    "ℕ": r"\mathbb{N}", "ℤ": r"\mathbb{Z}", "ℚ": r"\mathbb{Q}", "ℂ": r"\mathbb{C}",
}
_GREEK = ("alpha beta gamma delta varepsilon zeta eta theta iota kappa lambda mu nu xi o pi rho "
          "varsigma sigma tau upsilon varphi chi psi omega").split()  # U+03B1..U+03C9, in order
# Capitals: those with a shape of their own have a command; the rest are Latin capitals.
_CAPITALS = ("A B \\Gamma \\Delta E Z H \\Theta I K \\Lambda M N \\Xi O \\Pi P - \\Sigma T "
             "\\Upsilon \\Phi X \\Psi \\Omega").split()  # U+0391..U+03A9 (U+03A2 is unassigned)
_MATH_SYMBOLS.update({chr(0x3B1 + n): ("" if name == "o" else "\\") + name for n, name in enumerate(_GREEK)})
_MATH_SYMBOLS.update({chr(0x391 + n): tex if tex.startswith("\\") else r"\mathrm{" + tex + "}"
                      for n, tex in enumerate(_CAPITALS) if tex != "-"})
_MATH_SYMBOLS.update({"ϵ": r"\epsilon", "ϑ": r"\vartheta", "ϕ": r"\phi", "ϖ": r"\varpi", "ϱ": r"\varrho"})


def tex_text(text: str) -> str:
    """``text`` with every non-ASCII character in its LaTeX spelling (ASCII is left alone)."""
    return "".join(ch if ch.isascii() else _spelling(ch) or ch for ch in text)


def _spelling(ch: str) -> str | None:
    if ch in _LETTERS:
        return _LETTERS[ch]
    if ch in _TEXT_SYMBOLS:
        return _TEXT_SYMBOLS[ch]
    if ch in _MATH_SYMBOLS:
        return r"\ensuremath{" + _MATH_SYMBOLS[ch] + "}"
    base, *marks = unicodedata.normalize("NFD", ch)
    if base.isascii() and base.isalpha() and marks and all(m in _ACCENTS for m in marks):
        above = marks[0] not in ("\u0327", "\u0328")  # an accent above an i or j replaces its dot
        out = {"i": r"\i", "j": r"\j"}.get(base, base) if above else base
        for mark in marks:
            out = "\\" + _ACCENTS[mark] + "{" + out + "}"
        return out
    return None


def check_text(text: str, where: str) -> None:
    """Refuse a character that cannot be typeset, or that hides or reorders text."""
    for column, ch in enumerate(text, start=1):
        if ch.isascii():
            if ch.isprintable() or ch in "\t\n\r":
                continue
        elif unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            if _spelling(ch) is not None:
                continue
            name = unicodedata.name(ch, "unnamed")
            raise DerivationFormatError(
                f"{where}: character {ch!r} (U+{ord(ch):04X}, {name}) at column {column} cannot be "
                "typeset; write it in ASCII, or as math between backticks")
        name = unicodedata.name(ch, "a control character" if unicodedata.category(ch) == "Cc" else "unnamed")
        raise DerivationFormatError(
            f"{where}: character U+{ord(ch):04X} ({name}) at column {column} is invisible or a "
            "control character; it is not allowed in text")
