"""The torch text of the exported losses: ``torch.autograd.Function``s whose backward is the proved gradient.

Each loss is one ``autograd.Function`` with ``setup_context`` and
``generate_vmap_rule``: its forward computes the loss and keeps what the proved
gradient is made of (for cross-entropy the softmax and one scale per target), its
backward builds that gradient times the upstream one in one pass (``loss_and_grad``
builds it in place, outside autograd). So ``loss(z, t).backward()``, ``torch.autograd.gradcheck``,
``torch.func.grad`` and ``torch.func.vmap`` all work, and no autograd graph of the
log-softmax is kept.

>>> "class _CrossEntropy(torch.autograd.Function)" in TORCH_SOURCE["softmax-ce"]
True
"""

from __future__ import annotations

_COMMON = '''
import torch

__all__ = ["loss", "grad", "loss_and_grad"]

_REDUCTIONS = ("none", "mean", "sum")


def _as_tensor(a):
    """torch.as_tensor, copying what it cannot share (a numpy view with negative strides)."""
    if isinstance(a, torch.Tensor):
        return a
    try:
        return torch.as_tensor(a)
    except ValueError:
        return torch.tensor(a.copy() if hasattr(a, "copy") else a)


def _floating(name, a):
    """``a`` as a floating tensor, or ValueError naming it."""
    try:
        a = _as_tensor(a)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a numeric tensor; could not convert it: {exc}") from None
    if not a.is_floating_point():
        raise ValueError(f"{name} must be a floating tensor; got {name} {tuple(a.shape)} of {a.dtype}")
    return a


def _reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(_REDUCTIONS)}; got {reduction!r}")
    return reduction
'''

