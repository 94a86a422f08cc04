"""Time ``check`` on every file of the verdict corpus, and count wrong verdicts.

One process; each file is checked once per round in one worker (``parallel=1``),
and the table gives the median over rounds of each file's time: the median and
the largest of those over the files. A verdict is right when a file of
``tests/corpus/correct`` passes and a file of ``tests/corpus/wrong`` fails first at
the step its first line names, with a certified counterexample.

    python benchmarks/bench_corpus.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

from symce.read.toml import load_derivation
from symce.verify.steps import Evidence, check

ROOT = Path(__file__).resolve().parents[1]


def _verdict(path: Path, report) -> str:
    bad = report.first_failure()
    m = re.match(r"# false step: chain '(\w+)', step (\d+)", path.read_text())
    if m is None:
        return "right" if bad is None else "false reject"
    if bad is None:
        return "false accept"
    located = (bad.chain, bad.index) == (m[1], int(m[2])) and bad.evidence is Evidence.FAILS
    return "right" if located else "not located"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files = sorted((ROOT / "tests" / "corpus").glob("*/*.toml"))
    times = {p: [] for p in files}
    verdicts = {}
    for _ in range(args.rounds):
        for path in files:
            d = load_derivation(path)
            start = time.perf_counter()
            report = check(d, parallel=1)
            times[path].append(time.perf_counter() - start)
            verdicts.setdefault(_verdict(path, report), set()).add(path.relative_to(ROOT / "tests" / "corpus"))
    per_file = [statistics.median(t) for t in times.values()]
    correct = sum(p.parent.name == "correct" for p in files)
    print(f"{len(files)} files ({correct} correct, {len(files) - correct} wrong), {args.rounds} rounds")
    for kind in ("right", "false accept", "false reject", "not located"):
        print(f"  {kind:13s} {len(verdicts.get(kind, ())):4d}  {', '.join(map(str, sorted(verdicts.get(kind, ()))))[:200] if kind != 'right' else ''}")
    print(f"time per file: median {statistics.median(per_file):.3f} s, max {max(per_file):.3f} s "
          f"({max(times, key=lambda p: statistics.median(times[p])).name})")


if __name__ == "__main__":
    main()
