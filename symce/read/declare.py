r"""The declarations of a notes file: the ``symce`` mapping of its YAML, read into a scope.

The keys mirror the TOML format (``docs/derivation-format.md``) and are checked by
the TOML loader's own rules (``toml._Loader``), so a name, an assumption or a case
means the same in both; only definitions and cases are written in LaTeX here, and
a definition's key may carry the author's notation (``'\mathbf{s}_{i}'``,
``'L(\mathbf{s}, \mathbf{y})'``).

>>> d = declarations({"symbols": {"k": "symbolic", "indices": ["i", "j"], "vectors": {"z": "real"}},
...                   "definitions": {r"\mathbf{s}_{i}": r"\frac{e^{z_i}}{\sum_j e^{z_j}}"}}, "post.md")
>>> d.definitions[0].name, d.definitions[0].body
('s', exp(z[i])/Sum(exp(z[j]), (j, 1, k)))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sympy

from ..errors import DerivationFormatError
from ..model.derivation import Assumption, Case, Definition, Notation
from .tex import Scope, Source, parse, relation, tokenize
from .toml import _Loader, _type_name

_KEYS = {"title": str, "symbols": dict, "definitions": dict, "assumptions": list, "cases": dict,
         "notation": dict}
_RESERVED_HERE = {"e": "e is Euler's number in LaTeX (e^{x})"}


@dataclass
class Declarations:
    """Everything a notes file declares, ready for its blocks to be read against."""

    loader: _Loader  # the TOML loader's symbol table, reused for its checks
    scope: Scope  # what names mean in LaTeX
    title: str | None
    definitions: tuple[Definition, ...]
    assumptions: tuple[Assumption, ...]
    cases: dict[str, Case]  # declared cases by name
    notation: Notation

    @property
    def hot(self) -> sympy.Symbol | None:
        """The correct class: the index of the one-hot assumption, if exactly one names one."""
        hot = {a.index for a in self.assumptions if a.kind == "onehot"}
        return next(iter(hot)) if len(hot) == 1 else None


def declarations(data: Any, where: str) -> Declarations:
    """Check and read the ``symce`` mapping; ``where`` names its place in messages."""
    loader = _Loader(where, "")
    if not isinstance(data, dict):
        raise DerivationFormatError(f"{where}: expected a mapping of declarations (symbols, definitions, ...), "
                                    f"found {_type_name(data) if data is not None else 'nothing'}")
    loader.table(data, "", _KEYS, ("symbols",))
    symbols = data["symbols"] if isinstance(data["symbols"], dict) else {}
    for section in ("indices", "vectors", "scalars"):
        names = symbols.get(section)
        for name in set(_RESERVED_HERE) & set(names if isinstance(names, (dict, list)) else ()):
            raise loader.error(f"symbols.{section}.{name}", f"{name!r} is reserved: {_RESERVED_HERE[name]}")
    loader.symbols(data["symbols"])
    if loader.uses_dims:  # the LaTeX reader knows one dimension, k
        raise loader.error("symbols", "expected k (named dims, matrices, functions and scalar problems "
                                      "are for TOML derivation files)")
    scope = Scope(loader.names, {})
    definitions = []
    keys = list(data.get("definitions") or {})
    for n, key in enumerate(keys):
        scope.later = {_name_of(k, scope) for k in keys[n:]} - {None}  # itself too: none defines itself
        definitions.append(_definition(loader, scope, key, data["definitions"][key]))
    scope.later = set()
    definitions = tuple(definitions)
    assumptions = loader.assumptions(data.get("assumptions", []))
    loader.hot = {a.index for a in assumptions if a.kind == "onehot"}
    cases = {}
    for name, text in (data.get("cases") or {}).items():
        loader.typed(text, f"cases.{name}", str)
        src = Source(text, f"{where}, cases.{name}")
        cases[name] = case_from(loader, scope, src, 0, len(text), name)
    return Declarations(loader, scope, data.get("title"), definitions, assumptions, cases,
                        loader.notation(data.get("notation", {})))


def _definition(loader: _Loader, scope: Scope, key: str, body: Any) -> Definition:
    where = f"definitions.{key!r}"
    loader.typed(body, where, str)
    src = Source(key, f"{loader.path}, {where}")
    name, signature, params = _target(src, scope)
    obj = sympy.IndexedBase(name) if params else sympy.Symbol(name)
    # Read before the name is declared: a definition may use only the ones above it.
    body_src = Source(body, f"{loader.path}, {where}")
    expr = parse(body_src, tokenize(body_src), scope, end=len(body)).expr
    loader.entries(expr, where)
    loader.declare(name, where, obj)
    if params:
        loader.vectors.append(name)
        loader.ranks[name] = len(params)
    if signature is not None:
        scope.signatures[name] = signature
    return Definition(name=name, params=params, body=expr, source=body)


def _name_of(key: str, scope: Scope) -> str | None:
    """The name a definition's key defines, or None when the key cannot be read (its turn reports it)."""
    try:
        return _target(Source(key), scope)[0]
    except DerivationFormatError:
        return None


