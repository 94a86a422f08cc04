r"""Typeset a verified derivation as lecture notes: LaTeX fragments, a document, or Markdown.

SymPy's own printer is written for unambiguity, not for readers: it prints
``{z}_{i}``, ``e^{{z}_{c}}``, ``\log{\left({s}_{c} \right)}`` and ``\sum_{j=1}^{k}``.
``NotesPrinter`` is one ``LatexPrinter`` subclass that prints what a person writes
by hand (``z_i``, ``e^{z_c}``, ``\log s_c``, ``\sum_{j}``); every construct is one
``_print_<Class>`` method. The functions below it only arrange printed
expressions into ``align*`` blocks, a document or a Markdown post; all math text
comes from the printer.

Only verified steps are typeset: rendering takes the ``Report`` of
``symce.verify.check`` and refuses a derivation whose steps did not all pass,
unless ``allow_unverified=True``, which marks each such step in the output.

>>> import sympy
>>> z, i = sympy.IndexedBase("z"), sympy.Symbol("i", integer=True)
>>> latex_expr(sympy.exp(z[i]))
'e^{z_i}'
"""

from __future__ import annotations

import re

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.simplify import fraction

from .derivation import Chain, Derivation, Step, whole_vector
from .errors import ProofError, UsageError
from .verify import Evidence, Report, StepResult

__all__ = [
    "NotesPrinter",
    "UnverifiedStepError",
    "latex_expr",
    "render",
    "render_latex",
    "render_document",
    "render_markdown",
    "check_options",
    "escape_text",
    "FORMATS",
]

FORMATS = ("tex", "md")  # the values of ``symce latex --format``


class UnverifiedStepError(ProofError):
    """A step that did not pass was about to be typeset; ``step`` is its verdict."""

    def __init__(self, message: str, step: StepResult):
        super().__init__(message)
        self.step = step


# --- the printer ------------------------------------------------------------

