"""Tests for symce.export.numeric: lambdified functions and the finite-difference check."""

import numpy as np
import pytest

from symce.errors import UsageError
from symce.export.numeric import ASSUMPTIONS, FAMILIES, NumericCheck, lambdified, numeric_check


@pytest.mark.parametrize("assume", ASSUMPTIONS)
@pytest.mark.parametrize("k", [2, 3, 7, 50])
def test_finite_differences_agree_within_stated_tolerance(k, assume):
    check = numeric_check(k, assume=assume)
    assert check.passed, check.summary()
    assert [f.family for f in check.families] == list(FAMILIES)
    for f in check.families:
        assert f.max_abs_error <= f.tolerance
        assert f.target_max_abs <= f.tolerance
        assert 0 < f.tolerance < 1e-5  # a tolerance loose enough to pass anything is no check
        assert f.points > 0 and f.step > 0


def test_check_is_labelled_numeric_evidence_not_proof():
    check = numeric_check(3)
    assert NumericCheck.evidence == "numeric evidence (not a proof)"
    assert check.summary().startswith("numeric evidence (not a proof): k=3, assume simplex")
    assert "agree" in check.summary() and "\n" not in check.summary()


def test_check_is_reproducible():
    a, b = numeric_check(5, "none"), numeric_check(5, "none")
    assert a.families == b.families


def test_check_at_k_1000():
    check = numeric_check(1000)
    assert check.passed, check.summary()


def test_unknown_assumption_is_refused():
    with pytest.raises(UsageError, match="assume must be one of simplex, none, onehot, got 'both'"):
        numeric_check(3, assume="both")


def test_lambdified_functions_are_vectorised_and_shift_safe():
    f = lambdified(4)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 3, 4)) + 1e3  # exp(1e3) overflows without the shift
    y = rng.dirichlet(np.ones(4), (2, 3))
    assert f.loss(z, y).shape == (2, 3)
    g = f.grad(z, y)
    assert g.shape == (2, 3, 4) and np.all(np.isfinite(g))
    np.testing.assert_allclose(g, f.target(z, y), atol=1e-15)


def test_wrong_gradient_is_caught():
    """The check must be able to fail: a gradient off by 1e-6 exceeds every tolerance."""
    from symce.export.numeric import _check_family

    f = lambdified(3)
    wrong = type(f)(f.k, f.loss, lambda z, y: f.grad(z, y) + 1e-6, f.target)
    z = np.array([[0.1, -0.5, 2.0]])
    y = np.array([[0.2, 0.3, 0.5]])
    assert not _check_family(wrong, "random", z, y).passed
