"""The named exports (softmax-ce, bce-with-logits, mse) against PyTorch itself, for every argument combination."""

import importlib.util
import itertools
import tracemalloc

import numpy as np
import pytest

from symce.cli import main
from symce.export.losses import named_source

torch = pytest.importorskip("torch", reason="torch is not installed: the comparison with PyTorch needs it")
F = torch.nn.functional


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    """Every export, written to a file and imported as a user would."""
    folder, cache = tmp_path_factory.mktemp("exports"), {}

    def load(name, backend):
        if (name, backend) not in cache:
            path = folder / f"{name.replace('-', '_')}_{backend}.py"
            path.write_text(named_source(name, backend))
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            cache[name, backend] = module
        return cache[name, backend]

    return load


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300)) if b.size else 0.0


CE_CASES = [c for c in itertools.product(
    ["labels", "probabilities"], [False, True], ["none", "mean", "sum"], [0.0, 0.2], [-100, 1], [(), (3,), (2, 3)])
    if not (c[0] == "probabilities" and c[4] >= 0)]


def ce_case(kind, weighted, ignore_index, batch, k=5, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, batch + (k,))
    if kind == "labels":
        t = rng.integers(0, k, batch)
        if batch:
            t.reshape(-1)[0] = ignore_index if ignore_index >= 0 else -100
    else:
        t = rng.dirichlet(np.ones(k), batch or None) * rng.uniform(0.5, 1.5)  # need not sum to 1
    w = rng.uniform(0.3, 2.0, k) if weighted else None
    return z, t, w


def torch_ce(z, t, w, ignore_index, reduction, eps):
    """PyTorch's own loss and gradient (classes moved to dim 1, as torch wants them)."""
    zt = torch.tensor(z).requires_grad_()
    zz = zt.movedim(-1, 1) if zt.dim() > 1 else zt
    tt = torch.tensor(t)
    if tt.is_floating_point() and tt.dim() > 1:
        tt = tt.movedim(-1, 1)
    out = F.cross_entropy(zz, tt, weight=None if w is None else torch.tensor(w), ignore_index=ignore_index,
                          reduction=reduction, label_smoothing=eps)
    out.sum().backward()
    return out.detach().numpy(), zt.grad.numpy()


@pytest.mark.parametrize("kind, weighted, reduction, eps, ignore_index, batch", CE_CASES)
def test_cross_entropy_matches_pytorch(modules, kind, weighted, reduction, eps, ignore_index, batch):
    z, t, w = ce_case(kind, weighted, ignore_index, batch)
    ref_loss, ref_grad = torch_ce(z, t, w, ignore_index, reduction, eps)
    kw = dict(weight=w, ignore_index=ignore_index, reduction=reduction, label_smoothing=eps)
    L, G = modules("softmax-ce", "numpy").loss_and_grad(z, t, **kw)
    assert rel(L, ref_loss) <= 1e-12 and rel(G, ref_grad) <= 1e-12
    assert rel(modules("softmax-ce", "numpy").loss(z, t, **kw), ref_loss) <= 1e-12
    assert rel(modules("softmax-ce", "numpy").grad(z, t, **kw), ref_grad) <= 1e-12
    tw = None if w is None else torch.tensor(w)
    zt = torch.tensor(z).requires_grad_()
    out = modules("softmax-ce", "torch").loss(zt, torch.tensor(t), **{**kw, "weight": tw})
    out.sum().backward()
    assert rel(out.detach(), ref_loss) <= 1e-12 and rel(zt.grad, ref_grad) <= 1e-12


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("kind", ["labels", "probabilities"])
def test_z_loss_is_scale_times_logsumexp_squared(modules, kind, reduction):
    """z_loss adds zeta * lse**2 per kept target; its gradient through torch autograd of that definition."""
    z, t, w = ce_case(kind, True, -100, (4,), seed=1)
    zeta = 1e-2
    zt = torch.tensor(z).requires_grad_()
    ce = F.cross_entropy(zt, torch.tensor(t), weight=torch.tensor(w), reduction="none", label_smoothing=0.1)
    kept = torch.tensor(t != -100) if kind == "labels" else torch.ones(4, dtype=torch.bool)
    zl = torch.where(kept, zeta * torch.logsumexp(zt, -1) ** 2, 0.0)
    if reduction == "none":
        ref = ce + zl
    elif reduction == "sum":
        ref = ce.sum() + zl.sum()
    else:
        denominator = torch.tensor(w)[torch.tensor(np.where(t == -100, 0, t))][kept].sum() if kind == "labels" else 4
        ref = ce.sum() / denominator + zl.sum() / kept.sum()
    ref.sum().backward()
    kw = dict(weight=w, reduction=reduction, label_smoothing=0.1, z_loss=zeta)
    for backend in ("numpy", "torch"):
        L, G = modules("softmax-ce", backend).loss_and_grad(z if backend == "numpy" else torch.tensor(z),
                                                              t if backend == "numpy" else torch.tensor(t), **kw)
        assert rel(L, ref.detach()) <= 1e-12 and rel(G, zt.grad) <= 1e-12, backend


