"""Which files a command reads: folders expanded to the derivation files inside them.

>>> derivation_paths(["no/such.toml"])
Traceback (most recent call last):
...
symce.errors.DerivationFormatError: no/such.toml: no such file or folder
"""

from __future__ import annotations

import os

from ..errors import DerivationFormatError, UnsafeExpressionError

__all__ = ["DERIVATION_SUFFIXES", "derivation_paths", "not_a_file", "read_text"]

DERIVATION_SUFFIXES = (".toml", ".md", ".markdown", ".tex")  # what a folder given to check holds


def derivation_paths(paths: list[str]) -> list[str]:
    """Files as given, folders replaced by the derivation files inside them (sorted).

    A folder's derivation files are its ``*.toml`` files and its notes files
    (``*.md``, ``*.markdown``, ``*.tex``: Markdown posts and LaTeX notes, read by ``notes``).
    """
    out = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(DERIVATION_SUFFIXES))
            if not found:
                raise DerivationFormatError(f"{path}: folder holds no .toml, .md or .tex derivation files")
            for f in found:  # one skipped silently would let the rest pass without it
                if not os.path.isfile(f):
                    raise DerivationFormatError(f"{f}: {not_a_file(f)}")
            out += found
        elif os.path.isfile(path):
            out.append(path)
        else:
            raise DerivationFormatError(f"{path}: {not_a_file(path)}")
    return out


def not_a_file(path: str) -> str:
    """Why ``path`` is not a derivation file that can be read, in a few words."""
    if os.path.isdir(path):
        return "is a folder, not a derivation file"
    if os.path.lexists(path) and not os.path.exists(path):
        return "broken or looping symbolic link"
    if os.path.exists(path):
        return "not a regular file or folder"
    return "no such file or folder"


def read_text(path: str, limit: int) -> str:
    """The UTF-8 text of the file at ``path``, refused past ``limit`` bytes before it is read whole."""
    if os.path.lexists(path) and not os.path.isfile(path):  # a folder, a device, a dangling link
        raise DerivationFormatError(f"{path}: {not_a_file(path)}")
    try:
        size = os.path.getsize(path)
        if size > limit:
            raise UnsafeExpressionError(f"{path}: file is {size} bytes (at most {limit})")
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise DerivationFormatError(f"{path}: cannot read file ({exc.strerror})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DerivationFormatError(f"{path}: not UTF-8 text (byte {exc.start})") from None
