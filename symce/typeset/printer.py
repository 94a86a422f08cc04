r"""The printer: one ``LatexPrinter`` subclass that writes what a lecturer writes by hand.

SymPy's own printer is written for unambiguity, not for readers: it prints
``{z}_{i}``, ``e^{{z}_{c}}``, ``\log{\left({s}_{c} \right)}`` and ``\sum_{j=1}^{k}``.
``NotesPrinter`` prints ``z_i``, ``e^{z_c}``, ``\log s_c``, ``\sum_{j}``; every
construct is one ``_print_<Class>`` method. All math text of symce's pages comes
from here; ``prose`` typesets the words around it and ``document`` arranges both.

>>> import sympy
>>> z, i = sympy.IndexedBase("z"), sympy.Symbol("i", integer=True)
>>> latex_expr(sympy.exp(z[i]))
'e^{z_i}'
"""

from __future__ import annotations

import re

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.conventions import split_super_sub
from sympy.printing.latex import LatexPrinter, greek_letters_set, other_symbols, tex_greek_dictionary
from sympy.simplify import fraction

from ..model.derivation import Derivation

__all__ = ["NotesPrinter", "latex_expr", "printer_for"]

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
        "bold_greek": r"\boldsymbol",  # MathJax's base package has no \boldsymbol: \mathbf there
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
            # \mathbf leaves Greek letters upright and thin: \boldsymbol{\delta}
            return (self._settings["bold_greek"] + "{" if tex.startswith("\\") else r"\mathbf{") + tex + "}"
        return tex

    def _split_super_sub(self, name: str):
        # As declared: SymPy reads a name's ending as a modifier (xdot is \dot{x}, xscr is
        # \mathscr{x}, which needs a package --standalone does not load); only a whole
        # Greek or Hebrew letter name (alpha, ell) becomes its letter, as a reader expects.
        if name is None or "{" in name:
            return (name, [], [])
        base, supers, subs = split_super_sub(name)
        return (_letter(base), [_letter(x) for x in supers], [_letter(x) for x in subs])

    def _print_Symbol(self, expr, style="plain"):
        if expr.name in self._settings["vectors"]:
            return self._name(expr.name)
        return super()._print_Symbol(expr, style)

    def _print_IndexedBase(self, expr):
        return self._name(expr.name)

    def _print_Indexed(self, expr):
        # a matrix entry W_{ij}: two one-letter indices side by side, as in lecture notes
        return _subscript(self._name(expr.base.name), [self._print(i) for i in expr.indices], joined=True)

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

    # Whole arrays (the last row of a chain with ``whole``): \boldsymbol{\delta} \mathbf{x}^\top.
    def _print_MatrixSymbol(self, expr):
        return self._name(expr.name)

    def _print_Transpose(self, expr):
        inner = self._print(expr.arg)
        if not isinstance(expr.arg, sympy.MatrixSymbol):
            inner = self._add_parens(inner)
        return inner + r"^\top"

    def _print_DiagMatrix(self, expr):
        return r"\operatorname{diag}(" + self._print(expr.args[0]) + ")"

    def _print_MatAdd(self, expr):
        tex = ""
        for n, term in enumerate(expr.args):
            negative = isinstance(term, sympy.MatMul) and term.args[0] == -1
            shown = self._print(sympy.MatMul(*term.args[1:], evaluate=False) if negative else term)
            tex += (" - " if negative else " + " if n else "") + shown
        return tex.lstrip(" ")

    def _print_MatMul(self, expr):
        parts = []
        for a in expr.args:
            tex = self._print(a)
            parts.append(self._add_parens(tex) if isinstance(a, sympy.MatAdd) else tex)
        return " ".join(parts)

    def _print_Relational(self, expr):
        ops = {"==": "=", "!=": r"\neq", "<": "<", ">": ">", "<=": r"\leq", ">=": r"\geq"}
        return self._print(expr.lhs) + " " + ops[expr.rel_op] + " " + self._print(expr.rhs)

    def _print_And(self, expr):
        """``1 < c`` and ``c < k`` together, as a reader writes them: ``1 < c < k``."""
        links = {a.lhs: a.rhs for a in expr.args if isinstance(a, (sympy.StrictLessThan, sympy.LessThan))}
        heads = set(links) - set(links.values())
        if len(links) != len(expr.args) or len(heads) != 1:
            return super()._print_And(expr)
        ops = {a.lhs: ("<" if isinstance(a, sympy.StrictLessThan) else r"\leq") for a in expr.args}
        chain = [heads.pop()]
        while chain[-1] in links and len(chain) <= len(links):
            chain.append(links[chain[-1]])
        if len(chain) != len(links) + 1:
            return super()._print_And(expr)
        return self._print(chain[0]) + "".join(f" {ops[a]} " + self._print(b) for a, b in zip(chain, chain[1:]))

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


def _letter(word: str) -> str:
    r"""A piece of a declared name: a Greek or Hebrew letter's name as the letter, else as written.

    >>> [_letter(w) for w in ("alpha", "Gamma", "ell", "xscr", "xdot", "L")]
    ['\\alpha', '\\Gamma', '\\ell', 'xscr', 'xdot', 'L']
    """
    if word in tex_greek_dictionary:
        return tex_greek_dictionary[word]
    if word in greek_letters_set:
        return "\\" + word
    if word in other_symbols:
        return "\\" + word
    return word


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


def printer_for(derivation: Derivation | None = None, markdown: bool = False) -> NotesPrinter:
    """The printer configured by a derivation's notation (SymPy-neutral without one).

    ``markdown``: for MathJax with its base and ams packages only (bold Greek by mathbf).
    """
    if derivation is None:
        return NotesPrinter()
    k = derivation.k if derivation.k is not None else derivation.symbols.get("k")
    return NotesPrinter({
        "vectors": tuple(derivation.vectors),
        "bold_vectors": derivation.notation.bold_vectors,
        "softmax": tuple(_softmaxes(derivation)),
        "softmax_name": derivation.notation.softmax_name,
        "indices": tuple(derivation.indices),
        "bold_greek": r"\mathbf" if markdown else r"\boldsymbol",
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

