"""Benchmark the step checker's probes: double precision first, against mpmath at 50 digits.

Baseline: every probe point evaluated with mpmath at 50 digits (how probes worked
before issue 9). Contender: the same points, double precision first, mpmath only for a
point that overflows or disagrees, and interval arithmetic only to certify a
difference. Both sides of every step of the reference derivations and the corpus's
correct files are probed at the same points; each round times both contenders once,
interleaved, and the table gives the median over rounds of the total time per file.

    python benchmarks/bench_probes.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from symce.read.toml import load_derivation
from symce.verify.meaning import Meaning
from symce.verify.probe import Unevaluable
from symce.verify.instances import DIGITS, _Instances

ROOT = Path(__file__).resolve().parents[1]


def _steps(path: Path):
    d = load_derivation(path)
    meaning = Meaning(d)
    for chain in d.chains:
        previous = chain.start
        for n, step in enumerate(chain.steps, start=1):
            left = meaning.assume(meaning.of(previous), chain.case)
            right = meaning.assume(meaning.of(step.expr), chain.case)
            inst = _Instances(meaning, left, right, chain.case.condition if chain.case else None)
            yield inst, inst.points(random.Random(f"{chain.name}:{n}"))
            previous = step.expr


def _mpmath_only(inst, points):
    for _, _, point in points:
        try:
            point.value(inst.left, DIGITS), point.value(inst.right, DIGITS)
        except (Unevaluable, ZeroDivisionError, OverflowError, ValueError):
            pass


def _double_first(inst, points):
    for k, placement, point in points:
        point.memo.clear()  # no help from the baseline's run
        inst.compare(k, placement, point, precise=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    files = sorted((ROOT / "derivations").glob("*.toml")) + sorted((ROOT / "tests/corpus/correct").glob("*.toml"))
    work = [(p, list(_steps(p))) for p in files]
    times = {"mpmath 50 digits (baseline)": [], "double first": []}
    for _ in range(args.rounds):
        for name, run in (("mpmath 50 digits (baseline)", _mpmath_only), ("double first", _double_first)):
            per_file = []
            for _, steps in work:
                start = time.perf_counter()
                for inst, points in steps:
                    for *_, point in points:
                        point.memo.clear()
                    run(inst, points)
                per_file.append(time.perf_counter() - start)
            times[name].append(per_file)
    print(f"{len(files)} files, {sum(len(s) for _, s in work)} steps, "
          f"{sum(len(p) for _, s in work for _, p in s)} probe points; median of {args.rounds} rounds")
    print(f"{'contender':32s} {'total s':>9s} {'median/file s':>14s} {'max/file s':>11s}")
    base = None
    for name, rounds in times.items():
        totals = [sum(r) for r in rounds]
        per_file = [statistics.median(r[n] for r in rounds) for n in range(len(files))]
        total = statistics.median(totals)
        base = base or total
        print(f"{name:32s} {total:9.3f} {statistics.median(per_file):14.4f} {max(per_file):11.3f}"
              f"   x{base / total:.2f}")


if __name__ == "__main__":
    main()
