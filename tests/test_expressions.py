import pytest
import sympy

from symce.errors import UsageError
from symce.model.losses import K_MAX, check_k, softmax_ce, softmax_ce_symbolic


@pytest.mark.parametrize("bad", [1, 0, -5, 2.5, "3", True, K_MAX + 1])
def test_check_k_refuses_out_of_range(bad):
    with pytest.raises(UsageError, match=r"k must be an integer from 2 to \d+, got"):
        check_k(bad)


def test_concrete_softmax_sums_to_one_and_loss_unfolds():
    m = softmax_ce(4)
    assert sympy.simplify(sympy.Add(*[m.softmax(i) for i in range(4)]) - 1) == 0
    expected = -sum(yi * sympy.log(sympy.exp(zi) / m.denominator) for zi, yi in zip(m.z, m.y))
    assert m.loss == expected
    assert all(v.is_real for v in m.z + m.y)


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_symbolic_loss_instantiates_to_concrete(k):
    sym, con = softmax_ce_symbolic(), softmax_ce(k)
    unrolled = sym.loss.subs(sym.k, k).doit()
    unrolled = unrolled.replace(lambda e: isinstance(e, sympy.Indexed),
                                lambda e: {sym.z: con.z, sym.y: con.y}[e.base][int(e.indices[0]) - 1])
    assert sympy.simplify(unrolled - con.loss) == 0
