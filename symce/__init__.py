"""symce: prove, check, typeset and export the gradient identities of machine learning.

One subpackage per stage of the data flow: ``read`` (text to SymPy, never
evaluated: ``expr``, ``toml``) -> ``model`` (the frozen ``Derivation``; the
softmax cross-entropy ``losses``) -> ``verify`` (``meaning``, ``probe``,
``steps``, the identity prover ``identity``, ``timelimit``) -> ``typeset``
(``printer``, ``prose``, ``document``) and ``export`` (``stable``, ``numeric``,
``codegen``). ``cli`` only parses arguments and prints; ``output`` writes its files.

Names are imported on first use, so that ``import symce`` (and the CLI's start)
does not pay for NumPy or the printers when they are not needed.
"""

from importlib import import_module

from .errors import DerivationFormatError, ProofError, SymceError, UnsafeExpressionError, UsageError
from .model import install_renderer as _install_renderer

# The composition root: model objects typeset themselves in Jupyter through the
# renderer, which is loaded only when a notebook first asks (model never imports it).
_install_renderer(lambda: import_module(".typeset.document", __name__))

_LAZY = {
    "softmax_ce": "model.losses", "softmax_ce_symbolic": "model.losses",
    "SoftmaxCE": "model.losses", "SymbolicSoftmaxCE": "model.losses",
    "prove": "verify.identity", "Proof": "verify.identity",
    "load_derivation": "read.toml", "loads_derivation": "read.toml",
    "load_notes": "read.notes", "loads_notes": "read.notes",
    "Derivation": "model.derivation", "Chain": "model.derivation", "Step": "model.derivation",
    "check": "verify.steps", "Report": "verify.steps", "StepResult": "verify.steps",
    "Evidence": "verify.steps",
    "render": "typeset.document", "render_latex": "typeset.document",
    "render_document": "typeset.document", "render_markdown": "typeset.document",
    "UnverifiedStepError": "typeset.document", "latex_expr": "typeset.notation",
    "numeric_check": "export.numeric", "NumericCheck": "export.numeric",
    "lambdified": "export.numeric",
    "stable_forms": "export.stable", "StableForms": "export.stable",
    "export_source": "export.codegen",
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
