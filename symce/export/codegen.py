"""Export the proved loss and gradient as a standalone numpy, torch or jax module.

The mathematics of the exported code is printed from the expressions proved in
``symce.export.stable`` by SymPy's code printers; only the scaffolding (argument
checks, the row maximum m, return) is a template. Two small pieces sit between
the printer and the text:

- ``_ArrayPrinterMixin`` (one printer subclass per backend) prints ``z[c]`` as the
  array ``z`` and ``Sum(f, (c, 1, k))`` as a reduction over the last axis;
- ``_InPlaceWriter`` turns a straight-line program (``sympy.cse`` of the proved
  expression) into calls with ``out=`` so that ``grad`` allocates only its output
  and ``loss`` one work array, for numpy and torch. jax arrays are immutable, so
  jax gets the same program printed as plain assignments.

>>> source = export_source("softmax-ce", backend="numpy")
>>> "numpy.subtract(z, m)" in source and "import torch" not in source
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy
from sympy.printing.numpy import JaxPrinter, NumPyPrinter

from ..errors import UsageError
from ..model.catalogue import IDENTITIES
from . import BACKENDS, EXPORT_ASSUMPTIONS
from .stable import StableForms, stable_forms


# --- printers -----------------------------------------------------------------

class _ArrayPrinterMixin:
    """Print class-indexed expressions as whole-array code, classes on the last axis."""

    _reduce = "axis=-1, keepdims=True"

    def _print_Indexed(self, expr):
        return self._print(expr.base.label)

    def _print_Sum(self, expr):
        (_, lower, upper), = expr.limits  # always (c, 1, k): the whole class axis
        return f"{self._module_format(self._module + '.sum')}({self._print(expr.function)}, {self._reduce})"

    def _print__Softmax(self, expr):
        return f"{self._module_format(self._module + '.softmax')}({self._print(expr.args[0])}, dim=-1)"


class _NumPyArrayPrinter(_ArrayPrinterMixin, NumPyPrinter):
    pass


def _torch_array_printer() -> type:
    # sympy.printing.pytorch imports torch at its own import (about 1.5 s), so the
    # printer class is built only when an export to torch asks for it.
    from sympy.printing.pytorch import TorchPrinter

    class _TorchArrayPrinter(_ArrayPrinterMixin, TorchPrinter):
        _reduce = "dim=-1, keepdim=True"

    return _TorchArrayPrinter


class _JaxArrayPrinter(_ArrayPrinterMixin, JaxPrinter):
    pass


class _Softmax(sympy.Function):
    """softmax over the last axis; printed as torch's fused kernel (see ``_fuse_softmax``)."""


@dataclass(frozen=True)
class _Backend:
    """What differs between backends: printer, in-place op names, scaffolding snippets."""

    name: str  # numpy, torch or jax
    printer: Callable[[], type]  # returns the array printer class
    in_place: bool  # ops accept out=; False prints plain assignments
    ops: dict  # Add/Sub/Mul/Div -> function name
    vecdot: str  # row-wise dot product of two arrays, keeping a last axis of 1
    row_max: str  # m, the shift: the maximum over the class axis
    fuse_softmax: bool  # print exp(z - m)/Sum(exp(z - m)) as the library's softmax


_BACKENDS = {
    "numpy": _Backend(
        "numpy", lambda: _NumPyArrayPrinter, True,
        {"add": "numpy.add", "sub": "numpy.subtract", "mul": "numpy.multiply", "div": "numpy.divide"},
        "numpy.vecdot({a}, {b})[..., None]", "numpy.max(z, axis=-1, keepdims=True)", False),
    "torch": _Backend(
        "torch", _torch_array_printer, True,
        {"add": "torch.add", "sub": "torch.sub", "mul": "torch.mul", "div": "torch.div"},
        "torch.linalg.vecdot({a}, {b}).unsqueeze(-1)", "torch.amax(z, dim=-1, keepdim=True)", True),
    "jax": _Backend(
        "jax", lambda: _JaxArrayPrinter, False,
        {"add": "jax.numpy.add", "sub": "jax.numpy.subtract", "mul": "jax.numpy.multiply",
         "div": "jax.numpy.divide"},
        "jax.numpy.vecdot({a}, {b})[..., None]", "jax.numpy.max(z, axis=-1, keepdims=True)", False),
}


