"""Tests for symce.export.stable (the proved forms), symce.export.codegen and `symce export`."""

import importlib.util

import mpmath
import numpy as np
import pytest
import sympy

from symce.cli import main
from symce.errors import UsageError
from symce.model.losses import softmax_ce
from symce.export.codegen import export_source
from symce.export.stable import stable_forms


def load(tmp_path, backend="numpy", name="softmax-ce"):
    """Import an exported module from a file, as a user would."""
    path = tmp_path / f"exported_{name.replace('-', '_')}_{backend}.py"
    path.write_text(export_source(name, backend=backend))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(z, y):
    """loss and grad of one row in 50-digit mpmath (y need not sum to 1)."""
    with mpmath.workdps(50):
        zs = [mpmath.mpf(float(v)) for v in z]
        ys = [mpmath.mpf(float(v)) for v in y]
        m = max(zs)
        e = [mpmath.exp(v - m) for v in zs]
        total, y_sum = mpmath.fsum(e), mpmath.fsum(ys)
        s = [v / total for v in e]
        loss = -mpmath.fsum(yi * mpmath.log(si) for yi, si in zip(ys, s))
        return float(loss), np.array([float(si * y_sum - yi) for si, yi in zip(s, ys)])


# --- the proofs the export stands on -------------------------------------------

@pytest.mark.parametrize("k", [2, 3, 4])
def test_shift_invariance_at_concrete_k(k):
    """Cross-check of the symbolic-k proof: softmax(z - m) - softmax(z) is exactly 0 at k = 2..4."""
    model, m = softmax_ce(k), sympy.Symbol("m", real=True)
    shifted_den = sum(sympy.exp(zj - m) for zj in model.z)
    for i, zi in enumerate(model.z):
        assert sympy.simplify(sympy.exp(zi - m) / shifted_den - model.softmax(i)) == 0


@pytest.mark.parametrize("assume", ["simplex", "none"])
def test_stable_forms_are_proved(assume):
    forms = stable_forms(assume)
    claims = [p.claim for p in forms.proofs]
    assert len(claims) == (4 if assume == "simplex" else 3)
    assert "d/dz[i]" in claims[2]
    c, k, t, y = forms.c, forms.k, forms.t, forms.y
    s = sympy.exp(t[c]) / sympy.Sum(sympy.exp(t[c]), (c, 1, k))
    expected = s - y[c] if assume == "simplex" else s * sympy.Sum(y[c], (c, 1, k)) - y[c]
    assert forms.grad == expected


# --- the exported numpy module (probability targets, reduction "none": one loss per row) ---

@pytest.fixture(scope="module")
def np_ce(tmp_path_factory):
    return load(tmp_path_factory.mktemp("export"), "numpy")


NONE = {"reduction": "none"}


def test_numpy_module_imports_only_numpy():
    source = export_source("softmax-ce", backend="numpy")
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import numpy"]
    assert "cross_entropy_targets.toml (every step proved for all k)" in source


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_shapes_and_dtype(np_ce, batch, dtype):
    rng = np.random.default_rng(0)
    z = rng.normal(size=batch + (5,)).astype(dtype)
    y = rng.dirichlet(np.ones(5), batch or None).astype(dtype)
    L, g = np_ce.loss_and_grad(z, y, **NONE)
    assert g.shape == z.shape and g.dtype == dtype
    assert L.shape == batch and L.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for index in np.ndindex(*batch):
        ref_loss, ref_grad = reference(z[index], y[index])
        np.testing.assert_allclose(g[index], ref_grad, atol=tol)
        np.testing.assert_allclose(L[index], ref_loss, rtol=tol)


def test_float64_gradient_relative_error_against_mpmath(np_ce):
    """Relative error <= 1e-12, per row in the max norm, against 50-digit mpmath; y off the simplex."""
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 3, (20, 40)), rng.uniform(-1e3, 1e3, (10, 40))])
    y = rng.dirichlet(np.ones(40), 30) * rng.uniform(0.5, 2, (30, 1))
    g = np_ce.grad(z, y, **NONE)
    for row in range(30):
        _, ref = reference(z[row], y[row])
        assert np.max(np.abs(g[row] - ref)) / np.max(np.abs(ref)) <= 1e-12


