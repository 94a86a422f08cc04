"""Whole-matrix rows: ``whole = "delta @ x.T"`` ends a chain about entry (a, b) with the matrix.

A chain about one entry (``start = "Derivative(L, W[a, b])"``, ``entry = ["a", "b"]``)
may end with the whole array in matrix notation. The form is read here into two
things: its entry at the chain's indices, a scalar expression that the checker
proves equal to the chain's last expression like any other step (so the matrix
is checked entry by entry, never just printed), and a matrix expression for the
printer (``\\boldsymbol{\\delta}\\mathbf{x}^\\top``).

The form language: names of vectors (columns) and matrices, ``v.T`` (transpose),
``A @ B`` (matrix product), ``diag(v)``, ``+``, ``-``, and products with or
divisions by scalar expressions.

>>> from symce.read.toml import loads_derivation
>>> d = loads_derivation('''
... title = "t"
... [symbols]
... dims = { n = "symbolic", d = "symbolic" }
... indices = { a = "n", b = "d" }
... vectors = { x = "real[d]", g = "real[n]" }
... [[chains]]
... name = "outer"
... entry = ["a", "b"]
... whole = "g @ x.T"
... start = "g[a] * x[b]"
... steps = [{ expr = "x[b] * g[a]", reason = "r" }]
... ''')
>>> d.chains[0].steps[-1].expr
g[a]*x[b]
"""

from __future__ import annotations

import ast

import sympy
from sympy.matrices.expressions.diagonal import DiagMatrix

from ..model.derivation import Step
from .expr import MAX_EXPRESSION_CHARS, MAX_NODES, quoted

_SHAPE = "expected a matrix form of vectors and matrices: v.T, A @ B, diag(v), +, -, scalar * A"
WHOLE_REASON = "the whole array, entry by entry"


class _Form:
    """One node of a whole form: its entry as a function of (row, column), shape, and print form."""

    def __init__(self, entry, shape, shown):
        self.entry = entry  # (i, j) -> scalar SymPy expression
        self.shape = shape  # (rows, columns) as dims, or None for a scalar
        self.shown = shown  # a SymPy matrix expression (or scalar) for the printer


