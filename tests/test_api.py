import subprocess
import sys
from pathlib import Path

import symce

REFERENCE = Path(__file__).resolve().parent.parent / "derivations" / "softmax_cross_entropy.toml"


def test_every_public_name_resolves():
    for name in symce.__all__:
        assert getattr(symce, name) is not None, name


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="module 'symce' has no attribute 'nope'"):
        symce.nope


def test_importing_symce_does_not_import_numpy():
    code = "import sys, symce.cli; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_end_to_end_through_the_public_api():
    report = symce.check(symce.load_derivation(REFERENCE))
    assert report.passed()
    assert r"\begin{align*}" in symce.render_latex(report)
    assert symce.prove(k=3).holds
    assert "def grad(logits, target" in symce.export_source()


def test_prove_is_the_function_even_after_its_module_is_imported():
    import symce.verify.identity  # noqa: F401 - a submodule import binds its name on the package

    assert callable(symce.prove) and symce.prove(k=2, numeric=False).holds
