"""symce: prove, check, typeset and export the gradient identities of machine learning.

The data flow, one module per stage: ``expressions`` (softmax, losses) ->
``proof`` (the gradient identity, component by component); ``parse`` / ``load``
(derivation files, no eval) -> ``derivation`` (the data model) -> ``verify``
(each step) -> ``latex`` (lecture notes); ``stable`` (proved stable forms) ->
``numeric`` / ``export`` (lambdified checks, generated code). ``cli`` only
parses arguments and prints.

Names are imported on first use, so that ``import symce`` (and the CLI's start)
does not pay for NumPy or the printers when they are not needed.
"""

from importlib import import_module

from .errors import DerivationFormatError, ProofError, SymceError, UnsafeExpressionError, UsageError

_LAZY = {
    "softmax_ce": "expressions", "softmax_ce_symbolic": "expressions",
    "SoftmaxCE": "expressions", "SymbolicSoftmaxCE": "expressions",
    "prove": "proof", "Proof": "proof",
    "load_derivation": "load", "loads_derivation": "load",
    "Derivation": "derivation", "Chain": "derivation", "Step": "derivation",
    "check": "verify", "Report": "verify", "StepResult": "verify", "Evidence": "verify",
    "render": "latex", "render_latex": "latex", "render_document": "latex",
    "render_markdown": "latex", "latex_expr": "latex", "UnverifiedStepError": "latex",
    "numeric_check": "numeric", "NumericCheck": "numeric", "lambdified": "numeric",
    "stable_forms": "stable", "StableForms": "stable",
    "export_source": "export",
}

__all__ = [
    "SymceError", "UsageError", "DerivationFormatError", "UnsafeExpressionError", "ProofError",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symce' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
