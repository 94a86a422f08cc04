"""Benchmark the exported softmax cross-entropy against hand-written and library baselines.

Everything runs in one process, interleaved (each round times every contender once,
the order rotating), and the median of ROUNDS rounds is reported, for 4096 x 1000 and
512 x 50257 logits in float32 and float64 with integer labels and reduction "mean":

- numpy ``loss_and_grad`` against a hand-written fused one-pass numpy version;
- numpy ``loss_and_grad`` against symce's own ``loss`` + ``grad`` before issue 13
  (``baseline_softmax_ce_numpy.py``, which needs a one-hot target, built beforehand);
- torch ``loss`` + ``.backward()`` against ``torch.nn.functional.cross_entropy`` + ``.backward()``;
- numpy ``grad`` against the memory floor: max(bytes moved / measured bandwidth,
  exp count / measured exp rate), both measured here in the same process.

    python benchmarks/bench_export.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from symce.export.codegen import export_source  # noqa: E402

SHAPES = [(4096, 1000), (512, 50257)]
PAUSE = 0.05  # seconds between timed calls, for torch's spinning threads to go idle
DTYPES = [np.float32, np.float64]


def load(path: Path, text: str | None = None):
    if text is not None:
        path.write_text(text)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hand_fused(z, t):
    """Hand-written fused one-pass numpy: the gradient buffer is the only batch-sized array."""
    n = z.shape[0]
    rows = np.arange(n)
    g = z - z.max(axis=1, keepdims=True)
    picked = g[rows, t]
    np.exp(g, out=g)
    S = g.sum(axis=1)
    loss = np.mean(np.log(S) - picked)
    g *= (1.0 / (S * n))[:, None].astype(z.dtype)
    g[rows, t] -= z.dtype.type(1.0 / n)
    return loss, g


def floor_seconds(z) -> tuple[float, float, float]:
    """(memory floor, exp floor) for a gradient of z's size: one read of z, one write of the gradient."""
    src, dst = np.ones_like(z), np.empty_like(z)
    copies = []
    for _ in range(7):
        start = time.perf_counter()
        np.copyto(dst, src)
        copies.append(time.perf_counter() - start)
    bandwidth = 2 * z.nbytes / statistics.median(copies)  # bytes read + written per second
    block = np.full(1 << 14, -1.0, z.dtype)  # in cache: the exp rate itself, not memory
    start, reps = time.perf_counter(), 0
    while time.perf_counter() - start < 0.2:
        np.exp(block, out=block)
        block.fill(-1.0)
        reps += 1
    exp_rate = reps * block.size / (time.perf_counter() - start)
    return 2 * z.nbytes / bandwidth, z.size / exp_rate, bandwidth


def contenders(tmp: Path, z, t, torch):
    np_mod = load(tmp / "export_numpy.py", export_source("softmax-ce", "numpy"))
    old = load(HERE / "baseline_softmax_ce_numpy.py")
    onehot = np.zeros_like(z)
    onehot[np.arange(z.shape[0]), t] = 1
    rows = {
        "numpy export loss_and_grad": lambda: np_mod.loss_and_grad(z, t),
        "hand-written fused numpy": lambda: hand_fused(z, t),
        "symce before: loss + grad (one-hot)": lambda: (old.loss(z, onehot).mean(), old.grad(z, onehot)),
        "numpy export grad": lambda: np_mod.grad(z, t),
    }
    if torch is not None:
        th = load(tmp / "export_torch.py", export_source("softmax-ce", "torch"))
        zt, tt = torch.from_numpy(z), torch.from_numpy(t)

        def export_backward():
            zr = zt.detach().requires_grad_()
            th.loss(zr, tt).backward()
            return zr.grad

        def reference_backward():
            zr = zt.detach().requires_grad_()
            torch.nn.functional.cross_entropy(zr, tt).backward()
            return zr.grad

        rows["torch export loss + backward"] = export_backward
        rows["F.cross_entropy + backward"] = reference_backward
    return rows, np_mod


def measure(shape, dtype, rounds, torch):
    rng = np.random.default_rng(0)
    z = rng.normal(0, 3, shape).astype(dtype)
    t = rng.integers(0, shape[1], shape[0])
    with tempfile.TemporaryDirectory() as tmp:
        rows, np_mod = contenders(Path(tmp), z, t, torch)
        ref_loss, ref_grad = hand_fused(z, t)
        got_loss, got_grad = np_mod.loss_and_grad(z, t)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got_grad, ref_grad, rtol=tol, atol=tol * float(np.abs(ref_grad).max()))
        np.testing.assert_allclose(got_loss, ref_loss, rtol=tol)
        for _ in range(3):  # warm-up: first calls (and first-touched memory) are not the steady state
            for fn in rows.values():
                fn()
        times = {name: [] for name in rows}
        names = list(rows)
        for r in range(rounds):
            # Rotate who goes first, and pause (untimed) before each call: torch's worker
            # threads keep spinning for a while after a torch call, and whatever ran right
            # after it was slowed by up to 1.4x here.
            for name in names[r % len(names):] + names[:r % len(names)]:
                time.sleep(PAUSE)
                start = time.perf_counter()
                rows[name]()
                times[name].append(time.perf_counter() - start)
        med = {name: statistics.median(v) * 1e3 for name, v in times.items()}
        mem, exp, bandwidth = floor_seconds(z)
    return med, mem * 1e3, exp * 1e3, bandwidth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds (median reported; at least 10)")
    args = parser.parse_args()
    rounds = max(args.rounds, 10)
    try:
        import torch
    except ImportError:
        torch = None
        print("torch is not installed: its rows are left out")
    print(f"median of {rounds} interleaved rounds; integer labels, reduction 'mean'"
          + ("" if torch is None else f"; torch {torch.__version__}, {torch.get_num_threads()} threads"))
    print()
    print("| shape | dtype | contender | ms | compared with | ms | ratio | target |")
    print("|---|---|---|---|---|---|---|---|")
    for shape in SHAPES:
        for dtype in DTYPES:
            med, mem, exp, bandwidth = measure(shape, dtype, rounds, torch)
            label = f"| {shape[0]} x {shape[1]} | {np.dtype(dtype).name} "
            pairs = [
                ("numpy export loss_and_grad", "hand-written fused numpy", "<= 1.1x"),
                ("numpy export loss_and_grad", "symce before: loss + grad (one-hot)", "<= 1/1.4 = 0.71x"),
                ("torch export loss + backward", "F.cross_entropy + backward", "< 1x"),
            ]
            for a, b, target in pairs:
                if a in med and b in med:
                    print(f"{label}| {a} | {med[a]:.1f} | {b} | {med[b]:.1f} | {med[a] / med[b]:.2f} | {target} |")
            floor = max(mem, exp)
            print(f"{label}| numpy export grad | {med['numpy export grad']:.1f} | floor max(memory {mem:.1f}, "
                  f"exp {exp:.1f}) at {bandwidth / 1e9:.1f} GB/s | {floor:.1f} | "
                  f"{med['numpy export grad'] / floor:.2f} | report |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