class NotesPrinter(LatexPrinter):
    r"""SymPy's LaTeX printer, with the notation of hand-written lecture notes.

    Settings (besides SymPy's): ``vectors`` names printed as vectors;
    ``bold_vectors`` whether those are bold; ``softmax`` pairs ``(name, argument)``
    of defined names that are a softmax of a vector; ``softmax_name`` ``"softmax"``
    to print those as ``\operatorname{softmax}(\mathbf{z})_i``; ``sum_range`` the
    ``(lower, upper)`` limits printed as just the index (``\sum_{j}``).

    >>> z, j, k = sympy.IndexedBase("z"), sympy.Symbol("j"), sympy.Symbol("k")
    >>> NotesPrinter({"vectors": ("z",), "sum_range": (1, k)}).doprint(
    ...     sympy.Sum(sympy.exp(z[j]), (j, 1, k)))
    '\\sum_{j} e^{\\mathbf{z}_j}'
    """

    printmethod = "_symce_latex"  # never SymPy's ``_latex`` hooks: the notation is ours
    _default_settings = {
        **LatexPrinter._default_settings,
        "mat_str": "bmatrix",  # lecture notes write \begin{bmatrix}, not \left[\begin{matrix}
        "mat_delim": "",
        "vectors": (),
        "bold_vectors": True,
        "softmax": (),
        "softmax_name": "s",
        "sum_range": None,
        "indices": (),
    }

    def doprint(self, expr) -> str:
        # Jekyll's Liquid reads "{{" as a template tag. The methods below never
        # nest a group directly in a group; should a SymPy method we do not
        # override still do it, a space (ignored in math mode) keeps them apart.
        tex = super().doprint(expr)
        while "{{" in tex:
            tex = tex.replace("{{", "{ {")
        return tex

    # Parentheses: \left( \right) only around tall material, as by hand.
    def _add_parens(self, s) -> str:
        if any(tall in s for tall in (r"\frac", r"\sum", r"\prod", r"\int", r"\begin")):
            return r"\left(" + s + r"\right)"
        return "(" + s + ")"

    def _add_parens_lspace(self, s) -> str:
        return self._add_parens(s)

    def _do_exponent(self, expr: str, exp):
        return expr if exp is None else self._add_parens(expr) + "^{" + exp + "}"

    # Names: z, \mathbf{z}, z_i, \mathbf{z}_i, \operatorname{softmax}(\mathbf{z})_i.
    def _name(self, name: str) -> str:
        softmax = dict(self._settings["softmax"])
        if name in softmax and self._settings["softmax_name"] == "softmax":
            return r"\operatorname{softmax}(" + self._name(softmax[name]) + ")"
        tex = LatexPrinter._print_Symbol(self, sympy.Symbol(name))
        if name in self._settings["vectors"] and self._settings["bold_vectors"]:
            return r"\mathbf{" + tex + "}"
        return tex

    def _print_Symbol(self, expr, style="plain"):
        if expr.name in self._settings["vectors"]:
            return self._name(expr.name)
        return super()._print_Symbol(expr, style)

    def _print_IndexedBase(self, expr):
        return self._name(expr.name)

    def _print_Indexed(self, expr):
        return _subscript(self._name(expr.base.name), [self._print(i) for i in expr.indices])

    def _print_KroneckerDelta(self, expr, exp=None):
        # \delta_{ic}: the notation of the softmax Jacobian s_i(\delta_{ij} - s_j) in
        # lecture notes; compact inside products, and unlike an Iverson bracket
        # [i = c] it cannot be misread as a one-entry row vector next to a bmatrix.
        order = list(self._settings["indices"])
        args = sorted(expr.args, key=lambda a: order.index(a) if a in order else len(order))
        tex = _subscript(r"\delta", [self._print(a) for a in args], joined=True)
        return self._do_exponent(tex, exp)

    # Calculus: \frac{\partial L}{\partial z_i}, \frac{\partial}{\partial z_i} (...).
    def _print_Derivative(self, expr):
        order = sum(int(n) for _, n in expr.variable_count)
        top = r"\partial" if order == 1 else r"\partial^{" + str(order) + "}"
        bottom = " ".join(
            r"\partial " + self._print(v) + ("" if n == 1 else "^{" + self._print(n) + "}")
            for v, n in expr.variable_count
        )
        if _is_name(expr.expr):
            return r"\frac{" + top + " " + self._print(expr.expr) + "}{" + bottom + "}"
        body = self._print(expr.expr)
        if expr.expr.is_Add or expr.expr.could_extract_minus_sign():
            body = self._add_parens(body)
        return r"\frac{" + top + "}{" + bottom + "} " + body

    def _print_Sum(self, expr):
        head = ""
        for var, lower, upper in reversed(expr.limits):  # SymPy keeps the innermost first
            if self._settings["sum_range"] == (lower, upper):
                head += r"\sum_{" + self._print(var) + "} "
            else:
                head += (r"\sum_{" + self._print(var) + "=" + self._print(lower)
                         + "}^{" + self._print(upper) + "} ")
        body = self._print(expr.function)
        if expr.function.is_Add or expr.function.could_extract_minus_sign():
            body = self._add_parens(body)
        return head + body

    def _print_log(self, expr, exp=None):
        arg = expr.args[0]
        tex = self._print(arg)
        if not (_is_name(arg) or arg.is_Number):
            tex = self._add_parens(tex)
        if exp is None:
            return r"\log " + tex
        return self._add_parens(r"\log " + tex) + "^{" + exp + "}"

    def _print_Function(self, expr, exp=None):
        if not isinstance(expr, AppliedUndef):
            return super()._print_Function(expr, exp)
        tex = self._name(expr.func.__name__) + "(" + ", ".join(self._print(a) for a in expr.args) + ")"
        return self._do_exponent(tex, exp)

    def _print_Relational(self, expr):
        ops = {"==": "=", "!=": r"\neq", "<": "<", ">": ">", "<=": r"\leq", ">=": r"\geq"}
        return self._print(expr.lhs) + " " + ops[expr.rel_op] + " " + self._print(expr.rhs)

    def _print_And(self, expr):
        """``1 < c`` and ``c < k`` together, as a reader writes them: ``1 < c < k``."""
        links = {a.lhs: a.rhs for a in expr.args if isinstance(a, sympy.StrictLessThan)}
        heads = set(links) - set(links.values())
        if len(links) != len(expr.args) or len(heads) != 1:
            return super()._print_And(expr)
        chain = [heads.pop()]
        while chain[-1] in links and len(chain) <= len(links):
            chain.append(links[chain[-1]])
        if len(chain) != len(links) + 1:
            return super()._print_And(expr)
        return " < ".join(self._print(x) for x in chain)

    def row_vector(self, entries, gaps: bool = True) -> str:
        r"""A row vector shown by some of its entries, ``\cdots`` between them when ``gaps``.

        >>> s, c, k = sympy.IndexedBase("s"), sympy.Symbol("c"), sympy.Symbol("k")
        >>> NotesPrinter().row_vector([s[1], s[c] - 1, s[k]])
        '\\begin{bmatrix} s_1 & \\cdots & s_c - 1 & \\cdots & s_k \\end{bmatrix}'
        """
        sep = r" & \cdots & " if gaps else " & "
        return r"\begin{bmatrix} " + sep.join(self._print(e) for e in entries) + r" \end{bmatrix}"

    # Sums and products: as written when the author kept them unevaluated.
    def _print_Add(self, expr, order=None):
        terms = list(expr.args)
        if not _written_by_hand(expr):
            # SymPy's order, but a positive term first: 1 - s_c, s_i - \delta_{ic}.
            terms = self._as_ordered_terms(expr, order=order)
            terms = ([t for t in terms if not t.could_extract_minus_sign()]
                     + [t for t in terms if t.could_extract_minus_sign()])
        tex = ""
        for n, term in enumerate(terms):
            if n and term.could_extract_minus_sign():
                tex, term = tex + " - ", -term
            elif n:
                tex += " + "
            # a + b + c is read (a + b) + c: a leading sum needs no brackets, a later one does
            tex += self._add_parens(self._print(term)) if term.is_Add and n else self._print(term)
        return tex

    def _print_Mul(self, expr):
        if not isinstance(expr, sympy.Mul):
            return super()._print_Mul(expr)  # SymPy routes 1/x here as a Pow
        if _written_by_hand(expr):
            return self._hand_product(expr)
        sign = ""
        if expr.could_extract_minus_sign():
            sign, expr = "- ", -expr
        numer, denom = fraction(expr, exact=True)
        if denom == 1:
            return sign + self._factors(_ordered_factors(expr))
        return (sign + r"\frac{" + self._factors(_ordered_factors(numer), in_frac=True)
                + "}{" + self._factors(_ordered_factors(denom), in_frac=True) + "}")

    def _hand_product(self, expr) -> str:
        """A product as written: ``a/b * c/d`` is two fractions, ``-1/s_c * x`` one and a factor.

        Python reads ``a/b*c/d`` as ``((a/b)*c)/d``; flattened, each divisor closes a
        fraction over the factors written since the previous one, as a reader parses it.
        """
        flat, pending, out = _flatten_mul(expr), [], []
        for n, f in enumerate(flat):
            if f.is_Pow and f.exp.is_negative:
                if n and flat[n - 1].is_Pow and flat[n - 1].exp.is_negative:
                    continue  # a run of divisors is one denominator, handled below
                run = [1 / g for g in _run_of_divisors(flat, n)]
                out.append(r"\frac{" + (self._factors(pending, in_frac=True) if pending else "1")
                           + "}{" + self._factors(run, in_frac=True) + "}")
                pending = []
            else:
                pending.append(f)
        if pending:
            out.append(self._factors(pending, first=not out))
        return " ".join(out)

    def _factors(self, args, in_frac: bool = False, first: bool = True) -> str:
        """Print factors side by side, parenthesising only where a reader needs it."""
        if len(args) == 1 and in_frac:
            return self._print(args[0])
        if first and len(args) > 1 and args[0] == -1:
            return "- " + self._factors(args[1:])
        out = []
        for n, term in enumerate(args):
            tex = self._print(term)
            last = n == len(args) - 1
            # A log followed by another factor is bracketed: \log a y_c reads as log(a y_c).
            if (term.is_Add or ((n or not first) and term.could_extract_minus_sign())
                    or (not last and isinstance(term, (sympy.Sum, sympy.Derivative, sympy.log))
                        and not _is_name(term))):
                tex = self._add_parens(tex)
            # 2 3^{z} would read as 23^{z}: a number next to a factor printed with a digit first.
            if out and args[n - 1].is_Number and tex[:1].isdigit():
                out.append(r"\cdot")
            out.append(tex)
        return " ".join(out)