@pytest.mark.parametrize("scale", [1e3, 1e300])
def test_huge_logits_stay_finite(np_ce, scale):
    z = np.array([[scale, -scale, 0.0, scale / 2], [scale, scale, scale, scale]])
    y = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 0.0, 0.0]])
    L, g = np_ce.loss_and_grad(z, y, **NONE)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(L))
    np.testing.assert_allclose(g[1], [-0.75, 0.25, 0.25, 0.25], atol=1e-15)
    np.testing.assert_allclose(L[1], np.log(4), rtol=1e-15)  # equal logits: no cancellation loss
    np.testing.assert_allclose(g[0], reference(z[0], y[0])[1], atol=1e-15)


def test_targets_need_not_sum_to_one(np_ce):
    """PyTorch's probability targets are not renormalised: dL/dz = s * sum(y) - y."""
    z = np.array([1.0, 2.0, 3.0])
    y = np.array([0.5, 0.5, 0.5])  # sums to 1.5
    s = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(np_ce.grad(z, y, **NONE), 1.5 * s - y, rtol=1e-14)


def test_nan_stays_in_its_row(np_ce):
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(4, 6)), rng.dirichlet(np.ones(6), 4)
    z[1, 2] = np.nan
    y[3, 0] = np.nan
    L, g = np_ce.loss_and_grad(z, y, **NONE)
    assert np.isnan(g[1]).all() and np.isnan(L[1]) and np.isnan(L[3])
    assert np.isnan(g[3]).all()  # sum(y) is NaN: the whole row, and only it
    assert np.isfinite(g[[0, 2]]).all() and np.isfinite(L[[0, 2]]).all()
    labels = np.array([0, 1, 2, 3])
    L, g = np_ce.loss_and_grad(z, labels, **NONE)
    assert np.isnan(L[1]) and np.isnan(g[1]).all() and np.isfinite(np.delete(L, 1)).all()


def test_shape_mismatch_names_both_shapes(np_ce):
    with pytest.raises(ValueError, match=r"probabilities of shape \(2, 3\); got logits \(2, 3\) and target \(2, 4\)"):
        np_ce.grad(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"logits must have shape \(..., k\) with k >= 1; got logits \(\)"):
        np_ce.loss(1.0, 1.0)


def test_non_numeric_input_names_it(np_ce):
    with pytest.raises(ValueError, match=r"logits must be a floating array; got logits \(2,\) of <U1"):
        np_ce.grad(np.array(["a", "b"]), np.array([0.5, 0.5]))


def test_export_argument_errors():
    with pytest.raises(UsageError, match="unknown backend 'tf'; known: numpy, torch, jax"):
        export_source("softmax-ce", backend="tf")
    with pytest.raises(UsageError, match="unknown loss 'focal'; known: softmax-ce, bce-with-logits, mse"):
        export_source("focal")


# --- torch and jax -------------------------------------------------------------------

def test_torch_backend(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (optional extra 'torch')")
    module = load(tmp_path, "torch")
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (2, 3, 7))
    y = rng.dirichlet(np.ones(7), (2, 3)) * 1.7
    L, g = module.loss_and_grad(torch.from_numpy(z), torch.from_numpy(y), **NONE)
    assert g.dtype == torch.float64 and g.shape == (2, 3, 7) and L.shape == (2, 3)
    assert module.grad(torch.from_numpy(z).float(), torch.from_numpy(y).float()).dtype == torch.float32
    for index in np.ndindex(2, 3):
        ref_loss, ref_grad = reference(z[index], y[index])
        np.testing.assert_allclose(g[index].numpy(), ref_grad, atol=1e-14)
        np.testing.assert_allclose(float(L[index]), ref_loss, rtol=1e-13)
    big = torch.tensor([[1e300, -1e300, 0.0]], dtype=torch.float64)
    assert torch.isfinite(module.grad(big, torch.tensor([[0.2, 0.3, 0.5]], dtype=torch.float64))).all()
    with pytest.raises(ValueError, match=r"got logits \(2, 3\) and target \(3,\)"):
        module.grad(torch.zeros(2, 3), torch.zeros(3))