def _target(src: Source, scope: Scope) -> tuple[str, tuple[str, ...] | None, tuple[sympy.Symbol, ...]]:
    r"""``\mathbf{s}_{i}`` -> ("s", None, (i,)); ``L(\mathbf{s}, \mathbf{y})`` -> ("L", ("s", "y"), ())."""
    from .tex import _Parser  # the name and group readers; a key is a name, not an expression

    toks = tokenize(src)
    p = _Parser(src, toks, scope, len(src.text), None, False)
    shape = "a name, name_{i} or name(arguments) with declared indices"
    if not toks or not (toks[0].kind == "letter" or toks[0].kind == "cmd"):
        raise src.error(0, shape, repr(src.text))
    name, first = p.name_token()
    if not (name.isascii() and name.isidentifier()):
        raise src.error(first.start, shape, repr(name))
    signature = None
    if p.is_("sym", "("):
        p.take()
        signature = []
        while True:
            if p.peek() is None:
                raise p.fail(f"')' to close {name}(")
            signature.append(p.name_token()[0])
            if p.is_("sym", ","):
                p.take()
                continue
            p.expect("sym", ")", f"',' or ')' in {name}(...)")
            break
        signature = tuple(signature)
    params = []
    if p.is_("sym", "_"):
        p.take()
        for t in p.group():
            if t.kind == "sym" and t.text == ",":
                continue
            index = scope.objects.get(t.text)
            if t.kind != "letter" or index is None or not index.is_integer or not isinstance(index, sympy.Symbol) \
                    or index is scope.objects.get("k"):
                raise src.error(t.start, "a declared index as the definition's parameter", t.shown())
            params.append(index)
    if p.n < len(toks):
        raise p.fail(f"the end of the defined name ({shape})")
    if len(set(params)) != len(params):
        raise src.error(0, f"{shape} (each index once)", repr(src.text))
    return name, signature, tuple(params)


def case_from(loader: _Loader, scope: Scope, src: Source, start: int, end: int, name: str | None = None) -> Case:
    r"""A case from LaTeX (``i = c``, ``i \neq c``, ``i != c``), checked as the TOML loader checks one."""
    text = src.text[start:end]
    cond = relation(src, tokenize(src, start, end), scope, end)
    if not isinstance(cond, (sympy.Eq, sympy.Ne)):  # Eq(c, c) evaluates to True
        raise src.error(start, "a relation that can fail", repr(text))
    a, b = cond.args
    k = scope.objects.get("k")
    indices = set(loader.indices)
    plain = all(x in indices or x.free_symbols <= {k} for x in (a, b))
    if not (plain and cond.free_symbols & indices):
        raise src.error(start, "a relation between indices (each side an index, or a number such as 1 or k)",
                        repr(text))
    if not loader.can_hold(cond):
        raise src.error(start, f"a case that can hold for indices in 1..{loader.k or 'k'}", repr(text))
    label = f"{a} {'=' if isinstance(cond, sympy.Eq) else '!='} {b}"
    return Case(name=name or label, label=label, condition=cond)


def yaml_mapping(text: str, where: str, line: int = 1) -> Any:
    """``yaml.safe_load`` of declarations, its errors named by file and line."""
    import yaml  # PyYAML: only its safe loader, which builds plain data and never objects

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {line + mark.line}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise DerivationFormatError(f"{where}{at}: expected YAML declarations, found {problem}") from None
