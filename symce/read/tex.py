r"""Safe LaTeX -> SymPy: a small grammar of our own for the math lecturers write.

The reader never hands text to anything that runs code or guesses (no ``eval``,
``sympify``, ``parse_expr`` or ``parse_latex``). A hand-written tokenizer (``lex.py``) turns the
text into commands, letters, numbers and symbols, each with its place in the file;
a recursive-descent parser builds the same SymPy objects as ``expr.py``, under the
same caps. What each construct means is fixed here and documented in
``docs/notes-format.md``:

* ``z_i``, ``\mathbf{z}_{i}``, ``\boldsymbol{z}_i`` are entry ``i`` of the declared
  vector ``z``; ``\mathbf{z}`` alone is the whole vector (only where a caller gives
  an entry index to stand for it);
* ``\sum_j``, ``\sum_{j=1}^{k}``: the body is the rest of the product, up to the next
  ``+`` or ``-`` at the same level; no limits means the declared range 1..k;
* ``\frac{\partial A}{\partial x}``, ``\frac{\partial}{\partial x} B`` (B: the rest of
  the product), and ``d`` for total derivatives;
* ``e^{x}`` and ``\exp`` are the exponential, ``\log`` and ``\ln`` the natural log;
  ``\log x`` without parentheses takes one factor and must end the product
  (``\log x y`` is ambiguous and refused).

Anything else is an error naming the file, line and column, what was expected and
what was found.

>>> import sympy
>>> i = sympy.Symbol("i", integer=True, positive=True)
>>> scope = Scope({"i": i, "z": sympy.IndexedBase("z", real=True), "k": sympy.Symbol("k")})
>>> read_latex(r"\frac{e^{z_i}}{2}", scope).expr
exp(z[i])/2
>>> read_latex(r"w_i + 1", scope, path="post.md")
Traceback (most recent call last):
...
symce.errors.DerivationFormatError: post.md, line 1, column 1: expected a declared name, found 'w' (not declared)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from ..errors import DerivationFormatError, UnsafeExpressionError
from .expr import MAX_EXPRESSION_CHARS, MAX_INT_DIGITS, _Builder, literal_zero
from .lex import _CLOSE, _OPEN, _STOP, FONTS, FRACS, GREEK, KNOWN, MAX_DEPTH, SIZES, Source, Tok, tokenize
from .texforms import Cell, _Forms, _Operator
@dataclass
class Scope:
    """What names mean: declared objects, call signatures of defined names, and ``k``."""

    objects: dict[str, sympy.Basic]  # name -> Symbol, IndexedBase, or a number for a concrete k
    signatures: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "L" -> ("s", "y")
    later: set[str] = field(default_factory=set)  # names defined further down, not usable yet


@dataclass(frozen=True)
class Reading:
    """An expression read from LaTeX; ``cells`` when the row holds a bmatrix or pmatrix."""

    expr: sympy.Basic  # the whole expression; a matrix stands as ``MATRIX`` in it
    cells: tuple[Cell, ...] | None = None  # the entries of the matrix, if one was read
    used_entry: bool = False  # a whole vector was read as its entry ``entry``


def read_latex(text: str, scope: Scope, *, path: str = "<string>", entry: sympy.Symbol | None = None) -> Reading:
    """Read one LaTeX expression held in a string (declarations, tests)."""
    src = Source(text, path)
    return parse(src, tokenize(src), scope, end=len(text), entry=entry)


def parse(src: Source, toks: list[Tok], scope: Scope, *, end: int, entry: sympy.Symbol | None = None,
          matrix: bool = False) -> Reading:
    """Read ``toks`` as one expression; ``end`` is the offset reported as "the end"."""
    if toks and toks[-1].end - toks[0].start > MAX_EXPRESSION_CHARS:
        raise UnsafeExpressionError(f"{src.at(toks[0].start)}: expression is {toks[-1].end - toks[0].start} "
                                    f"characters long (at most {MAX_EXPRESSION_CHARS})")
    p = _Parser(src, toks, scope, end, entry, matrix)
    expr = p.expression()
    if p.n < len(toks):
        raise p.fail("an operator or the end of the expression")
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise src.error(toks[0].start if toks else end, "an expression with a finite value", "one without")
    return Reading(expr, tuple(p.cells) if p.cells is not None else None, p.wholes > 0)

class _Parser(_Forms):
    """Recursive descent over one expression's tokens; one method per level of the grammar."""

    def __init__(self, src, toks, scope, end, entry, matrix):
        self.src, self.toks, self.scope, self.end = src, toks, scope, end
        self.entry, self.matrix = entry, matrix
        self.n, self.depth = 0, 0
        self.cells: list[Cell] | None = None
        self.wholes = 0  # whole vectors read as their entry, so far
        self.caps = _Builder(scope.objects, "", False)

    # --- tokens -----------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Tok | None:
        n = self.n + ahead
        return self.toks[n] if n < len(self.toks) else None

    def is_(self, kind: str, text: str | tuple | None = None, ahead: int = 0) -> bool:
        t = self.peek(ahead)
        return t is not None and t.kind == kind and (text is None or t.text == text
                                                     or (isinstance(text, tuple) and t.text in text))

    def take(self) -> Tok:
        t = self.toks[self.n]
        self.n += 1
        return t

    def found(self) -> str:
        t = self.peek()
        return "the end of the expression" if t is None else t.shown()

    def fail(self, expected: str, found: str | None = None, tok: Tok | None = None) -> DerivationFormatError:
        t = tok or self.peek()
        offset = self.end if t is None else t.start
        if found is None:
            found = self.found() if tok is None else tok.shown()
        return self.src.error(offset, expected, found)

    def expect(self, kind: str, text: str, what: str | None = None) -> Tok:
        if not self.is_(kind, text):
            raise self.fail(what or repr(text))
        return self.take()

    def group(self) -> list[Tok]:
        """The tokens of ``{...}`` (braces matched), or of a single token."""
        if self.peek() is None:
            raise self.fail("an argument in braces")
        if not self.is_("sym", "{"):
            t = self.take()
            if t.kind == "sym" and t.text in "}^_&=+":
                raise self.fail("an argument in braces", tok=t)
            return [self.unbraced(t)]
        open_, depth, start = self.take(), 1, self.n
        while self.n < len(self.toks):
            t = self.take()
            if t.kind == "sym" and t.text in "{}":
                depth += 1 if t.text == "{" else -1
                if depth == 0:
                    return self.toks[start:self.n - 1]
        raise self.src.error(open_.start, "'}' to close this '{'", "the end of the expression")

    def sub(self, toks: list[Tok], end: int, entry="same") -> sympy.Basic:
        """Read a group's tokens as a whole expression, in the same scope."""
        p = _Parser(self.src, toks, self.scope, end, self.entry if entry == "same" else entry, False)
        p.depth = self.depth
        expr = p.expression()
        if p.n < len(toks):
            raise p.fail("an operator or the end of the group")
        self.wholes += p.wholes
        return expr

    # --- sums and products ------------------------------------------------------

    def expression(self) -> sympy.Basic:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise UnsafeExpressionError(f"{self.src.at(self.peek().start if self.peek() else self.end)}: "
                                        f"expression is nested more than {MAX_DEPTH} deep")
        terms = [self.signed_term()]
        while self.is_("sym", ("+", "-")):
            terms.append(self.signed_term())
        self.depth -= 1
        if len(terms) == 1:
            return terms[0]
        if all(t.is_Number for t in terms):
            return sympy.Add(*terms)
        return self.caps.reach.check(sympy.Add(*terms, evaluate=False), self.src.at(self.end))  # bounds.py

    def signed_term(self) -> sympy.Basic:
        sign = 1
        if self.is_("sym", ("+", "-")):
            sign = -1 if self.take().text == "-" else 1
            if self.is_("sym", ("+", "-")):
                raise self.fail("a term after the sign")
        term = self.term()
        if sign > 0:
            return term
        return -term if term.is_Number else sympy.Mul(-1, term, evaluate=False)

    def starts_factor(self) -> bool:
        t = self.peek()
        if t is None or (t.kind == "sym" and t.text in _STOP | {"^", "_", "/", "*", ".", "|", "'", ":", ";"}):
            return False
        if t.kind == "cmd" and t.text in ("right", "cdot", "times", "quad", "qquad", "neq", "ne", "\\", "&"):
            return False
        if t.kind == "cmd" and t.text in SIZES and self.is_("sym", _CLOSE, 1):
            return False
        return t.kind != "end" and t.kind != "dots"

    def term(self) -> sympy.Basic:
        """Factors joined by juxtaposition, ``\\cdot``, ``\\times`` or one ``/``."""
        factors: list = []
        vectors = 0  # factors holding a whole vector: one is a scaled vector, two are ambiguous
        while True:
            before, wholes = self.peek(), self.wholes
            if self.is_("cmd", "sum"):
                factors.append(self.sum())
                vectors = self.one_vector(vectors, wholes, before)
                break
            if not self.starts_factor():
                raise self.fail("a factor (a number, a name, '(' or a command)")
            f = self.factor()
            if isinstance(f, _Operator):
                factors.append(self.derivative_of_rest(f))
                vectors = self.one_vector(vectors, wholes, before)
                break
            factors.append(f)
            vectors = self.one_vector(vectors, wholes, before)
            bare = self.bare_function
            if self.is_("cmd", ("cdot", "times")) or self.is_("sym", "*"):
                self.take()
                continue
            if self.is_("sym", "/"):
                slash = self.take()
                if len(factors) > 1 or not self.starts_factor():
                    raise self.fail("\\frac{..}{..} or parentheses around a product divided with '/'",
                                    tok=slash, found="'/' after a product" if len(factors) > 1 else None)
                wholes = self.wholes
                den = self.factor()
                vectors = self.one_vector(vectors, wholes, slash)
                factors[-1] = self.divide(factors[-1], den, slash)
                if self.starts_factor() or self.is_("cmd", "sum"):
                    raise self.fail("the end of the term after a/b (a/b c is ambiguous; use \\frac)")
                break
            if not (self.starts_factor() or self.is_("cmd", "sum")):
                break
            if bare:
                raise self.fail(f"the end of the product after {bare} without parentheses "
                                f"({bare} x y is ambiguous: write {bare}(x y) or put {bare} last)")
            if before.kind == "num" and self.is_("num"):
                raise self.fail("an operator between two numbers")
        if len(factors) == 1:
            return factors[0]
        if all(f.is_Number for f in factors):
            return sympy.Mul(*factors)
        return self.caps.reach.check(sympy.Mul(*factors, evaluate=False), self.src.at(self.end))

    def one_vector(self, vectors: int, wholes: int, tok) -> int:
        """Count a factor that read a whole vector; a second one in a product is refused."""
        if self.wholes == wholes:
            return vectors
        if vectors:
            raise self.fail("at most one whole vector in a product or quotient (of two vectors, a dot, "
                            "entrywise or outer product is meant?): write entries such as z_i",
                            found="a second one", tok=tok)
        return vectors + 1

    def divide(self, num, den, tok) -> sympy.Basic:
        if literal_zero(den):  # no assumption query: it may evaluate what it is asked about
            raise self.fail("a divisor other than 0", found="division by zero", tok=tok)
        if num.is_Number and den.is_Number:
            return num / den
        if num == 1:
            return sympy.Pow(den, -1, evaluate=False)
        return sympy.Mul(num, sympy.Pow(den, -1, evaluate=False), evaluate=False)

    def sum(self) -> sympy.Basic:
        r"""``\sum_j``, ``\sum_{j=1}^{k}``: the body is the rest of the product."""
        tok = self.take()
        var_tok, low, high = None, sympy.Integer(1), self.scope.objects.get("k")
        seen = set()
        while self.is_("sym", ("_", "^")):
            which = self.take().text
            if which in seen:
                raise self.fail("one subscript and one superscript on \\sum", found=f"a second '{which}'")
            seen.add(which)
            toks = self.group()
            end = toks[-1].end if toks else self.end
            if which == "^":
                high = self.index_expr(toks, end)
                continue
            if not toks or toks[0].kind != "letter":
                raise self.fail("a declared index under \\sum", tok=toks[0] if toks else None)
            var_tok = toks[0]
            if len(toks) > 1:
                if not (toks[1].kind == "sym" and toks[1].text == "="):
                    raise self.fail("'=' or '}' after the summation index", tok=toks[1])
                low = self.index_expr(toks[2:], end)
        if var_tok is None:
            raise self.fail("a summation index, as in \\sum_{j} or \\sum_{j=1}^{k}", tok=tok)
        var = self.scope.objects.get(var_tok.text)
        if not (isinstance(var, sympy.Symbol) and var.is_integer) or var is self.scope.objects.get("k"):
            raise self.fail("a declared index under \\sum", tok=var_tok,
                            found=f"{var_tok.text!r}" + ("" if var_tok.text in self.scope.objects else " (not declared)"))
        if high is None:
            raise self.fail("an upper limit (k is not declared)", tok=tok)
        if self.peek() is None or not (self.starts_factor() or self.is_("cmd", "sum")
                                       or self.is_("sym", "-")):
            raise self.fail("the body of \\sum (the rest of the product)")
        # As in expr.py: the summation variable is an integer of the same name, ranging
        # over the limits only, so that deltas against it are not folded as read.
        dummy = sympy.Symbol(var.name, integer=True)
        outer = self.scope
        self.scope = Scope({**outer.objects, var.name: dummy}, outer.signatures, outer.later)
        try:
            body = self.signed_term() if self.is_("sym", "-") else self.term()
        finally:
            self.scope = outer
        return sympy.Sum(body, (dummy, low, high))

    # --- factors ----------------------------------------------------------------

    bare_function: str | None = None

    def factor(self):
        self.bare_function = None
        wholes = self.wholes
        base = self.primary()
        if isinstance(base, _Operator):
            return base
        while self.is_("sym", "^"):
            hat = self.take()
            if self.wholes > wholes:  # an entrywise square, or a squared norm?
                raise self.fail("a scalar to raise to a power, or entries such as z_i", found="a power of a whole vector")
            toks = self.group()
            exponent = self.sub(toks, toks[-1].end if toks else hat.end, entry=None)
            try:
                base = self.caps._power(base, exponent)
            except DerivationFormatError as exc:  # the same caps as expr.py, named here by place
                raise type(exc)(f"{self.src.at(hat.start)}{exc}") from None
            base = self.caps.reach.check(base, self.src.at(hat.start))  # sized before anything evaluates it
        if self.is_("sym", "_"):
            raise self.fail("an operator", found="'_' after something that takes no index")
        return base

    def primary(self):
        t = self.peek()
        if t is None:
            raise self.fail("a factor")
        if t.kind == "num":
            return self.number(self.take())
        if t.kind == "sym" and t.text in _OPEN:
            return self.parenthesized()
        if t.kind == "letter":
            return self.letter()
        if t.kind == "begin":
            return self.matrix_value()
        if t.kind != "cmd":
            raise self.fail("a factor (a number, a name, '(' or a command)")
        name = t.text
        if name in SIZES:
            return self.parenthesized()
        if name in FRACS:
            return self.fraction()
        if name == "nabla":
            return self.gradient()
        if name == "sqrt":
            self.take()
            if self.is_("sym", "["):
                raise self.fail("\\sqrt{...} (a root other than the square root is not supported)")
            return sympy.sqrt(self.sub(self.group(), self.end), evaluate=False)
        if name in ("exp", "log", "ln"):
            return self.function()
        if name == "delta" and "delta" not in self.scope.objects:
            return self.delta()
        if name in ("mathbb", "mathbf") and self.indicator_ahead():
            return self.indicator()
        if name in FONTS or name in GREEK:
            return self.name()
        if name not in KNOWN:
            raise self.fail("a known LaTeX command", found=f"unknown macro \\{name}")
        raise self.fail("a factor (a number, a name, '(' or a command)")

    def number(self, t: Tok) -> sympy.Basic:
        digits = t.text.replace(".", "")
        if len(digits) > MAX_INT_DIGITS:
            raise UnsafeExpressionError(f"{self.src.at(t.start)}: number has more than {MAX_INT_DIGITS} digits")
        if "." in t.text:
            whole, frac = t.text.split(".")
            return sympy.Rational(int(whole + frac), 10 ** len(frac))
        return sympy.Integer(int(t.text))

    def parenthesized(self) -> sympy.Basic:
        sized = self.is_("cmd")
        opener = self.take() if sized else None
        if sized and not self.is_("sym", tuple(_OPEN)):
            raise self.fail(f"'(' or '[' after \\{opener.text}")
        open_ = self.take()
        want = _OPEN[open_.text]
        if open_.text == "{" and sized:
            raise self.fail("'(' or '['", tok=open_)
        inner = self.expression()
        if sized:
            if not self.is_("cmd", tuple(SIZES)):
                raise self.fail(f"\\right{want} to close the \\{opener.text}{open_.text} at "
                                f"{self.src.at(open_.start).split(', ', 1)[1]}")
            self.take()
        if not self.is_("sym", want):
            raise self.fail(f"{want!r} to close the {open_.text!r} at {self.src.at(open_.start).split(', ', 1)[1]}")
        self.take()
        return inner

    def function(self) -> sympy.Basic:
        t = self.take()
        if self.is_("sym", ("^", "_")):
            raise self.fail(f"the argument of \\{t.text} (powers and bases of \\{t.text} are not supported)")
        if self.is_("sym", "(") or (self.is_("cmd", tuple(SIZES)) and self.is_("sym", "(", 1)):
            arg, bare = self.parenthesized(), None
        else:
            if not self.starts_factor():
                raise self.fail(f"the argument of \\{t.text}")
            arg = self.factor()
            bare = f"\\{t.text}"
        if t.text == "exp":
            out = sympy.exp(arg, evaluate=False)
        else:
            if literal_zero(arg):
                raise self.fail("a log of something other than 0", tok=t, found="log(0)")
            out = sympy.log(arg, evaluate=False)
        self.bare_function = bare
        return out

    # --- names ------------------------------------------------------------------

    def letter(self):
        t = self.peek()
        if t.text == "e" and "e" not in self.scope.objects:
            self.take()
            if not self.is_("sym", "^"):
                return sympy.E
            self.take()
            toks = self.group()
            return sympy.exp(self.sub(toks, toks[-1].end if toks else t.end), evaluate=False)
        return self.name()

    def name_token(self) -> tuple[str, Tok]:
        """The name at the cursor: a letter, a Greek letter, or ``\\mathbf{z}`` and its like."""
        t = self.take()
        if t.kind == "letter":
            return t.text, t
        if t.text in GREEK:
            return t.text, t
        toks = self.group()
        if not toks or not all(x.kind == "letter" for x in toks):
            if toks and len(toks) == 1 and toks[0].kind == "cmd" and toks[0].text in GREEK:
                return toks[0].text, t
            raise self.src.error(t.start, f"a name in \\{t.text}{{...}}", "".join(x.text for x in toks) or "nothing")
        return "".join(x.text for x in toks), t

    def name(self):
        name, t = self.name_token()
        obj = self.scope.objects.get(name)
        if obj is None:
            found = "defined further down" if name in self.scope.later else "not declared"
            raise self.src.error(t.start, "a declared name", f"{name!r} ({found})")
        if name in self.scope.signatures:
            self.signature(name, t)
        if isinstance(obj, sympy.IndexedBase):
            if self.is_("sym", "_"):
                self.take()
                toks = self.group()
                return obj[self.index_expr(toks, toks[-1].end if toks else t.end)]
            if self.entry is None:
                raise self.src.error(t.start, f"an entry such as {name}_i", f"the whole vector {name}")
            self.wholes += 1
            return obj[self.entry]
        if self.is_("sym", "_"):
            raise self.fail(f"no subscript after {name!r}, which is not a vector")
        return obj

    def signature(self, name: str, t: Tok) -> None:
        """``L(\\mathbf{s}, \\mathbf{y})`` for a name defined with that argument list."""
        want = self.scope.signatures[name]
        if not self.is_("sym", "("):
            return  # the bare name stands for the same thing
        self.take()
        got = []
        while True:
            if self.peek() is None:
                raise self.fail(f"')' to close {name}(")
            arg, _ = self.name_token()
            got.append(arg)
            if self.is_("sym", ","):
                self.take()
                continue
            self.expect("sym", ")", f"',' or ')' in {name}(...)")
            break
        if tuple(got) != want:
            raise self.src.error(t.start, f"{name}({', '.join(want)}) as defined", f"{name}({', '.join(got)})")


