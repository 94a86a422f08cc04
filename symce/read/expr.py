"""Safe text -> SymPy: a whitelist over Python's ``ast`` that builds SymPy objects itself.

Derivation files may come from students, so their text is untrusted. Nothing here
hands text to a function that runs code or guesses at meaning; every accepted node
is translated explicitly, everything else is refused with a message that says where
and what. Sizes are capped *before* anything is built, and numeric powers are sized
before they are computed, so ``9**9**9**9`` is refused in microseconds.

>>> import sympy
>>> i = sympy.Symbol("i", integer=True, positive=True)
>>> z = sympy.IndexedBase("z", real=True)
>>> read_expression("exp(z[i]) / 2", {"i": i, "z": z})
exp(z[i])/2
>>> read_expression("().__class__", {}, where="f.toml, step 1")
Traceback (most recent call last):
...
symce.errors.UnsafeExpressionError: f.toml, step 1: attribute access ('.__class__') is not allowed
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from fractions import Fraction

import sympy

from ..errors import DerivationFormatError, UnsafeExpressionError
from .bounds import Budget, Reach, integer_by_form, literal_zero

MAX_EXPRESSION_CHARS = 4000  # one expression; the reference's longest is ~150
MAX_NODES = 600  # ast nodes per expression
MAX_SUM_DEPTH = 8  # sums inside sums; SymPy re-reads the whole body for each level it nests
MAX_INT_DIGITS = 30  # integer literals up to 10**30
MAX_EXPONENT = 64  # |n| for a numeric exponent n
MAX_POWER_BITS = 4096  # size of a numeric power a**n once computed

FUNCTIONS = ("exp", "log", "sqrt", "Sum", "Derivative", "KroneckerDelta", "Abs", "Max", "Min")
MAX_DERIVATIVE_ORDER = 8  # Derivative(f, x, n): n at most this
RELATIONS = ("Eq", "Ne")

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}

# Friendly names for the node kinds people try; anything else is named by its class.
_REFUSED = {
    ast.Attribute: "attribute access",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.Starred: "starred argument",
    ast.NamedExpr: "assignment expression",
    ast.IfExp: "conditional expression",
    ast.BoolOp: "boolean operator",
    ast.Compare: "comparison (write Eq(a, b) or Ne(a, b))",
    ast.JoinedStr: "f-string",
    ast.List: "list",
    ast.Dict: "dict",
    ast.Set: "set",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.Slice: "slice",
    ast.Tuple: "tuple (allowed only as the limits of Sum)",
}


def read_expression(
    text: str,
    names: Mapping[str, sympy.Basic],
    *,
    where: str = "<expression>",
    relations: bool = False,
    whole_vectors: bool = False,
    budget: Budget | None = None,
) -> sympy.Basic:
    """Translate ``text`` into a SymPy expression using only ``names`` and the whitelist.

    ``names`` maps each declared name to its SymPy object (a ``Symbol``, an
    ``IndexedBase`` for a vector, a number for a concrete ``k``). ``relations``
    admits ``Eq``/``Ne`` (used for cases). ``whole_vectors`` admits a vector's
    bare name (``y``) as a plain symbol, for math in prose ("a one-hot ``y``").
    ``where`` prefixes every message. ``budget``, shared by the expressions of one
    file, caps their syntax nodes together, so that loading any file stays fast.

    >>> read_expression("__import__('os')", {})
    Traceback (most recent call last):
    ...
    symce.errors.UnsafeExpressionError: <expression>: name '__import__' is not allowed (dunder names are refused)
    >>> read_expression("9**9**9**9", {})
    Traceback (most recent call last):
    ...
    symce.errors.UnsafeExpressionError: <expression>: exponent 387420489 is too large (at most 64 in absolute value)
    """
    if not isinstance(text, str):
        raise DerivationFormatError(f"{where}: expected an expression string, found {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise UnsafeExpressionError(
            f"{where}: expression is {len(text)} characters long (at most {MAX_EXPRESSION_CHARS})"
        )
    _ascii_only(text, where)
    tree = _parse_tree(text, where, budget)
    expr = _Builder(names, where, relations, whole_vectors).build(tree.body)
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise DerivationFormatError(f"{where}: expression has no finite value: {quoted(text)}")
    return expr


def quoted(text: str, limit: int = 60) -> str:
    """``repr(text)``, cut to ``limit`` characters so that an error stays one readable line.

    >>> quoted("(" * 100)
    "'((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((...' (100 characters)"
    """
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit] + '...'!r} ({len(text)} characters)"


def _ascii_only(text: str, where: str) -> None:
    """Refuse look-alikes: Python folds a full-width ``ｚ`` into ``z`` (NFKC) when it parses."""
    for column, char in enumerate(text, start=1):
        if not char.isascii():
            raise DerivationFormatError(
                f"{where}: character {char!r} (U+{ord(char):04X}) at column {column}; expressions are ASCII"
            )


def _parse_tree(text: str, where: str, budget: Budget | None = None) -> ast.Expression:
    """Python's own parser, made to report through our errors; it runs nothing."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise DerivationFormatError(f"{where}: not a valid expression ({exc.msg}): {quoted(text)}") from None
    except (ValueError, RecursionError, MemoryError):
        raise UnsafeExpressionError(f"{where}: expression is too deeply nested or too large") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise UnsafeExpressionError(f"{where}: expression has {count} syntax nodes (at most {MAX_NODES})")
    if budget is not None:
        budget.spend(count, where)
    return tree