_CE = _COMMON + '''

def _arguments(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss):
    z = _floating("logits", logits)
    if z.dim() == 0 or z.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., k) with k >= 1; got logits {tuple(z.shape)}")
    k = z.shape[-1]
    try:
        t = _as_tensor(target)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"target must be a numeric tensor; could not convert it: {exc}") from None
    if not t.is_floating_point() and not t.is_complex() and t.dtype != torch.bool and t.shape == z.shape[:-1]:
        hard = True
        bad = ((t < 0) | (t >= k)) & (t != ignore_index)
        try:
            found = bool(bad.any())
        except RuntimeError:  # under vmap the labels' values cannot be read; gather still refuses them
            found = False
        if found:
            raise ValueError(f"target holds class {int(t[bad].reshape(-1)[0])}, outside 0..{k - 1} and not "
                             f"ignore_index={ignore_index}; got logits {tuple(z.shape)} and target {tuple(t.shape)}")
    elif t.is_floating_point() and t.shape == z.shape:
        hard = False
        if ignore_index >= 0:
            raise ValueError(f"ignore_index={ignore_index} is not supported for probability targets "
                             f"(target {tuple(t.shape)} of {t.dtype}); use integer labels")
    else:
        raise ValueError(
            f"target must be integer class indices of shape {tuple(z.shape[:-1])} or probabilities of shape "
            f"{tuple(z.shape)}; got logits {tuple(z.shape)} and target {tuple(t.shape)} of {t.dtype}")
    w = None
    if weight is not None:
        w = _floating("weight", weight)
        if tuple(w.shape) != (k,):
            raise ValueError(f"weight must have shape ({k},), one entry per class; "
                             f"got weight {tuple(w.shape)} and logits {tuple(z.shape)}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1]; got {label_smoothing!r}")
    if not abs(float(z_loss)) < float("inf"):
        raise ValueError(f"z_loss must be a finite number; got {z_loss!r}")
    return z, t, w, hard, _reduction(reduction)


def _underflow(s_label, keep):
    """Whether a kept label's probability underflowed (then -log of it is not the loss)."""
    try:
        return bool(((s_label < torch.finfo(s_label.dtype).tiny) & keep).any())
    except RuntimeError:  # under vmap the values cannot be read: take the exact route
        return True


def _parts(z, t, w, ignore_index, reduction, eps, zeta, hard):
    """The loss, and the parts of its proved gradient (cross_entropy_*.toml, loss_reductions.toml).

    The gradient is s * a - q (the target vector q scaled by its reduction), kept as
    (s, a, q) so that the backward builds it in one pass, already times the upstream
    gradient: for labels, q is the label's part at the label plus a smoothing part c * w.
    """
    k = z.shape[-1]
    if w is not None:
        w = w.to(z.dtype)
    W = float(k) if w is None else w.sum()
    lse = logp = None
    if hard and not eps:
        # The common case in fewer passes than log_softmax: s = softmax(z) is the gradient's
        # buffer and the loss is -log(s at the label), unless that underflowed; then, and
        # for the z-loss, lse = max(z) - log(s at the argmax), where s >= 1/k cannot underflow.
        s = torch.softmax(z, dim=-1)
    else:
        logp = torch.log_softmax(z, dim=-1)  # z - lse, at the row maximum's shift
        s = None
    if hard:
        keep = t != ignore_index
        labels = torch.where(keep, t, torch.zeros_like(t)).long().unsqueeze(-1)
        keep_f = keep.to(z.dtype)
        w_lab = keep_f if w is None else w[labels.squeeze(-1)] * keep_f
        q_sum = (1.0 - eps) * w_lab + (eps / k) * W * keep_f
        if logp is None:
            s_label = s.gather(-1, labels).squeeze(-1)
            nll = -torch.log(s_label)
            if zeta or _underflow(s_label, keep):
                top, at = z.max(dim=-1, keepdim=True)
                lse = (top - torch.log(s.gather(-1, at))).squeeze(-1)
                exact = lse - z.gather(-1, labels).squeeze(-1)
                nll = torch.where(s_label > torch.finfo(z.dtype).tiny, nll, exact)
            ce = w_lab * nll
        else:
            ce = -(1.0 - eps) * w_lab * logp.gather(-1, labels).squeeze(-1)
        if eps:
            ce = ce - (eps / k) * (logp.sum(-1) if w is None else logp @ w) * keep_f
        ce = torch.where(keep, ce, torch.zeros_like(ce))
        total, count = w_lab.sum(), keep_f.sum()
    else:
        keep = keep_f = labels = None
        q = t.to(z.dtype) * (1.0 - eps) + eps / k
        if w is not None:
            q = q * w
        q_sum = q.sum(-1)
        ce = -(q * logp).sum(-1)
        total = count = torch.tensor(float(ce.numel()), dtype=z.dtype)
    zl = None
    if zeta:
        lse = torch.logsumexp(z, dim=-1) if lse is None else lse
        zl = zeta * lse * lse if keep is None else torch.where(keep, zeta * lse * lse, torch.zeros_like(lse))
    if reduction == "mean":
        ce_scale = torch.where(total != 0, 1.0 / total, torch.zeros_like(total))
        z_scale = torch.where(count != 0, 1.0 / count, torch.zeros_like(count))
        loss = ce.sum() / total + (zl.sum() / count if zeta else 0.0)
    else:
        ce_scale = z_scale = 1.0
        loss = (ce if zl is None else ce + zl) if reduction == "none" else (ce.sum() + (zl.sum() if zeta else 0.0))
    a = q_sum * ce_scale  # s * (Sum(q) + 2 zeta lse) - q, each part scaled by its reduction
    if zeta:
        a = a + (2.0 * zeta) * z_scale * (lse if keep is None else lse * keep_f)
    if s is None:
        s = logp.exp_()
    if hard:
        at_label = (1.0 - eps) * ce_scale * w_lab
        smooth = (eps / k) * ce_scale * keep_f if eps else None
        return loss, (s, a, labels, at_label, smooth, w, None)
    return loss, (s, a, None, None, None, None, q * ce_scale)


def _assemble(parts, upstream, in_place):
    """The gradient s * a - q, times the upstream gradient (one per target for 'none')."""
    s, a, labels, at_label, smooth, w, q = parts
    up = upstream.unsqueeze(-1) if torch.is_tensor(upstream) and upstream.dim() else upstream
    a = (a * upstream).unsqueeze(-1)
    grad = s.mul_(a) if in_place else s * a
    if labels is not None:
        grad.scatter_add_(-1, labels, (-(at_label * upstream)).unsqueeze(-1).to(grad.dtype))
        if smooth is not None:
            c = (smooth * upstream).unsqueeze(-1)
            grad.sub_(c if w is None else c * w)
    else:
        grad.sub_(q * up)
    return grad


class _CrossEntropy(torch.autograd.Function):
    """Forward: the loss and the parts of its proved gradient. Backward: that gradient, in one pass."""

    generate_vmap_rule = True

    @staticmethod
    def forward(z, t, w, ignore_index, reduction, eps, zeta, hard):
        loss, (s, a, _, at_label, smooth, _, q) = _parts(z, t, w, ignore_index, reduction, eps, zeta, hard)
        extra = q if q is not None else torch.stack([at_label, at_label * 0 if smooth is None else smooth])
        return loss, s, a, extra

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, t, w, ignore_index, _, eps, _, hard = inputs
        _, s, a, extra = output
        ctx.mark_non_differentiable(s, a, extra)
        ctx.save_for_backward(s, a, extra, t if hard else None, w)
        ctx.options = (ignore_index, eps, hard)

    @staticmethod
    def backward(ctx, upstream, *_unused):
        s, a, extra, t, w = ctx.saved_tensors
        ignore_index, eps, hard = ctx.options
        if hard:
            labels = torch.where(t != ignore_index, t, torch.zeros_like(t)).long().unsqueeze(-1)
            parts = (s, a, labels, extra[0], extra[1] if eps else None, None if w is None else w.to(s.dtype), None)
        else:
            parts = (s, a, None, None, None, None, extra)
        return _assemble(parts, upstream, in_place=False), None, None, None, None, None, None, None


def _apply(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss):
    z, t, w, hard, reduction = _arguments(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss)
    return _CrossEntropy.apply(z, t, w, ignore_index, reduction, float(label_smoothing), float(z_loss), hard)[0]


def _values(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss):
    """(loss, grad) as values, outside autograd: one pass, the gradient built in place."""
    z, t, w, hard, reduction = _arguments(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss)
    with torch.no_grad():
        loss, parts = _parts(z.detach(), t, w, ignore_index, reduction, float(label_smoothing), float(z_loss), hard)
        return loss, _assemble(parts, 1.0, in_place=True)


def loss(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0):
    """Softmax cross-entropy, as torch.nn.functional.cross_entropy with classes on the last axis.

    target: integer class indices of shape logits.shape[:-1] (a label equal to ignore_index
    is left out), or class probabilities of logits.shape. weight: one per class.
    z_loss adds z_loss * logsumexp(logits)**2 per kept target (mean: over their count).
    Differentiable in logits (autograd, torch.func); target and weight get no gradient.
    """
    return _apply(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss)


def grad(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0, z_loss=0.0):
    """d loss / d logits, of the logits' shape (reduction "none": the gradient of the losses' sum)."""
    return _values(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss)[1]


def loss_and_grad(logits, target, *, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0,
                  z_loss=0.0):
    """(loss, grad) from one pass, as values (for autograd, call loss(...) and .backward())."""
    return _values(logits, target, weight, ignore_index, reduction, label_smoothing, z_loss)
'''