def _flatten_mul(expr) -> list:
    """The factors of a (possibly nested, unevaluated) product, in written order."""
    if not expr.is_Mul:
        return [expr]
    if not _written_by_hand(expr):  # SymPy's order puts 1/b before a; a reader writes a/b
        args = _ordered_factors(expr)
        return ([f for f in args if not (f.is_Pow and f.exp.is_negative)]
                + [f for f in args if f.is_Pow and f.exp.is_negative])
    return [f for a in expr.args for f in _flatten_mul(a)]


def _run_of_divisors(flat: list, n: int) -> list:
    run = []
    while n < len(flat) and flat[n].is_Pow and flat[n].exp.is_negative:
        run.append(flat[n])
        n += 1
    return run


def _subscript(base: str, indices: list[str], joined: bool = False) -> str:
    """``z_i`` for one short index, ``z_{i+1}`` / ``z_{i,j}`` (or ``\\delta_{ic}``) otherwise."""
    if len(indices) == 1 and re.fullmatch(r"[A-Za-z0-9]", indices[0]):
        return base + "_" + indices[0]
    short = all(re.fullmatch(r"[A-Za-z]", i) for i in indices)
    return base + "_{" + ("" if joined and short else ",").join(indices) + "}"


def _is_name(expr) -> bool:
    """Something a reader takes as one symbol: ``L``, ``s_c``, ``\\mathbf{z}``, ``L(s)``."""
    if isinstance(expr, sympy.Derivative):
        return _is_name(expr.expr)
    return isinstance(expr, (sympy.Symbol, sympy.Indexed, sympy.IndexedBase, AppliedUndef))


