"""Benchmark ``symce check`` of the reference post (LaTeX, read in place) beside the same claims as TOML.

Both rows are whole processes, the way a user runs them, interleaved ROUNDS times
(each round runs every row once). The post is the unchanged reference
``../shared/reference/softmax-cross-entropy-gradient.md`` with its sidecar
declarations; the baseline is ``benchmarks/reference_post.toml``, the same 19
claims typed as TOML. Target: reading and checking the post within 1.2x of the TOML.

    python benchmarks/bench_notes.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POST = ROOT.parent / "shared" / "reference" / "softmax-cross-entropy-gradient.md"
TARGET_RATIO = 1.2

ROWS = [
    ("python -c 'import sympy' (floor)", [sys.executable, "-c", "import sympy"]),
    ("symce check reference_post.toml (baseline)",
     [sys.executable, "-m", "symce", "check", "benchmarks/reference_post.toml"]),
    ("symce check the reference post (.md)",
     [sys.executable, "-m", "symce", "check", str(POST), "--declarations",
      "derivations/reference.declarations.yaml"]),
    ("symce check derivations/softmax_cross_entropy.md",
     [sys.executable, "-m", "symce", "check", "derivations/softmax_cross_entropy.md"]),
]


def run(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}; a benchmark of a failing run means nothing")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if not POST.is_file():
        raise SystemExit(f"the reference post is not beside the repository: {POST}")
    times: dict[str, list[float]] = {name: [] for name, _ in ROWS}
    for _ in range(args.rounds):
        for name, command in ROWS:
            times[name].append(run(command))
    baseline = statistics.median(times[ROWS[1][0]])
    width = max(len(name) for name, _ in ROWS)
    print(f"{'command':<{width}}  {'median s':>9}  {'best s':>7}  {'vs TOML':>8}")
    for name, _ in ROWS:
        median = statistics.median(times[name])
        print(f"{name:<{width}}  {median:9.2f}  {min(times[name]):7.2f}  {median / baseline:7.2f}x")
    ratio = statistics.median(times[ROWS[2][0]]) / baseline
    verdict = "within" if ratio <= TARGET_RATIO else "OVER"
    print(f"\nreference post / equivalent TOML: {ratio:.2f}x median, {verdict} the {TARGET_RATIO:g}x target"
          f" ({args.rounds} rounds, {len(ROWS)} commands interleaved)")


if __name__ == "__main__":
    main()
