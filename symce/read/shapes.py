"""Named dimensions, matrices and functions of a derivation file: the ``dims`` form of ``[symbols]``.

A file either has one dimension called ``k`` (``k = "symbolic"``, every index in
1..k, the original form) or names its dimensions (``dims = { n = "symbolic", d = 3 }``)
and says which one each index ranges over and which ones each vector or matrix has.
A file with neither is a scalar problem. This module reads that part of
``[symbols]``, checks that every entry is indexed over the right dimensions, and
turns a whole-matrix row (``delta @ T(x)``) into the entry it claims.

>>> from symce.read.toml import loads_derivation
>>> d = loads_derivation('''
... title = "t"
... [symbols]
... dims = { n = "symbolic", d = "symbolic" }
... indices = { i = "n", j = "d" }
... matrices = { W = "real[n, d]" }
... [[chains]]
... name = "x"
... start = "W[j, i]"
... steps = [{ expr = "0", reason = "r" }]
... ''', path="f.toml")
Traceback (most recent call last):
...
symce.errors.DerivationFormatError: f.toml, chain 'x', start: index j ranges over d, but position 1 of W[j, i] ranges over n
"""

from __future__ import annotations

import ast
import itertools
import math
import re

import sympy

from ..model.derivation import AbstractFunction, Case, Dim, FunctionDef, free_indices, whole_vector
from .expr import DeclaredFunction

_ARRAY = re.compile(r"\s*(real|positive|nonnegative)\s*(?:\[([^\]]*)\])?\s*$")
_DIM_NAMES_MAX = 8  # dimensions per file
_FUNCTION_ARGS_MAX = 8