# --- the in-place writer ------------------------------------------------------

class _InPlaceWriter:
    """Print a straight-line program of array statements into one buffer with ``out=``.

    Arrays (``z``, ``y`` and the program's array symbols) have the batch's shape;
    rows (``m``, Sums) have a last axis of 1 and are printed by the printer as they
    are. All array statements share the buffer ``buf``: each may read only the
    array computed just before it, which it then overwrites. That is what keeps
    the export to one batch-sized allocation; the writer refuses programs that
    would need more (an internal error, never reached by the shipped identities).
    """

    def __init__(self, backend: _Backend, inputs: dict, buf: str):
        self.b = backend
        self.p = backend.printer()({"fully_qualified_modules": True})
        self.names = dict(inputs)  # array symbol -> name of the array holding it
        self.buf = buf
        self.allocated = False
        self.lines: list[str] = []
        self.rows = 0

    # -- classification
    def is_array(self, e) -> bool:
        if isinstance(e, sympy.Sum):
            return False
        if isinstance(e, sympy.Indexed) or e in self.names:
            return True
        return any(self.is_array(a) for a in e.args)

    def is_leaf(self, e) -> bool:
        return isinstance(e, sympy.Indexed) or e in self.names

    def name(self, e) -> str:
        return self.names[e.base.label if isinstance(e, sympy.Indexed) else e]

    # -- rows
    def row(self, e) -> str:
        """Print a row expression, first hoisting Sums over arrays into named rows."""
        # Sums that only read come before the one that reuses the buffer; then a fixed order.
        sums = sorted(e.atoms(sympy.Sum), key=lambda s: (self._writes_buffer(s), sympy.default_sort_key(s)))
        subs = {}
        for s in sums:
            f = s.function
            factors = sympy.Mul.make_args(f)
            if self.is_leaf(f):
                code = self.p.doprint(s.xreplace({f: sympy.Symbol(self.name(f))}))
            elif len(factors) == 2 and all(self.is_leaf(a) for a in factors):
                code = self.b.vecdot.format(a=self.name(factors[0]), b=self.name(factors[1]))
            else:
                src = self.array(f)
                code = self.p.doprint(sympy.Sum(sympy.Symbol(src), s.limits[0]))
            subs[s] = self.assign_row(code)
        return self.p.doprint(e.xreplace(subs))

    def _writes_buffer(self, s) -> bool:
        f = s.function
        factors = sympy.Mul.make_args(f)
        return not (self.is_leaf(f) or (len(factors) == 2 and all(self.is_leaf(a) for a in factors)))

    def assign_row(self, code: str) -> sympy.Symbol:
        sym = sympy.Symbol(f"r{self.rows}")
        self.rows += 1
        self.lines.append(f"{sym} = {code}")
        return sym

    # -- arrays
    def op(self, fn: str, *args: str) -> str:
        if not self.b.in_place:
            self.lines.append(f"{self.buf} = {fn}({', '.join(args)})")
        elif self.allocated:
            self.lines.append(f"{fn}({', '.join(args)}, out={self.buf})")
        else:
            self.lines.append(f"{self.buf} = {fn}({', '.join(args)})")
        self.allocated = True
        return self.buf

    def array(self, e) -> str:
        """Emit code leaving the array value of ``e`` in the buffer (or name a leaf); return where."""
        if self.is_leaf(e):
            return self.name(e)
        if isinstance(e, _Softmax):
            if self.allocated and self.b.in_place:
                raise NotImplementedError("softmax has no out= form; it must come first")
            self.allocated = True
            self.lines.append(f"{self.buf} = {self.p.doprint(e.func(sympy.Symbol(self.array(e.args[0]))))}")
            return self.buf
        if isinstance(e, sympy.Function):
            (arg,) = e.args
            fn = self.p.doprint(e.func(sympy.Symbol("_"))).rsplit("(", 1)[0]
            return self.op(fn, self.array(arg))
        if isinstance(e, sympy.Add):
            return self._add(e)
        if isinstance(e, sympy.Mul):
            return self._mul(e)
        raise NotImplementedError(f"no in-place form for {type(e).__name__}: {e}")

    def _split(self, args):
        arrays = [a for a in args if self.is_array(a)]
        rows = [a for a in args if not self.is_array(a)]
        return arrays, rows

    def _first_computed(self, operands, key=lambda a: a):
        """Order operands so the one computed operand comes first; refuse a second one."""
        operands = sorted(operands, key=lambda a: self.is_leaf(key(a)))
        if sum(not self.is_leaf(key(a)) for a in operands) > 1:
            raise NotImplementedError("more than one computed array operand needs a second buffer")
        return operands

    def _add(self, e) -> str:
        arrays, rows = self._split(e.args)
        terms = [(-a, "sub") if a.could_extract_minus_sign() else (a, "add") for a in arrays]
        terms = self._first_computed(terms, key=lambda ts: ts[0])
        row_sum = sympy.Add(*rows)
        row_sign = "sub" if row_sum.could_extract_minus_sign() else "add"
        rest = self.row(-row_sum if row_sign == "sub" else row_sum) if rows else None
        (first, sign), *others = terms
        if sign == "add":
            src = self.array(first)
            if rest is not None:
                src = self.op(self.b.ops[row_sign], src, rest)
        elif rest is not None and row_sign == "add":
            src = self.op(self.b.ops["sub"], rest, self.array(first))
        else:
            raise NotImplementedError(f"no in-place form for a leading negative term: {e}")
        for term, sign in others:
            src = self.op(self.b.ops[sign], src, self.array(term))
        return src

    def _mul(self, e) -> str:
        arrays, rows = self._split(e.args)
        arrays = self._first_computed(arrays)
        src = self.array(arrays[0])
        for a in arrays[1:]:
            src = self.op(self.b.ops["mul"], src, self.array(a))
        if rows:
            factor = sympy.Mul(*rows)
            num, den = factor.as_numer_denom()
            if num == 1:  # divide by the row rather than multiply by its reciprocal
                src = self.op(self.b.ops["div"], src, self.row(den))
            else:
                src = self.op(self.b.ops["mul"], src, self.row(factor))
        return src

    def statement(self, sym, e) -> None:
        """Compute ``e``; an array lands in the buffer and ``sym`` names it from then on."""
        if self.is_array(e):
            where = self.array(e)
            if where != self.buf:  # a bare leaf: copy, so the buffer owns the value
                where = self.op(self.b.ops["add"], where, "0")
            self.names[sym] = self.buf
        else:
            self.lines.append(f"{sym} = {self.row(e)}")


