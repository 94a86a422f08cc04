r"""The special forms of the LaTeX grammar: fractions and derivatives, deltas and indicators, row vectors.

A mixin of ``tex._Parser``: each method reads one form at the cursor with the
parser's own token helpers (``take``, ``group``, ``sub``, ``fail``), so the forms
share its scope, caps and messages.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .expr import MAX_INT_DIGITS
from .lex import Tok, one_character

@dataclass(frozen=True)
class Cell:
    """One entry of a row vector as written: an expression, or ``None`` for the dots."""

    expr: sympy.Basic | None
    offset: int  # where the entry starts in the source


MATRIX = sympy.Symbol("MATRIX")  # where a matrix stood; notes.py takes the factor in front of it


class _Forms:
    """Fractions, derivatives, deltas, indicators and matrices; mixed into ``tex._Parser``."""

    def unbraced(self, t: Tok) -> Tok:
        """The argument ``t`` just taken without braces: of a number, only its first digit, as in TeX."""
        if t.kind == "num":  # \frac12 t is (1/2) t, never 12 / t; the rest is read next
            self.toks = one_character(self.toks, self.n - 1)
        return self.toks[self.n - 1]

    def index_expr(self, toks: list[Tok], end: int) -> sympy.Basic:
        """An index: declared indices, ``k`` and whole numbers joined by ``+`` and ``-``."""
        if not toks:
            raise self.src.error(end, "an index", "nothing")
        out, sign, want_atom = sympy.Integer(0), 1, True
        for t in toks:
            if want_atom:
                if t.kind == "num" and t.text.isdigit() and len(t.text) <= MAX_INT_DIGITS:
                    value = sympy.Integer(int(t.text))
                elif t.kind == "letter" and t.text in self.scope.objects and self.scope.objects[t.text].is_integer:
                    value = self.scope.objects[t.text]
                else:
                    what = f"{t.text!r} (not declared)" if t.kind == "letter" and t.text not in self.scope.objects \
                        else t.shown()
                    raise self.src.error(t.start, "an index (a declared index, k or a whole number)", what)
                out, want_atom = out + sign * value, False
            elif t.kind == "sym" and t.text in "+-":
                sign, want_atom = (1 if t.text == "+" else -1), True
            else:
                raise self.src.error(t.start, "one index (or '+', '-' between parts of one)", t.shown())
        if want_atom:
            raise self.src.error(end, "an index after the sign", "the end of the subscript")
        return out

    def delta(self) -> sympy.Basic:
        t = self.take()
        if not self.is_("sym", "_"):
            raise self.fail("a subscript of two indices after \\delta, as in \\delta_{ij}")
        self.take()
        toks = [x for x in self.group() if not (x.kind == "sym" and x.text == ",")]
        if len(toks) != 2:
            raise self.src.error(t.start, "two indices under \\delta, as in \\delta_{ij}",
                                 f"{len(toks)} token{'s' if len(toks) != 1 else ''}")
        a, b = (self.index_expr([x], x.end) for x in toks)
        return sympy.KroneckerDelta(a, b)

    def indicator_ahead(self) -> bool:
        return self.is_("sym", "{", 1) and self.is_("num", "1", 2) and self.is_("sym", "}", 3)

    def indicator(self) -> sympy.Basic:
        r"""``\mathbb{1}[i = c]``, ``\mathbb{1}_{i \neq c}``: 1 where the relation holds, else 0."""
        t = self.take()
        self.n += 3
        if self.is_("sym", "_"):
            self.take()
            toks = self.group()
        elif self.is_("sym", "["):
            open_, start = self.take(), self.n
            while self.n < len(self.toks) and not self.is_("sym", "]"):
                self.n += 1
            if self.n >= len(self.toks):
                raise self.src.error(open_.start, "']' to close this '['", "the end of the expression")
            toks = self.toks[start:self.n]
            self.take()
        else:
            raise self.fail(f"[a = b] or _{{a = b}} after \\{t.text}{{1}}")
        for n, x in enumerate(toks):
            if (x.kind == "sym" and x.text == "=") or (x.kind == "cmd" and x.text in ("neq", "ne")):
                equal = x.kind == "sym"
                if x.kind == "sym" and n > 0 and toks[n - 1].kind == "sym" and toks[n - 1].text == "!":
                    equal, left = False, toks[:n - 1]
                else:
                    left = toks[:n]
                a, b = self.index_expr(left, x.start), self.index_expr(toks[n + 1:], x.end)
                delta = sympy.KroneckerDelta(a, b)
                return delta if equal else sympy.Add(1, -delta, evaluate=False)
        raise self.src.error(t.start, "a relation a = b or a \\neq b inside the indicator", "none")

    # --- fractions and derivatives ----------------------------------------------

    def fraction(self):
        t = self.take()
        num, den = self.group(), self.group()
        end = den[-1].end if den else t.end
        kind = _derivative_kind(num, self.scope)
        if kind is not None:
            if _derivative_kind(den, self.scope) != kind:
                raise self.src.error(t.start, f"{_show(kind)} x in the denominator of a derivative",
                                     den[0].shown() if den else "nothing")
            var = self.variable(den[_width(den, kind):], t, kind)
            rest = num[_width(num, kind):]
            if not rest:
                return _Operator(var)
            wholes = self.wholes
            expr = self.sub(rest, end)
            if self.wholes > wholes and isinstance(var, sympy.Indexed) and var.indices == (self.entry,):
                raise self.src.error(t.start, "a derivative of a scalar by a vector, or of a vector by a "
                                     "scalar", "a vector by a vector (a Jacobian has no single entry i)")
            return sympy.Derivative(expr, var, evaluate=False)
        if not num or not den:
            raise self.src.error(t.start, "a numerator and a denominator", "an empty one")
        before = self.wholes
        top = self.sub(num, end)
        middle = self.wholes
        bottom = self.sub(den, end)
        if middle > before and self.wholes > middle:
            raise self.src.error(t.start, "at most one whole vector in a quotient (entrywise?)",
                                 "one above and one below: write entries such as z_i")
        return self.divide(top, bottom, t)

    def variable(self, toks: list[Tok], t: Tok, kind: str):
        if not toks:
            raise self.src.error(t.start, "a variable after " + _show(kind), "nothing")
        p = type(self)(self.src, toks, self.scope, toks[-1].end, self.entry, False)
        var = p.factor()
        if p.n < len(toks):
            raise p.fail("one variable in the denominator (higher derivatives are not supported)")
        self.wholes += p.wholes
        if not isinstance(var, (sympy.Symbol, sympy.Indexed)) or var.is_integer:
            raise self.src.error(toks[0].start, "a name or an entry such as z_i to differentiate by", str(var))
        return var

    def gradient(self) -> "_Operator":
        """``\\nabla_{x} F``: the derivative of the rest of the product by x, as ``\\frac{\\partial}{\\partial x} F``."""
        t = self.take()
        if not self.is_("sym", "_"):
            raise self.fail("a subscript naming the variable after \\nabla, as in \\nabla_{\\mathbf{z}}")
        self.take()
        return _Operator(self.variable(self.group(), t, "partial"))

    def derivative_of_rest(self, op: "_Operator") -> sympy.Basic:
        if not (self.starts_factor() or self.is_("cmd", "sum") or self.is_("sym", "-")):
            raise self.fail("what the derivative acts on")
        # d/dx - f can only mean d(-f)/dx: an operator minus a function is no number.
        body = self.signed_term() if self.is_("sym", "-") else self.term()
        return sympy.Derivative(body, op.var, evaluate=False)

    # --- matrices -----------------------------------------------------------------

    def matrix_value(self):
        t = self.take()
        if t.text not in ("bmatrix", "pmatrix"):
            raise self.fail("bmatrix or pmatrix", tok=t)
        if not self.matrix or self.cells is not None:
            raise self.fail("a scalar expression (a matrix may stand only once, on the right of a row)", tok=t)
        cells, start, seps = [], self.n, set()
        while True:
            if self.peek() is None:
                raise self.src.error(t.start, f"\\end{{{t.text}}}", "the end of the row")
            x = self.peek()
            if x.kind == "end" or (x.kind == "sym" and x.text == "&") or (x.kind == "cmd" and x.text == "\\"):
                part = self.toks[start:self.n]
                cells.append(self.cell(part, x))
                self.take()
                if x.kind == "end":
                    if x.text != t.text:
                        raise self.fail(f"\\end{{{t.text}}}", tok=x)
                    break
                seps.add(x.text)
                start = self.n
            elif x.kind == "begin":
                raise self.fail("an entry (a matrix inside a matrix is not supported)")
            else:
                self.n += 1
        if len(seps) > 1:
            raise self.src.error(t.start, "a row or a column vector", "a matrix with rows and columns")
        self.cells = cells
        return MATRIX

    def cell(self, toks: list[Tok], after: Tok) -> Cell:
        if not toks:
            raise self.src.error(after.start, "an entry", "an empty one")
        if len(toks) == 1 and toks[0].kind == "dots":
            return Cell(None, toks[0].start)
        if len(toks) == 3 and all(x.kind == "sym" and x.text == "." for x in toks):
            return Cell(None, toks[0].start)
        return Cell(self.sub(toks, after.start, entry=None), toks[0].start)


@dataclass(frozen=True)
class _Operator:
    """``\\frac{\\partial}{\\partial x}``: applies to the rest of the product."""

    var: sympy.Basic


def _derivative_kind(toks: list[Tok], scope) -> str | None:
    if not toks:
        return None
    t = toks[0]
    if t.kind == "cmd" and t.text == "partial":
        return "partial"
    if t.kind == "letter" and t.text == "d" and "d" not in scope.objects:
        return "d"
    if (t.kind == "cmd" and t.text == "mathrm" and len(toks) > 3 and toks[2].text == "d"
            and toks[1].text == "{" and toks[3].text == "}"):
        return "mathrm"
    return None


def _width(toks: list[Tok], kind: str) -> int:
    return 4 if kind == "mathrm" else 1


def _show(kind: str) -> str:
    return {"partial": "\\partial", "d": "d", "mathrm": "\\mathrm{d}"}[kind]
