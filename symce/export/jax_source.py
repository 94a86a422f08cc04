"""The jax text of the exported losses: ``jax.custom_vjp`` functions that ``jax.jit`` compiles.

The forward pass computes the loss and the proved gradient together and keeps the
gradient as the residual; the backward pass scales it. Integer labels are ordinary
arguments: their cotangent is ``float0`` zeros, as jax requires for integer inputs.
Under ``jit`` a label's value cannot be checked, so an out-of-range label (neither a
class nor ``ignore_index``) makes that target's loss and gradient NaN rather than a
silently clamped number; outside ``jit`` it raises ``ValueError``.

>>> "jax.custom_vjp" in JAX_SOURCE["softmax-ce"]
True
"""

from __future__ import annotations

_COMMON = '''
import functools

import jax
import jax.numpy as jnp
import numpy

__all__ = ["loss", "grad", "loss_and_grad"]

_REDUCTIONS = ("none", "mean", "sum")


def _floating(name, a):
    """``a`` as a floating jax array, or ValueError naming it (float64 needs jax_enable_x64)."""
    dtype = getattr(a, "dtype", None)
    if dtype is None:
        a = numpy.asarray(a)
        dtype = a.dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating array; got {name} {tuple(numpy.shape(a))} of {dtype}")
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(f"{name} {tuple(numpy.shape(a))} is float64, which needs "
                         "jax.config.update('jax_enable_x64', True); jax would narrow it to float32")
    return jnp.asarray(a)


def _reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}; got {reduction!r}")
    return reduction


def _zero_cotangent(a):
    """float0 zeros for an integer argument, zeros for a float one, None for None."""
    if a is None:
        return None
    if jnp.issubdtype(a.dtype, jnp.integer) or a.dtype == jnp.bool_:
        return numpy.zeros(a.shape, dtype=jax.dtypes.float0)
    return jnp.zeros_like(a)


def _scale(grad, upstream, reduction):
    return grad * (upstream[..., None] if reduction == "none" and upstream.ndim else upstream)
'''

