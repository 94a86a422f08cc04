"""Typesetting the constructs of the first ML course: calls, matrix entries, abstract derivatives,
whole-matrix rows; and every catalogue file compiles with pdflatex."""

import shutil
import subprocess
from pathlib import Path

import pytest
import sympy

from symce.read.toml import loads_derivation
from symce.typeset.document import render
from symce.typeset.printer import latex_expr
from symce.verify.steps import check

TEXT = '''
title = "t"
assumptions = ["0 <= p <= 1"]
[symbols]
dims = { n = "symbolic", d = "symbolic" }
indices = { i = "n", j = "d", l = "d" }
vectors = { x = "real[d]", z = "real[n]" }
matrices = { W = "real[n, d]" }
scalars = { p = "real" }
functions = { L = ["u"] }
[definitions]
"sigma(t)" = "1 / (1 + exp(-t))"
"u[i]" = "Sum(W[i, l] * x[l], (l, 1, d))"
"delta[i]" = "Derivative(L, u[i])"
[[chains]]
name = "c"
entry = ["i", "j"]
whole = "delta @ x.T"
start = "Derivative(L, W[i, j])"
steps = [{ expr = "delta[i] * x[j]", reason = "r" }]
'''
D = loads_derivation(TEXT)


def tex(text: str) -> str:
    from symce.read.expr import read_expression
    from symce.read.expr import DeclaredFunction
    names = {**D.symbols, "sigma": DeclaredFunction((sympy.Symbol("t"),))}
    return latex_expr(read_expression(text, names), D)


@pytest.mark.parametrize("text, expected", [
    ("sigma(z[i])", r"\sigma(\mathbf{z}_i)"),
    ("W[i, j]", r"\mathbf{W}_{ij}"),
    ("Derivative(L, u[i])", r"\frac{\partial L}{\partial \mathbf{u}_i}"),
    ("Derivative(sigma(p), p, 2)", r"\frac{\partial^{2} \sigma(p)}{\partial p^{2}}"),
    ("delta[i]", r"\boldsymbol{\delta}_i"),
    ("Abs(p)", r"\left|{p}\right|"),
    ("Max(0, p)", r"\max\left(0, p\right)"),
])
def test_constructs(text, expected):
    assert tex(text) == expected


def test_whole_matrix_row_and_facts_in_the_document():
    out = render(check(D), format="tex")
    assert (r"\frac{\partial L}{\partial \mathbf{W}} &= \boldsymbol{\delta} \mathbf{x}^\top "
            r"&& \text{the whole array, entry by entry}") in out
    assert r"\sigma(t) &= \frac{1}{1 + e^{- t}}" in out
    assert r"0 \leq p \leq 1" in out
    md = render(check(D), format="md")
    assert r"\mathbf{\delta}" in md and r"\boldsymbol" not in md  # MathJax's base package


def test_diag_and_transpose_print_as_in_lecture_notes():
    s = loads_derivation(TEXT.replace('whole = "delta @ x.T"', 'whole = "diag(z) @ W - z @ (W.T @ z).T"')
                         .replace('start = "Derivative(L, W[i, j])"', 'start = "0"')
                         .replace('expr = "delta[i] * x[j]"', 'expr = "z[i] * W[i, j] - z[i] * Sum(W[l, j] * z[l], (l, 1, n))"'))
    row = s.chains[0].steps[-1].whole[1]
    assert latex_expr(row, s) == r"\operatorname{diag}(\mathbf{z}) \mathbf{W} - \mathbf{z} (\mathbf{W}^\top \mathbf{z})^\top"


CATALOGUE = sorted((Path(__file__).parent.parent / "derivations").glob("*.toml"))


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("path", CATALOGUE, ids=[p.name for p in CATALOGUE])
def test_every_derivation_compiles_standalone(path, tmp_path):
    from symce.read.toml import load_derivation
    (tmp_path / "d.tex").write_text(render(check(load_derivation(path)), format="tex", standalone=True))
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "d.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
