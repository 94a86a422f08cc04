"""symce: prove, check, typeset and export the gradient identities of machine learning."""

from .errors import DerivationFormatError, ProofError, SymceError, UnsafeExpressionError, UsageError

__all__ = [
    "SymceError",
    "UsageError",
    "DerivationFormatError",
    "UnsafeExpressionError",
    "ProofError",
]