_CE = _COMMON + '''

def _arguments(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss):
    z = _floating("logits", logits)
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., k) with k >= 1; got logits {z.shape}")
    k = z.shape[-1]
    t = target if isinstance(target, jax.Array) else jnp.asarray(target)
    if jnp.issubdtype(t.dtype, jnp.integer) and t.shape == z.shape[:-1]:
        if not isinstance(t, jax.core.Tracer):
            bad = numpy.asarray(((t < 0) | (t >= k)) & (t != ignore_index))
            if bad.any():
                raise ValueError(f"target holds class {numpy.asarray(t)[bad].flat[0]}, outside 0..{k - 1} and not "
                                 f"ignore_index={ignore_index}; got logits {z.shape} and target {t.shape}")
    elif jnp.issubdtype(t.dtype, jnp.floating) and t.shape == z.shape:
        if ignore_index >= 0:
            raise ValueError(f"ignore_index={ignore_index} is not supported for probability targets "
                             f"(target {t.shape} of {t.dtype}); use integer labels")
    else:
        raise ValueError(
            f"target must be integer class indices of shape {z.shape[:-1]} or probabilities of shape "
            f"{z.shape}; got logits {z.shape} and target {t.shape} of {t.dtype}")
    w = None
    if weight is not None:
        w = _floating("weight", weight)
        if w.shape != (k,):
            raise ValueError(f"weight must have shape ({k},), one entry per class; got weight {w.shape} "
                             f"and logits {z.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; got {label_smoothing!r}")
    if not abs(float(z_loss)) < float("inf"):
        raise ValueError(f"z_loss must be a finite number; got {z_loss!r}")
    return z, t, w, (int(ignore_index), _reduction(reduction), float(label_smoothing), float(z_loss))


def _compute(z, t, w, ignore_index, reduction, eps, zeta):
    """The loss and its proved gradient (cross_entropy_*.toml, loss_reductions.toml)."""
    k = z.shape[-1]
    hard = jnp.issubdtype(t.dtype, jnp.integer)
    if w is not None:
        w = w.astype(z.dtype)
    logp = jax.nn.log_softmax(z, axis=-1)
    W = float(k) if w is None else w.sum()
    if hard:
        keep = t != ignore_index
        bad = keep & ((t < 0) | (t >= k))  # only reachable under jit: NaN, never a clamped label
        labels = jnp.where(keep & ~bad, t, 0)
        keep_f = keep.astype(z.dtype)
        w_lab = keep_f if w is None else w[labels] * keep_f
        w_lab = jnp.where(bad, jnp.nan, w_lab)
        q_sum = (1.0 - eps) * w_lab + (eps / k) * W * keep_f
        ce = -(1.0 - eps) * w_lab * jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
        if eps:
            ce = ce - (eps / k) * (logp.sum(-1) if w is None else logp @ w) * keep_f
        ce = jnp.where(keep, ce, 0.0)
        total, count = w_lab.sum(), keep_f.sum()
    else:
        keep = keep_f = None
        q = t.astype(z.dtype) * (1.0 - eps) + eps / k
        if w is not None:
            q = q * w
        q_sum = q.sum(-1)
        ce = -(q * logp).sum(-1)
        total = count = jnp.asarray(float(ce.size), z.dtype)
    zl = None
    if zeta:
        lse = jax.nn.logsumexp(z, axis=-1)
        zl = zeta * lse * lse if keep is None else jnp.where(keep, zeta * lse * lse, 0.0)
    if reduction == "mean":
        ce_scale = jnp.where(total != 0, 1.0 / total, 0.0)
        z_scale = jnp.where(count != 0, 1.0 / count, 0.0)
        loss = ce.sum() / total + (zl.sum() / count if zeta else 0.0)
    else:
        ce_scale = z_scale = 1.0
        loss = (ce if zl is None else ce + zl) if reduction == "none" else ce.sum() + (zl.sum() if zeta else 0.0)
    # s * (Sum(q) + 2 zeta lse) - q, each part scaled by its reduction
    a = q_sum * ce_scale
    if zeta:
        a = a + (2.0 * zeta) * z_scale * (lse if keep is None else jnp.where(keep, lse, 0.0))
    grad = jnp.exp(logp) * a[..., None]
    if hard:
        onto = (-(1.0 - eps) * ce_scale * w_lab)[..., None]
        grad = grad + jnp.where(jnp.arange(k) == labels[..., None], onto, 0.0)  # fused by XLA, no one-hot kept
        if eps:
            c = ((eps / k) * ce_scale * keep_f)[..., None]
            grad = grad - (c if w is None else c * w)
    else:
        grad = grad - q * ce_scale
    return loss.astype(z.dtype), grad.astype(z.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _cross_entropy(z, t, w, options):
    return _compute(z, t, w, *options)[0]


def _forward(z, t, w, options):
    loss, grad = _compute(z, t, w, *options)
    return loss, (grad, t, w)


def _backward(options, residual, upstream):
    grad, t, w = residual
    return _scale(grad, upstream, options[1]), _zero_cotangent(t), _zero_cotangent(w)


_cross_entropy.defvjp(_forward, _backward)


def loss(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0):
    """Softmax cross-entropy, as torch.nn.functional.cross_entropy with classes on the last axis.

    target: integer class indices of shape logits.shape[:-1] (a label equal to ignore_index
    is left out), or class probabilities of logits.shape. weight: one per class.
    z_loss adds z_loss * logsumexp(logits)**2 per kept target (mean: over their count).
    A jax.custom_vjp: differentiable in logits; target and weight get zero cotangents.
    """
    z, t, w, options = _arguments(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss)
    return _cross_entropy(z, t, w, options)


def grad(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0):
    """d loss / d logits, of the logits' shape (reduction "none": the gradient of the losses' sum)."""
    z, t, w, options = _arguments(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss)
    return _compute(z, t, w, *options)[1]


def loss_and_grad(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0,
                  z_loss=0.0):
    """(loss, grad) from one pass."""
    z, t, w, options = _arguments(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss)
    return _compute(z, t, w, *options)
'''

