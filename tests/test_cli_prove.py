import subprocess
import sys

import pytest

from symce.cli import main


@pytest.mark.parametrize("k", ["1", "0", "-5", "abc", "2.5", "100000"])
def test_bad_k_exits_2_with_one_line(k, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["prove", "softmax-ce", "--k", k])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"k must be an integer from 2 to 20000, got '{k}'" in err


def test_unknown_identity_lists_known_names(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["prove", "mse", "--k", "3"])
    assert exc.value.code == 2
    assert "invalid choice: 'mse' (choose from 'softmax-ce')" in capsys.readouterr().err


def test_several_k_and_summary(capsys):
    assert main(["prove", "softmax-ce", "--k", "2", "3"]) == 0
    out = capsys.readouterr().out
    assert "softmax-ce, k = 2: PROVED  dL/dz_i = s_i - y_i" in out
    assert "components: 3 of 3 proved" in out
    assert "assumption: y sums to 1" in out
    assert "spot check: numeric evidence only" in out


def test_missing_assumption_exits_1(capsys):
    assert main(["prove", "softmax-ce", "--k", "3", "--assume", "none", "--form", "s-y"]) == 1
    out = capsys.readouterr().out
    assert "DOES NOT HOLD" in out and "s_i*(Y - 1)" in out and "--assume simplex" in out


def test_symbolic(capsys):
    assert main(["prove", "softmax-ce", "--symbolic", "--assume", "onehot"]) == 0
    assert "symbolic k: PROVED  dL/dz_i = s_i - [i = c]" in capsys.readouterr().out


def test_python_dash_m_runs_as_a_process():
    run = subprocess.run([sys.executable, "-m", "symce", "prove", "softmax-ce", "--k", "0"],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr


def test_numeric_with_symbolic_k_says_it_needs_a_concrete_k(capsys):
    # --numeric was silently dropped for --symbolic: asked-for evidence must not vanish unsaid.
    assert main(["prove", "softmax-ce", "--symbolic", "--numeric"]) == 0
    out = capsys.readouterr().out
    assert "  numeric:    not run: the finite-difference check needs a concrete k (--k K)\n" in out


def test_numeric_refuses_a_k_beyond_its_range_before_proving(capsys):
    # The proof takes k up to 20000; the lambdified cross-check does not finish there.
    assert main(["prove", "softmax-ce", "--k", "3", "5001", "--numeric"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "symce: error: --numeric: the finite-difference cross-check takes k up to 5000, got 5001\n"