class ShapesMixin:
    """The ``dims`` form of ``[symbols]`` for ``_Loader`` (kept apart: a concept of its own)."""

    def init_shapes(self) -> None:
        self.uses_dims = False  # the dims form of [symbols], or a scalar problem
        self.dims: dict = {}  # dim name -> Dim
        self.ranges: dict[sympy.Symbol, sympy.Basic] = {}  # index -> its dim's symbol
        self.shapes: dict[str, tuple[sympy.Basic, ...]] = {}  # array -> its dims
        self.abstract: list = []  # AbstractFunction, in file order
        self.functions: list = []  # FunctionDef, in file order
        self.bodies: dict[str, sympy.Basic] = {}  # defined name -> its body, for dependencies

    def dims_symbols(self, data: dict) -> bool:
        """``dims``, ``indices`` as a table, vectors and matrices with their dimensions.

        False for a file in the ``k = ...`` form (checked here for what that form lacks).
        """
        if "k" in data and "dims" not in data:
            for key in ("matrices", "functions"):
                if key in data:
                    raise self.error(f"symbols.{key}", "needs named dimensions: dims = { k = \"symbolic\", ... }")
            if "indices" not in data:
                raise self.error("symbols", "missing key 'indices'")
            if not isinstance(data["indices"], list):
                raise self.error("symbols.indices", "with k, expected array of index names, found table "
                                                    "(a table needs dims = { ... })")
            return False
        self.uses_dims = True
        dims = data.get("dims", {})
        if "k" in data:
            raise self.error("symbols.k", "with dims, declare k among them: dims = { k = \"symbolic\", ... }")
        if len(dims) > _DIM_NAMES_MAX:
            raise self.error("symbols.dims", f"at most {_DIM_NAMES_MAX} dimensions, found {len(dims)}")
        for name, size in dims.items():
            where = f"symbols.dims.{name}"
            self.typed(size, where, (int, str))
            if isinstance(size, int):
                if not 1 <= size <= 50:
                    raise self.error(where, f"expected an integer in 1..50 or \"symbolic\", found {size}")
                symbol = sympy.Integer(size)
            elif size == "symbolic":
                symbol = sympy.Symbol(name, integer=True, positive=True)
            else:
                raise self.error(where, f"expected an integer or \"symbolic\", found {size!r}")
            if not (name.isascii() and name.isidentifier()) or name.startswith("_"):
                raise self.error(where, f"expected a plain ASCII name, found {name!r}")
            if name in self.names:
                raise self.error(where, f"{name!r} is declared twice")
            self.names[name] = symbol
            self.dims[name] = Dim(name=name, symbol=symbol, size=size if isinstance(size, int) else None)
        indices = data.get("indices", {})
        if isinstance(indices, list) and indices:
            raise self.error("symbols.indices", "with dims, say what each index ranges over: "
                                                "indices = { i = \"n\", j = \"d\" }")
        for name, dim in (indices.items() if isinstance(indices, dict) else ()):
            where = f"symbols.indices.{name}"
            self.typed(dim, where, str)
            if dim not in self.dims:
                raise self.error(where, f"expected one of the dims {sorted(self.dims)}, found {dim!r}")
            index = sympy.Symbol(name, integer=True, positive=True)
            self.declare(name, where, index)
            self.indices.append(index)
            self.ranges[index] = self.dims[dim].symbol
        for section, rank in (("vectors", 1), ("matrices", 2)):
            for name, spec in data.get(section, {}).items():
                self.array(section, name, spec, rank)
        for name, domain in data.get("scalars", {}).items():
            self.scalar(name, domain)
        self.declare_abstract(data.get("functions", {}))
        return True

    def scalar(self, name: str, domain) -> None:
        where = f"symbols.scalars.{name}"
        self.typed(domain, where, str)
        match = _ARRAY.fullmatch(domain)
        if not match or match.group(2) is not None:
            raise self.error(where, f"expected one of 'real', 'positive', 'nonnegative', found {domain!r}")
        self.declare(name, where, sympy.Symbol(name, **{domain.strip(): True}))

    def array(self, section: str, name: str, spec, rank: int) -> None:
        """``x = "real[d]"``, ``W = "real[n, d]"``; a plain ``"real"`` vector has length k."""
        where = f"symbols.{section}.{name}"
        self.typed(spec, where, str)
        shape = "real[d]" if rank == 1 else "real[n, d]"
        match = _ARRAY.fullmatch(spec)
        if not match:
            raise self.error(where, f"expected a domain and dims such as {shape!r}, found {spec!r}")
        domain, dims = match.group(1), match.group(2)
        if dims is None:
            if rank != 1 or "k" not in self.dims:
                raise self.error(where, f"expected its dims, e.g. {shape!r}, found {spec!r}")
            dims = "k"
        names = [x.strip() for x in dims.split(",")]
        if len(names) != rank or any(n not in self.dims for n in names):
            raise self.error(where, f"expected {rank} of the dims {sorted(self.dims)} as in {shape!r}, "
                                    f"found {spec!r}")
        self.declare(name, where, sympy.IndexedBase(name, **{domain: True}))
        self.vectors.append(name)
        self.declared_vectors.append(name)
        self.ranks[name] = rank
        self.shapes[name] = tuple(self.dims[n].symbol for n in names)

    def declare_abstract(self, data: dict) -> None:
        """``functions = { L = ["u"] }``: L depends on u, and has no definition."""
        for name, args in data.items():
            where = f"symbols.functions.{name}"
            self.typed(args, where, list)
            if not 1 <= len(args) <= _FUNCTION_ARGS_MAX:
                raise self.error(where, f"expected 1 to {_FUNCTION_ARGS_MAX} argument names, found {len(args)}")
            for n, arg in enumerate(args):
                self.typed(arg, f"{where}[{n}]", str)
            self.declare(name, where, sympy.Symbol(name, real=True))
            self.abstract.append(AbstractFunction(name=name, args=tuple(args)))

    def check_abstract(self) -> None:
        """Each argument of an abstract function is a declared or defined name (not an index)."""
        for f in self.abstract:
            for n, arg in enumerate(f.args):
                obj = self.names.get(arg)
                ok = (isinstance(obj, sympy.IndexedBase)
                      or (isinstance(obj, sympy.Symbol) and obj not in self.indices
                          and not obj.is_integer and arg not in {g.name for g in self.abstract}))
                if not ok:
                    raise self.error(f"symbols.functions.{f.name}[{n}]",
                                     f"expected a declared or defined scalar, vector or matrix, found {arg!r}")

    def function_target(self, node: ast.Call, text: str, where: str):
        """``"sigma(x)"``: a function of the file, its parameters local to its body."""
        shape = "expected name(parameter, ...) with plain parameter names"
        params = []
        for p in node.args:
            if not isinstance(p, ast.Name) or p.id.startswith("_") or p.id in self.reserved:
                raise self.error(where, f"{shape}, found {text!r}")
            params.append(p.id)
        if not params or len(set(params)) != len(params) or node.keywords:
            raise self.error(where, f"{shape} (each once), found {text!r}")
        if len(params) > _FUNCTION_ARGS_MAX:
            raise self.error(where, f"at most {_FUNCTION_ARGS_MAX} parameters, found {len(params)}")
        return node.func.id, tuple(sympy.Dummy(p, real=True) for p in params)

    def vector(self, text: str, where: str, start: sympy.Basic, case: Case | None) -> sympy.Symbol:
        """``vector = "i"``: the chain's expressions are entry i of a vector over i = 1..k."""
        where = f"{where}, vector"
        index = self.names.get(text)
        if index not in self.indices:
            raise self.error(where, f"expected a declared index, found {text!r}")
        if self.uses_dims and ("k" not in self.dims or self.ranges.get(index) != self.dims["k"].symbol
                               or (self.dims["k"].size or 3) < 3):
            # the row shows entries 1, c and k of a vector over k (k >= 3)
            raise self.error(where, f"vector needs an index over a dim named k (of size 3 or more); with "
                                    f"other dims, end the chain with entry = [\"{text}\"] and whole = \"...\"")
        if index not in free_indices(start):
            raise self.error(where, f"index {text!r} does not occur free in the chain "
                                    f"(its start is {start})")
        if index in free_indices(whole_vector(start, index)):
            raise self.error(where, f"the start {start} uses {text!r} other than as the index of "
                                    f"an entry, so it is not entry {text!r} of a vector")
        if case is not None:
            # Proved only where the case holds (i = c, or c = k fixing the hot class), the
            # steps say nothing about the entries the row would show.
            raise self.error(where, f"the chain is checked only under the case {case.label}, "
                                    f"so it does not give every entry over {text!r}")
        if index in self.hot:
            raise self.error(where, f"{text!r} is the hot index of a one-hot assumption, so each step "
                                    f"speaks of the hot entry only, not of every entry over {text!r}")
        if self.k is not None and self.k < 3:
            raise self.error(where, f"the vector is shown by its entries 1, c and k, which needs "
                                    f"k >= 3, found k = {self.k}")
        return index

    def function(self, name: str, params: tuple, body_text: str, where: str) -> None:
        """``"sigma(x)" = "1/(1 + exp(-x))"``: read the body with the parameters as local names."""
        local = {p.name: p for p in params}
        body = self.expression(body_text, where, names={**self.names, **local})
        self.declare(name, where, DeclaredFunction(params))
        self.functions.append(FunctionDef(name=name, params=params, body=body, source=body_text))

    def check_abstract_derivatives(self, expr: sympy.Basic, where: str) -> None:
        """``Derivative(L, v)`` of an abstract ``L`` needs ``v`` among what ``L`` depends on.

        Otherwise the derivative would be 0 by the letter of the declaration, which is
        rarely what was meant (an argument left out of ``functions``): refused, not guessed.
        """
        abstract = {f.name: f for f in self.abstract}
        for d in expr.atoms(sympy.Derivative):
            name = getattr(d.expr, "name", None)
            if name not in abstract:
                continue
            reach = self.reach(abstract[name].args)
            for var, _ in d.variable_count:
                label = str(var.base.label) if isinstance(var, sympy.Indexed) else str(var)
                if label not in reach:
                    raise self.error(where, f"{name} depends on {', '.join(abstract[name].args)} (and what they are "
                                            f"defined from), not on {label}: Derivative({name}, {var}) would be 0; "
                                            f"add {label} to functions.{name}, or write 0")

    def reach(self, names) -> set[str]:
        """The names that ``names`` are, or are defined from (through definitions, transitively)."""
        out, todo = set(), list(names)
        while todo:
            name = todo.pop()
            if name in out:
                continue
            out.add(name)
            body = self.bodies.get(name)
            if body is not None:
                used = {str(x.base.label) for x in body.atoms(sympy.Indexed)} | {str(x) for x in body.free_symbols}
                todo += [u for u in used if u in self.names]
        return out

    def check_dims(self, expr: sympy.Basic, where: str, bound: dict | None = None) -> None:
        """Every index of an entry ranges over the dimension of its position in the array."""
        bound = {} if bound is None else bound
        if isinstance(expr, sympy.Sum):
            inner = dict(bound)
            for var, low, high in expr.limits:
                inner[var] = high if low == 1 else None
            self.check_dims(expr.function, where, inner)
            return
        if isinstance(expr, sympy.Indexed):
            shape = self.shapes.get(str(expr.base.label))
            for pos, index in enumerate(expr.indices):
                if shape is not None and pos < len(shape):
                    self.index_fits(expr, pos, index, shape[pos], bound, where)
                self.check_dims(index, where, bound)
            return
        for arg in expr.args:
            if isinstance(arg, sympy.Basic):
                self.check_dims(arg, where, bound)

    def can_hold_dims(self, cond: sympy.Basic, limit: int = 10_000) -> bool:
        """Whether some sizes (1..6 for a symbolic dim) and indices inside them satisfy ``cond``.

        True also when there are too many to try: undecided is not refused.
        """
        indices = sorted(cond.free_symbols & set(self.indices), key=lambda s: s.name)
        symbolic = [d.symbol for d in self.dims.values() if d.size is None]
        for sizes in itertools.product(range(1, 7), repeat=len(symbolic)):
            env = dict(zip(symbolic, map(sympy.Integer, sizes)))
            spans = [int(self.ranges[i].xreplace(env)) for i in indices]
            if math.prod(spans) > limit:
                return True
            for values in itertools.product(*(range(1, n + 1) for n in spans)):
                a, b = (side.xreplace({**env, **dict(zip(indices, map(sympy.Integer, values)))})
                        for side in cond.args)
                if not (a.is_Integer and b.is_Integer) or (a == b) == isinstance(cond, sympy.Eq):
                    return True
        return False

    def dim_name(self, dim) -> str:
        """A dimension as the file names it (``d`` rather than its concrete size 4)."""
        names = [name for name, x in self.dims.items() if x.symbol == dim]
        return names[0] if len(names) == 1 else str(dim)

    def index_fits(self, entry, pos: int, index, dim, bound: dict, where: str) -> None:
        if index in bound:
            over = bound[index]
        elif index in self.ranges:
            over = self.ranges[index]
        else:
            over = None
        # only a sum over a whole other dim is wrong: (j, 1, k - 1) or (j, 1, l) may stay inside k
        whole = {x.symbol for x in self.dims.values()}
        if over is not None and over != dim and over in whole and dim in whole:
            raise self.error(where, f"index {index} ranges over {self.dim_name(over)}, but position {pos + 1} "
                                    f"of {_entry_text(entry)} ranges over {self.dim_name(dim)}")
        if index.is_Integer and dim.is_Integer and not 1 <= index <= dim:
            raise self.error(where, f"index {index} of {_entry_text(entry)} is outside 1..{dim}")




def _entry_text(entry) -> str:
    return f"{entry.base.label}[{', '.join(map(str, entry.indices))}]"


def declared_functions(names: dict) -> dict:
    """The names of a file that stand for its functions (kept out of ``Derivation.symbols``)."""
    return {n: o for n, o in names.items() if isinstance(o, DeclaredFunction)}
