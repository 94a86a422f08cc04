"""Typeset: verified derivations as lecture notes (``printer``, ``prose``, ``document``).

This package's ``__init__`` stays light: the CLI reads ``FORMATS`` to build its
argument parser without importing the printer.
"""

FORMATS = ("tex", "md")  # the values of ``symce latex --format``
