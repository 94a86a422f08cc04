"""Read a derivation file (TOML) and build a ``Derivation``; the only module that opens files.

The schema is strict: a typo in a key would otherwise silently drop an assumption,
and a derivation checked without its assumptions proves something else. Unknown,
missing and mistyped keys are errors that say where and what (``docs/derivation-format.md``).

>>> d = loads_derivation('''
... title = "Softmax"
... [symbols]
... k = "symbolic"
... indices = ["i", "j"]
... vectors = { z = "real" }
... [definitions]
... "s[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 1, k))"
... [[chains]]
... name = "sum"
... start = "Sum(s[j], (j, 1, k))"
... steps = [{ expr = "1", reason = "the entries of a softmax add up to one" }]
... ''')
>>> d.chains[0].steps[0].expr, d.k
(1, None)
>>> loads_derivation('title = 3', path="x.toml")
Traceback (most recent call last):
...
symce.errors.DerivationFormatError: x.toml, title: expected string, found integer
"""

from __future__ import annotations

import ast
import datetime
import itertools
import os
import tomllib
from typing import Any

import sympy

from ..model.derivation import Assumption, Case, Chain, Definition, Derivation, Notation, Step
from ..errors import DerivationFormatError, UnsafeExpressionError
from .bounds import Budget, at_most
from .expr import FUNCTIONS, RELATIONS, quoted, read_expression
from .reasons import read_prose
from .export_table import export_table
from .text import check_text
from .facts import FactsMixin
from .files import read_text
from .shapes import ShapesMixin, declared_functions
from .whole import WholeMixin
from .hints import spot
from .posts import read_goal, read_prose_around

MAX_FILE_BYTES = 100_000  # a derivation is a few KB; and tomllib takes up to 0.4 s on 100 KB of arrays
MAX_STEPS = 500  # over all chains

_TOP = {"title": str, "symbols": dict, "definitions": dict, "assumptions": list,
        "cases": dict, "chains": list, "notation": dict, "export": dict, "goal": str, "date": datetime.date}
_TOP_REQUIRED = ("title", "symbols", "chains")
_SYMBOLS = {"k": (int, str, dict), "dims": dict, "indices": (list, dict), "vectors": dict, "matrices": dict,
            "scalars": dict, "functions": dict}
_CHAIN = {"name": str, "title": str, "case": str, "vector": str, "entry": list, "whole": str,
          "start": str, "steps": list, "text": str, "text_after": str}
_STEP = {"expr": str, "reason": str}
_NOTATION = {"bold_vectors": bool, "softmax_name": str}
_DOMAINS = {"real": {"real": True}, "positive": {"positive": True}, "nonnegative": {"nonnegative": True}}
_RESERVED = set(FUNCTIONS) | set(RELATIONS) | {"k", "onehot", "simplex"}

_TOML_TYPES = {str: "string", int: "integer", float: "float", bool: "boolean", dict: "table", list: "array",
               datetime.date: "date", datetime.datetime: "date-time", datetime.time: "time"}


def load_derivation(path: str | os.PathLike) -> Derivation:
    """Read and validate the derivation file at ``path``."""
    path = os.fspath(path)
    text = read_text(path, MAX_FILE_BYTES)
    return loads_derivation(text, path=path)


def loads_derivation(text: str, *, path: str = "<string>") -> Derivation:
    """Validate derivation text already in memory; ``path`` is used in messages only."""
    if len(text) > MAX_FILE_BYTES:
        raise UnsafeExpressionError(f"{path}: text is {len(text)} characters (at most {MAX_FILE_BYTES})")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DerivationFormatError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib reads nested arrays and tables recursively
        raise DerivationFormatError(f"{path}: not valid TOML: arrays or tables nested too deeply") from None
    return _Loader(path, text).derivation(data)


def _type_name(value: Any) -> str:
    for py, name in _TOML_TYPES.items():
        if type(value) is py:
            return name
    return type(value).__name__


