"""Benchmark ``symce check`` on each file of the catalogue, as a whole process.

Each catalogue file of the first ML course (issue 12) is one row, run ROUNDS times
in interleaved order next to two baselines: ``import sympy`` alone (the floor
every row pays) and the reference derivation, softmax_cross_entropy.toml. The
table reports the median and the fastest wall time, the median CPU time of the
whole process tree (user + system, forked workers included), the ratio of the
median wall time to the reference's, and whether the median is within the 3 s
target. The load of the machine is printed too: on a shared 2-core machine a busy
neighbour shows in every wall time, much less in the CPU times.

    python benchmarks/bench_catalogue.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 3.0
CATALOGUE = ["sigmoid_bce", "mse_linear_regression", "linear_layer", "mlp_backprop", "softmax_jacobian",
             "log_softmax", "softmax_temperature", "label_smoothing", "weight_decay", "layer_norm"]

ROWS = [("import sympy (floor)", [sys.executable, "-c", "import sympy"]),
        ("softmax_cross_entropy (reference)",
         [sys.executable, "-m", "symce", "check", "derivations/softmax_cross_entropy.toml"])]
ROWS += [(name, [sys.executable, "-m", "symce", "check", f"derivations/{name}.toml"]) for name in CATALOGUE]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one whole process (its workers included: it waits for them)."""
    cpu, start = _cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:])} exited {done.returncode}: the catalogue must check clean")
    return time.perf_counter() - start, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    times: dict[str, list[float]] = {name: [] for name, _ in ROWS}
    cpus: dict[str, list[float]] = {name: [] for name, _ in ROWS}
    for _ in range(args.rounds):
        for name, command in ROWS:
            wall, cpu = run(command)
            times[name].append(wall)
            cpus[name].append(cpu)
    reference = statistics.median(times[ROWS[1][0]])
    width = max(len(name) for name, _ in ROWS)
    print(f"{'file':<{width}}  {'median s':>9}  {'best s':>7}  {'cpu s':>6}  {'/ ref':>6}  target {TARGET_SECONDS:g} s")
    over = []
    for name, _ in ROWS:
        median = statistics.median(times[name])
        within = "" if name not in CATALOGUE else ("within" if median <= TARGET_SECONDS else "OVER")
        if within == "OVER":
            over.append(name)
        print(f"{name:<{width}}  {median:9.2f}  {min(times[name]):7.2f}  {statistics.median(cpus[name]):6.2f}"
              f"  {median / reference:6.2f}  {within}")
    print(f"\n{args.rounds} rounds, {len(ROWS)} commands interleaved; load average {load_before:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs")
    print("every catalogue file within the target" if not over else f"over the target: {', '.join(over)}")


if __name__ == "__main__":
    main()