_BCE = _COMMON + '''

def _arguments(logits, target, weight, pos_weight, reduction):
    x, y = _floating("logits", logits), _floating("target", target)
    if y.shape != x.shape:
        raise ValueError(f"target must have the logits' shape; got logits {tuple(x.shape)} "
                         f"and target {tuple(y.shape)}")
    extra = []
    for name, a in (("weight", weight), ("pos_weight", pos_weight)):
        if a is not None:
            a = _floating(name, a)
            try:
                fits = torch.broadcast_shapes(a.shape, x.shape) == x.shape
            except RuntimeError:
                fits = False
            if not fits:
                raise ValueError(f"{name} must broadcast to the logits' shape; got {name} {tuple(a.shape)} "
                                 f"and logits {tuple(x.shape)}")
        extra.append(a)
    return x, y, *extra, _reduction(reduction)


def _compute(x, y, w, p, reduction):
    """bce_with_logits.toml: loss w((1 - y) x + (1 + (p - 1) y) log(1 + exp(-x))), grad w((1 + (p - 1) y) sigma - p y)."""
    lw = 1.0 if p is None else 1.0 + (p - 1.0) * y
    rows = (1.0 - y) * x + lw * torch.nn.functional.softplus(-x)  # log(1 + exp(-x)), stable
    grad = torch.sigmoid(x) * lw - (y if p is None else p * y)
    if w is not None:
        rows, grad = rows * w, grad * w
    if reduction == "none":
        return rows, grad
    if reduction == "sum":
        return rows.sum(), grad
    return rows.mean(), grad / max(1, grad.numel())


class _BCEWithLogits(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, y, w, p, reduction):
        return _compute(x, y, w, p, reduction)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.reduction = inputs[4]
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, upstream, _unused):
        (grad,) = ctx.saved_tensors
        return grad * upstream, None, None, None, None


def loss(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """torch.nn.functional.binary_cross_entropy_with_logits, elementwise over any shape."""
    return _BCEWithLogits.apply(*_arguments(logits, target, weight, pos_weight, reduction))[0]


def grad(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """d loss / d logits (reduction "none": the gradient of the losses' sum)."""
    return _BCEWithLogits.apply(*_arguments(logits, target, weight, pos_weight, reduction))[1]


def loss_and_grad(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """(loss, grad) in one call."""
    return _BCEWithLogits.apply(*_arguments(logits, target, weight, pos_weight, reduction))
'''