def _fuse_softmax(expr, forms: StableForms):
    """Replace ``exp(t)/Sum(exp(t))`` with ``_Softmax(z)``.

    Proved equal by shift invariance (``stable.py``, proof 1) with t = z - m; it
    lets torch print its fused, max-shifted softmax kernel.
    """
    c, t, z = forms.c, forms.t, forms.z
    s = sympy.exp(t[c]) / sympy.Sum(sympy.exp(t[c]), (c, 1, forms.k))
    return expr.subs(s, _Softmax(z[c]))


def _program(expr, forms: StableForms, backend: _Backend, buf: str, use_cse: bool) -> list[str]:
    """The body lines computing ``expr``: optional cse, the shift, then the writer."""
    if backend.fuse_softmax:
        expr = _fuse_softmax(expr, forms)
    statements, (result,) = sympy.cse(expr, symbols=sympy.numbered_symbols("x")) if use_cse else ([], [expr])
    writer = _InPlaceWriter(backend, {forms.z.label: "z", forms.y.label: "y"}, buf)
    uses = sympy.Tuple(result, *(e for _, e in statements))
    if uses.has(forms.t) or uses.has(forms.m):
        writer.lines.append(f"m = {backend.row_max}")
    if uses.has(forms.t):
        writer.statement(forms.t.label, forms.shift)
    for sym, e in statements:
        writer.statement(sym, e)
    out = sympy.Symbol("_result")
    writer.statement(out, result)
    return writer.lines, writer.names.get(out, "_result")