# JAX runs in a child process: once imported, its at-fork hook warns (an error under
# filterwarnings) whenever the checker forks its workers later in the same test session.
JAX_CHILD = r"""
import importlib.util, itertools, sys
import numpy as np
import jax
jax.config.update("jax_enable_x64", sys.argv[2] == "x64")
def load(path):
    spec = importlib.util.spec_from_file_location("exported", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
ce, bce, mse = (load(p) for p in sys.argv[5:8])
data = np.load(sys.argv[3])
out = {}
z, y, labels, w = data["z"], data["y"], data["labels"], data["w"]
for name in ("z", "z32", "big"):
    try:
        out["loss_" + name], out["grad_" + name] = map(np.asarray, ce.loss_and_grad(data[name], data["y_" + name], reduction="none"))
    except ValueError as exc:
        out["error_" + name] = np.array(str(exc))
if sys.argv[2] == "x64":
    for reduction, eps in itertools.product(["none", "mean", "sum"], [0.0, 0.2]):
        kw = dict(weight=w, ignore_index=1, reduction=reduction, label_smoothing=eps)
        f = jax.jit(lambda zz, tt: ce.loss(zz, tt, **kw).sum())
        g = jax.jit(jax.grad(lambda zz, tt: ce.loss(zz, tt, **kw).sum()))
        out[f"jit_{reduction}_{eps}"] = np.asarray(f(z, labels))
        out[f"jitgrad_{reduction}_{eps}"] = np.asarray(g(z, labels))
    _, vjp = jax.vjp(lambda zz, tt: ce.loss(zz, tt), jax.numpy.asarray(z), jax.numpy.asarray(labels))
    out["label_cotangent_is_float0"] = np.array(vjp(jax.numpy.asarray(1.0))[1].dtype == jax.dtypes.float0)
    out["out_of_range_jit"] = np.asarray(jax.jit(lambda zz, tt: ce.loss(zz, tt, reduction="none"))(z, labels + 10))
    for name, module in (("bce", bce), ("mse", mse)):
        out[name + "_grad"] = np.asarray(jax.jit(jax.grad(module.loss))(z, y))
try:
    ce.grad(np.zeros((2, 3)), np.zeros(3))
except ValueError as exc:
    out["error_shapes"] = np.array(str(exc))
np.savez(sys.argv[4], **out)
"""


def run_jax(tmp_path, x64):
    """Run the exported jax modules in a child process; return what they computed or raised."""
    pytest.importorskip("jax", reason="jax is not installed (optional extra 'jax')")
    import subprocess
    import sys

    paths = []
    for name in ("softmax-ce", "bce-with-logits", "mse"):
        paths.append(tmp_path / f"{name.replace('-', '_')}_jax.py")
        paths[-1].write_text(export_source(name, backend="jax"))
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (2, 3, 7))
    y = rng.dirichlet(np.ones(7), (2, 3)) * 1.7
    inputs = {"z": z, "y_z": y, "y": y, "z32": z.astype(np.float32), "y_z32": y.astype(np.float32),
              "big": np.array([[1e300, -1e300, 0.0]]), "y_big": np.array([[0.2, 0.3, 0.5]]),
              "labels": rng.integers(0, 7, (2, 3)), "w": rng.uniform(0.5, 2, 7)}
    inputs["labels"][0, 0] = 1  # ignore_index in the jit cases
    np.savez(tmp_path / "in.npz", **inputs)
    subprocess.run([sys.executable, "-c", JAX_CHILD, "", "x64" if x64 else "x32",
                    str(tmp_path / "in.npz"), str(tmp_path / "out.npz"), *map(str, paths)], check=True)
    return inputs, dict(np.load(tmp_path / "out.npz"))


