"""Each command imports only what it uses: start-up is part of every run's time."""

import subprocess
import sys

import pytest

CODE = ("import sys\nfrom symce.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)")


def _modules(*argv: str) -> set[str]:
    run = subprocess.run([sys.executable, "-c", CODE, *argv], capture_output=True, text=True, timeout=300)
    return set(run.stderr.strip().splitlines()[-1].split())


def test_help_imports_neither_sympy_nor_numpy():
    loaded = _modules("--help")
    assert not {"sympy", "numpy", "mpmath", "symengine"} & loaded


def test_a_concrete_proof_imports_no_reader_and_no_sympy():
    pytest.importorskip("symengine", reason="without symengine the proof runs on SymPy")
    loaded = _modules("prove", "softmax-ce", "--k", "5")
    assert "sympy" not in loaded and not {m for m in loaded if m.startswith("symce.read.")}


def test_checking_toml_files_imports_no_notes_reader():
    loaded = _modules("check", "derivations/softmax_cross_entropy_k3.toml")
    assert "symce.verify.steps" in loaded
    assert not {"symce.read.notes", "symce.read.tex", "symce.read.rows", "yaml"} & loaded
    assert "symce.read.notes" in _modules("check", "derivations/softmax_cross_entropy.md")
