"""Benchmark ``symce check`` as a whole process, the way a user runs it.

Each row is a separate command, run ROUNDS times in interleaved order (each round
runs every row once); the table reports the median and the fastest wall time.
``import sympy`` alone is the floor every row pays. Target for the reference
derivation: 5 s or less.

    python benchmarks/bench_check.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 5.0

ROWS = [
    ("python -c 'import sympy' (floor)", [sys.executable, "-c", "import sympy"]),
    ("symce check softmax_cross_entropy.toml",
     [sys.executable, "-m", "symce", "check", "derivations/softmax_cross_entropy.toml"]),
    ("symce check softmax_cross_entropy_k3.toml",
     [sys.executable, "-m", "symce", "check", "derivations/softmax_cross_entropy_k3.toml"]),
    ("symce check derivations/ (every file)", [sys.executable, "-m", "symce", "check", "derivations"]),
    ("symce check a wrong fixture (exit 1)",
     [sys.executable, "-m", "symce", "check", "tests/fixtures/wrong/square_dropped.toml"]),
]


def run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name, _ in ROWS}
    for _ in range(args.rounds):
        for name, command in ROWS:
            times[name].append(run(command))
    width = max(len(name) for name, _ in ROWS)
    print(f"{'command':<{width}}  {'median s':>9}  {'best s':>7}")
    for name, _ in ROWS:
        print(f"{name:<{width}}  {statistics.median(times[name]):9.2f}  {min(times[name]):7.2f}")
    reference = statistics.median(times[ROWS[1][0]])
    verdict = "within" if reference <= TARGET_SECONDS else "OVER"
    print(f"\nreference derivation: {reference:.2f} s median, {verdict} the {TARGET_SECONDS:g} s target"
          f" ({args.rounds} rounds, {len(ROWS)} commands interleaved)")


if __name__ == "__main__":
    main()
