"""The numpy text of the exported losses: softmax cross-entropy, BCE with logits, MSE.

Each generated module evaluates the proved forms of ``derivations/`` (named in the
module's docstring by ``symce.export.losses``) in one pass over the batch, in row
blocks, so that the only batch-sized array a call allocates is the gradient it
returns: the block's temporaries are a few rows long. Integer labels are read
with one gather per block; no one-hot array is ever built.

>>> "def loss_and_grad(logits, target" in NUMPY_SOURCE["softmax-ce"]
True
"""

from __future__ import annotations

_COMMON = '''
import numpy

__all__ = ["loss", "grad", "loss_and_grad"]

#: Bytes per row block (at least one row): the block's temporaries stay small, and
#: the few passes over a block find it in cache.
_BLOCK = 1 << 21
_REDUCTIONS = ("none", "mean", "sum")


def _floating(name, a):
    """``a`` as a floating array (float16 computed in float32), or ValueError naming it."""
    try:
        a = numpy.asarray(a)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array; could not convert it: {exc}") from None
    if a.dtype.kind != "f":
        raise ValueError(f"{name} must be a floating array; got {name} {a.shape} of {a.dtype}")
    return a.astype(numpy.float32) if a.itemsize < 4 else a


def _reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}; got {reduction!r}")
    return reduction
'''

