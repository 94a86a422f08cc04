"""Model: the frozen data a derivation file becomes, and the catalogue of losses.

``model`` sits at the bottom of the flow and imports nothing of symce's but
``errors``. Its objects still show themselves as mathematics in Jupyter: the
composition root, ``symce/__init__.py``, installs a loader of the renderer here,
and ``_repr_latex_`` asks it on first use. So the dependency points from the top
down to ``typeset`` and ``model``, never from ``model`` up.
"""

from __future__ import annotations

from typing import Callable

_renderer_loader: Callable | None = None  # returns the module with repr_step, repr_chain, ...


def install_renderer(loader: Callable) -> None:
    """Set how model objects find their typesetter (called once, by ``symce/__init__``)."""
    global _renderer_loader
    _renderer_loader = loader


def renderer():
    """The renderer's Jupyter functions, loaded on first use; None when none is installed."""
    return None if _renderer_loader is None else _renderer_loader()