def _written_by_hand(expr) -> bool:
    """True for an Add/Mul built with evaluate=False, whose order the author chose."""
    return expr.func(*expr.args) != expr or any(a.func == expr.func for a in expr.args)


def _ordered_factors(expr) -> list:
    """Factors in the order lecture notes use: 2 s_c e^{z_c} \\sum_j e^{z_j} (1 - s_c)."""
    def rank(f) -> int:
        base = f.base if f.is_Pow else f
        if f.is_Number:
            return 0
        if _is_name(base) or isinstance(base, sympy.Derivative):
            return 1
        if isinstance(base, sympy.Sum):
            return 3
        if base.is_Add:
            return 4
        return 2
    args = list(expr.args) if expr.is_Mul else [expr]
    return sorted(args, key=lambda f: (rank(f), sympy.default_sort_key(f)))


def printer_for(derivation: Derivation | None = None) -> NotesPrinter:
    """The printer configured by a derivation's notation (SymPy-neutral without one)."""
    if derivation is None:
        return NotesPrinter()
    k = derivation.k if derivation.k is not None else derivation.symbols.get("k")
    return NotesPrinter({
        "vectors": tuple(derivation.vectors),
        "bold_vectors": derivation.notation.bold_vectors,
        "softmax": tuple(_softmaxes(derivation)),
        "softmax_name": derivation.notation.softmax_name,
        "indices": tuple(derivation.indices),
        "sum_range": None if k is None else (sympy.Integer(1), sympy.Integer(k) if isinstance(k, int) else k),
    })


def _softmaxes(derivation: Derivation):
    """Pairs (defined name, vector) for each definition of the form e^{v_p} / sum_j e^{v_j}.

    The denominator may be a ``Sum`` or, for a concrete k, the k exponentials written out.
    """
    for d in derivation.definitions:
        if len(d.params) != 1:
            continue
        numer, denom = fraction(d.body, exact=True)
        if not (isinstance(numer, sympy.exp) and isinstance(numer.args[0], sympy.Indexed)):
            continue
        vec = numer.args[0]
        if vec.indices == d.params and _sums_exp_of(denom, vec.base, derivation.symbols.get("k")):
            yield d.name, vec.base.name


def _sums_exp_of(denom, base, k) -> bool:
    """True when ``denom`` is sum_j e^{base_j} over all classes: a Sum, or k written-out terms."""
    if isinstance(denom, sympy.Sum):
        inner = denom.function.args[0] if isinstance(denom.function, sympy.exp) else None
        full = len(denom.limits) == 1 and denom.limits[0][1:] == (1, k)  # over every class
        return (full and isinstance(inner, sympy.Indexed) and inner.base == base
                and inner.indices == (denom.limits[0][0],))
    if not (isinstance(k, (int, sympy.Integer)) and isinstance(denom, sympy.Add)):
        return False
    k = int(k)
    terms, stack = [], [denom]
    while stack:  # parsed sums are nested two-term Adds: a + b + c is (a + b) + c
        e = stack.pop()
        stack.extend(e.args) if isinstance(e, sympy.Add) else terms.append(e)
    return sorted(terms, key=sympy.default_sort_key) == sorted(
        (sympy.exp(base[n]) for n in range(1, k + 1)), key=sympy.default_sort_key)


