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


def load(tmp_path, backend="numpy", assume="simplex", name="exported"):
    """Import an exported module from a file, as a user would."""
    path = tmp_path / f"{name}_{backend}_{assume}.py"
    path.write_text(export_source("softmax-ce", backend=backend, assume=assume))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference(z, y):
    """loss and grad of one row in 50-digit mpmath."""
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


# --- the exported numpy module ----------------------------------------------------

@pytest.fixture(scope="module")
def np_simplex(tmp_path_factory):
    return load(tmp_path_factory.mktemp("export"), "numpy", "simplex")


@pytest.fixture(scope="module")
def np_none(tmp_path_factory):
    return load(tmp_path_factory.mktemp("export"), "numpy", "none")


def test_numpy_module_imports_only_numpy():
    source = export_source("softmax-ce", backend="numpy")
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import numpy"]
    assert "assume simplex" in source and "s - y" in source


@pytest.mark.parametrize("batch", [(), (3,), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_shapes_and_dtype(np_simplex, batch, dtype):
    rng = np.random.default_rng(0)
    z = rng.normal(size=batch + (5,)).astype(dtype)
    y = rng.dirichlet(np.ones(5), batch or None).astype(dtype)
    g, L = np_simplex.grad(z, y), np_simplex.loss(z, y)
    assert g.shape == z.shape and g.dtype == dtype
    assert L.shape == batch and L.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for index in np.ndindex(*batch):
        ref_loss, ref_grad = reference(z[index], y[index])
        np.testing.assert_allclose(g[index], ref_grad, atol=tol)
        np.testing.assert_allclose(L[index], ref_loss, rtol=tol)


def test_float64_gradient_relative_error_against_mpmath(np_none):
    """Relative error <= 1e-12, per row in the max norm, against 50-digit mpmath."""
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0, 3, (20, 40)), rng.uniform(-1e3, 1e3, (10, 40))])
    y = rng.dirichlet(np.ones(40), 30) * rng.uniform(0.5, 2, (30, 1))
    g = np_none.grad(z, y)
    for row in range(30):
        _, ref = reference(z[row], y[row])
        assert np.max(np.abs(g[row] - ref)) / np.max(np.abs(ref)) <= 1e-12


@pytest.mark.parametrize("scale", [1e3, 1e300])
def test_huge_logits_stay_finite(np_simplex, scale):
    z = np.array([[scale, -scale, 0.0, scale / 2], [scale, scale, scale, scale]])
    y = np.array([[0.1, 0.2, 0.3, 0.4], [1.0, 0.0, 0.0, 0.0]])
    g, L = np_simplex.grad(z, y), np_simplex.loss(z, y)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(L))
    np.testing.assert_allclose(g[1], [-0.75, 0.25, 0.25, 0.25], atol=1e-15)
    np.testing.assert_allclose(L[1], np.log(4), rtol=1e-15)  # equal logits: no cancellation loss
    np.testing.assert_allclose(g[0], reference(z[0], y[0])[1], atol=1e-15)


def test_assume_none_differs_from_simplex_off_the_simplex(np_simplex, np_none):
    z = np.array([1.0, 2.0, 3.0])
    y = np.array([0.5, 0.5, 0.5])  # sums to 1.5
    s = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(np_none.grad(z, y), 1.5 * s - y, rtol=1e-14)
    np.testing.assert_allclose(np_simplex.grad(z, y), s - y, rtol=1e-14)
    y1 = y / 1.5  # on the simplex the two exports agree
    np.testing.assert_allclose(np_none.grad(z, y1), np_simplex.grad(z, y1), rtol=1e-14)


def test_nan_stays_in_its_row(np_none, np_simplex):
    rng = np.random.default_rng(0)
    z, y = rng.normal(size=(4, 6)), rng.dirichlet(np.ones(6), 4)
    z[1, 2] = np.nan
    y[3, 0] = np.nan
    for module in (np_none, np_simplex):
        g, L = module.grad(z, y), module.loss(z, y)
        assert np.isnan(g[1]).all() and np.isnan(L[1]) and np.isnan(L[3])
        assert np.isnan(g[3, 0])
        assert np.isfinite(g[[0, 2]]).all() and np.isfinite(L[[0, 2]]).all()
    assert np.isnan(np_none.grad(z, y)[3]).all()  # sum(y) is NaN: the whole row, and only it