_MSE = _COMMON + '''

def _compute(x, t, reduction):
    """mean_squared_error.toml: loss Sum((x - t)**2) / n, grad 2 (x - t) / n (sum: without / n)."""
    d = x - t
    sq = d * d
    if reduction == "none":
        return sq, 2.0 * d
    if reduction == "sum":
        return sq.sum(), 2.0 * d
    return sq.mean(), d * (2.0 / max(1, d.numel()))


class _MSE(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x, t, reduction):
        return _compute(x, t, reduction)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.reduction = inputs[2]
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, upstream, _unused):
        (grad,) = ctx.saved_tensors
        return grad * upstream, None, None


def _arguments(input, target, reduction):
    x, t = _floating("input", input), _floating("target", target)
    if x.shape != t.shape:
        raise ValueError(f"target must have the input's shape; got input {tuple(x.shape)} and target {tuple(t.shape)}")
    return x, t, _reduction(reduction)


def loss(input, target, *, reduction="mean"):
    """torch.nn.functional.mse_loss."""
    return _MSE.apply(*_arguments(input, target, reduction))[0]


def grad(input, target, *, reduction="mean"):
    """d loss / d input (reduction "none": the gradient of the losses' sum)."""
    return _MSE.apply(*_arguments(input, target, reduction))[1]


def loss_and_grad(input, target, *, reduction="mean"):
    """(loss, grad) in one call."""
    return _MSE.apply(*_arguments(input, target, reduction))
'''

#: Module bodies by loss name; ``symce.export.losses`` adds the docstring.
TORCH_SOURCE = {"softmax-ce": _CE, "bce-with-logits": _BCE, "mse": _MSE}
