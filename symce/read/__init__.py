"""Read: untrusted text to SymPy objects and model data, never evaluating it.

``expr`` reads one Python-like expression through a whitelist over ``ast``;
``toml`` reads a derivation file into a ``model.derivation.Derivation``.
"""
