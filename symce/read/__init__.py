"""Read: untrusted text to SymPy objects and model data, never evaluating it.

``expr`` reads one Python-like expression through a whitelist over ``ast``;
``toml`` reads a derivation file into a ``model.derivation.Derivation``;
``tex`` (with ``lex`` and ``texforms``) reads one LaTeX expression, and ``notes``
(with ``rows`` and ``declare``) reads a Markdown post or ``.tex`` note into the
same ``Derivation``.
"""