def test_shape_mismatch_names_both_shapes(np_simplex):
    with pytest.raises(ValueError, match=r"same shape .* got z \(2, 3\) and y \(2, 4\)"):
        np_simplex.grad(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"got z \(\) and y \(\)"):
        np_simplex.loss(1.0, 1.0)


def test_non_numeric_input_names_both_shapes(np_simplex):
    with pytest.raises(ValueError, match=r"real numeric arrays; got z \(2,\) of <U1 and y \(2,\) of float64"):
        np_simplex.grad(np.array(["a", "b"]), np.array([0.5, 0.5]))


def test_export_argument_errors():
    with pytest.raises(UsageError, match="unknown backend 'tf'; known: numpy, torch, jax"):
        export_source("softmax-ce", backend="tf")
    with pytest.raises(UsageError, match="unknown identity 'mse'; known: softmax-ce"):
        export_source("mse")


# --- torch and jax -------------------------------------------------------------------

@pytest.mark.parametrize("assume", ["simplex", "none"])
def test_torch_backend(tmp_path, assume):
    torch = pytest.importorskip("torch", reason="torch is not installed (optional extra 'torch')")
    module = load(tmp_path, "torch", assume)
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (2, 3, 7))
    y = rng.dirichlet(np.ones(7), (2, 3)) * (1.0 if assume == "simplex" else 1.7)
    g = module.grad(torch.from_numpy(z), torch.from_numpy(y))
    L = module.loss(torch.from_numpy(z), torch.from_numpy(y))
    assert g.dtype == torch.float64 and g.shape == (2, 3, 7) and L.shape == (2, 3)
    assert module.grad(torch.from_numpy(z).float(), torch.from_numpy(y).float()).dtype == torch.float32
    for index in np.ndindex(2, 3):
        ref_loss, ref_grad = reference(z[index], y[index])
        np.testing.assert_allclose(g[index].numpy(), ref_grad, atol=1e-14)
        np.testing.assert_allclose(float(L[index]), ref_loss, rtol=1e-13)
    big = torch.tensor([[1e300, -1e300, 0.0]], dtype=torch.float64)
    assert torch.isfinite(module.grad(big, torch.tensor([[0.2, 0.3, 0.5]], dtype=torch.float64))).all()
    with pytest.raises(ValueError, match=r"got z \(2, 3\) and y \(3,\)"):
        module.grad(torch.zeros(2, 3), torch.zeros(3))


# JAX runs in a child process: once imported, its at-fork hook warns (an error under
# filterwarnings) whenever the checker forks its workers later in the same test session.
JAX_CHILD = r"""
import importlib.util, sys
import numpy as np
import jax
jax.config.update("jax_enable_x64", sys.argv[2] == "x64")
spec = importlib.util.spec_from_file_location("exported_jax", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
data = np.load(sys.argv[3])
out = {}
for name in ("z", "z32", "big"):
    z, y = data[name], data["y_" + name]
    try:
        out["grad_" + name] = np.asarray(module.grad(z, y))
        out["loss_" + name] = np.asarray(module.loss(z, y))
    except ValueError as exc:
        out["error_" + name] = np.array(str(exc))
try:
    module.grad(np.zeros((2, 3)), np.zeros(3))
except ValueError as exc:
    out["error_shapes"] = np.array(str(exc))
np.savez(sys.argv[4], **out)
"""