def relation(src: Source, toks: list[Tok], scope: Scope, end: int) -> sympy.Basic:
    r"""``i = c``, ``i \neq c``, ``i \ne c`` or ``i != c`` between index expressions, as Eq or Ne.

    >>> i, c = (sympy.Symbol(n, integer=True, positive=True) for n in "ic")
    >>> src = Source(r"i \neq c")
    >>> relation(src, tokenize(src), Scope({"i": i, "c": c}), 8)
    Ne(i, c)
    """
    p = _Parser(src, toks, scope, end, None, False)
    for n, t in enumerate(toks):
        if t.kind == "sym" and t.text == "=":
            if n > 0 and toks[n - 1].kind == "sym" and toks[n - 1].text == "!":
                return sympy.Ne(p.index_expr(toks[:n - 1], t.start), p.index_expr(toks[n + 1:], end))
            return sympy.Eq(p.index_expr(toks[:n], t.start), p.index_expr(toks[n + 1:], end), evaluate=False)
        if t.kind == "cmd" and t.text in ("neq", "ne"):
            return sympy.Ne(p.index_expr(toks[:n], t.start), p.index_expr(toks[n + 1:], end), evaluate=False)
    raise src.error(toks[0].start if toks else end, "a relation a = b or a \\neq b", "none")