MAX_PROSE_PIECES = 32  # math pieces in one reason or title


def read_prose(text: str, names: Mapping[str, sympy.Basic], *, where: str = "<text>",
               budget: Budget | None = None) -> tuple:
    """Split author text into words and math: the pieces between backticks are expressions.

    A reason names math ("every `y[j]` vanishes"); typeset as text, ``y_j`` would show
    its underscore. Each backticked piece is read by ``read_expression`` with the
    same names and caps, so a reason is no way around the whitelist. A piece may be
    one relation, ``a = b`` or ``a != b``, split at its single top-level operator;
    a bare vector name (``y``) means the whole vector. The result alternates text
    (``str``, possibly empty) and SymPy objects, starting and ending with text.

    >>> i = sympy.Symbol("i", integer=True)
    >>> y = sympy.IndexedBase("y")
    >>> read_prose("every `y[i]` vanishes except `y[i] = 1`", {"i": i, "y": y})
    ('every ', y[i], ' vanishes except ', Eq(y[i], 1), '')
    >>> read_prose("the `y[i` term", {"i": i, "y": y}, where="f.toml, step 2.reason")
    Traceback (most recent call last):
    ...
    symce.errors.DerivationFormatError: f.toml, step 2.reason: cannot read `y[i`: not a valid expression ('[' was never closed): 'y[i'
    >>> read_prose("an odd ` backtick", {}, where="f.toml, step 2.reason")
    Traceback (most recent call last):
    ...
    symce.errors.DerivationFormatError: f.toml, step 2.reason: unmatched backtick; math goes between a pair of backticks, e.g. `y[c] = 1`
    """
    pieces = text.split("`")
    if len(pieces) % 2 == 0:
        raise DerivationFormatError(
            f"{where}: unmatched backtick; math goes between a pair of backticks, e.g. `y[c] = 1`"
        )
    if len(pieces) // 2 > MAX_PROSE_PIECES:
        raise UnsafeExpressionError(
            f"{where}: {len(pieces) // 2} pieces of math between backticks (at most {MAX_PROSE_PIECES})"
        )
    out: list = []
    for n, piece in enumerate(pieces):
        out.append(_read_math_piece(piece, names, where, budget) if n % 2 else piece)
    return tuple(out)


def _read_math_piece(piece: str, names: Mapping[str, sympy.Basic], where: str,
                     budget: Budget | None = None) -> sympy.Basic:
    shown = piece if len(piece) <= 40 else piece[:37] + "..."
    at = f"{where}: cannot read `{shown}`"
    if not piece.strip():
        raise DerivationFormatError(f"{at}: nothing between the backticks")

    def read(part: str) -> sympy.Basic:
        return read_expression(part, names, where=at, relations=True, whole_vectors=True, budget=budget)

    relation = _top_level_relation(piece, at)
    if relation is None:
        return read(piece)
    start, op = relation
    lhs, rhs = read(piece[:start]), read(piece[start + len(op):])
    return (sympy.Eq if op == "=" else sympy.Ne)(lhs, rhs, evaluate=False)


def _top_level_relation(text: str, where: str) -> tuple[int, str] | None:
    """Where the one ``=`` or ``!=`` outside brackets is, if there is one.

    ``==``, ``<=`` and ``>=`` are left to the expression reader, which refuses them.
    """
    found, depth = [], 0
    for n, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch == "!" and text[n + 1:n + 2] == "=":
            found.append((n, "!="))
        elif (depth == 0 and ch == "=" and text[n - 1:n] not in ("=", "!", "<", ">")
              and text[n + 1:n + 2] != "="):
            found.append((n, "="))
    if len(found) > 1:
        raise DerivationFormatError(f"{where}: at most one '=' or '!=' in one piece of math")
    return found[0] if found else None


