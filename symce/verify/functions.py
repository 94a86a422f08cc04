"""The meaning of a file's functions: defined ones unfold, abstract ones obey the chain rule.

* A **defined** function, ``"sigma(x)" = "1/(1 + exp(-x))"``, is kept folded in the
  text (``sigma(z[i])`` prints as ``\\sigma(z_i)``) and unfolded here, its
  parameters replaced by the arguments; SymPy then differentiates the body, so
  the chain rule through it is SymPy's own.
* An **abstract** function, ``functions = { L = ["u"] }``, has no body. Its value
  and each of its partial derivatives are opaque quantities (``AbstractValue``):
  ``Derivative(L, u[i])`` is the quantity "dL/du_i", and a second derivative is
  one more opaque quantity (mixed partials in a canonical order, so they are
  symmetric). With respect to anything else, the multivariable chain rule runs
  through the arguments: for ``u[i] = Sum(W[i, j]*x[j], (j, 1, d))``,
  ``dL/dW_ab = Sum(dL/du_q * du_q/dW_ab, (q, 1, n))``, exactly.

An identity that holds for independent values of these opaque quantities holds
for every function with those derivatives, so treating them as unknowns is sound;
and any finite set of values at one point is taken by some smooth function (a
polynomial), so a probe that gives them random values finds real counterexamples.

>>> from symce.read.toml import loads_derivation
>>> from symce.verify.meaning import Meaning
>>> d = loads_derivation('''
... title = "t"
... [symbols]
... scalars = { x = "real" }
... functions = { f = ["x"] }
... [[chains]]
... name = "c"
... start = "Derivative(f, x, 2)"
... steps = [{ expr = "Derivative(f, x, 2)", reason = "r" }]
... ''')
>>> Meaning(d).of(d.chains[0].start)
f''(x, x)
"""

from __future__ import annotations

import sympy
from sympy import Dummy, Indexed, IndexedBase, Sum
from sympy.core.function import AppliedUndef

from ..model.derivation import Derivation


class AbstractValue(sympy.Expr):
    """An abstract function's value, or one of its partial derivatives: an opaque real number.

    ``args`` are the function's name and the entries differentiated by, sorted so
    that mixed partials are one quantity. Each derivation gets a subclass whose
    ``context`` knows the arguments' meanings, for the chain rule.
    """

    is_commutative = True
    is_real = True
    context: "Functions | None" = None

    def __new__(cls, name: sympy.Symbol, partials: sympy.Tuple = sympy.Tuple()):
        ordered = sympy.Tuple(*sorted(partials, key=sympy.default_sort_key))
        return sympy.Expr.__new__(cls, name, ordered)

    @property
    def name(self) -> str:
        return self.args[0].name

    @property
    def partials(self) -> tuple:
        return tuple(self.args[1])

    @property
    def free_symbols(self) -> set:
        # Everything the function depends on, through its arguments: SymPy calls
        # ``_eval_derivative`` only when the variable shares a free symbol with us.
        out = set().union(*(p.free_symbols for p in self.partials)) if self.partials else set()
        return out | (self.context.depends_on(self.name) if self.context is not None else set())

    def _eval_derivative(self, v):
        return self.context.derivative(self, v)

    def _sympystr(self, printer) -> str:
        marks = "'" * len(self.partials)
        shown = ", ".join(printer._print(p) for p in self.partials)
        return f"{self.name}{marks}({shown})" if shown else self.name


