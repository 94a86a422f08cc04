"""Load time of hostile derivation files that stay within the caps, beside the real ones.

Issue 10: loading a file (parse, load, cases, vector rows) must take well under a
second for any file within the caps, since it runs in symce's own process, before
any worker and its time limit exist. Each file below aims at one cost: the node
budget spent on the slowest constructs, the most cases, a line search that never
succeeds, the power towers the bounds refuse. Each is loaded in a fresh process
(SymPy's cache would flatter a second load), several times; the table gives the
median and the largest time, next to the reference derivations.

    .venv/bin/python benchmarks/hostile_load.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAD = '''title = "hostile"
[symbols]
k = {k}
indices = ["i", "j", "l"]
vectors = {{ z = "real", y = "real" }}
scalars = {{ m = "real" }}
'''


def chain(name: str, start: str, exprs: list[str], extra: str = "") -> str:
    steps = ",\n  ".join(f'{{ expr = "{e}", reason = "r" }}' for e in exprs)
    return f'[[chains]]\nname = "{name}"\n{extra}start = "{start}"\nsteps = [\n  {steps}\n]\n'


def budget_sums() -> str:
    """About 20,000 syntax nodes of sums nested as deep as allowed, each expression different."""
    exprs = []
    for n in range(40):
        inner = "Sum(" * 8 + f"z[j]*{n + 1}" + ", (j, 1, k))" * 8
        exprs.append(" + ".join([inner] * 5))
    return HEAD.format(k='"symbolic"') + chain("x", exprs[0], exprs[1:])


def budget_steps() -> str:
    """500 steps (the cap), each a different sum of exponentials."""
    exprs = [f"exp(z[i] - {n}) / Sum(exp(z[j] - {n} - m), (j, 1, k)) + log(y[i] + {n})" for n in range(501)]
    return HEAD.format(k='"symbolic"') + chain("x", exprs[0], exprs[1:])


def many_cases() -> str:
    """200 cases (the cap), each holding only at the last placement of k = 50."""
    cases = "\n".join(f'c{n} = "Eq(i, {50 - n % 3})"' for n in range(200))
    return HEAD.format(k=50) + "[cases]\n" + cases + "\n" + chain("x", "z[i]", ["z[i]"], 'case = "c0"\n')


def lost_lines() -> str:
    """Steps written with TOML escapes, so the line search for each one reads the whole file."""
    exprs = [f"z\\u005bi] + {n}" for n in range(500)]
    return HEAD.format(k='"symbolic"') + chain("x", "z[i]", exprs)


def vector_row() -> str:
    """A vector chain whose start and steps are as large as the caps allow."""
    body = " + ".join(f"z[i]**{n % 60 + 2} * exp({n} * z[i])" for n in range(22))
    return HEAD.format(k=50) + chain("x", body, [body] * 20, 'vector = "i"\n')


def toml_arrays() -> str:
    """Just under the file-size cap of integer arrays, tomllib's slowest input (then refused)."""
    rows = "".join(f"a{n} = [" + ",".join(["1"] * 499) + "]\n" for n in range(99))
    return HEAD.format(k='"symbolic"') + rows


def too_big() -> str:
    """Over the file-size cap: refused before it is parsed."""
    return HEAD.format(k='"symbolic"') + "# " + "x" * 2_000_000 + "\n"


def towers() -> str:
    """The issue's power tower (refused at once, by the bounds)."""
    return HEAD.format(k='"symbolic"') + chain("x", "((((((10**29*z[i]))**64)**64)**64)**64)**64", ["z[i]"])


def tower_in_cases() -> str:
    return (HEAD.format(k='"symbolic"') + '[cases]\nc = "Eq(i, ((((((10**29*k))**64)**64)**64)**64)**64)"\n'
            + chain("x", "z[i]", ["z[i]"], 'case = "c"\n'))


FILES = [("softmax_cross_entropy.toml", None), ("stable_softmax.toml", None),
         ("budget of nested sums", budget_sums), ("500 distinct steps", budget_steps),
         ("200 cases", many_cases), ("lost line search", lost_lines), ("vector row, k = 50", vector_row),
         ("TOML arrays, 100 KB", toml_arrays), ("2 MB file", too_big), ("power tower", towers), ("power tower in [cases]", tower_in_cases)]

CHILD = """
import sys, time
t = time.perf_counter()
from symce.read.toml import load_derivation
from symce.errors import SymceError
t0 = time.perf_counter()
try:
    d = load_derivation(sys.argv[1])
    outcome = f"loaded, {sum(len(c.steps) for c in d.chains)} steps"
except SymceError as exc:
    outcome = "refused: " + str(exc).split(": ", 2)[-1][:50]
print(time.perf_counter() - t0, outcome)
"""


def main(repeats: int = 5) -> None:
    print(f"{'file':28} {'bytes':>8} {'median s':>9} {'max s':>7}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        for label, make in FILES:
            if make is None:
                path = ROOT / "derivations" / label
            else:
                path = Path(tmp) / (make.__name__ + ".toml")
                path.write_text(make())
            times, outcome = [], ""
            for _ in range(repeats):
                out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                                     text=True, timeout=120, check=True).stdout
                seconds, outcome = out.split(" ", 1)
                times.append(float(seconds))
            print(f"{label:28} {path.stat().st_size:8} {statistics.median(times):9.3f} {max(times):7.3f}"
                  f"  {outcome.strip()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