class DeclaredFunction(tuple):
    """A name bound to a function of the file, while reading: the tuple of its parameters."""

    params = property(tuple)


def _declared_function(obj) -> bool:
    return isinstance(obj, DeclaredFunction)


class _Builder:
    """One pass over a size-checked tree; each accepted node kind has one method."""

    def __init__(self, names: Mapping[str, sympy.Basic], where: str, relations: bool,
                 whole_vectors: bool = False, reach: Reach | None = None):
        self.names = names
        self.where = where
        self.relations = relations
        self.whole_vectors = whole_vectors
        self.reach = reach if reach is not None else Reach()
        self.sums = 0  # Sums this builder is inside

    def refuse(self, what: str) -> UnsafeExpressionError:
        return UnsafeExpressionError(f"{self.where}: {what} is not allowed")

    def dunder(self, name: str) -> UnsafeExpressionError:
        return UnsafeExpressionError(f"{self.where}: name {name!r} is not allowed (dunder names are refused)")

    def bad(self, what: str) -> DerivationFormatError:
        return DerivationFormatError(f"{self.where}: {what}")

    def build(self, node: ast.AST) -> sympy.Basic:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            if isinstance(node, ast.Attribute):
                raise self.refuse(f"attribute access ('.{node.attr}')")
            what = _REFUSED.get(type(node), f"syntax {type(node).__name__!r}")
            raise self.refuse(what)
        expr = method(node)
        # Sized before anything asks SymPy about it: an assumption query or an evaluating
        # constructor on the next node up may compute what this one can reach.
        self.reach.check(expr, self.where)
        return expr

    # --- leaves -------------------------------------------------------------

    def _Constant(self, node: ast.Constant) -> sympy.Basic:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse(f"literal {value!r}")
        if isinstance(value, int):
            if abs(value) >= 10**MAX_INT_DIGITS:
                raise UnsafeExpressionError(
                    f"{self.where}: integer literal has more than {MAX_INT_DIGITS} digits"
                )
            return sympy.Integer(value)
        if not math.isfinite(value):
            raise self.refuse(f"non-finite number {value!r}")
        # Exact: 0.1 means one tenth, not the nearest binary double.
        frac = Fraction(repr(value))
        return sympy.Rational(frac.numerator, frac.denominator)

    def _Name(self, node: ast.Name) -> sympy.Basic:
        name = node.id
        if name.startswith("__") or name.endswith("__"):
            raise self.dunder(name)
        if name in FUNCTIONS or name in RELATIONS or _declared_function(self.names.get(name)):
            raise self.bad(f"function {name!r} must be called, e.g. {name}(...)")
        if name not in self.names:
            raise self.bad(f"unknown name {name!r} (declare it under [symbols] or [definitions])")
        obj = self.names[name]
        if isinstance(obj, sympy.IndexedBase):
            if self.whole_vectors:
                return sympy.Symbol(name)  # printed as the vector (bold); never checked
            raise self.bad(f"vector {name!r} needs an index, e.g. {name}[i]")
        return obj

    # --- operators ----------------------------------------------------------

    def _UnaryOp(self, node: ast.UnaryOp) -> sympy.Basic:
        if isinstance(node.op, ast.USub):
            operand = self.build(node.operand)
            return -operand if operand.is_Number else sympy.Mul(-1, operand, evaluate=False)
        if isinstance(node.op, ast.UAdd):
            return self.build(node.operand)
        raise self.refuse(f"operator {type(node.op).__name__!r}")

    def _BinOp(self, node: ast.BinOp) -> sympy.Basic:
        # Built unevaluated so that a printer shows the step as the author wrote it
        # (exp(z_c)*exp(z_c), not exp(2 z_c)); the verifier re-evaluates. Numbers are
        # folded at once, after sizing, so that exponent checks see plain numbers.
        op = type(node.op)
        if op not in _BINARY:
            raise self.refuse(f"operator {type(node.op).__name__!r}")
        left, right = self.build(node.left), self.build(node.right)
        if op is ast.Pow:
            return self._power(left, right)
        if op is ast.Div and literal_zero(right):
            raise self.bad("division by zero")
        numbers = left.is_Number and right.is_Number
        if op is ast.Add:
            return left + right if numbers else sympy.Add(left, right, evaluate=False)
        if op is ast.Sub:
            if numbers:
                return left - right
            negated = -right if right.is_Number else sympy.Mul(-1, right, evaluate=False)
            return sympy.Add(left, negated, evaluate=False)
        if op is ast.Mult:
            return left * right if numbers else sympy.Mul(left, right, evaluate=False)
        if numbers:
            return left / right
        return sympy.Mul(left, sympy.Pow(right, -1, evaluate=False), evaluate=False)

    def _power(self, base: sympy.Basic, exponent: sympy.Basic) -> sympy.Basic:
        """Size a numeric power before SymPy computes it."""
        if exponent.is_Number:
            if abs(exponent) > MAX_EXPONENT:
                raise UnsafeExpressionError(
                    f"{self.where}: exponent {exponent} is too large (at most {MAX_EXPONENT} in absolute value)"
                )
            if base.is_Rational:
                bits = float(abs(exponent)) * max(abs(base.p), abs(base.q)).bit_length()
                if bits > MAX_POWER_BITS:
                    raise UnsafeExpressionError(
                        f"{self.where}: {base}**{exponent} would have about {int(bits)} bits"
                        f" (at most {MAX_POWER_BITS})"
                    )
            if literal_zero(base) and exponent.is_negative:
                raise self.bad("division by zero")
            if base.is_Number:
                return base**exponent
        elif not exponent.free_symbols:
            raise UnsafeExpressionError(
                f"{self.where}: exponent {exponent} must be a plain number or contain a symbol"
            )
        elif base.is_Number and abs(base) != 1:
            # A number to a symbolic power becomes a number once an index gets a value (the
            # instances, the typeset row vector): 2**(10**29 * i) or 0.5**(-2**(32*i)) would be
            # computed exactly in memory. Keep such exponents small and free of towers.
            big = [n for n in exponent.atoms(sympy.Number) if abs(n) > MAX_EXPONENT]
            tower = any(p.exp.free_symbols for p in exponent.atoms(sympy.Pow))
            if big or tower:
                raise UnsafeExpressionError(
                    f"{self.where}: {base}**({exponent}) could grow too large once its symbols have "
                    f"values (numbers in a symbolic exponent of a number are at most {MAX_EXPONENT}, "
                    "and no towers)"
                )
        return sympy.Pow(base, exponent, evaluate=False)

    def _Subscript(self, node: ast.Subscript) -> sympy.Basic:
        if not isinstance(node.value, ast.Name):
            raise self.refuse("indexing anything but a vector name")
        name = node.value.id
        if name.startswith("__"):
            raise self.dunder(name)
        base = self.names.get(name)
        if not isinstance(base, sympy.IndexedBase):
            raise self.bad(f"{name!r} is not a vector and cannot be indexed")
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        indices = [self.build(p) for p in parts]
        for index in indices:
            if not integer_by_form(index):
                raise self.bad(f"index {index} of {name!r} is not an integer expression")
        return base[tuple(indices)] if len(indices) > 1 else base[indices[0]]

    # --- calls --------------------------------------------------------------

    def _Call(self, node: ast.Call) -> sympy.Basic:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                raise self.refuse(f"attribute access ('.{node.func.attr}')")
            raise self.refuse("calling anything but a whitelisted function name")
        name = node.func.id
        if name.startswith("__") or name.endswith("__"):
            raise self.dunder(name)
        declared = self.names.get(name)
        allowed = FUNCTIONS + (RELATIONS if self.relations else ())
        if name not in allowed and not _declared_function(declared):
            mine = sorted(n for n, o in self.names.items() if _declared_function(o))
            raise self.refuse(f"calling {name!r} (allowed: {', '.join(allowed + tuple(mine))}; "
                              "a function of your own is defined as \"f(x)\" = \"...\" under [definitions])")
        if node.keywords:
            raise self.refuse(f"keyword argument in {name}()")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.refuse(f"starred argument in {name}()")
        if name not in allowed:
            return self._call_declared(name, declared, node.args)
        return getattr(self, f"_call_{name}")(node.args)

    def _call_declared(self, name: str, function, args):
        """A function the file defines, ``sigma(z[i])``: kept folded, unfolded by the verifier."""
        want = len(function.params)
        if len(args) != want:
            raise self.bad(f"{name}() takes {want} argument{'s' if want != 1 else ''}, found {len(args)}")
        built = [self.build(a) for a in args]
        return sympy.Function(name, real=True)(*built)

    def _call_Abs(self, args):
        self._arity("Abs", args, 1)
        return sympy.Abs(self.build(args[0]), evaluate=False)

    def _call_Max(self, args):
        self._arity("Max", args, 2, 8)
        return sympy.Max(*(self.build(a) for a in args), evaluate=False)

    def _call_Min(self, args):
        self._arity("Min", args, 2, 8)
        return sympy.Min(*(self.build(a) for a in args), evaluate=False)

    def _arity(self, name: str, args: list, low: int, high: int | None = None) -> None:
        high = low if high is None else high
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise self.bad(f"{name}() takes {want} arguments, found {len(args)}")

    # Functions, like operators, are built unevaluated: log(exp(z[i] - m)) must reach the
    # printer as written, not as z[i] - m; the verifier evaluates when it unfolds.
    def _call_exp(self, args):
        self._arity("exp", args, 1)
        return sympy.exp(self.build(args[0]), evaluate=False)

    def _call_log(self, args):
        self._arity("log", args, 1)
        arg = self.build(args[0])
        if literal_zero(arg):
            raise self.bad("log(0) has no finite value")
        return sympy.log(arg, evaluate=False)

    def _call_sqrt(self, args):
        self._arity("sqrt", args, 1)
        return sympy.sqrt(self.build(args[0]), evaluate=False)

    def _call_KroneckerDelta(self, args):
        self._arity("KroneckerDelta", args, 2)
        a, b = (self.build(x) for x in args)
        for x in (a, b):
            if not integer_by_form(x):  # a delta of logits has no 0/1 meaning; probes skipped it
                raise self.bad(f"KroneckerDelta() argument {x} is not an integer expression")
        return sympy.KroneckerDelta(a, b)

    def _call_Eq(self, args):
        self._arity("Eq", args, 2)
        return sympy.Eq(*(self.build(x) for x in args), evaluate=False)

    def _call_Ne(self, args):
        self._arity("Ne", args, 2)
        return sympy.Ne(*(self.build(x) for x in args), evaluate=False)

    def _call_Sum(self, args):
        self._arity("Sum", args, 2)
        limits = args[1]
        if not (isinstance(limits, ast.Tuple) and len(limits.elts) == 3):
            raise self.bad("Sum() needs limits written as (index, low, high)")
        var, low, high = (self.build(e) for e in limits.elts)
        if not (isinstance(var, sympy.Symbol) and var.is_integer) or var == self.names.get("k"):
            raise self.bad(f"Sum() index {var} is not a declared index symbol")
        for bound in (low, high):
            if not integer_by_form(bound):
                raise self.bad(f"Sum() limit {bound} is not an integer expression")
        # The summation variable ranges over the limits, not over the declared 1..k: with
        # the declared (positive) symbol, KroneckerDelta(j, 0) in Sum(..., (j, 0, k)) was
        # folded to 0 as it was read. The body gets a variable that is an integer only
        # (same name, other assumptions: a different symbol, printed as the author wrote it).
        dummy = sympy.Symbol(var.name, integer=True)
        if self.sums >= MAX_SUM_DEPTH:
            raise UnsafeExpressionError(f"{self.where}: sums nested more than {MAX_SUM_DEPTH} deep")
        inner = _Builder({**self.names, var.name: dummy}, self.where, self.relations, self.whole_vectors,
                         self.reach.inner(dummy, low, high))
        inner.sums = self.sums + 1
        return sympy.Sum(inner.build(args[0]), (dummy, low, high))

    def _call_Derivative(self, args):
        self._arity("Derivative", args, 2, 8)
        expr = self.build(args[0])
        variables: list = []
        for a in args[1:]:
            # Derivative(f, x, 2): a whole-number literal after a variable is its order
            if isinstance(a, ast.Constant) and type(a.value) is int and variables:
                if not 1 <= a.value <= MAX_DERIVATIVE_ORDER or isinstance(variables[-1], tuple):
                    raise self.bad(f"Derivative() order {a.value}: expected 1..{MAX_DERIVATIVE_ORDER}"
                                   " right after the variable, e.g. Derivative(f, x, 2)")
                variables[-1] = (variables[-1], a.value)
                continue
            variables.append(self.build(a))
        for v in variables:
            v = v[0] if isinstance(v, tuple) else v
            if not isinstance(v, (sympy.Symbol, sympy.Indexed)):
                raise self.bad(f"Derivative() with respect to {v}: expected a name or an entry such as z[i]")
            if v.is_integer:
                raise self.bad(f"Derivative() with respect to {v}: an integer (the class count or an index)"
                               " is not a variable")
        return sympy.Derivative(expr, *variables, evaluate=False)