def test_jax_backend(tmp_path):
    inputs, out = run_jax(tmp_path, x64=True)
    g, L = out["grad_z"], out["loss_z"]
    assert g.dtype == np.float64 and g.shape == (2, 3, 7) and L.shape == (2, 3)
    assert out["grad_z32"].dtype == np.float32
    for index in np.ndindex(2, 3):
        ref_loss, ref_grad = reference(inputs["z"][index], inputs["y_z"][index])
        np.testing.assert_allclose(g[index], ref_grad, atol=1e-14)
        np.testing.assert_allclose(float(L[index]), ref_loss, rtol=1e-13)
    assert np.isfinite(out["grad_big"]).all()
    assert "got logits (2, 3) and target (3,)" in str(out["error_shapes"])


def test_jax_custom_vjp_under_jit_matches_numpy(tmp_path, np_ce):
    inputs, out = run_jax(tmp_path, x64=True)
    z, labels, w = inputs["z"], inputs["labels"], inputs["w"]
    for reduction in ("none", "mean", "sum"):
        for eps in (0.0, 0.2):
            L, g = np_ce.loss_and_grad(z, labels, weight=w, ignore_index=1, reduction=reduction, label_smoothing=eps)
            np.testing.assert_allclose(out[f"jit_{reduction}_{eps}"], np.sum(L), rtol=1e-12)
            np.testing.assert_allclose(out[f"jitgrad_{reduction}_{eps}"], g, rtol=1e-12, atol=1e-15)
    assert out["label_cotangent_is_float0"]  # integer labels: a float0 cotangent
    assert np.isnan(out["out_of_range_jit"]).all()  # under jit: NaN, never a clamped label
    y = inputs["y"]
    np.testing.assert_allclose(out["bce_grad"], load(tmp_path, "numpy", "bce-with-logits").grad(z, y), rtol=1e-12)
    np.testing.assert_allclose(out["mse_grad"], load(tmp_path, "numpy", "mse").grad(z, y), rtol=1e-12)


def test_jax_refuses_to_narrow_float64_silently(tmp_path):
    inputs, out = run_jax(tmp_path, x64=False)
    assert "logits (1, 3) is float64, which needs jax.config.update('jax_enable_x64', True)" in str(out["error_big"])
    ref = np.array([reference(inputs["z32"][ix], inputs["y_z32"][ix])[1] for ix in np.ndindex(2, 3)])
    np.testing.assert_allclose(out["grad_z32"].reshape(6, 7), ref, atol=1e-6)


# --- the command line -------------------------------------------------------------

def test_cli_export_writes_importable_file(tmp_path):
    out = tmp_path / "softmax_ce.py"
    assert main(["export", "softmax-ce", "--backend", "numpy", "-o", str(out)]) == 0
    assert out.read_text() == export_source("softmax-ce", "numpy")
    assert [p.name for p in tmp_path.iterdir()] == ["softmax_ce.py"]  # no temp file left behind


def test_cli_export_to_stdout(capsys):
    assert main(["export", "softmax-ce"]) == 0
    assert capsys.readouterr().out == export_source("softmax-ce", "numpy")


def test_cli_unknown_backend_exits_2_listing_known_ones(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "softmax-ce", "--backend", "tf"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'numpy', 'torch', 'jax'" in err and len(err.strip().splitlines()) == 1


def test_cli_unknown_name_exits_2_listing_known_ones(capsys):
    assert main(["export", "focal"]) == 2
    err = capsys.readouterr().err
    assert "unknown loss 'focal'; known: softmax-ce, bce-with-logits, mse" in err and len(err.strip().splitlines()) == 1


def test_cli_unwritable_output_exits_2(tmp_path, capsys):
    assert main(["export", "softmax-ce", "-o", str(tmp_path / "missing" / "g.py")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_torch_takes_numpy_views_with_negative_strides(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (optional extra 'torch')")
    module = load(tmp_path, "torch")
    z = np.arange(6.0).reshape(2, 3)[:, ::-1]  # torch.as_tensor refuses negative strides
    y = np.full((2, 3), 1 / 3)
    g = module.grad(z, y, **NONE)
    assert isinstance(g, torch.Tensor)
    np.testing.assert_allclose(g.numpy()[0], reference(z[0], y[0])[1], atol=1e-14)
