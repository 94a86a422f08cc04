"""The data model of a derivation: what a parsed file *is*, before anyone checks it.

A derivation file is read (``symce.read``) into one frozen ``Derivation``; the
verifier (``symce.verify``) and the renderer (``symce.render``) only read it. Expressions
are SymPy objects; defined names (``s[i]``, ``L``) stay folded in them so that a
printer shows ``s_i`` where the author wrote ``s[i]``. The verifier unfolds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy

from . import renderer


def _typeset(function: str, obj) -> str | None:
    """LaTeX for Jupyter from the renderer that ``symce/__init__`` installed (None: plain repr)."""
    module = renderer()
    return None if module is None else getattr(module, function)(obj)


@dataclass(frozen=True)
class Definition:
    """A name the file defines, e.g. ``s[i] = exp(z[i]) / Sum(exp(z[j]), (j, 1, k))``."""

    name: str  # the defined name as written: "s" or "L"
    params: tuple[sympy.Symbol, ...]  # index parameters, () for a scalar such as L
    body: sympy.Expr  # right-hand side, in terms of params and declared symbols
    source: str  # the text it was parsed from, for messages


@dataclass(frozen=True)
class Dim:
    """A named dimension, e.g. ``n`` samples or ``d`` features; indices range over 1..size."""

    name: str  # as declared: "n"
    symbol: sympy.Basic  # the positive integer Symbol, or the Integer of a concrete size
    size: int | None  # the concrete size, or None when symbolic


@dataclass(frozen=True)
class FunctionDef:
    """A function the file defines with arguments, e.g. ``sigma(x) = 1/(1 + exp(-x))``."""

    name: str  # "sigma"
    params: tuple[sympy.Symbol, ...]  # its parameters, real symbols local to the body
    body: sympy.Expr  # right-hand side in terms of params (and declared names)
    source: str  # the text it was parsed from, for messages


@dataclass(frozen=True)
class AbstractFunction:
    """A declared name with no definition that depends on ``args``: ``L`` of ``u``.

    Its derivatives with respect to entries of its arguments are opaque quantities
    (``dL/du_i``); with respect to anything else the multivariable chain rule runs
    through the (defined) arguments.
    """

    name: str  # "L"
    args: tuple[str, ...]  # declared or defined scalars, vectors or matrices it depends on


@dataclass(frozen=True)
class Assumption:
    """A fact the file assumes about its symbols, e.g. y is one-hot at c."""

    kind: str  # "onehot", "simplex", "relation", "interval" or "member"
    text: str  # the text as written in the file, for reports
    vector: str | None = None  # the vector it speaks of ("y"), if any
    index: sympy.Expr | None = None  # the hot index for "onehot" (c)
    relation: sympy.Basic | None = None  # the SymPy relation for "relation"
    target: sympy.Basic | None = None  # "interval"/"member": the scalar or entry (y[i]) it bounds
    low: tuple[sympy.Basic, bool] | None = None  # "interval": (bound, strict) or None if unbounded
    high: tuple[sympy.Basic, bool] | None = None  # "interval": (bound, strict) or None if unbounded
    members: tuple[sympy.Basic, ...] = ()  # "member": the values it may take (y in {0, 1})


@dataclass(frozen=True)
class Case:
    """A case split, e.g. ``i = c``; a chain checked under a case may use it."""

    name: str  # short key used by chains: "i_eq_c"
    label: str  # what a reader sees: "i = c"
    condition: sympy.Basic  # Eq(i, c), Ne(i, c), ...


@dataclass(frozen=True)
class Step:
    """One link of a chain: the previous expression equals ``expr`` because ``reason``."""

    expr: sympy.Expr  # the right-hand side after this step (definitions folded)
    reason: str  # why it equals the previous one, in the author's words
    source: str  # the expression text as written in the file
    line: int | None = None  # line in the file where the step's text starts, if known
    # the reason as text and math alternating ("every ", y[j], " vanishes"); () = plain text
    reason_parts: tuple[str | sympy.Basic, ...] = ()
    # a whole-matrix (or whole-vector) row: (left side, right side) as matrix expressions;
    # ``expr`` is then their entry at the chain's indices, checked like any step
    whole: tuple[sympy.Basic, sympy.Basic] | None = None
    # an entry of a vector row written with a factor in front: the line the factor is on,
    # blamed instead of the entry's own line when every entry of the row fails
    factor_line: int | None = None

    def _repr_latex_(self) -> str | None:
        """Jupyter display: ``= expr`` and its reason (by ``symce.typeset``)."""
        return _typeset("repr_step", self)


@dataclass(frozen=True)
class Chain:
    """A chain of equalities: ``start = steps[0].expr = steps[1].expr = ...``."""

    name: str  # the chain's key in the file
    title: str  # heading shown to readers; may be ""
    start: sympy.Expr  # the first expression of the chain
    start_source: str  # its text as written
    steps: tuple[Step, ...]  # each equal to the one before
    case: Case | None = None  # the case the chain is checked under, if any
    title_parts: tuple[str | sympy.Basic, ...] = ()  # the title as text and math; () = plain text
    # ``vector = "i"``: every expression is entry i of a vector over i = 1..k; printers
    # add the whole vector after the chain. None for an ordinary chain.
    vector_index: sympy.Symbol | None = None

    def _repr_latex_(self) -> str | None:
        """Jupyter display: the chain as aligned equalities (by ``symce.typeset``)."""
        return _typeset("repr_chain", self)


def free_indices(expr: sympy.Basic) -> set[sympy.Symbol]:
    """The symbols ``expr`` depends on as written, counting a derivative's variables.

    SymPy drops them: ``Derivative(L, z[i]).free_symbols`` is ``{L}``, yet the
    expression is about entry i.

    >>> z, i = sympy.IndexedBase("z"), sympy.Symbol("i")
    >>> sorted(free_indices(sympy.Derivative(sympy.Symbol("L"), z[i])), key=str)
    [L, i]
    """
    if isinstance(expr, sympy.Derivative):
        out = free_indices(expr.expr)
        for var, _ in expr.variable_count:
            out |= free_indices(var)
        return out
    if isinstance(expr, sympy.Sum):
        out = free_indices(expr.function)
        for var, *bounds in expr.limits:
            out.discard(var)
            for b in bounds:
                out |= free_indices(b)
        return out
    if isinstance(expr, sympy.Indexed):
        return set().union(*(free_indices(x) for x in expr.indices))
    if not expr.args:
        return set(expr.free_symbols)
    return set().union(*(free_indices(a) for a in expr.args))


def whole_vector(expr: sympy.Basic, index: sympy.Symbol) -> sympy.Basic:
    """``expr`` with every entry ``v[index]`` read as the whole vector ``v`` (a plain symbol).

    >>> z, i = sympy.IndexedBase("z"), sympy.Symbol("i")
    >>> whole_vector(sympy.Derivative(sympy.Symbol("L"), z[i]), i)
    Derivative(L, z)
    """
    return expr.replace(lambda x: isinstance(x, sympy.Indexed) and x.indices == (index,),
                        lambda x: sympy.Symbol(x.base.name))


@dataclass(frozen=True)
class Notation:
    """Typesetting choices the file makes; the printers read these, the verifier ignores them."""

    bold_vectors: bool = True  # print vector names (z, s, y) in bold
    softmax_name: str = "s"  # "s" prints s_i; "softmax" prints \operatorname{softmax}(z)_i


@dataclass(frozen=True)
class ExportSpec:
    """A file's ``[export]`` table: which proved chains ``symce export FILE`` prints as code."""

    name: str  # the loss's name, for the module's docstring
    inputs: tuple[str, ...]  # the functions' arguments, in order: declared vectors and scalars
    loss: str  # the chain whose start is the loss
    gradient: str  # the chain whose last step is the proved gradient (its start: Derivative(loss, v[i]))
    stable: str | None = None  # the chain whose last step is the loss's stable form, if any


