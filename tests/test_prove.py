import pytest
import sympy

from symce.errors import UsageError
from symce.model.losses import softmax_ce, softmax_ce_symbolic
from symce.verify.identity import dL_dS, gradient, prove
from symce.verify.symbolic_k import symbolic_gradient


@pytest.mark.parametrize("assume", ["none", "simplex", "onehot"])
@pytest.mark.parametrize("k", [2, 3, 7])
def test_default_form_holds_for_every_component(k, assume):
    p = prove(k=k, assume=assume)
    assert p.holds and p.components == k and p.residual is None
    assert "numeric evidence only" in p.numeric


@pytest.mark.parametrize("assume", ["none", "simplex", "onehot"])
def test_symbolic_k_holds(assume):
    p = prove(k=None, assume=assume)
    assert p.holds and p.k is None
    assert "symbolic k" in p.evidence


@pytest.mark.parametrize("k", [None, 5])
def test_s_minus_y_without_simplex_names_the_residual(k):
    p = prove(k=k, assume="none", form="s-y")
    assert not p.holds
    assert p.residual == "s_i*(Y - 1) where Y = sum_j y_j"
    assert p.missing_assumption == "simplex"
    assert p.numeric is None  # no evidence is offered for a claim that fails


@pytest.mark.parametrize("k", [None, 4])
def test_onehot_form_under_simplex_is_not_enough(k):
    p = prove(k=k, assume="simplex", form="onehot")
    assert not p.holds and p.missing_assumption == "onehot"
    assert p.residual == "[i = c] - y_i"


@pytest.mark.parametrize("k", [2, 3, 4])
def test_sparse_chain_rule_gradient_equals_plain_diff(k):
    """The prover's gradient (chain rule through S, one term per component) is SymPy's diff of L."""
    m = softmax_ce(k)
    grad = gradient(m, dL_dS(m))
    for i, g in enumerate(grad):
        plain = sympy.diff(m.loss, m.z[i])
        assert sympy.simplify(g.xreplace({m.S: m.denominator}) - plain) == 0


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_symbolic_gradient_matches_concrete_k(k):
    sym, con = softmax_ce_symbolic(), softmax_ce(k)
    g = symbolic_gradient(sym).subs(sym.k, k)
    for i in range(1, k + 1):
        gi = g.subs(sym.i, i).doit()
        gi = gi.replace(lambda e: isinstance(e, sympy.Indexed),
                        lambda e: {sym.z: con.z, sym.y: con.y}[e.base][int(e.indices[0]) - 1])
        assert sympy.simplify(gi - sympy.diff(con.loss, con.z[i - 1])) == 0


def test_unknown_names_are_refused():
    with pytest.raises(UsageError, match="unknown identity 'mse'; known: softmax-ce"):
        prove("mse", k=3)
    with pytest.raises(UsageError, match="unknown assumption 'sums'; known: none, simplex, onehot"):
        prove(k=3, assume="sums")
    with pytest.raises(UsageError, match="k must be an integer"):
        prove(k=1)


def test_progress_is_reported():
    seen = []
    prove(k=200, numeric=False, progress=lambda what, done, total: seen.append((what, done, total)))
    assert seen == [("terms of dL/dS", 100, 200), ("terms of dL/dS", 200, 200),
                    ("components", 50, 200), ("components", 100, 200),
                    ("components", 150, 200), ("components", 200, 200)]


def test_cli_progress_goes_to_stderr_after_the_quiet_period(capsys):
    from symce.cli import _Progress

    meter = _Progress("k = 9", quiet_for=0.0, every=0.0)
    meter("components", 3, 9)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("symce: k = 9: 3/9 components (")
    quiet = _Progress("k = 9", quiet_for=3600.0)
    quiet("components", 3, 9)
    assert capsys.readouterr().err == ""


def test_loss_is_the_sum_of_its_terms():
    """The spot check evaluates loss_term k times; that is the loss only if the loss is built from it."""
    from symce.model.losses import loss_term

    m = softmax_ce(5)
    assert m.loss_in_S == sympy.Add(*[loss_term(z, y, m.S) for z, y in zip(m.z, m.y)])
