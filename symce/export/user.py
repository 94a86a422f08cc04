"""Export a user's own loss: a derivation file's ``[export]`` table, printed from its proved chains.

The file is checked first; the chains the table names (loss, gradient, stable form)
must have every step proved for all k, or the export is refused with a ``ProofError``
naming the step (exit 1). Then the gradient chain's last expression and the stable
chain's last expression, with the file's definitions unfolded, are printed by SymPy's
code printer for the backend (``codegen``'s array printers): an entry ``v[i]`` is the
whole array ``v`` (classes on the last axis) and ``Sum(f, (j, 1, k))`` a sum over that
axis. A declared scalar that is not an input is a shift the file proved any real value
of safe (``exp(A - m)``); the code sets it to the row maximum of ``A``.
"""

from __future__ import annotations

import sympy

from ..errors import ProofError, UsageError
from ..model.derivation import Derivation
from ..verify.meaning import Meaning
from ..verify.steps import check
from . import BACKENDS
from .printers import printer as array_printer

_IMPORT = {"numpy": "import numpy", "torch": "import torch", "jax": "import jax\nimport jax.numpy"}
# Arrays become floating; a scalar input takes the first vector's dtype (0.3 stays float64).
_FLOAT = {
    "numpy": """def _float(a, like=None):
    a = numpy.asarray(a)
    return a.astype(like.dtype if like is not None else numpy.result_type(a.dtype, numpy.float32), copy=False)""",
    "torch": """def _float(a, like=None):
    if like is not None:
        return torch.as_tensor(a, dtype=like.dtype)
    a = torch.as_tensor(a)
    return a if a.is_floating_point() else a.to(torch.get_default_dtype())""",
    "jax": """def _float(a, like=None):
    if like is not None:
        return jax.numpy.asarray(a, dtype=like.dtype)
    a = jax.numpy.asarray(a)
    return a.astype(jax.numpy.result_type(a.dtype, jax.numpy.float32))""",
}
_MAX = {"numpy": "numpy.max({a}, axis=-1, keepdims=True)", "torch": "torch.amax({a}, dim=-1, keepdim=True)",
        "jax": "jax.numpy.max({a}, axis=-1, keepdims=True)"}


def _proved(derivation: Derivation, names: set[str]) -> None:
    report = check(derivation)
    for result in report.steps:
        if result.chain in names and not result.passes(all_k=True):
            line = report.line_of(result)
            raise ProofError(f"{derivation.path}, chain {result.chain!r}, step {result.index}"
                             + (f" (line {line})" if line else "")
                             + f": {result.evidence.value}; refusing to export code that stands on it")


def _array_form(expr: sympy.Expr, index: sympy.Symbol, where: str) -> sympy.Expr:
    """Check every entry is at ``index`` or a summation variable over 1..k; Sums over the whole axis."""
    bound = set()
    for s in expr.atoms(sympy.Sum):
        for var, low, high in s.limits:
            if low != 1 or str(high) != "k":
                raise UsageError(f"{where}: cannot print {s} as code: sums must run over 1..k")
            bound.add(var)
    for e in expr.atoms(sympy.Indexed):
        if not set(e.indices) <= bound | {index}:
            raise UsageError(f"{where}: cannot print {e} as code: an entry must be at the gradient's index "
                             f"{index} or at a summation variable")
    if expr.has(sympy.KroneckerDelta):
        raise UsageError(f"{where}: cannot print a KroneckerDelta as array code; take the last step past it")
    return expr


def user_source(derivation: Derivation, backend: str) -> str:
    """The module text for a derivation file with an ``[export]`` table."""
    spec = derivation.export
    if spec is None:
        raise UsageError(f"{derivation.path}: no [export] table; add one to export this file "
                         "(see docs/derivation-format.md)")
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    chains = {c.name: c for c in derivation.chains}
    _proved(derivation, {spec.loss, spec.gradient} | ({spec.stable} if spec.stable else set()))
    meaning = Meaning(derivation)
    start = chains[spec.gradient].start
    (variable,) = start.variables
    index = variable.indices[0]
    grad = meaning.of(chains[spec.gradient].steps[-1].expr)
    loss = meaning.of(chains[spec.stable].steps[-1].expr if spec.stable else chains[spec.loss].start)
    where = f"{derivation.path}, [export]"
    grad, loss = _array_form(grad, index, where), _array_form(loss, index, where)
    inputs = [derivation.symbols[n] for n in spec.inputs]
    vectors = [n for n in spec.inputs if isinstance(derivation.symbols[n], sympy.IndexedBase)]
    k = derivation.symbols["k"]
    free = (grad.free_symbols | loss.free_symbols) - set(inputs) - {k, index}
    labels = {e.base.label for e in (grad + loss).atoms(sympy.Indexed)}
    free = {s for s in free - labels if isinstance(s, sympy.Symbol) and not isinstance(s, sympy.Dummy) and s not in derivation.indices}
    printer = array_printer(backend)
    lines = [f"_k = {vectors[0]}.shape[-1]"]
    for shift in sorted(free, key=str):
        args = {e.args[0] + shift for e in (grad + loss).atoms(sympy.exp) if e.has(shift)}
        args = {a.xreplace({i: index for i in a.atoms(sympy.Symbol) if isinstance(i, sympy.Dummy)}) for a in args}
        if len(args) != 1:
            raise UsageError(f"{where}: {shift} is neither an input nor a shift exp(A - {shift}) of one A")
        lines.append(f"{shift} = {_MAX[backend].format(a=printer.doprint(args.pop()))}")
    subs = {k: sympy.Symbol("_k")}
    lines.append(f"_loss = {printer.doprint(loss.xreplace(subs))}")
    lines.append(f"_grad = {printer.doprint(grad.xreplace(subs))}")
    body = "\n".join(f"    {line}" for line in lines)
    params = ", ".join(spec.inputs)
    vec_names = ", ".join(vectors)
    return f'''"""{spec.name}: {derivation.title} ({backend}).

Generated by symce (`symce export {derivation.path} --backend {backend}`); do not edit.
Printed from the file's proved chains (every step proved for all k):
  loss:     {chains[spec.loss].start}{f" = (chain {spec.stable!r}) {chains[spec.stable].steps[-1].expr}" if spec.stable else ""}
  gradient: {start} = (chain {spec.gradient!r}) {chains[spec.gradient].steps[-1].expr}
Vectors ({vec_names}) are arrays of one shape (..., k), classes last; loss returns one
value per row, grad the gradient of each row's loss with respect to {variable.base}.
"""

{_IMPORT[backend]}

__all__ = ["loss", "grad", "loss_and_grad"]


{_FLOAT[backend]}


def _check({params}):
    {params}, = ({", ".join(f"_float({n})" if n in vectors else f"_float({n}, {vectors[0]})" for n in spec.inputs)},)
    shapes = {{name: tuple(a.shape) for name, a in (({", ".join(f"({n!r}, {n})" for n in vectors)}))}}
    if len(set(shapes.values())) != 1 or not next(iter(shapes.values())):
        raise ValueError("the vectors must share one shape (..., k); got " + ", ".join(f"{{n}} {{s}}" for n, s in shapes.items()))
    return {params}


def loss_and_grad({params}):
    """(loss per row, gradient) of {spec.name}."""
    {params}, = _check({params})
{body}
    return _loss[..., 0], _grad


def loss({params}):
    """{spec.name}, one value per row."""
    return loss_and_grad({params})[0]


def grad({params}):
    """The gradient of each row's {spec.name} with respect to {variable.base}."""
    return loss_and_grad({params})[1]
'''
