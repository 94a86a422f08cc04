"""Time ``symce latex`` as a user runs it: a whole process, median of several runs.

    python benchmarks/bench_latex.py [--runs N]

Prints one table row per command; `symce check` on the same file is shown beside it
so that the cost of typesetting on top of checking is visible. The target (issue 4)
is 5 s or less for ``symce latex derivations/softmax_cross_entropy.toml --standalone``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILE = "derivations/softmax_cross_entropy.toml"
COMMANDS = [
    ("symce check " + FILE, ["check", FILE]),
    ("symce latex " + FILE, ["latex", FILE]),
    ("symce latex " + FILE + " --standalone", ["latex", FILE, "--standalone"]),
    ("symce latex " + FILE + " --format md", ["latex", FILE, "--format", "md"]),
]
TARGET_SECONDS = 5.0


def time_once(args: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "symce", *args], cwd=ROOT,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, run.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default 5)")
    runs = parser.parse_args().runs
    print(f"{'command':<70} {'exit':>4} {'median s':>9} {'min s':>7} {'max s':>7}")
    for label, args in COMMANDS:
        times, codes = zip(*(time_once(args) for _ in range(runs)))
        flag = "" if "latex" not in label or statistics.median(times) <= TARGET_SECONDS else "  > target"
        print(f"{label:<70} {max(codes):>4} {statistics.median(times):>9.2f} "
              f"{min(times):>7.2f} {max(times):>7.2f}{flag}")
    print(f"({runs} runs each; target for symce latex: {TARGET_SECONDS:.0f} s or less)")


if __name__ == "__main__":
    main()