_CE = _COMMON + '''

def _arguments(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss):
    """Validated (z, t, w, hard) with z of shape (n, k); ValueError naming the argument otherwise."""
    z = _floating("logits", logits)
    if z.ndim == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., k) with k >= 1; got logits {z.shape}")
    k = z.shape[-1]
    try:
        t = numpy.asarray(target)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"target must be a numeric array; could not convert it: {exc}") from None
    if t.dtype.kind in "iu" and t.shape == z.shape[:-1]:
        hard = True
        bad = ((t < 0) | (t >= k)) & (t != ignore_index)
        if bad.any():
            raise ValueError(f"target holds class {t[bad].flat[0]}, outside 0..{k - 1} and not "
                             f"ignore_index={ignore_index}; got logits {z.shape} and target {t.shape}")
    elif t.dtype.kind == "f" and t.shape == z.shape:
        hard = False
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
            raise ValueError(f"weight must have shape ({k},), one entry per class; "
                             f"got weight {w.shape} and logits {z.shape}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; got {label_smoothing!r}")
    if not numpy.isfinite(z_loss):
        raise ValueError(f"z_loss must be a finite number; got {z_loss!r}")
    dtype = numpy.result_type(z, *(() if w is None else (w,)), *(() if hard else (t,)))
    z = z.astype(dtype, copy=False).reshape(-1, k)
    t = t.reshape(-1) if hard else t.astype(dtype, copy=False).reshape(-1, k)
    w = None if w is None else w.astype(dtype, copy=False)
    return z, t, w, hard, _reduction(reduction)


def _pass(logits, target, weight, ignore_index, reduction, eps, zeta, want_loss, want_grad):
    """One pass over the batch in row blocks: the loss, the gradient or both."""
    shape = numpy.shape(logits)
    z, t, w, hard, reduction = _arguments(logits, target, weight, ignore_index, reduction, eps, zeta)
    n, k = z.shape
    dtype = z.dtype
    # Python floats, so that float32 blocks stay float32 (a NumPy float64 scalar would promote them).
    W = float(k) if w is None else float(w.sum(dtype=numpy.float64))  # Sum(w[n]): total_target
    # The reductions' denominators come first (loss_reductions.toml): PyTorch's mean
    # divides integer-label losses by the kept targets' weight, probability-target losses
    # by the row count, and the z-loss by the number of kept targets.
    if hard:
        keep = t != ignore_index
        labels = numpy.where(keep, t, 0)
        kept = keep.astype(dtype)  # arithmetic with a bool array would promote float32 to float64
        w_lab = (numpy.ones(n, dtype) if w is None else w[labels]) * kept
        count, total = int(keep.sum()), float(w_lab.sum(dtype=numpy.float64))
    else:
        keep, count, total = None, n, float(n)
    if reduction == "mean":
        ce_scale = 1.0 / total if total else 0.0
        z_scale = 1.0 / count if count else 0.0
    else:
        ce_scale = z_scale = 1.0
    out = numpy.empty((n, k), dtype) if want_grad else None
    step = max(1, _BLOCK // (k * dtype.itemsize))
    scratch = None if want_grad else numpy.empty((min(n, step), k), dtype)
    rows = numpy.empty(n, dtype) if want_loss else None  # per-target loss, 0 if ignored
    ce_sum = z_sum = 0.0
    for i in range(0, n, step):
        j = min(n, i + step)
        zb = z[i:j]
        g = out[i:j] if want_grad else scratch[: j - i]
        m = zb.max(axis=1)
        numpy.subtract(zb, m[:, None], out=g)  # t = z - m (cross_entropy_targets.toml, stable_loss)
        if hard:
            r = numpy.arange(j - i)
            lab, wl = labels[i:j], w_lab[i:j]
            q_sum = (1.0 - eps) * wl + (eps / k) * W * kept[i:j]  # total_target, 0 if ignored
            q_t = (1.0 - eps) * wl * g[r, lab]
        else:
            yb = t[i:j]
            q_sum = (1.0 - eps) * (yb.sum(axis=1) if w is None else yb @ w) + (eps / k) * W
            q_t = (1.0 - eps) * (numpy.vecdot(yb, g) if w is None else numpy.einsum("ij,ij,j->i", yb, g, w))
        if eps:
            tw = g.sum(axis=1) if w is None else g @ w
            q_t += (eps / k) * tw * (1 if keep is None else kept[i:j])
        numpy.exp(g, out=g)
        S = g.sum(axis=1)
        log_S = numpy.log(S)
        lse = m + log_S
        ce = q_sum * log_S - q_t  # Sum(q[n] * (lse - z[n])), at the shift m
        zl = zeta * lse * lse if zeta else 0.0
        if keep is not None:
            ce = numpy.where(keep[i:j], ce, 0.0)
            zl = numpy.where(keep[i:j], zl, 0.0) if zeta else 0.0
        if want_loss:
            rows[i:j] = ce + zl
            ce_sum += float(ce.sum(dtype=numpy.float64))
            z_sum += float(zl.sum(dtype=numpy.float64)) if zeta else 0.0
        if want_grad:
            # s * (Sum(q) + 2 zeta lse) - q, each part scaled by its reduction (gradient chains)
            a = q_sum * ce_scale
            if zeta:
                a = a + 2.0 * zeta * z_scale * numpy.where(True if keep is None else keep[i:j], lse, 0.0)
            numpy.multiply(g, (a / S)[:, None], out=g)
            if hard:
                g[r, lab] -= ((1.0 - eps) * ce_scale) * wl
                if eps:
                    c = ((eps / k) * ce_scale) * kept[i:j]
                    g -= c[:, None] if w is None else c[:, None] * w
            else:
                y_part = yb * ((1.0 - eps) * ce_scale)
                if w is not None:
                    y_part *= w
                g -= y_part
                if eps:
                    g -= (eps / k) * ce_scale * (1.0 if w is None else w)
    loss = None
    if want_loss:
        if reduction == "none":
            loss = rows.reshape(shape[:-1])
        elif reduction == "sum":
            loss = dtype.type(ce_sum + z_sum)
        else:
            loss = dtype.type((ce_sum / total if total else numpy.nan)
                              + (z_sum / count if count else (numpy.nan if zeta else 0.0)))
    return loss, (out.reshape(shape) if want_grad else None)


def loss(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0):
    """Softmax cross-entropy, as torch.nn.functional.cross_entropy with classes on the last axis.

    target: integer class indices of shape logits.shape[:-1] (a label equal to ignore_index
    is left out), or class probabilities of logits.shape. weight: one per class.
    z_loss adds z_loss * logsumexp(logits)**2 per kept target (mean: over their count).
    reduction "none" returns one loss per target, "sum" their sum, "mean" PyTorch's mean.
    """
    return _pass(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss, True, False)[0]


def grad(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0):
    """d loss / d logits, of the logits' shape (reduction "none": the gradient of the losses' sum)."""
    return _pass(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss, False, True)[1]


def loss_and_grad(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0,
                  z_loss=0.0):
    """(loss, grad) in one pass over the batch; the gradient is the only batch-sized allocation."""
    return _pass(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss, True, True)
'''