def test_torch_gradcheck_func_grad_and_vmap(modules):
    m = modules("softmax-ce", "torch")
    rng = np.random.default_rng(2)
    z = torch.tensor(rng.normal(size=(3, 4, 6)))
    t = torch.tensor(rng.integers(0, 6, (3, 4)))
    t[0, 0] = -100
    w = torch.tensor(rng.uniform(0.5, 2, 6))
    for reduction in ("none", "mean", "sum"):
        def f(zz, reduction=reduction):
            return m.loss(zz, t, weight=w, reduction=reduction, label_smoothing=0.1, z_loss=0.01)
        assert torch.autograd.gradcheck(f, (z.clone().requires_grad_(),))
    g = torch.func.grad(lambda zz: m.loss(zz, t, weight=w, z_loss=0.1))(z)
    assert rel(g, m.grad(z, t, weight=w, z_loss=0.1)) <= 1e-12
    per = torch.func.vmap(torch.func.grad(lambda zz, tt: m.loss(zz, tt, label_smoothing=0.1)))(z, t)
    expected = torch.stack([m.grad(z[i], t[i], label_smoothing=0.1) for i in range(3)])
    assert rel(per, expected) <= 1e-12


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_with_logits_matches_pytorch(modules, reduction):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 4, (4, 3))
    x[0, 0], x[0, 1] = 800.0, -800.0  # exp would overflow without the stable forms
    y = rng.uniform(0, 1, (4, 3))
    for w, p in itertools.product([None, rng.uniform(0.5, 2, (4, 1))], [None, rng.uniform(0.5, 3, 3)]):
        xt = torch.tensor(x).requires_grad_()
        ref = F.binary_cross_entropy_with_logits(xt, torch.tensor(y), weight=None if w is None else torch.tensor(w),
                                                 pos_weight=None if p is None else torch.tensor(p),
                                                 reduction=reduction)
        ref.sum().backward()
        L, G = modules("bce-with-logits", "numpy").loss_and_grad(x, y, weight=w, pos_weight=p, reduction=reduction)
        assert rel(L, ref.detach()) <= 1e-12 and rel(G, xt.grad) <= 1e-12
        xt2 = torch.tensor(x).requires_grad_()
        out = modules("bce-with-logits", "torch").loss(
            xt2, torch.tensor(y), weight=None if w is None else torch.tensor(w),
            pos_weight=None if p is None else torch.tensor(p), reduction=reduction)
        out.sum().backward()
        assert rel(out.detach(), ref.detach()) <= 1e-12 and rel(xt2.grad, xt.grad) <= 1e-12


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_mse_matches_pytorch(modules, reduction):
    rng = np.random.default_rng(4)
    x, t = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    xt = torch.tensor(x).requires_grad_()
    ref = F.mse_loss(xt, torch.tensor(t), reduction=reduction)
    ref.sum().backward()
    L, G = modules("mse", "numpy").loss_and_grad(x, t, reduction=reduction)
    assert rel(L, ref.detach()) <= 1e-12 and rel(G, xt.grad) <= 1e-12
    assert torch.autograd.gradcheck(lambda a: modules("mse", "torch").loss(a, torch.tensor(t), reduction=reduction),
                                    (torch.tensor(x).requires_grad_(),))


def test_all_targets_ignored_gives_nan_mean_and_zero_gradient(modules):
    z, t = np.zeros((2, 3)), np.array([-100, -100])
    L, G = modules("softmax-ce", "numpy").loss_and_grad(z, t)
    assert np.isnan(L) and not G.any()


