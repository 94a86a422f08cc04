"""The concrete-k proof on both exact kernels: symengine and the pure-SymPy fallback agree."""

import os
import re
import subprocess
import sys

import pytest

from symce.errors import UsageError
from symce.model.losses import softmax_ce
from symce.verify import kernel
from symce.verify.identity import _spot_check, dL_dS, prove

pytest.importorskip("symengine", reason="symengine is a runtime dependency; without it only SymPy runs")

ASSUME = ["none", "simplex", "onehot"]
FORMS = ["general", "s-y", "onehot"]


def _verdict(p):
    """Everything a report says, with the kernel's own name taken out of the evidence line."""
    name = p.kernel.split()[0]
    return (p.holds, p.components, p.residual, p.missing_assumption, p.lemmas, p.identity,
            p.evidence.replace(f" ({name})", ""))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("assume", ASSUME)
@pytest.mark.parametrize("k", [2, 3, 7, 40])
def test_both_kernels_give_the_same_verdict_and_residual(k, assume, form):
    fast = prove(k=k, assume=assume, form=form, numeric=False, kernel="symengine")
    slow = prove(k=k, assume=assume, form=form, numeric=False, kernel="sympy")
    assert fast.kernel.startswith("symengine ") and slow.kernel.startswith("sympy ")
    assert _verdict(fast) == _verdict(slow)


# What the prover said before it had kernels (SymPy, every form built for every component).
FAILING = {
    ("none", "s-y"): ("s_i*(Y - 1) where Y = sum_j y_j", "simplex"),
    ("none", "onehot"): ("Y*s_i + [i = c] - s_i - y_i where Y = sum_j y_j", "onehot"),
    ("simplex", "onehot"): ("[i = c] - y_i", "onehot"),
}


@pytest.mark.parametrize("name", ["symengine", "sympy"])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("assume", ASSUME)
def test_each_kernel_holds_exactly_where_the_assumption_allows(name, assume, form):
    p = prove(k=5, assume=assume, form=form, numeric=False, kernel=name)
    if (assume, form) in FAILING:
        assert (p.holds, p.components, (p.residual, p.missing_assumption)) == (False, 0, FAILING[assume, form])
        assert p.evidence == f"exact symbolic algebra ({name}): 5 of 5 components leave a residual"
    else:
        assert (p.holds, p.components, p.residual) == (True, 5, None)
        assert p.evidence == f"exact symbolic algebra ({name}): dL/dz_i - target reduced to 0 for all 5 components"


@pytest.mark.parametrize("name", ["symengine", "sympy"])
def test_the_chain_rule_lemma_is_the_sum_of_y_over_S(name):
    alg = kernel.load(name)
    m = softmax_ce(6, algebra=alg)
    assert alg.expand(dL_dS(m) * m.S - m.y_sum) == 0
    assert alg.expand(dL_dS(m) * m.S - m.y_sum + m.y[0]) != 0  # the comparison can fail


def test_symengine_is_the_default_and_the_environment_can_choose(monkeypatch):
    monkeypatch.delenv(kernel.ENVIRONMENT, raising=False)
    assert kernel.load().__name__ == "symengine"
    monkeypatch.setenv(kernel.ENVIRONMENT, "sympy")
    assert kernel.load().__name__ == "sympy"
    assert prove(k=3, numeric=False).kernel.startswith("sympy ")
    monkeypatch.setenv(kernel.ENVIRONMENT, "maxima")
    with pytest.raises(UsageError, match="unknown kernel 'maxima'; known: symengine, sympy"):
        prove(k=3)


def test_without_symengine_sympy_is_the_fallback(monkeypatch):
    monkeypatch.delenv(kernel.ENVIRONMENT, raising=False)
    monkeypatch.setitem(sys.modules, "symengine", None)  # import symengine now raises ImportError
    assert kernel.load().__name__ == "sympy"
    p = prove(k=4, assume="none", form="s-y", numeric=False)
    assert p.kernel.startswith("sympy ") and p.residual == "s_i*(Y - 1) where Y = sum_j y_j"


def test_a_concrete_proof_on_symengine_does_not_import_sympy():
    code = ("import sys\nfrom symce.cli import main\nmain(['prove', 'softmax-ce', '--k', '50'])\n"
            "print('sympy' in sys.modules, file=sys.stderr)")
    env = {**os.environ}
    env.pop(kernel.ENVIRONMENT, None)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "PROVED" in run.stdout and run.stderr.strip().splitlines()[-1] == "False"


def test_the_spot_check_can_see_a_wrong_target():
    """y off the simplex, target s_i - y_i: the directional difference must disagree visibly."""
    m = softmax_ce(30, algebra=kernel.load("symengine"))
    right = _spot_check(m, "simplex", "s-y")
    wrong = _spot_check(m, "none", "s-y")
    worst = [float(re.search(r"= (\S+) along", text).group(1)) for text in (right, wrong)]
    assert worst[0] < 1e-30 and worst[1] > 1e-3