class _Loader(ShapesMixin, FactsMixin, WholeMixin):
    """Walks the TOML tree once, building the symbol table as it goes."""

    reserved = _RESERVED

    def __init__(self, path: str, text: str):
        self.path = path
        self.lines = text.splitlines()
        self.spot = lambda text, line=0: spot(self.lines, text, line)  # (line, column) of text, for messages
        self.names: dict[str, sympy.Basic] = {}
        self.indices: list[sympy.Symbol] = []
        self.vectors: list[str] = []  # declared and defined
        self.declared_vectors: list[str] = []
        self.ranks: dict[str, int] = {}  # vector name -> number of indices it takes
        self.k: int | None = None
        self.k_min = 1  # the smallest k a symbolic k takes
        self.hot: set[sympy.Symbol] = set()  # hot indices of one-hot assumptions
        self.budget = Budget()  # syntax nodes left for the file's expressions
        self.init_shapes()  # dims, ranges, shapes, functions (read/shapes.py)

    def error(self, where: str, message: str) -> DerivationFormatError:
        return DerivationFormatError(f"{self.path}, {where}: {message}")

    def table(self, data: Any, where: str, schema: dict, required: tuple[str, ...]) -> dict:
        """Check a TOML table against ``schema``: no unknown keys, no missing ones, right types."""
        if not isinstance(data, dict):
            raise self.error(where, f"expected table, found {_type_name(data)}")
        for key in data:
            if key not in schema:
                raise self.error(f"{where}.{key}" if where else key,
                                 f"unknown key (expected one of: {', '.join(schema)})")
        for key, value in data.items():
            self.typed(value, f"{where}.{key}" if where else key, schema[key])
        for key in required:
            if key not in data:
                raise self.error(where or "top level", f"missing key {key!r}")
        return data

    def typed(self, value: Any, where: str, want: type | tuple[type, ...]) -> Any:
        wants = want if isinstance(want, tuple) else (want,)
        if not any(type(value) is w for w in wants):
            expected = " or ".join(_TOML_TYPES[w] for w in wants)
            raise self.error(where, f"expected {expected}, found {_type_name(value)}")
        return value

    def expression(self, text: str, where: str, relations: bool = False,
                   names: dict[str, sympy.Basic] | None = None, line: int = 0) -> sympy.Basic:
        expr = read_expression(text, self.names if names is None else names,
                               where=f"{self.path}, {where}", relations=relations, budget=self.budget,
                               at=self.spot(text, line))
        self.entries(expr, where)
        if self.uses_dims:
            self.check_dims(expr, where)
            self.check_abstract_derivatives(expr, where)
        return expr

    def entries(self, expr: sympy.Basic, where: str) -> None:
        """Every entry has as many indices as its vector takes, and no literal index outside 1..k."""
        for entry in sorted(expr.atoms(sympy.Indexed), key=sympy.default_sort_key):
            name = str(entry.base.label)
            rank = self.ranks.get(name)
            if rank is not None and len(entry.indices) != rank:
                raise self.error(where, f"{name!r} takes {rank} ind{'ex' if rank == 1 else 'ices'}, "
                                        f"found {len(entry.indices)} in {entry}")
            for index in entry.indices:
                if index.is_Integer and not (1 <= index <= (self.k or index)):
                    raise self.error(where, f"index {index} of {entry} is outside 1..{self.k or 'k'}")

    def prose(self, text: str, where: str, line: int = 0) -> tuple:
        """A reason or title: text with math between backticks, read like any expression."""
        check_text(text, f"{self.path}, {where}")  # typeset by --standalone, shown on terminals
        return read_prose(text, self.names, where=f"{self.path}, {where}", budget=self.budget,
                          at=self.spot(text, line))

    # --- sections -----------------------------------------------------------

    def derivation(self, data: dict) -> Derivation:
        self.table(data, "", _TOP, _TOP_REQUIRED)
        check_text(data["title"], f"{self.path}, title")
        self.symbols(data["symbols"])
        definitions = self.definitions(at_most(data.get("definitions", {}), f"{self.path}, definitions"))
        self.check_abstract()
        assumptions = self.assumptions(at_most(data.get("assumptions", []), f"{self.path}, assumptions"))
        self.hot = {a.index for a in assumptions if a.kind == "onehot"}
        cases = self.cases(at_most(data.get("cases", {}), f"{self.path}, cases"))
        chains = self.chains(data["chains"], {c.name: c for c in cases})
        return Derivation(
            path=self.path,
            title=data["title"],
            k=self.k,
            k_min=self.k_min,
            symbols={n: o for n, o in self.names.items() if n not in declared_functions(self.names)},
            vectors=tuple(self.vectors),
            indices=tuple(self.indices),
            definitions=definitions,
            assumptions=assumptions,
            cases=cases,
            chains=chains,
            notation=self.notation(data.get("notation", {})),
            export=export_table(self, data["export"], chains, definitions) if "export" in data else None,
            dims=tuple(self.dims.values()),
            uses_dims=self.uses_dims,
            ranges=dict(self.ranges),
            shapes=dict(self.shapes),
            functions=tuple(self.functions),
            abstract=tuple(self.abstract),
            date=data["date"].isoformat() if "date" in data else None,
            goal=read_goal(data["goal"], self.names, f"{self.path}, goal", self.spot) if "goal" in data else None,
        )

    def declare(self, name: str, where: str, obj: sympy.Basic) -> None:
        if not (name.isascii() and name.isidentifier()) or name.startswith("_"):
            raise self.error(where, f"expected a plain ASCII name, found {name!r}")
        if name in _RESERVED:
            raise self.error(where, f"{name!r} is reserved")
        if name in self.names:
            raise self.error(where, f"{name!r} is declared twice")
        self.names[name] = obj

    def symbolic_k(self, data: dict) -> str:
        """``k = { symbolic = true, min = M }``: a symbolic k that claims only k >= M."""
        self.table(data, "symbols.k", {"symbolic": bool, "min": int}, ("symbolic", "min"))
        if data["symbolic"] is not True:
            raise self.error("symbols.k.symbolic", "expected true (a concrete k is written k = 3), found false")
        if not 1 <= data["min"] <= 50:
            raise self.error("symbols.k.min", f"expected an integer in 1..50, found {data['min']}")
        self.k_min = data["min"]
        return "symbolic"

    def symbols(self, data: Any) -> None:
        self.table(data, "symbols", _SYMBOLS, ())
        if self.dims_symbols(data):  # named dimensions, or a scalar problem
            return
        k = data["k"]
        if isinstance(k, dict):  # { symbolic = true, min = 2 }: every k >= 2
            k = self.symbolic_k(k)
        if isinstance(k, int):
            if not 1 <= k <= 50:
                raise self.error("symbols.k", f"expected an integer in 1..50 or \"symbolic\", found {k}")
            self.k = k
            self.names["k"] = sympy.Integer(k)
        elif k == "symbolic":
            self.names["k"] = sympy.Symbol("k", integer=True, positive=True)
        else:
            raise self.error("symbols.k", f"expected an integer or \"symbolic\", found {k!r}")
        for n, name in enumerate(at_most(data["indices"], f"{self.path}, symbols.indices")):
            where = f"symbols.indices[{n}]"
            self.typed(name, where, str)
            index = sympy.Symbol(name, integer=True, positive=True)
            self.declare(name, where, index)
            self.indices.append(index)
            self.ranges[index] = self.names["k"]
        for section, make in (("vectors", sympy.IndexedBase), ("scalars", sympy.Symbol)):
            for name, domain in at_most(data.get(section, {}), f"{self.path}, symbols.{section}").items():
                where = f"symbols.{section}.{name}"
                self.typed(domain, where, str)
                if domain not in _DOMAINS:
                    hint = " (dims such as [d] need dims = { ... } in place of k)" if "[" in domain else ""
                    raise self.error(where, f"expected one of {', '.join(map(repr, _DOMAINS))}, found {domain!r}{hint}")
                self.declare(name, where, make(name, **_DOMAINS[domain]))
                if section == "vectors":
                    self.vectors.append(name)
                    self.declared_vectors.append(name)
                    self.ranks[name] = 1
                    self.shapes[name] = (self.names["k"],)

    def definitions(self, data: dict) -> tuple[Definition, ...]:
        out = []
        for n, (target, body_text) in enumerate(data.items()):
            where = f"definitions.{target!r}"
            self.typed(body_text, where, str)
            name, params = self.target(target, where)
            if params and isinstance(params[0], sympy.Dummy):  # "sigma(x)": a function
                self.function(name, params, body_text, where)
                continue
            obj = sympy.IndexedBase(name) if params else sympy.Symbol(name)
            # This and later definitions are visible, so that a use of one is named as
            # such rather than as an unknown name; then refused, since unfolding a
            # definition that reaches itself would never end.
            later = {name: obj, **self.pending(list(data)[n + 1:])}
            later = {key: value for key, value in later.items() if key not in self.names}
            body = self.expression(body_text, where, names={**later, **self.names})
            self.earlier_only(body, name, later, where)
            self.declare(name, where, obj)
            if params:
                self.vectors.append(name)
                self.ranks[name] = len(params)
                self.shapes[name] = tuple(self.ranges.get(p) for p in params)
            out.append(Definition(name=name, params=params, body=body, source=body_text))
            self.bodies[name] = body
        return tuple(out)

    def pending(self, targets: list[str]) -> dict[str, sympy.Basic]:
        """Names of the definitions still to come, as the objects they will be."""
        out = {}
        for target in targets:
            try:
                name, params = self.target(target, "")
            except DerivationFormatError:
                continue  # reported when its own turn comes
            if not (params and isinstance(params[0], sympy.Dummy)):
                out.setdefault(name, sympy.IndexedBase(name) if params else sympy.Symbol(name))
        return out

    def earlier_only(self, body: sympy.Basic, name: str, later: dict, where: str) -> None:
        used = body.free_symbols | {x.base for x in body.atoms(sympy.Indexed)}
        for other, obj in later.items():
            if obj in used:
                if other == name:
                    raise self.error(where, f"{name!r} refers to itself")
                raise self.error(where, f"{other!r} is defined later; a definition may use only the ones above it")

    def small_ast(self, text: str, where: str, shape: str) -> ast.AST:
        """The syntax tree of a short ASCII text (a definition's target, an assumption), else an error."""
        if not text.isascii():  # ast.parse would fold a full-width letter into ASCII (NFKC)
            raise self.error(where, f"{shape}, found {quoted(text)}")
        try:
            return ast.parse(text, mode="eval").body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise self.error(where, f"{shape}, found {quoted(text)}") from None

    def target(self, text: str, where: str) -> tuple[str, tuple[sympy.Symbol, ...]]:
        """``"s[i]"`` -> ("s", (i,)); ``"L"`` -> ("L", ())."""
        shape = "expected a name or name[index, ...] with declared indices"
        node = self.small_ast(text, where, shape)
        if isinstance(node, ast.Name):
            return node.id, ()
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.function_target(node, text, where)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            params = []
            for p in parts:
                if not (isinstance(p, ast.Name) and p.id in self.names and self.names[p.id] in self.indices):
                    raise self.error(where, f"{shape}, found {text!r}")
                params.append(self.names[p.id])
            if len(set(params)) != len(params):
                raise self.error(where, f"{shape} (each once), found {text!r}")
            return node.value.id, tuple(params)
        raise self.error(where, f"{shape}, found {text!r}")

    def assumptions(self, data: list) -> tuple[Assumption, ...]:
        out = []
        for n, text in enumerate(data):
            where = f"assumptions[{n}]"
            self.typed(text, where, str)
            out.append(self.assumption(text, where))
        return tuple(out)

    def assumption(self, text: str, where: str) -> Assumption:
        """``onehot(y, c)``: y_j = 1 if j = c else 0. ``simplex(y)``: y_j >= 0 and they add to 1."""
        shape = "expected onehot(vector, index) or simplex(vector)"
        node = self.small_ast(text, where, shape)
        if isinstance(node, ast.Compare):  # 0 < p < 1, y in {0, 1}
            return self.fact(node, text, where)
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords
                and all(isinstance(a, ast.Name) for a in node.args)):
            raise self.error(where, f"{shape}, found {text!r}")
        kind, args = node.func.id, [a.id for a in node.args]
        arity = {"onehot": 2, "simplex": 1}.get(kind)
        if arity is None or len(args) != arity:
            raise self.error(where, f"{shape}, found {text!r}")
        if args[0] not in self.declared_vectors:
            raise self.error(where, f"expected a declared vector, found {args[0]!r}")
        if kind == "onehot":
            index = self.names.get(args[1])
            if index not in self.indices:
                raise self.error(where, f"expected a declared index, found {args[1]!r}")
            return Assumption(kind="onehot", text=text, vector=args[0], index=index)
        return Assumption(kind="simplex", text=text, vector=args[0])

    def cases(self, data: dict) -> tuple[Case, ...]:
        out = []
        for name, text in data.items():
            where = f"cases.{name}"
            self.typed(text, where, str)
            cond = self.expression(text, where, relations=True)
            if not isinstance(cond, (sympy.Eq, sympy.Ne)):
                raise self.error(where, f"expected Eq(a, b) or Ne(a, b), found {text!r}")
            a, b = cond.args
            # Each side a declared index or a whole number: with Eq(i + 1, c) the placements
            # of i could force c out of 1..k, and a true step was reported failing there.
            sizes = {d.symbol for d in self.dims.values()} | {self.names.get("k")}  # k, or named dims
            plain = all(x in self.indices or x.free_symbols <= sizes for x in (a, b))
            if not (plain and cond.free_symbols & set(self.indices)):
                raise self.error(where, f"expected a relation between indices (each side an index, or a "
                                        f"number such as 1 or k), found {text!r}")
            if not (self.can_hold_dims(cond) if self.uses_dims else self.can_hold(cond)):
                # Checked under a case that never holds, every step would pass vacuously.
                span = "their dims" if self.uses_dims else f"1..{self.k or 'k'}"
                raise self.error(where, f"{text!r} never holds for indices in {span}")
            label = f"{a} {'=' if isinstance(cond, sympy.Eq) else '!='} {b}"
            out.append(Case(name=name, label=label, condition=cond))
        return tuple(out)

    def can_hold(self, cond: sympy.Basic, limit: int = 10_000) -> bool:
        """Whether some k (the file's, or 1..6) and some indices in 1..k satisfy ``cond``.

        True also when there are too many placements to try: undecided is not refused.
        """
        indices = sorted(cond.free_symbols & set(self.indices), key=lambda s: s.name)
        ks = (self.k,) if self.k is not None else range(self.k_min, max(7, self.k_min + 1))
        if max(ks) ** len(indices) > limit:
            return True
        equal = isinstance(cond, sympy.Eq)
        for k in ks:
            for values in itertools.product(range(1, k + 1), repeat=len(indices)):
                env = {self.names["k"]: sympy.Integer(k), **dict(zip(indices, map(sympy.Integer, values)))}
                a, b = (side.xreplace(env) for side in cond.args)
                if not (a.is_Integer and b.is_Integer) or (a == b) == equal:
                    return True
        return False

    def chains(self, data: list, cases: dict[str, Case]) -> tuple[Chain, ...]:
        if not data:
            raise self.error("chains", "expected at least one chain, found none")
        out, seen, total, line = [], set(), 0, 0
        for n, chain in enumerate(data):
            where = f"chains[{n}]"
            self.table(chain, where, _CHAIN, ("name", "start", "steps"))
            name = chain["name"]
            if not name.strip():
                raise self.error(f"{where}.name", f"expected a name, found {name!r}")
            check_text(name, f"{self.path}, {where}.name")
            where = f"chain {name!r}"
            if name in seen:
                raise self.error(where, "chain name used twice")
            seen.add(name)
            case = None
            if "case" in chain:
                case = cases.get(chain["case"])
                if case is None:
                    raise self.error(f"{where}, case", f"expected one of {sorted(cases)}, found {chain['case']!r}")
            line = self.line_of(f'"{name}"', line)
            start = self.expression(chain["start"], f"{where}, start", line=line)
            steps = []
            if not chain["steps"]:
                raise self.error(f"{where}, steps", "expected at least one step, found none")
            if total + len(chain["steps"]) > MAX_STEPS:  # before reading them: each takes time
                raise self.error(where, f"more than {MAX_STEPS} steps in the file")
            for m, raw in enumerate(chain["steps"], start=1):
                at = f"{where}, step {m}"
                self.table(raw, at, _STEP, ("expr", "reason"))
                if not raw["reason"].strip():
                    raise self.error(f"{at}, reason", "expected a reason, found an empty string")
                line = self.line_of(raw["expr"], line)
                expr = self.expression(raw["expr"], at, line=line)
                reason = raw["reason"].strip()
                steps.append(Step(expr=expr, reason=reason, source=raw["expr"], line=line or None,
                                  reason_parts=self.prose(reason, f"{at}.reason", line)))
                line = line or 0
            steps += self.whole_steps(chain, where, start, case)  # the whole matrix, one more step
            total += len(steps)
            if total > MAX_STEPS:
                raise self.error(where, f"more than {MAX_STEPS} steps in the file")
            title = chain.get("title", "")
            vector = self.vector(chain["vector"], where, start, case) if "vector" in chain else None
            out.append(Chain(name=name, title=title, start=start,
                             start_source=chain["start"], steps=tuple(steps), case=case,
                             title_parts=self.prose(title, f"{where}.title"), vector_index=vector,
                             **read_prose_around(chain, self.names, f"{self.path}, {where}", self.spot)))
        return tuple(out)

    def line_of(self, source: str, after: int) -> int:
        """1-based line where ``source`` next appears after line ``after``; 0 if not found."""
        for n in range(after, len(self.lines)):
            if source in self.lines[n]:
                return n + 1
        return 0

    def notation(self, data: dict) -> Notation:
        self.table(data, "notation", _NOTATION, ())
        name = data.get("softmax_name", "s")
        if name not in ("s", "softmax"):
            raise self.error("notation.softmax_name", f"expected \"s\" or \"softmax\", found {name!r}")
        return Notation(bold_vectors=data.get("bold_vectors", True), softmax_name=name)
