"""The exact algebra a concrete-k proof runs on: symengine when it is installed, else SymPy.

A concrete-k proof is thousands of tiny exact computations (differentiate one
term, expand a four-term difference, compare with 0). In SymPy each of them costs
milliseconds of object construction and assumption queries; symengine, SymPy's own
C++ core, does the same exact arithmetic on the same expressions in microseconds.
Both modules spell what the prover uses the same way (``symbols``, ``Symbol``,
``exp``, ``log``, ``Add``, ``expand``, ``xreplace``, ``diff``), so one proof is
written once and runs on either; the tests run it on both and compare verdicts
and residuals. ``SYMCE_KERNEL=sympy`` in the environment chooses the fallback.

>>> load("sympy").__name__
'sympy'
>>> load("maple")
Traceback (most recent call last):
...
symce.errors.UsageError: unknown kernel 'maple'; known: symengine, sympy
"""

from __future__ import annotations

import importlib
import os

from ..errors import UsageError

KERNELS = ("symengine", "sympy")  # exact algebra modules, preferred first
ENVIRONMENT = "SYMCE_KERNEL"  # names a kernel for every proof of this process


def load(name: str | None = None):
    """The kernel module called ``name``; by default the first of KERNELS that imports."""
    name = name or os.environ.get(ENVIRONMENT) or None
    if name is not None:
        if name not in KERNELS:
            raise UsageError(f"unknown kernel {name!r}; known: {', '.join(KERNELS)}")
        return importlib.import_module(name)
    for candidate in KERNELS:
        try:
            return importlib.import_module(candidate)
        except ImportError:  # symengine has no wheel for this platform: SymPy is always there
            continue
    raise ImportError("neither symengine nor sympy can be imported")  # pragma: no cover


def describe(module) -> str:
    """The kernel's name and version, as a report prints it.

    >>> describe(load("sympy")).startswith("sympy ")
    True
    """
    return f"{module.__name__} {module.__version__}"


def to_sympy(expr):
    """A kernel expression as a SymPy expression (symengine's own structural converter).

    >>> import sympy
    >>> to_sympy(sympy.Symbol("x"))
    x
    """
    return expr if type(expr).__module__.startswith("sympy") else expr._sympy_()