class Functions:
    """The functions of one derivation, as the ``Meaning`` of its expressions sees them."""

    def __init__(self, derivation: Derivation, unfold):
        self.defined = {f.name: f for f in derivation.functions}
        self.args = {f.name: f.args for f in derivation.abstract}
        self.symbols = {f.name: derivation.symbols[f.name] for f in derivation.abstract}
        self.derivation = derivation
        self.unfold = unfold  # Meaning._unfold(expr, hold)
        self.hold: frozenset[str] = frozenset()  # defined names held still by the derivative being taken
        self.value = type("AbstractValue", (AbstractValue,), {"context": self})
        self._specs: dict = {}
        self._depends: dict = {}

    def meaning(self, e: sympy.Basic, hold: frozenset[str]):
        """The unfolded meaning of ``e`` if it is a call or an abstract name; None otherwise."""
        if isinstance(e, AbstractValue):
            return e
        if isinstance(e, AppliedUndef) and e.func.__name__ in self.defined:
            f = self.defined[e.func.__name__]
            args = [self.unfold(a, hold) for a in e.args]
            return self.unfold(f.body.xreplace(dict(zip(f.params, args))), hold)
        if isinstance(e, sympy.Symbol) and e.name in self.args and self.symbols[e.name] == e:
            return self.value(sympy.Symbol(e.name))
        return None

    def diff(self, f: sympy.Basic, var: sympy.Basic, count: int, hold: frozenset[str]) -> sympy.Basic:
        """``sympy.diff`` with the chain rule of abstract functions reading arguments under ``hold``."""
        saved, self.hold = self.hold, hold
        try:
            return sympy.diff(f, var, count)
        finally:
            self.hold = saved

    def specs(self, name: str) -> list:
        """For each argument: (its object, index parameters, meaning of one entry, dims)."""
        key = (name, self.hold)
        if key not in self._specs:
            out = []
            for arg in self.args[name]:
                obj = self.derivation.symbols[arg]
                shape = self.derivation.shapes.get(arg, ())
                params = tuple(Dummy(f"q{n}", integer=True) for n in range(len(shape)))
                entry = obj[params] if params else obj
                body = entry if arg in self.hold else self.unfold(entry, self.hold)
                out.append((obj, params, body, shape))
            self._specs[key] = out
        return self._specs[key]

    def depends_on(self, name: str) -> set:
        """Everything ``name`` depends on through its arguments, fully unfolded (whatever is held)."""
        if name not in self._depends:
            self._depends[name] = set()  # a guard, should an argument's meaning reach back here
            saved, self.hold = self.hold, frozenset()
            try:
                found = set()
                for obj, params, body, _ in self.specs(name):
                    found |= obj.free_symbols | (body.free_symbols - set(params))
            finally:
                self.hold = saved
            # and every defined name on the way, which a derivative may hold still (dL/dh_a)
            bodies = {dn.name: (dn.body, set(dn.params)) for dn in self.derivation.definitions}
            todo = [a for a in self.args[name] if a in bodies]
            while todo:
                body, params = bodies.pop(todo.pop(), (None, None))
                if body is not None:
                    found |= body.free_symbols - params
                    todo += [str(x) for x in body.free_symbols if str(x) in bodies]
            found |= {sympy.Symbol(a) for a in self.args[name]}
            self._depends[name] = found
        return self._depends[name]

    def derivative(self, value: AbstractValue, v: sympy.Basic) -> sympy.Basic:
        """The exact multivariable chain rule: a direct partial, plus one sum per argument."""
        total = sympy.S.Zero
        for obj, params, body, shape in self.specs(value.name):
            if v == obj or (isinstance(v, Indexed) and isinstance(obj, IndexedBase) and v.base == obj):
                total += self.value(value.args[0], sympy.Tuple(*value.partials, v))
                continue
            fresh = [Dummy(p.name, integer=True) for p in params]
            inner = sympy.diff(body.xreplace(dict(zip(params, fresh))), v)
            if inner == 0:
                continue
            entry = obj[tuple(fresh)] if fresh else obj
            term = self.value(value.args[0], sympy.Tuple(*value.partials, entry)) * inner
            for q, high in zip(fresh, shape):
                term = Sum(term, (q, 1, high))
            total += term
        return total


def opaque_values(e: sympy.Basic) -> sympy.Basic:
    """Each abstract quantity replaced by one real symbol (for the exact simplifier)."""
    table = {x: Dummy(str(x), real=True) for x in e.atoms(AbstractValue)}
    return e.xreplace(table)