class WholeMixin:
    """``entry`` and ``whole`` of a chain, for ``_Loader``."""

    def whole_steps(self, chain: dict, where: str, start: sympy.Basic, case) -> list[Step]:
        """The whole-matrix step of a chain with ``whole``; [] for a chain without."""
        if "whole" in chain:
            return [self.whole_step(chain, where, start, case)]
        if "entry" in chain:
            raise self.error(f"{where}, entry", "entry goes with whole = \"...\" (the matrix form)")
        return []

    def whole_step(self, chain: dict, where: str, start: sympy.Basic, case) -> Step:
        where = f"{where}, whole"
        if "entry" not in chain:
            raise self.error(where, "expected entry = [\"a\", \"b\"] (the indices of the entry the chain proves)")
        if "vector" in chain:
            raise self.error(where, "a chain has either vector or whole, not both")
        if case is not None:
            raise self.error(where, f"the chain is checked only under the case {case.label}, "
                                    "so it does not give every entry")
        names = chain["entry"]
        indices = []
        for n, name in enumerate(names):
            self.typed(name, f"{where}.entry[{n}]", str)
            index = self.names.get(name)
            if index not in self.indices:
                raise self.error(f"{where}.entry", f"expected declared indices, found {name!r}")
            indices.append(index)
        if not 1 <= len(indices) <= 2 or len(set(indices)) != len(indices):
            raise self.error(f"{where}.entry", f"expected one or two distinct indices, found {names}")
        text = chain["whole"]
        if len(text) > MAX_EXPRESSION_CHARS:
            raise self.error(where, f"form is {len(text)} characters long (at most {MAX_EXPRESSION_CHARS})")
        node = self.small_ast(text, where, _SHAPE)
        if sum(1 for _ in ast.walk(node)) > MAX_NODES:
            raise self.error(where, f"form has more than {MAX_NODES} syntax nodes")
        try:
            form = self.form(node, text, where)
        except RecursionError:
            raise self.error(where, f"form is too deeply nested: {quoted(text)}") from None
        want = tuple(self.ranges[i] for i in indices)
        shape, one = form.shape, sympy.Integer(1)
        row = len(want) == 1 and shape is not None and shape[0] == one and shape[1] != one
        if len(want) == 1 and shape is not None:  # a vector: a column, or a row such as x.T @ W
            shape = shape[1:] if row else shape[:1] if shape[1] == one else shape
        if shape != want:
            raise self.error(where, f"{quoted(text)} has dims {self.dims_text(form.shape)}, but entry {names} "
                                    f"ranges over {self.dims_text(want)}")
        if len(indices) == 2:
            at = tuple(indices)
        else:
            at = (one, indices[0]) if row else (indices[0], one)
        expr = form.entry(*at)
        self.check_dims(expr, where)
        lhs = start.replace(lambda x: isinstance(x, sympy.Indexed) and x.indices == tuple(indices),
                            lambda x: sympy.Symbol(x.base.name))
        return Step(expr=expr, reason=WHOLE_REASON, source=text, reason_parts=(WHOLE_REASON,),
                    whole=(lhs, form.shown))

    def form(self, node: ast.AST, text: str, where: str) -> _Form:  # noqa: C901 - one branch per node
        if isinstance(node, ast.Name) and node.id in self.shapes and isinstance(self.names.get(node.id),
                                                                                sympy.IndexedBase):
            base, dims = self.names[node.id], self.shapes[node.id]
            if len(dims) == 1:
                return _Form(lambda i, j: base[i], (dims[0], sympy.Integer(1)),
                             sympy.MatrixSymbol(node.id, dims[0], 1))
            return _Form(lambda i, j: base[i, j], dims, sympy.MatrixSymbol(node.id, *dims))
        if isinstance(node, ast.Attribute) and node.attr == "T":
            inner = self.form(node.value, text, where)
            if inner.shape is None:
                raise self.error(where, f"{_SHAPE}; .T of a scalar in {quoted(text)}")
            return _Form(lambda i, j: inner.entry(j, i), inner.shape[::-1], sympy.Transpose(inner.shown))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "diag":
            if len(node.args) != 1 or node.keywords:
                raise self.error(where, f"diag() takes one vector, in {quoted(text)}")
            inner = self.form(node.args[0], text, where)
            if inner.shape is None or inner.shape[1] != 1:
                raise self.error(where, f"diag() takes a vector, in {quoted(text)}")
            one = sympy.Integer(1)
            return _Form(lambda i, j: sympy.KroneckerDelta(i, j) * inner.entry(i, one),
                         (inner.shape[0], inner.shape[0]), DiagMatrix(inner.shown))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and self.has_array(node):
            inner = self.form(node.operand, text, where)
            return _Form(lambda i, j: -inner.entry(i, j), inner.shape, _negated(inner.shown))
        if isinstance(node, ast.BinOp) and self.has_array(node):
            return self.binary(node, text, where)
        if self.has_array(node):
            raise self.error(where, f"{_SHAPE}, found {quoted(text)}")
        value = self.expression(ast.unparse(node), where)
        return _Form(lambda i, j: value, None, value)

    def binary(self, node: ast.BinOp, text: str, where: str) -> _Form:
        a, b = self.form(node.left, text, where), self.form(node.right, text, where)
        op = type(node.op)
        if op is ast.MatMult:
            if a.shape is None or b.shape is None or a.shape[1] != b.shape[0]:
                raise self.error(where, f"A @ B needs the columns of A to match the rows of B, found "
                                        f"{self.dims_text(a.shape)} @ {self.dims_text(b.shape)} in {quoted(text)}")
            inner = a.shape[1]
            if inner == 1:
                entry = lambda i, j: a.entry(i, inner) * b.entry(inner, j)  # noqa: E731
            else:
                m = sympy.Symbol("m", integer=True)
                entry = lambda i, j: sympy.Sum(a.entry(i, m) * b.entry(m, j), (m, 1, inner))  # noqa: E731
            return _Form(entry, (a.shape[0], b.shape[1]), sympy.MatMul(a.shown, b.shown))
        if op in (ast.Add, ast.Sub):
            if a.shape != b.shape or a.shape is None:
                raise self.error(where, f"+ and - need arrays of the same dims, found {self.dims_text(a.shape)} and "
                                        f"{self.dims_text(b.shape)} in {quoted(text)}")
            sign = 1 if op is ast.Add else -1
            # built unevaluated: -X would be simplified ((W.T @ z).T printed as z.T @ W)
            shown = sympy.MatAdd(a.shown, b.shown if sign == 1 else _negated(b.shown), evaluate=False)
            return _Form(lambda i, j: a.entry(i, j) + sign * b.entry(i, j), a.shape, shown)
        if op is ast.Mult and (a.shape is None or b.shape is None):
            return _Form(lambda i, j: a.entry(i, j) * b.entry(i, j), a.shape or b.shape,
                         sympy.MatMul(a.shown, b.shown))
        if op is ast.Div and b.shape is None:
            return _Form(lambda i, j: a.entry(i, j) / b.entry(i, j), a.shape,
                         sympy.MatMul(sympy.Pow(b.shown, -1), a.shown))
        raise self.error(where, f"{_SHAPE} (write A @ B for a matrix product), found {quoted(text)}")

    def dims_text(self, shape) -> str:
        return "a scalar" if shape is None else " x ".join(self.dim_name(x) for x in shape)

    def has_array(self, node: ast.AST) -> bool:
        """Whether ``node`` names a whole vector or matrix (an entry such as ``x[j]`` is a scalar)."""
        entries = {id(n.value) for n in ast.walk(node) if isinstance(n, ast.Subscript)}
        return any(isinstance(n, ast.Name) and n.id in self.shapes and id(n) not in entries
                   for n in ast.walk(node))


def _negated(shown):
    return sympy.MatMul(sympy.S.NegativeOne, shown, evaluate=False) if shown.is_Matrix else -shown
