"""Generated code, one door for every export: a named loss or a derivation file's ``[export]`` table.

- a named loss (``softmax-ce``, ``bce-with-logits``, ``mse``): ``symce.export.losses``
  checks the derivation files its formulas come from, then writes the backend's module
  (``numpy_source``, ``torch_source``, ``jax_source``);
- a ``Derivation`` with an ``[export]`` table: ``symce.export.user`` checks the chains
  the table names and prints their last expressions with ``symce.export.printers``.

>>> source = export_source("mse", backend="numpy")
>>> "def loss_and_grad(input, target, *, reduction=\\"mean\\")" in source and "import torch" not in source
True
"""

from __future__ import annotations

from ..model.derivation import Derivation


def export_source(what: str | Derivation = "softmax-ce", backend: str = "numpy") -> str:
    """Return the text of a standalone module with ``loss``, ``grad`` and ``loss_and_grad``.

    ``what`` is a loss name or a loaded derivation with an ``[export]`` table. Raises
    ``UsageError`` for an unknown name or backend and ``ProofError`` when a step the
    export stands on is not proved for all k.

    >>> export_source("focal")
    Traceback (most recent call last):
    ...
    symce.errors.UsageError: unknown loss 'focal'; known: softmax-ce, bce-with-logits, mse (or a derivation file with [export])
    """
    if isinstance(what, Derivation):
        from .user import user_source

        return user_source(what, backend)
    from .losses import named_source

    return named_source(what, backend)
