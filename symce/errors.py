"""The exception hierarchy: one root, one class per kind of failure.

The CLI maps these to exit codes: a ``SymceError`` that says the input was
malformed exits 2; a claim that does not hold is reported (exit 1), not raised.
"""


class SymceError(Exception):
    """Root of every error symce raises on purpose."""


class UsageError(SymceError, ValueError):
    """A bad argument from the user: an out-of-range k, an unknown name."""


class DerivationFormatError(SymceError, ValueError):
    """A derivation file that cannot be read: bad TOML, a missing key, a refused expression.

    The message names the file and the place in it (``file, chain 'x', step 3: ...``).
    """


class UnsafeExpressionError(DerivationFormatError):
    """Expression text that the whitelist parser refuses (attribute access, huge powers...)."""


class ProofError(SymceError, ArithmeticError):
    """An identity that symce was asked to prove does not hold."""