_BCE = _COMMON + '''

def _arguments(logits, target, weight, pos_weight, reduction):
    x, y = _floating("logits", logits), _floating("target", target)
    if y.shape != x.shape:
        raise ValueError(f"target must have the logits' shape; got logits {x.shape} and target {y.shape}")
    extra = []
    for name, a in (("weight", weight), ("pos_weight", pos_weight)):
        if a is not None:
            a = _floating(name, a)
            try:
                fits = jnp.broadcast_shapes(a.shape, x.shape) == x.shape
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(f"{name} must broadcast to the logits' shape; got {name} {a.shape} "
                                 f"and logits {x.shape}")
        extra.append(a)
    return x, y, *extra, _reduction(reduction)


def _compute(x, y, w, p, reduction):
    """bce_with_logits.toml: loss w((1 - y) x + (1 + (p - 1) y) log(1 + exp(-x))), grad w((1 + (p - 1) y) sigma - p y)."""
    lw = 1.0 if p is None else 1.0 + (p - 1.0) * y
    rows = (1.0 - y) * x + lw * jnp.logaddexp(0.0, -x)
    grad = jax.nn.sigmoid(x) * lw - (y if p is None else p * y)
    if w is not None:
        rows, grad = rows * w, grad * w
    if reduction == "none":
        return rows, grad
    if reduction == "sum":
        return rows.sum(), grad
    return rows.mean(), grad / max(1, grad.size)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _bce(x, y, w, p, reduction):
    return _compute(x, y, w, p, reduction)[0]


def _forward(x, y, w, p, reduction):
    loss, grad = _compute(x, y, w, p, reduction)
    return loss, (grad, y, w, p)


def _backward(reduction, residual, upstream):
    grad, y, w, p = residual
    return grad * upstream, _zero_cotangent(y), _zero_cotangent(w), _zero_cotangent(p)


_bce.defvjp(_forward, _backward)


def loss(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """torch.nn.functional.binary_cross_entropy_with_logits, elementwise over any shape."""
    return _bce(*_arguments(logits, target, weight, pos_weight, reduction))


def grad(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """d loss / d logits (reduction "none": the gradient of the losses' sum)."""
    return _compute(*_arguments(logits, target, weight, pos_weight, reduction))[1]


def loss_and_grad(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """(loss, grad) in one call."""
    return _compute(*_arguments(logits, target, weight, pos_weight, reduction))
'''

_MSE = _COMMON + '''

def _compute(x, t, reduction):
    """mean_squared_error.toml: loss Sum((x - t)**2) / n, grad 2 (x - t) / n (sum: without / n)."""
    d = x - t
    if reduction == "none":
        return d * d, 2.0 * d
    if reduction == "sum":
        return (d * d).sum(), 2.0 * d
    return (d * d).mean(), d * (2.0 / max(1, d.size))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _mse(x, t, reduction):
    return _compute(x, t, reduction)[0]


def _forward(x, t, reduction):
    loss, grad = _compute(x, t, reduction)
    return loss, (grad, t)


def _backward(reduction, residual, upstream):
    grad, t = residual
    return grad * upstream, _zero_cotangent(t)


_mse.defvjp(_forward, _backward)


def _arguments(input, target, reduction):
    x, t = _floating("input", input), _floating("target", target)
    if x.shape != t.shape:
        raise ValueError(f"target must have the input's shape; got input {x.shape} and target {t.shape}")
    return x, t, _reduction(reduction)


def loss(input, target, *, reduction="mean"):
    """torch.nn.functional.mse_loss."""
    return _mse(*_arguments(input, target, reduction))


def grad(input, target, *, reduction="mean"):
    """d loss / d input (reduction "none": the gradient of the losses' sum)."""
    return _compute(*_arguments(input, target, reduction))[1]


def loss_and_grad(input, target, *, reduction="mean"):
    """(loss, grad) in one call."""
    return _compute(*_arguments(input, target, reduction))
'''

#: Module bodies by loss name; ``symce.export.losses`` adds the docstring.
JAX_SOURCE = {"softmax-ce": _CE, "bce-with-logits": _BCE, "mse": _MSE}
