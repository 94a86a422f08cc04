"""The naive baseline of the prove benchmarks: simplify(diff(L, z_i) - target) == 0 per component.

Run as a process by bench_speed.py (and bench_prove.py): ``python benchmarks/naive_prove.py K``.
It builds the same expressions as symce (symce.model.losses) and proves the
same identity with nothing assumed about y: dL/dz_i = s_i * sum_j y_j - y_i.
It prints its own proof time in seconds (model built, every component proved).
"""

import sys
import time

import sympy

from symce.model.losses import softmax_ce


def main(k: int) -> int:
    start = time.perf_counter()
    m = softmax_ce(k)
    loss, y_sum = m.loss, m.y_sum
    for i in range(k):
        target = m.softmax(i) * y_sum - m.y[i]
        if sympy.simplify(sympy.diff(loss, m.z[i]) - target) != 0:
            print(f"component {i + 1} not proved", file=sys.stderr)
            return 1
    print(f"proof seconds: {time.perf_counter() - start:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