_BCE = _COMMON + '''

def _arguments(logits, target, weight, pos_weight):
    x = _floating("logits", logits)
    y = _floating("target", target)
    if y.shape != x.shape:
        raise ValueError(f"target must have the logits' shape; got logits {x.shape} and target {y.shape}")
    extra = []
    for name, a in (("weight", weight), ("pos_weight", pos_weight)):
        if a is not None:
            a = _floating(name, a)
            try:
                numpy.broadcast_shapes(a.shape, x.shape)
            except ValueError:
                raise ValueError(f"{name} must broadcast to the logits' shape; got {name} {a.shape} "
                                 f"and logits {x.shape}") from None
            if numpy.broadcast_shapes(a.shape, x.shape) != x.shape:
                raise ValueError(f"{name} must broadcast to the logits' shape; got {name} {a.shape} "
                                 f"and logits {x.shape}")
        extra.append(a)
    dtype = numpy.result_type(x, y, *(a for a in extra if a is not None))
    return x.astype(dtype, copy=False), y.astype(dtype, copy=False), *extra


def _pass(logits, target, weight, pos_weight, reduction, want_loss, want_grad):
    """bce_with_logits.toml: loss w((1 - y) x + (1 + (p - 1) y) log(1 + exp(-x))), grad w((1 + (p - 1) y) sigma - p y)."""
    reduction = _reduction(reduction)
    x, y, w, p = _arguments(logits, target, weight, pos_weight)
    lw = 1.0 if p is None else 1.0 + (p - 1.0) * y  # the weight of log(sigma)
    loss = grad = None
    if want_loss:
        rows = (1.0 - y) * x
        rows += lw * numpy.logaddexp(0.0, -x)  # log(1 + exp(-x)) without overflow
        if w is not None:
            rows *= w
        loss = rows if reduction == "none" else rows.sum() if reduction == "sum" else rows.mean()
    if want_grad:
        # sigma(x) = exp(-log(1 + exp(-x))), finite for every x
        grad = numpy.exp(-numpy.logaddexp(0.0, -x))
        grad *= lw
        grad -= y if p is None else p * y
        if w is not None:
            grad *= w
        if reduction == "mean" and grad.size:
            grad /= grad.size
    return loss, grad


def loss(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """torch.nn.functional.binary_cross_entropy_with_logits, elementwise over any shape."""
    return _pass(logits, target, weight, pos_weight, reduction, True, False)[0]


def grad(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """d loss / d logits (reduction "none": the gradient of the losses' sum)."""
    return _pass(logits, target, weight, pos_weight, reduction, False, True)[1]


def loss_and_grad(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """(loss, grad) in one call."""
    return _pass(logits, target, weight, pos_weight, reduction, True, True)
'''

_MSE = _COMMON + '''

def _pass(input, target, reduction, want_loss, want_grad):
    """mean_squared_error.toml: loss Sum((x - t)**2) / n, grad 2 (x - t) / n (sum: without / n)."""
    reduction = _reduction(reduction)
    x, t = _floating("input", input), _floating("target", target)
    if x.shape != t.shape:
        raise ValueError(f"target must have the input's shape; got input {x.shape} and target {t.shape}")
    d = numpy.subtract(x, t, dtype=numpy.result_type(x, t))
    loss = None
    if want_loss:
        sq = d * d
        loss = sq if reduction == "none" else sq.sum() if reduction == "sum" else sq.mean()
    grad = None
    if want_grad:
        d *= 2.0 / d.size if reduction == "mean" and d.size else 2.0
        grad = d
    return loss, grad


def loss(input, target, *, reduction="mean"):
    """torch.nn.functional.mse_loss."""
    return _pass(input, target, reduction, True, False)[0]


def grad(input, target, *, reduction="mean"):
    """d loss / d input (reduction "none": the gradient of the losses' sum)."""
    return _pass(input, target, reduction, False, True)[1]


def loss_and_grad(input, target, *, reduction="mean"):
    """(loss, grad) in one call."""
    return _pass(input, target, reduction, True, True)
'''

#: Module bodies by loss name; ``symce.export.losses`` adds the docstring and ``__all__``.
NUMPY_SOURCE = {"softmax-ce": _CE, "bce-with-logits": _BCE, "mse": _MSE}
