"""Export: numeric code standing on proved expressions.

``codegen`` is the one door; ``losses`` (the named losses and the proofs they stand on),
``numpy_source``, ``torch_source`` and ``jax_source`` (their modules), ``user`` and
``printers`` (a derivation file's [export] table), ``stable`` (the proved stable forms of
softmax cross-entropy) and ``numeric`` (lambdified checks).

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