def run_jax(tmp_path, assume, x64):
    """Run the exported jax module in a child process; return what it computed or raised."""
    pytest.importorskip("jax", reason="jax is not installed (optional extra 'jax')")
    import subprocess
    import sys

    module = tmp_path / f"exported_jax_{assume}.py"
    module.write_text(export_source("softmax-ce", backend="jax", assume=assume))
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, (2, 3, 7))
    y = rng.dirichlet(np.ones(7), (2, 3)) * (1.0 if assume == "simplex" else 1.7)
    inputs = {"z": z, "y_z": y, "z32": z.astype(np.float32), "y_z32": y.astype(np.float32),
              "big": np.array([[1e300, -1e300, 0.0]]), "y_big": np.array([[0.2, 0.3, 0.5]])}
    np.savez(tmp_path / "in.npz", **inputs)
    subprocess.run([sys.executable, "-c", JAX_CHILD, str(module), "x64" if x64 else "x32",
                    str(tmp_path / "in.npz"), str(tmp_path / "out.npz")], check=True)
    return inputs, dict(np.load(tmp_path / "out.npz"))


@pytest.mark.parametrize("assume", ["simplex", "none"])
def test_jax_backend(tmp_path, assume):
    inputs, out = run_jax(tmp_path, assume, x64=True)
    g, L = out["grad_z"], out["loss_z"]
    assert g.dtype == np.float64 and g.shape == (2, 3, 7) and L.shape == (2, 3)
    assert out["grad_z32"].dtype == np.float32
    for index in np.ndindex(2, 3):
        ref_loss, ref_grad = reference(inputs["z"][index], inputs["y_z"][index])
        np.testing.assert_allclose(g[index], ref_grad, atol=1e-14)
        np.testing.assert_allclose(float(L[index]), ref_loss, rtol=1e-13)
    assert np.isfinite(out["grad_big"]).all()
    assert "got z (2, 3) and y (3,)" in str(out["error_shapes"])


def test_jax_refuses_to_narrow_float64_silently(tmp_path):
    inputs, out = run_jax(tmp_path, "simplex", x64=False)
    assert str(out["error_big"]) == ("z (1, 3) and y (1, 3): float64 input needs "
                                     "jax.config.update('jax_enable_x64', True)")
    ref = np.array([reference(inputs["z32"][ix], inputs["y_z32"][ix])[1] for ix in np.ndindex(2, 3)])
    np.testing.assert_allclose(out["grad_z32"].reshape(6, 7), ref, atol=1e-6)


# --- the command line -------------------------------------------------------------

def test_cli_export_writes_importable_file(tmp_path):
    out = tmp_path / "grad_softmax_ce.py"
    assert main(["export", "softmax-ce", "--backend", "numpy", "--assume", "none", "-o", str(out)]) == 0
    assert out.read_text() == export_source("softmax-ce", "numpy", "none")
    assert [p.name for p in tmp_path.iterdir()] == ["grad_softmax_ce.py"]  # no temp file left behind


def test_cli_export_to_stdout(capsys):
    assert main(["export", "softmax-ce"]) == 0
    assert capsys.readouterr().out == export_source("softmax-ce", "numpy", "simplex")


@pytest.mark.parametrize(
    "argv, listed",
    [
        (["export", "softmax-ce", "--backend", "tf"], "'numpy', 'torch', 'jax'"),
        (["export", "mse"], "'softmax-ce'"),
        (["export", "softmax-ce", "--assume", "onehot"], "'simplex', 'none'"),
    ],
)
def test_cli_unknown_names_exit_2_listing_known_ones(capsys, argv, listed):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert listed in err and len(err.strip().splitlines()) == 1


def test_cli_unwritable_output_exits_2(tmp_path, capsys):
    assert main(["export", "softmax-ce", "-o", str(tmp_path / "missing" / "g.py")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_torch_takes_numpy_views_with_negative_strides(tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (optional extra 'torch')")
    module = load(tmp_path, "torch", "simplex")
    z = np.arange(6.0).reshape(2, 3)[:, ::-1]  # torch.as_tensor refuses negative strides
    y = np.full((2, 3), 1 / 3)
    g = module.grad(z, y)
    assert isinstance(g, torch.Tensor)
    np.testing.assert_allclose(g.numpy()[0], reference(z[0], y[0])[1], atol=1e-14)