def latex_expr(expr, derivation: Derivation | None = None) -> str:
    r"""One expression in lecture-note notation, using ``derivation``'s notation if given.

    >>> s, c = sympy.IndexedBase("s"), sympy.Symbol("c")
    >>> latex_expr(-sympy.log(s[c]))
    '- \\log s_c'
    """
    return printer_for(derivation).doprint(expr)


# --- text -------------------------------------------------------------------

_TEX_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}
# Inside \text{} MathJax (without its textmacros extension) knows only \$, \{ and \};
# "\%" or "\textasciitilde{}" would show as written. Other characters are literal there,
# so the few that need a macro leave the text for math mode ("}\%\text{"), and the
# rest stay as they are ("_", "^", "<", ">", "|"). "{%" can still never appear.
_MATHJAX_TEXT_ESCAPES = {
    "{": r"\{", "}": r"\}", "$": r"\$",
    **{ch: "}" + macro + r"\text{" for ch, macro in
       {"%": r"\%", "#": r"\#", "&": r"\&", "~": r"\sim", "\\": r"\backslash"}.items()},
}
# Markdown text outside math: backslash escapes for kramdown, and braces/percent as
# HTML entities so that no "{{" or "{%" can ever reach Liquid.
_MD_ESCAPES = {
    **{ch: "\\" + ch for ch in "\\`*_[]#<>|$"},
    "{": "&#123;", "}": "&#125;", "%": "&#37;",
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
    return "".join(table.get(ch, ch) for ch in " ".join(text.split()))


# --- prose: text with math between backticks ----------------------------------

def _prose(parts: tuple, plain: str) -> tuple:
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


def _prose_inline(parts: tuple, tex, fmt: str) -> str:
    """Prose for a paragraph or heading: text escaped for ``fmt``, math as inline formulas.

    kramdown reads ``$$...$$`` inside a paragraph or heading as inline math.
    """
    dollar = "$" if fmt == "tex" else "$$"
    return "".join(_escape_keeping_ends(p, fmt) if n % 2 == 0 else dollar + tex(p) + dollar
                   for n, p in enumerate(parts)).strip()


def _prose_in_math(parts: tuple, tex, text_fmt: str, command: str = r"\text") -> str:
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


def _wrap_prose(parts: tuple, tex, width: int) -> list[tuple]:
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


# --- assembly ----------------------------------------------------------------

_UNVERIFIED = r"\textbf{(unverified)}"
_SMALL_K = r"\textbf{(only k = 2..6)}"  # proved at every instance k = 2..6, not for every k


def _step_verdicts(report: Report) -> dict[tuple[str, int], StepResult]:
    return {(r.chain, r.index): r for r in report.steps}


def _unverified(report: Report, all_k: bool = False):
    """Each step of the derivation that did not pass, with its verdict (None if never checked).

    ``all_k``: a step proved only for k = 2..6 does not pass either.
    """
    verdicts = _step_verdicts(report)
    for chain in report.derivation.chains:
        for n, _ in enumerate(chain.steps, start=1):
            r = verdicts.get((chain.name, n))
            if r is None or not r.passes(all_k=all_k):
                yield chain, n, r


def _describe(derivation: Derivation, chain: Chain, n: int, r: StepResult | None) -> str:
    reason = chain.steps[n - 1].reason
    verdict = "not checked" if r is None else r.evidence.value
    if r is not None and r.detail:
        verdict += f" ({r.detail})"
    return f"{derivation.path}, chain {chain.name!r}, step {n} ({reason!r}): {verdict}"


def _require_verified(report: Report, all_k: bool = False) -> None:
    for chain, n, r in _unverified(report, all_k):
        message = (_describe(report.derivation, chain, n, r) + "; only verified steps are typeset"
                   " (--allow-unverified, or allow_unverified=True, typesets it marked)")
        raise UnverifiedStepError(message, r)


REASON_WIDTH = 36  # characters per line of a reason; longer reasons are wrapped


def _chain_rows(chain: Chain, tex, unverified: set[int], fmt: str = "tex",
                derivation: Derivation | None = None, small_k: frozenset[int] = frozenset()) -> list[str]:
    """The rows of one align* block: ``lhs &= rhs && \\text{reason}``.

    Math mode cannot wrap text (and MathJax has no ``\\parbox``), so a long reason
    is wrapped here at word boundaries into a one-column array of ``\\text`` lines,
    top-aligned with its step in LaTeX. A chain over a vector index (``vector = "i"``)
    ends with one more row, the whole vector (needs ``derivation`` for its assumptions).
    """
    rows = []
    for n, step in enumerate(chain.steps, start=1):
        lhs = tex(chain.start) + " " if n == 1 else ""
        mark = _UNVERIFIED if n in unverified else _SMALL_K if n in small_k else None
        note = _note(_prose(step.reason_parts, step.reason), tex, fmt, mark)
        rows.append(lhs + "&= " + tex(step.expr) + note)
    if chain.vector_index is not None and derivation is not None:
        lhs, entries, gaps, reason = _vector_line(chain, derivation)
        row = printer_for(derivation).row_vector(entries, gaps)
        mark = _UNVERIFIED if unverified else _SMALL_K if small_k else None
        rows.append(tex(lhs) + " &= " + row + _note(reason, tex, fmt, mark))
    return rows


def _note(parts: tuple, tex, fmt: str, mark: str | None) -> str:
    """A reason beside its step, ``&& \\text{...}``, wrapped and marked as needed ("" if none)."""
    lines = _wrap_prose(parts, tex, REASON_WIDTH)
    notes = [_prose_in_math(line, tex, "tex" if fmt == "tex" else "mathjax") for line in lines]
    if len(notes) == 1 and any(tall in notes[0] for tall in (r"\frac", r"\sum")):
        notes[0] = r"\textstyle " + notes[0]  # a reason's fraction is set small, as in a line of text
    if mark:
        notes = notes[:-1] + [(notes[-1] + r" \quad " if notes else "") + mark]
    if len(notes) > 1:
        head = r"\begin{array}[t]{@{}l@{}} " if fmt == "tex" else r"\begin{array}{l} "
        notes = [head + r" \\ ".join(notes) + r" \end{array}"]
    return " && " + notes[0] if notes else ""


def _vector_line(chain: Chain, d: Derivation):
    """The whole vector a chain over ``vector = "i"`` proves, computed from its last expression.

    Each one-hot vector is written as ``KroneckerDelta(a, c)`` (as the checker reads it);
    the hot index ``c`` is the one-hot's, else the index that a ``KroneckerDelta(i, c)``
    singles out. Then ``i`` is put to 1, to ``c`` (if any) and to ``k``, and a delta between
    two of those is 0 (they are distinct for 1 < c < k) and 1 between equals.
    Returns (left side, entries, whether entries are left out between them, reason parts).
    """
    index, expr = chain.vector_index, chain.steps[-1].expr
    hot = None
    for a in d.assumptions:
        if a.kind == "onehot" and a.vector in d.symbols:
            base = d.symbols[a.vector]
            expr = expr.replace(lambda x, base=base: isinstance(x, sympy.Indexed) and x.base == base,
                                lambda x, c=a.index: sympy.KroneckerDelta(x.indices[0], c))
            if hot is None and a.index != index:
                hot = a.index
    if hot is None:  # no one-hot target: the class a delta singles out, if there is one
        singled = {x for delta in expr.atoms(sympy.KroneckerDelta) if index in delta.args
                   for x in delta.args if x != index and x in d.indices}
        hot = singled.pop() if len(singled) == 1 else None
    k = d.symbols["k"]
    places = [sympy.Integer(1)] + ([hot] if hot is not None else []) + [k]
    distinct = set(places)

    def entry(place):
        e = expr.xreplace({index: place})  # rebuilt with evaluation: KroneckerDelta(c, c) is 1
        return e.replace(lambda x: isinstance(x, sympy.KroneckerDelta) and set(x.args) <= distinct
                         and x.args[0] != x.args[1], lambda x: sympy.Integer(0))

    entries = [entry(p) for p in places]
    gaps = not (d.k is not None and d.k == len(places))
    first = sympy.Eq(index, places[0], evaluate=False)
    if hot is None:
        reason = ("entries ", first, " and ", k, "")
    else:
        between = sympy.And(sympy.Lt(1, hot, evaluate=False), sympy.Lt(hot, k, evaluate=False))
        reason = ("entries ", first, ", ", hot, ", ", k, ", for ", between, "")  # i = 1, c, k, for 1 < c < k
    return whole_vector(chain.start, index), entries, gaps, reason


def _align(rows: list[str], env: str = "align*") -> str:
    body = " \\\\\n".join("    " + row for row in rows)
    return "\\begin{" + env + "}\n" + body + "\n\\end{" + env + "}"


def _sections(report: Report, fmt: str, all_k: bool = False) -> list[str]:
    """The document as a list of paragraphs: headings, sentences, display blocks."""
    d = report.derivation
    printer = printer_for(d)
    tex = printer.doprint
    math = (lambda e: "$" + tex(e) + "$") if fmt == "tex" else (lambda e: "$$" + tex(e) + "$$")
    heading = (lambda text: r"\subsection*{" + escape_text(text) + "}") if fmt == "tex" else (
        lambda text: "### " + escape_text(text, "md"))
    display = (lambda block: block) if fmt == "tex" else (lambda block: "$$\n" + block + "\n$$")
    words = (lambda text: escape_text(text, fmt))

    out = []
    defs = [_defined(dn, d) for dn in d.definitions]
    if defs:
        out.append(heading("Definitions"))
        out.append(display(_align([tex(lhs) + " &= " + tex(dn.body) for dn, lhs in zip(d.definitions, defs)])))
    assumed = [_assumption(a, tex, math, words) for a in d.assumptions]
    if assumed:
        out.append(words("Assume") + " " + (words(",") + " " + words("and") + " ").join(assumed) + ".")
    bad = {}
    for chain, n, r in _unverified(report, all_k):
        bad.setdefault(chain.name, {})[n] = r
    small_k = {}  # steps shown only at k = 2..6: typeset, but never as if proved for every k
    for r in report.steps:
        if r.evidence is Evidence.PROVED_SMALL_K and not all_k:  # with all_k: unverified
            small_k.setdefault(r.chain, set()).add(r.index)
    for chain in d.chains:
        if chain.title.strip():
            title = _prose_inline(_prose(chain.title_parts, chain.title), tex, fmt)
            out.append(r"\subsection*{" + title + "}" if fmt == "tex" else "### " + title)
        if chain.case is not None:
            out.append(_case_label(math(chain.case.condition), fmt))
        limited = frozenset(small_k.get(chain.name, ()))
        out.append(display(_align(_chain_rows(chain, tex, set(bad.get(chain.name, {})), fmt, d, limited))))
        if limited:
            steps = ", ".join(str(n) for n in sorted(limited))
            out.append(words(f"Step{'s' if len(limited) > 1 else ''} {steps} of this chain "
                             f"{'are' if len(limited) > 1 else 'is'} proved at every instance k = 2..6, "
                             "not for every k."))
        for n, r in sorted(bad.get(chain.name, {}).items()):
            verdict = "it was not checked" if r is None else "its evidence: " + r.evidence.value
            step = chain.steps[n - 1]
            note = (words(f"Step {n} (") + _prose_inline(_prose(step.reason_parts, step.reason), tex, fmt)
                    + words(f") is not verified; {verdict}."))
            out.append((r"\noindent\textbf{Unverified.} " if fmt == "tex" else "**Unverified.** ") + note)
    return out


def _case_label(condition: str, fmt: str) -> str:
    return (r"\noindent\textit{Case " + condition + ".}") if fmt == "tex" else "*Case " + condition + ".*"


def _defined(dn, d: Derivation):
    """The left-hand side of a definition: ``s_i`` for ``s[i]``, ``L`` for ``L``."""
    if dn.params:
        return sympy.IndexedBase(dn.name)[dn.params]
    return sympy.Symbol(dn.name)


def _assumption(a, tex, math, words) -> str:
    if a.kind == "onehot" and a.vector is not None and a.index is not None:
        return math(sympy.Symbol(a.vector)) + " " + words("is one-hot at") + " " + math(a.index)
    if a.kind == "simplex" and a.vector is not None:
        return math(sympy.Symbol(a.vector)) + " " + words("sums to") + " " + math(sympy.Integer(1))
    if a.kind == "relation" and a.relation is not None:
        return math(a.relation)
    return words(a.text)


def _guard(text: str) -> str:
    """Fail loudly rather than hand Liquid a template tag."""
    for tag in ("{{", "{%"):
        if tag in text:
            at = text.index(tag)
            raise AssertionError(f"symce.latex produced {tag!r} near {text[max(0, at - 30):at + 30]!r}")
    return text


_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage{amsmath}
\usepackage{amssymb}
\setlength{\textwidth}{6.5in}
\setlength{\oddsidemargin}{0in}
\setlength{\evensidemargin}{0in}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5\baselineskip}
\begin{document}
"""


def check_options(format: str, standalone: bool = False) -> None:
    """Refuse an unknown format, or a standalone document in a format other than tex.

    >>> check_options("md", standalone=True)
    Traceback (most recent call last):
    ...
    symce.errors.UsageError: --standalone makes a LaTeX document; it cannot be combined with format 'md'
    """
    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; expected one of: {', '.join(FORMATS)}")
    if standalone and format != "tex":
        raise UsageError(f"--standalone makes a LaTeX document; it cannot be combined with format {format!r}")


def render(report: Report, *, format: str = "tex", standalone: bool = False,
           allow_unverified: bool = False, all_k: bool = False) -> str:
    """Typeset a checked derivation; the engine behind ``render_latex``/``render_document``/``render_markdown``.

    Raises ``UnverifiedStepError`` naming the first step that did not pass, unless
    ``allow_unverified``, which typesets such steps marked ``(unverified)``. Steps
    proved only for k = 2..6 pass, marked ``(only k = 2..6)``; with ``all_k`` they
    count as unverified.
    """
    check_options(format, standalone)
    if not allow_unverified:
        _require_verified(report, all_k)
    d = report.derivation
    if format == "md":
        title = ["## " + escape_text(d.title, "md")] if d.title.strip() else []
        return _guard("\n\n".join(title + _sections(report, "md", all_k)) + "\n")
    body = "\n\n".join(_sections(report, "tex", all_k)) + "\n"
    if not standalone:
        return _guard(body)
    title = (r"\section*{" + escape_text(d.title) + "}\n\n") if d.title.strip() else ""
    return _guard(_PREAMBLE + "\n" + title + body + "\n\\end{document}\n")


def render_latex(report: Report, *, allow_unverified: bool = False) -> str:
    """LaTeX fragments to paste into notes: a heading and an ``align*`` block per chain."""
    return render(report, format="tex", allow_unverified=allow_unverified)


def render_document(report: Report, *, allow_unverified: bool = False) -> str:
    """A complete LaTeX document that compiles with pdflatex using amsmath and amssymb only."""
    return render(report, format="tex", standalone=True, allow_unverified=allow_unverified)


def render_markdown(report: Report, *, allow_unverified: bool = False) -> str:
    """Markdown for Jekyll/kramdown with MathJax: ``$$`` blocks set off by blank lines."""
    return render(report, format="md", allow_unverified=allow_unverified)


# --- Jupyter ----------------------------------------------------------------

def repr_step(step: Step) -> str:
    """``Step._repr_latex_``: ``= expr`` with its reason, as one display."""
    reason = _prose_in_math(_prose(step.reason_parts, step.reason), latex_expr, "tex")
    return "$\\displaystyle = " + latex_expr(step.expr) + (r" \qquad " + reason if reason else "") + "$"


def repr_chain(chain: Chain, derivation: Derivation | None = None) -> str:
    """``Chain._repr_latex_``: the chain as one ``aligned`` display (not verified here)."""
    rows = _chain_rows(chain, printer_for(derivation).doprint, set(), derivation=derivation)
    return "$\\displaystyle " + _align(rows, "aligned") + "$"


def repr_derivation(derivation: Derivation) -> str:
    """``Derivation._repr_latex_``: every chain, titled, in one ``aligned`` display."""
    tex = printer_for(derivation).doprint
    rows = []
    for chain in derivation.chains:
        label = chain.title.strip() and "&" + _prose_in_math(
            _prose(chain.title_parts, chain.title), tex, "tex", command=r"\textbf")
        if chain.case is not None:
            label = (label + r" \quad " if label else "&") + r"\text{Case } " + tex(chain.case.condition)
        rows += ([label] if label else []) + _chain_rows(chain, tex, set(), derivation=derivation)
    return "$\\displaystyle " + _align(rows, "aligned") + "$"