@dataclass(frozen=True)
class Derivation:
    """A whole derivation file, parsed and ready to be verified or rendered."""

    path: str  # where it was read from, for messages ("<string>" if none)
    title: str  # the file's title
    k: int | None  # the class count when concrete; None when k is symbolic (or absent)
    symbols: dict[str, sympy.Basic] = field(default_factory=dict)  # declared name -> SymPy object
    vectors: tuple[str, ...] = ()  # names declared as vectors of size k (z, y, s)
    indices: tuple[sympy.Symbol, ...] = ()  # index symbols, each ranging over 1..k
    definitions: tuple[Definition, ...] = ()  # in file order; later ones may use earlier ones
    assumptions: tuple[Assumption, ...] = ()  # in force for every chain
    cases: tuple[Case, ...] = ()  # available case splits
    chains: tuple[Chain, ...] = ()  # in file order
    notation: Notation = Notation()  # printing choices
    export: ExportSpec | None = None  # the [export] table, if the file has one
    # ``dims`` files (and scalar problems): the named dimensions; () for a file in the
    # ``k = ...`` form, whose indices all range over k
    dims: tuple[Dim, ...] = ()
    uses_dims: bool = False  # True for a file with [symbols].dims or with no dimension at all
    ranges: dict[sympy.Symbol, sympy.Basic] = field(default_factory=dict)  # index -> its dim's symbol
    shapes: dict[str, tuple[sympy.Basic, ...]] = field(default_factory=dict)  # array -> dims per index
    functions: tuple[FunctionDef, ...] = ()  # defined functions with arguments
    abstract: tuple[AbstractFunction, ...] = ()  # declared functions without definition
    k_min: int = 1  # the smallest k a symbolic k claims (symbols.k = { symbolic = true, min = 2 })
    # what a reader of notes inferred, one line each (a case read from prose, entries checked)
    notes: tuple[str, ...] = ()

    def _repr_latex_(self) -> str | None:
        """Jupyter display: every chain, in the file's notation (by ``symce.typeset``)."""
        return _typeset("repr_derivation", self)