# --- the module text ------------------------------------------------------------

_IMPORTS = {"numpy": "import numpy", "torch": "import torch", "jax": "import jax\nimport jax.numpy"}

_CHECKS = {
    "numpy": '''\
def _check(z, y):
    """Return z, y as arrays of one floating dtype, or raise ValueError naming both shapes."""
    try:
        z, y = numpy.asarray(z), numpy.asarray(y)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"z and y must be numeric arrays; could not convert them: {exc}") from None
    if z.shape != y.shape or z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"z and y must have the same shape (..., k) with k >= 1; got z {z.shape} and y {y.shape}")
    if z.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
        raise ValueError(
            f"z and y must be real numeric arrays; got z {z.shape} of {z.dtype} and y {y.shape} of {y.dtype}")
    dtype = numpy.result_type(z.dtype, y.dtype, numpy.float16)
    if dtype.itemsize < 4:
        dtype = numpy.dtype(numpy.float32)
    return z.astype(dtype, copy=False), y.astype(dtype, copy=False)
''',
    "torch": '''\
def _check(z, y):
    """Return z, y as tensors of one floating dtype, or raise ValueError naming both shapes."""
    try:
        # torch.tensor copies what as_tensor cannot share (a numpy view with negative strides).
        z, y = (_as_tensor(a) for a in (z, y))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"z and y must be numeric tensors; could not convert them: {exc}") from None
    if z.shape != y.shape or z.dim() == 0 or z.shape[-1] == 0:
        raise ValueError(
            f"z and y must have the same shape (..., k) with k >= 1; got z {tuple(z.shape)} and y {tuple(y.shape)}")
    if z.is_complex() or y.is_complex():
        raise ValueError(
            f"z and y must be real tensors; got z {tuple(z.shape)} of {z.dtype} and y {tuple(y.shape)} of {y.dtype}")
    dtype = torch.promote_types(z.dtype, y.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    return z.to(dtype), y.to(dtype)


def _as_tensor(a):
    try:
        return torch.as_tensor(a)
    except ValueError:
        return torch.tensor(a.copy() if hasattr(a, "copy") else a)
''',
    "jax": '''\
def _check(z, y):
    """Return z, y as arrays of one floating dtype, or raise ValueError naming both shapes."""
    if not jax.config.jax_enable_x64 and any(str(getattr(a, "dtype", "")) == "float64" for a in (z, y)):
        # JAX would silently compute in float32 (and overflow at 1e300); say so instead.
        raise ValueError(f"z {tuple(getattr(z, 'shape', ()))} and y {tuple(getattr(y, 'shape', ()))}: "
                         "float64 input needs jax.config.update('jax_enable_x64', True)")
    try:
        z, y = jax.numpy.asarray(z), jax.numpy.asarray(y)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"z and y must be numeric arrays; could not convert them: {exc}") from None
    if z.shape != y.shape or z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"z and y must have the same shape (..., k) with k >= 1; got z {z.shape} and y {y.shape}")
    if not all(jax.numpy.issubdtype(a.dtype, t) for a in (z, y) for t in [jax.numpy.number]) or any(
            jax.numpy.issubdtype(a.dtype, jax.numpy.complexfloating) for a in (z, y)):
        raise ValueError(
            f"z and y must be real numeric arrays; got z {z.shape} of {z.dtype} and y {y.shape} of {y.dtype}")
    dtype = jax.numpy.result_type(z.dtype, y.dtype, jax.numpy.float32)
    return z.astype(dtype), y.astype(dtype)
''',
}

_TORCH_NO_GRAD = "@torch.no_grad()\n"

