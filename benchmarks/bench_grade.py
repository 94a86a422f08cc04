"""Benchmark grading a class: 200 generated submissions, JUnit and Gradescope, whole process.

The submissions are the reference derivation (with a goal) as a class would hand it
in: each file keeps the template's chains and carries 0, 1 or 2 of seven typical
mistakes (the kinds in tests/fixtures/wrong/), drawn with a seeded generator, and
its own title. Rows, each a separate process:

* ``symce check subs/ --format junit -o report.xml`` and ``--format gradescope``:
  file-parallel on the local process pool, verdicts reused for identical steps;
* the baseline, ``symce check FILE --json`` once per file as a script would loop
  over a folder before this issue: measured on the first BASELINE_FILES files
  and scaled to 200 (said so in the table).

Both reports are parsed and their counts checked before a time is printed. The target
is the whole class in under a minute.

    python benchmarks/bench_grade.py [--files 200] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
BASELINE_FILES = 8
GOAL = 'goal = "Derivative(L, z[i]) = s[i] - y[i]"\n'

# (what a student got wrong, text in the reference, what they wrote instead)
MISTAKES = [
    ("outer derivative sign", '{ expr = "-1/s[c]", reason', '{ expr = "1/s[c]", reason'),
    ("square dropped", '/ Sum(exp(z[j]), (j, 1, k))**2", reason = "quotient rule',
     '/ Sum(exp(z[j]), (j, 1, k))", reason = "quotient rule'),
    ("sign lost for i != c", '{ expr = "-exp(z[i]) * exp(z[c])', '{ expr = "exp(z[i]) * exp(z[c])'),
    ("quotient rule sign", "- exp(z[c]) * exp(z[c])) /", "+ exp(z[c]) * exp(z[c])) /"),
    ("forgot the -1", '{ expr = "s[i] - KroneckerDelta(i, c)"', '{ expr = "s[i]"'),
    ("sum stops at k - 1", "Sum(Derivative(L, s[j]) * Derivative(s[j], z[i]), (j, 1, k))",
     "Sum(Derivative(L, s[j]) * Derivative(s[j], z[i]), (j, 1, k - 1))"),
    ("one-hot not used", "{ expr = \"-log(s[c])\", reason = \"every",
     "{ expr = \"-log(s[c]) - log(s[i])\", reason = \"every"),
]


def make_submissions(folder: Path, count: int, seed: int = 0) -> dict[str, int]:
    """Write ``count`` submissions; returns how many carry each mistake."""
    reference = (ROOT / "derivations" / "softmax_cross_entropy.toml").read_text()
    if "\ngoal = " not in reference:  # the assignment's goal (the reference file declares it already)
        reference = reference.replace('\nassumptions = [', "\n" + GOAL + "\nassumptions = [", 1)
    rng = random.Random(seed)
    tally = {name: 0 for name, _, _ in MISTAKES} | {"none": 0}
    for n in range(count):
        text = reference.replace('title = "Gradient of the softmax cross-entropy loss"',
                                 f'title = "Gradient of the softmax cross-entropy loss, student {n:03d}"', 1)
        chosen = rng.sample(MISTAKES, rng.choice((0, 1, 1, 2)))
        for name, old, new in chosen:
            assert old in text, name
            text = text.replace(old, new, 1)
            tally[name] += 1
        tally["none"] += not chosen
        (folder / f"student_{n:03d}.toml").write_text(text)
    return tally


def run(command: list[str]) -> tuple[float, int]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        tally = make_submissions(subs, args.files)
        xml_out, json_out = Path(tmp) / "report.xml", Path(tmp) / "results.json"
        symce = [sys.executable, "-m", "symce", "check", str(subs)]
        rows = {"junit": [], "gradescope": []}
        for _ in range(args.rounds):
            rows["junit"].append(run(symce + ["--format", "junit", "-o", str(xml_out)])[0])
            rows["gradescope"].append(run(symce + ["--format", "gradescope", "-o", str(json_out)])[0])
        root = ET.parse(xml_out).getroot()
        suites = root.findall("testsuite")
        assert len(suites) == args.files and int(root.get("tests")) == sum(len(s) for s in suites)
        assert root.get("errors") == "0", "a generated submission could not be read"
        doc = json.loads(json_out.read_text())
        files = doc["extra_data"]["files"]
        assert len(files) == args.files
        full = sum(f["passed"] for f in files)
        baseline = []
        for path in sorted(subs.iterdir())[:BASELINE_FILES]:
            baseline.append(run([sys.executable, "-m", "symce", "check", str(path), "--json"])[0])
    per_file = statistics.median(baseline)
    scaled = per_file * args.files
    print(f"{args.files} submissions; mistakes per kind: "
          + ", ".join(f"{k} {v}" for k, v in tally.items()) + f"; {full} files hold entirely")
    print(f"JUnit: {int(root.get('tests'))} tests, {root.get('failures')} failures, {root.get('errors')} errors;"
          f" Gradescope: {doc['score']:g} points of {sum(f['max_score'] for f in files):g}\n")
    head = f"{'command':<58}  {'median s':>9}  {'per file s':>10}  {'vs baseline':>11}"
    print(head)
    for name, times in rows.items():
        median = statistics.median(times)
        print(f"{'symce check subs/ --format ' + name + ' -o FILE':<58}  {median:9.2f}  "
              f"{median / args.files:10.3f}  {scaled / median:10.1f}x")
    print(f"{'baseline: symce check FILE --json, per file (' + str(BASELINE_FILES) + ' measured)':<58}  "
          f"{scaled:9.2f}  {per_file:10.3f}  {'1.0x':>11}")
    junit = statistics.median(rows["junit"])
    verdict = "within" if junit <= TARGET_SECONDS else "OVER"
    print(f"\n{args.files} submissions graded in {junit:.1f} s (JUnit, median of {args.rounds}), {verdict} the "
          f"{TARGET_SECONDS:g} s target; the baseline row is {BASELINE_FILES} files measured, scaled to {args.files}")


if __name__ == "__main__":
    main()
