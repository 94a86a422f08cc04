"""The notation a derivation asks for: its printer configured (vectors, softmax names, sums).

>>> import sympy
>>> z, i = sympy.IndexedBase("z"), sympy.Symbol("i", integer=True)
>>> latex_expr(sympy.exp(z[i]))
'e^{z_i}'
"""

from __future__ import annotations

import sympy
from sympy.simplify import fraction

from ..model.derivation import Derivation
from .printer import NotesPrinter

__all__ = ["latex_expr", "printer_for"]


def printer_for(derivation: Derivation | None = None, markdown: bool = False, **settings) -> NotesPrinter:
    """The printer configured by a derivation's notation (SymPy-neutral without one).

    ``markdown``: for MathJax with its base and ams packages only (bold Greek by mathbf).
    ``settings``: ``kept_order=True`` for what the author wrote, ``fractions="inline"``
    for math in a line of text.
    """
    if derivation is None:
        return NotesPrinter(settings)
    k = derivation.k if derivation.k is not None else derivation.symbols.get("k")
    return NotesPrinter({
        "vectors": tuple(derivation.vectors),
        "bold_vectors": derivation.notation.bold_vectors,
        "softmax": tuple(_softmaxes(derivation)),
        "softmax_name": derivation.notation.softmax_name,
        "indices": tuple(derivation.indices),
        "bold_greek": r"\mathbf" if markdown else r"\boldsymbol",
        "sum_range": None if k is None else (sympy.Integer(1), sympy.Integer(k) if isinstance(k, int) else k),
        **settings,
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

