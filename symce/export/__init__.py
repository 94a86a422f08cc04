"""Export: numeric code printed from proved expressions (``stable``, ``numeric``, ``codegen``).

This package's ``__init__`` stays light: the CLI reads the choice lists below to
build its argument parser without importing SymPy's code printers.
"""

#: Backends an export can target.
BACKENDS = ("numpy", "torch", "jax")
#: Assumptions on y an export can be made under.
EXPORT_ASSUMPTIONS = ("simplex", "none")
#: Largest k for ``symce prove --numeric``: its lambdified SymPy gradient, unlike the proof,
#: grows past minutes beyond this (k = 20000 did not finish in 10 minutes).
NUMERIC_K_MAX = 5000
