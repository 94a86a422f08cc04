"""Prove, check and start-up against their floors, side by side in one run.

    python benchmarks/bench_speed.py [--rounds 5] [--quick]

Every row is a fresh process, timed whole (interpreter start and imports included);
rows run in interleaved rounds (each round runs every row once) and the table gives
medians, so that a busy machine slows all rows alike. The floor is
``python -c "import sympy"``. "proof s" is the proof's own time inside a fresh
process: ``Proof.seconds`` for symce (model built, every component reduced to 0;
the numeric spot check excluded), the same span measured by ``naive_prove.py`` for
the naive baseline, ``sympy.simplify(diff(L, z_i) - target) == 0`` per component.
Both sides prove dL/dz_i = s_i * sum_j y_j - y_i (``--assume none``). The naive
k = 32 row (about 25 s) runs once; ``--quick`` skips it and k = 20000.
The targets are ratios within this run (issue 15).
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

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
SYMCE = [PY, "-m", "symce"]
FILES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "derivations").iterdir()
               if p.suffix in (".toml", ".md", ".markdown", ".tex"))  # what `symce check derivations/` reads
REFERENCE = "derivations/softmax_cross_entropy.toml"

PROOF_TIME = ("import sys; from symce.verify.identity import prove; "
              "p = prove(k={k}, assume='none', numeric=False); print('proof seconds:', p.seconds)")
# check() of one file with a given number of workers; "per-step" forks one process per step
# at most {workers} at a time, as symce did before (timelimit.run_limited).
CHECK_WITH = ("import sys; from symce.read.notes import load_any; from symce.verify import steps, timelimit\n"
              "if {per_step}:\n"
              "    steps.run_in_workers = lambda jobs, timeout, workers: timelimit.run_limited("
              "jobs, timeout=timeout, parallel=workers)\n"
              "d = load_any({path!r}); r = steps.check(d{parallel})\n"
              "print([s.evidence.name for s in r.steps])")


def rows(quick: bool) -> list[tuple[str, list[str], dict, int]]:
    """(name, command, extra environment, rounds: 0 = every round, n = only the first n)."""
    sympy_env = {"SYMCE_KERNEL": "sympy"}
    out = [("floor: python -c 'import sympy'", [PY, "-c", "import sympy"], {}, 0),
           ("symce --help", SYMCE + ["--help"], {}, 0)]
    for k in (8, 16, 32):
        if not (quick and k == 32):
            out.append((f"naive k = {k}", [PY, str(ROOT / "benchmarks" / "naive_prove.py"), str(k)], {},
                        1 if k == 32 else 0))
    for k in (8, 32, 100, 1000, 5000, 20000):
        if quick and k == 20000:
            continue
        every = 0 if k <= 5000 else 2
        out.append((f"symce prove k = {k}", SYMCE + ["prove", "softmax-ce", "--assume", "none", "--k", str(k)], {}, every))
        out.append((f"proof time k = {k}", [PY, "-c", PROOF_TIME.format(k=k)], {}, every))
    for k in (32, 1000):
        out.append((f"symce prove k = {k}, SymPy kernel",
                    SYMCE + ["prove", "softmax-ce", "--assume", "none", "--k", str(k)], sympy_env, 0 if k < 1000 else 2))
        out.append((f"proof time k = {k}, SymPy kernel", [PY, "-c", PROOF_TIME.format(k=k)], sympy_env,
                    0 if k < 1000 else 2))
    out.append(("symce prove symbolic", SYMCE + ["prove", "softmax-ce", "--assume", "none", "--symbolic"], {}, 0))
    for path in FILES:
        out.append((f"symce check {path}", SYMCE + ["check", path], {}, 0))
    out.append(("symce check derivations/", SYMCE + ["check", "derivations"], {}, 0))
    for path in FILES:
        for label, per_step, parallel in (("one worker", False, ", parallel=1"), ("workers (default)", False, ""),
                                          ("a fork per step, 2 at a time (before)", True, ", parallel=2")):
            code = CHECK_WITH.format(per_step=per_step, path=path, parallel=parallel)
            out.append((f"check {Path(path).name}: {label}", [PY, "-c", code], {}, 0))
    return out


def run(command: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env})
    seconds = time.perf_counter() - start
    if done.returncode not in (0,):
        raise SystemExit(f"benchmark row failed ({done.returncode}): {' '.join(command)}\n{done.stderr}")
    return seconds, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="skip the naive k = 32 and symce k = 20000 rows")
    args = ap.parse_args()
    table = rows(args.quick)
    wall: dict[str, list[float]] = {name: [] for name, *_ in table}
    proof: dict[str, list[float]] = {name: [] for name, *_ in table}
    outputs: dict[str, set[str]] = {name: set() for name, *_ in table}
    for r in range(args.rounds):
        for name, command, env, every in table:
            if every and r >= every:
                continue
            seconds, out = run(command, env)
            wall[name].append(seconds)
            found = re.search(r"proof seconds:? ([0-9.e-]+)", out)
            if found:
                proof[name].append(float(found.group(1)))
            if name.startswith("check "):
                outputs[name].add(out.strip())
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    med = {name: statistics.median(v) for name, v in wall.items() if v}
    pmed = {name: statistics.median(v) for name, v in proof.items() if v}
    print(f"{args.rounds} interleaved rounds, medians; {os.cpu_count()} CPUs; load average now "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| row | whole process s | x floor | proof s (in process) | runs |")
    print("|---|---|---|---|---|")
    floor = med[table[0][0]]
    for name, *_ in table:
        if name.startswith(("proof time", "check ")):
            continue
        twin = name.replace("symce prove", "proof time").replace("naive", "naive")
        p = pmed.get(twin if twin in pmed else name)
        print(f"| {name} | {med[name]:.2f} | {med[name] / floor:.2f} | {'-' if p is None else f'{p:.4f}'} "
              f"| {len(wall[name])} |")
    print("\n| check of one file (whole process) | s | x one worker | same verdicts |")
    print("|---|---|---|---|")
    for path in FILES:
        one = med[f"check {Path(path).name}: one worker"]
        names = [f"check {Path(path).name}: {label}" for label in
                 ("one worker", "workers (default)", "a fork per step, 2 at a time (before)")]
        same = len(set().union(*(outputs[n] for n in names))) == 1
        for n in names:
            print(f"| {n} | {med[n]:.2f} | {med[n] / one:.2f} | {'yes' if same else 'NO'} |")
    print("\n| target | measured | met |")
    print("|---|---|---|")

    def target(label: str, value: float, limit: float, text: str, below: bool = True) -> None:
        ok = value <= limit if below else value >= limit
        print(f"| {label} | {text} | {'yes' if ok else 'NO'} |")

    for k, limit in ((1000, 2.0), (5000, 4.0)):
        ratio = med[f"symce prove k = {k}"] / floor
        target(f"prove --k {k}, whole process <= {limit:g}x floor", ratio, limit, f"{ratio:.2f}x")
    if "naive k = 32" in pmed:
        speed = pmed["naive k = 32"] / pmed["proof time k = 32"]
        target("prove --k 32, proof time >= 1000x faster than naive", speed, 1000, f"{speed:,.0f}x", below=False)
    ratio = med[f"symce check {REFERENCE}"] / floor
    target("check of the reference derivation <= 2.5x floor", ratio, 2.5, f"{ratio:.2f}x")
    extra = med["symce --help"] - floor
    target("symce --help <= floor + 0.05 s", extra, 0.05, f"floor {extra:+.3f} s")
    worst = max(med[f"check {Path(p).name}: workers (default)"] / med[f"check {Path(p).name}: one worker"]
                for p in FILES)
    target("check with workers never slower than one worker", worst, 1.0, f"worst {worst:.2f}x of one worker")


if __name__ == "__main__":
    main()