def test_huge_logits_stay_finite(modules):
    z = np.array([[1e300, -1e300, 0.0], [1e3, 1e3, 1e3]])
    L, G = modules("softmax-ce", "numpy").loss_and_grad(z, np.array([0, 2]), reduction="none", label_smoothing=0.1)
    assert np.isfinite(L[1]) and np.isfinite(G).all()
    np.testing.assert_allclose(L[1], np.log(3), rtol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_bad_arguments_name_the_argument_and_both_shapes(modules, backend):
    m = modules("softmax-ce", backend)
    arr = (lambda a: a) if backend == "numpy" else torch.tensor
    z = arr(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"target must be integer class indices of shape \(2,\) .*"
                                         r"got logits \(2, 3\) and target \(3,\)"):
        m.loss(z, arr(np.array([0, 1, 2])))
    with pytest.raises(ValueError, match=r"target holds class 3, outside 0..2 .* logits \(2, 3\) and target \(2,\)"):
        m.loss(z, arr(np.array([0, 3])))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\), .* got weight \(4,\) and logits \(2, 3\)"):
        m.loss(z, arr(np.array([0, 1])), weight=arr(np.ones(4)))
    with pytest.raises(ValueError, match=r"logits must be a floating"):
        m.loss(arr(np.zeros((2, 3), dtype=np.int64)), arr(np.array([0, 1])))
    with pytest.raises(ValueError, match=r"reduction must be one of none, mean, sum; got 'avg'"):
        m.loss(z, arr(np.array([0, 1])), reduction="avg")


def test_numpy_loss_and_grad_allocates_only_its_gradient(modules):
    """tracemalloc: beyond the gradient, only row blocks (about 2 MB each) and per-target vectors."""
    m = modules("softmax-ce", "numpy")
    rng = np.random.default_rng(5)
    z = rng.normal(size=(16384, 500))
    w = rng.uniform(0.5, 2, 500)
    targets = [rng.integers(0, 500, 16384), rng.dirichlet(np.ones(500), 16384)]
    for t, kw in itertools.product(targets, ({}, {"weight": w, "label_smoothing": 0.1, "z_loss": 1e-3})):
        m.loss_and_grad(z, t, **kw)
        tracemalloc.start()
        m.loss_and_grad(z, t, **kw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak - z.nbytes < 0.15 * z.nbytes, (t.dtype, kw, peak / z.nbytes)


def test_cli_export_names_and_refusals(capsys):
    assert main(["export", "mse", "--backend", "numpy"]) == 0
    assert "def loss_and_grad(input, target" in capsys.readouterr().out
    assert main(["export", "focal", "--backend", "numpy"]) == 2
    err = capsys.readouterr().err
    assert "softmax-ce, bce-with-logits, mse" in err and "focal" in err
    with pytest.raises(SystemExit) as exit_:
        main(["export", "mse", "--backend", "tf"])
    assert exit_.value.code == 2
    assert "'numpy', 'torch', 'jax'" in capsys.readouterr().err


TEMPERATURE = "derivations/temperature_cross_entropy.toml"


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_users_derivation_file_exports(tmp_path, backend):
    from pathlib import Path

    path = Path(__file__).parent.parent / TEMPERATURE
    out = tmp_path / f"temperature_{backend}.py"
    assert main(["export", str(path), "--backend", backend, "-o", str(out)]) == 0
    spec = importlib.util.spec_from_file_location(out.stem, out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(8)
    z, y, T = rng.normal(0, 50, (3, 5)), rng.dirichlet(np.ones(5), 3), 0.3
    if backend == "torch":
        z, y = torch.tensor(z), torch.tensor(y)
    L, G = module.loss_and_grad(z, y, T)
    zt = torch.tensor(np.asarray(z)).requires_grad_()
    ref = F.cross_entropy(zt / T, torch.tensor(np.asarray(y)), reduction="none")
    ref.sum().backward()
    assert rel(L, ref.detach()) <= 1e-12 and rel(G, zt.grad) <= 1e-12


def test_a_file_whose_gradient_does_not_pass_is_refused(tmp_path, capsys):
    from pathlib import Path

    text = (Path(__file__).parent.parent / TEMPERATURE).read_text()
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(text.replace('{ expr = "(s[i] * Sum(y[n], (n, 1, k)) - y[i]) / T"',
                                  '{ expr = "(s[i] * Sum(y[n], (n, 1, k)) - y[i]) * T"'))
    assert main(["export", str(wrong)]) == 1
    assert "chain 'gradient', step 3" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('inputs = ["z", "y", "T"]', 'inputs = ["z", "q"]'))
    assert main(["export", str(bad)]) == 2
    assert "export.inputs[1]: expected a declared vector or scalar, found 'q'" in capsys.readouterr().err