_ASSUMPTION_TEXT = {
    "simplex": "y is a probability vector along the last axis (it sums to 1), so dL/dz = s - y",
    "none": "nothing is assumed about y, so dL/dz = s * sum(y) - y",
}


_BACKEND_NOTES = {
    "numpy": "\nNeeds NumPy 2.0 or later (numpy.vecdot).",
    "jax": ("\nJAX computes in float32 unless jax.config.update('jax_enable_x64', True) was called;"
            "\nwithout it a float64 input raises ValueError rather than being narrowed silently."),
}


def _docstring(forms: StableForms, backend: str) -> str:
    proofs = "\n".join(f"  - {p.claim}\n    ({p.method})" for p in forms.proofs)
    return f'''"""Softmax cross-entropy loss and its gradient with respect to the logits ({backend}).

Generated by symce (`symce export softmax-ce --backend {backend} --assume {forms.assume}`);
do not edit: the expressions are printed from the proved SymPy forms below.

    s = softmax(z),  L(z, y) = -sum_i y_i log s_i,  dL/dz_i = s_i * sum_j y_j - y_i

Assumption on y: {_ASSUMPTION_TEXT[forms.assume]}.

Arrays have classes on the last axis and any leading batch axes: z and y of
shape (..., k); loss returns shape (...) and grad shape (..., k), in the
floating dtype z and y promote to (float32 with float32 stays float32, float64
stays float64, float32 with float64 gives float64; integers give a float type).
Both are computed at z - m with m the row maximum and the loss in log-sum-exp
form, so finite logits give finite results, 1e300 included (as long as
max(z) - min(z) in a row is itself a finite float).
Mismatched shapes or non-numeric input raise ValueError naming both shapes.
NaN in a row of z or y gives NaN in that row of the result and in no other row.
A logit of -inf (a masked class, with y = 0 there) gives the right gradient but a
NaN loss (-inf * 0); only finite logits are promised.{_BACKEND_NOTES.get(backend, "")}

Proved by symce for symbolic k (exact rewriting to 0):
{proofs}
"""'''


def export_source(identity: str = "softmax-ce", backend: str = "numpy", assume: str = "simplex") -> str:
    """Return the text of a standalone module providing ``loss(z, y)`` and ``grad(z, y)``.

    The module imports only its backend (numpy, torch or jax). ``assume="simplex"``
    (y sums to 1) exports ``s - y``; ``assume="none"`` exports ``s * sum(y) - y``.

    >>> "numpy.multiply(out, r1/r0, out=out)" in export_source(assume="none")
    True
    >>> export_source("mse")
    Traceback (most recent call last):
    ...
    symce.errors.UsageError: unknown identity 'mse'; known: softmax-ce
    """
    if identity not in IDENTITIES:
        raise UsageError(f"unknown identity {identity!r}; known: {', '.join(IDENTITIES)}")
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    if assume not in EXPORT_ASSUMPTIONS:
        raise UsageError(f"unknown assumption {assume!r}; known: {', '.join(EXPORT_ASSUMPTIONS)}")
    forms = stable_forms(assume)
    b = _BACKENDS[backend]
    grad_lines, grad_out = _program(forms.grad, forms, b, "out", use_cse=True)
    loss_lines, loss_out = _program(forms.loss, forms, b, "work", use_cse=False)
    decorator = _TORCH_NO_GRAD if backend == "torch" else ""
    body = lambda lines: "\n".join(f"    {line}" for line in lines)  # noqa: E731
    return f'''{_docstring(forms, backend)}

{_IMPORTS[backend]}

__all__ = ["loss", "grad"]


{_CHECKS[backend]}

{decorator}def loss(z, y):
    """L(z, y) = -sum_i y_i log softmax(z)_i over the last axis; shape z.shape[:-1]."""
    z, y = _check(z, y)
{body(loss_lines)}
    return _result[..., 0]


{decorator}def grad(z, y):
    """dL/dz: {"s - y" if assume == "simplex" else "s * sum(y) - y"}, same shape as z, in the promoted floating dtype of z and y."""
    z, y = _check(z, y)
{body(grad_lines)}
    return {grad_out}
'''
