"""SymPy code printers for array code: ``z[c]`` is the array ``z``, ``Sum(f, (c, 1, k))`` a sum over the last axis.

One printer subclass per backend, as SymPy's own printers are organised; ``symce.export.user``
prints a derivation file's proved expressions with them.

>>> import sympy
>>> z, c, k = sympy.IndexedBase("z"), sympy.Symbol("c"), sympy.Symbol("k")
>>> printer("numpy").doprint(sympy.Sum(sympy.exp(z[c]), (c, 1, k)))
'numpy.sum(numpy.exp(z), axis=-1, keepdims=True)'
"""

from __future__ import annotations

from sympy.printing.numpy import JaxPrinter, NumPyPrinter


class _ArrayPrinterMixin:
    """Print class-indexed expressions as whole-array code, classes on the last axis."""

    _reduce = "axis=-1, keepdims=True"

    def _print_Indexed(self, expr):
        return self._print(expr.base.label)

    def _print_Sum(self, expr):
        (_, lower, upper), = expr.limits  # always (c, 1, k): the whole class axis
        return f"{self._module_format(self._module + '.sum')}({self._print(expr.function)}, {self._reduce})"


class _NumPyArrayPrinter(_ArrayPrinterMixin, NumPyPrinter):
    pass


class _JaxArrayPrinter(_ArrayPrinterMixin, JaxPrinter):
    pass


def _torch_array_printer() -> type:
    # sympy.printing.pytorch imports torch at its own import (about 1.5 s), so the
    # printer class is built only when an export to torch asks for it.
    from sympy.printing.pytorch import TorchPrinter

    class _TorchArrayPrinter(_ArrayPrinterMixin, TorchPrinter):
        _reduce = "dim=-1, keepdim=True"

    return _TorchArrayPrinter


def printer(backend: str):
    """A printer instance for ``backend`` (numpy, torch or jax), module names written in full."""
    cls = {"numpy": lambda: _NumPyArrayPrinter, "torch": _torch_array_printer, "jax": lambda: _JaxArrayPrinter}
    return cls[backend]()({"fully_qualified_modules": True})
