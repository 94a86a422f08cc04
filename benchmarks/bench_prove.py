"""Benchmark `symce prove` against the naive SymPy baseline, side by side, as whole processes.

    python benchmarks/bench_prove.py [--repeat N] [--quick]

Each cell is the median wall time of N runs of a fresh process (interpreter
start and `import sympy` included) and the peak resident memory of that
process. Both sides prove the same identity with nothing assumed about y,
dL/dz_i = s_i * sum_j y_j - y_i, for every component. --quick skips the
naive k = 32 run (about a minute on a 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB, and stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(cmd)}")
    return seconds, usage.ru_maxrss / 1024, out


def measure(cmd: list[str], repeat: int) -> tuple[float, float, str]:
    runs = [run(cmd) for _ in range(repeat)]
    return (statistics.median(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2])


def symce_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "symce", "prove", "softmax-ce", "--assume", "none", *args]


def proof_seconds(out: str) -> str:
    found = re.findall(r"time:\s+([0-9.]+) s", out)
    return found[-1] if found else "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per symce cell (median taken)")
    ap.add_argument("--quick", action="store_true", help="skip the naive k = 32 run")
    args = ap.parse_args()
    rows = []
    for k in (8, 16, 32, 100, 300, 1000):
        naive = None
        if k <= (16 if args.quick else 32):
            naive = measure([sys.executable, str(HERE / "naive_prove.py"), str(k)], 1)
        reps = args.repeat if k <= 300 else 1
        ours = measure(symce_cmd("--k", str(k)), reps)
        rows.append((f"k = {k}", naive, ours))
    rows.append(("symbolic k", None, measure(symce_cmd("--symbolic"), args.repeat)))
    floor = measure([sys.executable, "-c", "import sympy"], args.repeat)

    head = f"| {'case':<11} | {'naive s':>8} | {'naive MiB':>9} | {'symce s':>8} | {'proof s':>7} | {'symce MiB':>9} | {'speed-up':>8} |"
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for name, naive, ours in rows:
        n_s = f"{naive[0]:.2f}" if naive else "-"
        n_m = f"{naive[1]:.0f}" if naive else "-"
        ratio = f"{naive[0] / ours[0]:.0f}x" if naive else "-"
        print(f"| {name:<11} | {n_s:>8} | {n_m:>9} | {ours[0]:>8.2f} | {proof_seconds(ours[2]):>7} | "
              f"{ours[1]:>9.0f} | {ratio:>8} |")
    print(f"| {'sympy only':<11} | {'-':>8} | {'-':>9} | {floor[0]:>8.2f} | {'-':>7} | {floor[1]:>9.0f} | {'-':>8} |")
    print("\nsymce s and naive s: whole process, median; proof s: symce's own in-process proof time"
          " (interpreter start, imports and the numeric spot check excluded); import sympy: the"
          " floor of any process that uses SymPy.")


if __name__ == "__main__":
    main()
