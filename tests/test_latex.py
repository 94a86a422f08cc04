"""Tests for symce.typeset: one test per construct (exact raw LaTeX), assembly, golden files.

Golden files live in tests/golden/. After an intended change of output, regenerate them with

    SYMCE_REGEN_GOLDEN=1 python -m pytest tests/test_latex.py

and review the diff before committing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy

from symce import cli
from symce.model.derivation import Assumption, Case, Chain, Definition, Derivation, Notation, Step
from symce.errors import UsageError
from symce.typeset.document import (
    UnverifiedStepError,
    render,
    render_document,
    render_latex,
    render_markdown,
)
from symce.typeset.notation import latex_expr
from symce.typeset.printer import NotesPrinter
from symce.typeset.prose import escape_text
from symce.verify.steps import Evidence, Report, StepResult

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
DERIVATIONS = sorted((ROOT / "derivations").glob("*.toml"))
REFERENCE = ROOT / "derivations" / "softmax_cross_entropy.toml"

z, s, y = sympy.IndexedBase("z"), sympy.IndexedBase("s"), sympy.IndexedBase("y")
i, j, c, k = (sympy.Symbol(n, integer=True, positive=True) for n in "ijck")
L = sympy.Symbol("L")
NORM = sympy.Sum(sympy.exp(z[j]), (j, 1, k))
SOFTMAX = Definition("s", (i,), sympy.exp(z[i]) / sympy.Sum(sympy.exp(z[j]), (j, 1, k)), "")


def tex(expr, **notation) -> str:
    """Print with the notation of a small hand-built derivation (z, s, y vectors)."""
    d = Derivation(path="<test>", title="", k=None, symbols={"k": k}, vectors=("z", "y", "s"),
                   indices=(i, j, c), definitions=(SOFTMAX,), notation=Notation(**notation))
    return latex_expr(expr, d)


# --- one construct per test ------------------------------------------------------

def test_indexed_is_a_plain_subscript():
    assert latex_expr(z[i]) == "z_i"
    assert latex_expr(z[i + 1]) == "z_{i + 1}"


def test_vectors_are_bold_when_the_notation_says_so():
    assert tex(z[i]) == r"\mathbf{z}_i"
    assert tex(z[i], bold_vectors=False) == "z_i"
    assert tex(sympy.Symbol("z")) == r"\mathbf{z}"
    assert tex(sympy.Symbol("q")) == "q"  # not declared a vector


def test_derivative_of_a_name_is_one_fraction():
    assert tex(sympy.Derivative(L, z[i], evaluate=False)) == r"\frac{\partial L}{\partial \mathbf{z}_i}"
    assert tex(sympy.Derivative(s[c], z[i])) == r"\frac{\partial \mathbf{s}_c}{\partial \mathbf{z}_i}"


def test_derivative_of_a_compound_expression_is_an_operator():
    expr = sympy.Derivative(sympy.exp(z[c]) / NORM, z[i])
    assert tex(expr) == (r"\frac{\partial}{\partial \mathbf{z}_i} "
                         r"\frac{e^{\mathbf{z}_c}}{\sum_{j} e^{\mathbf{z}_j}}")
    assert tex(sympy.Derivative(-sympy.log(s[c]), s[c])) == (
        r"\frac{\partial}{\partial \mathbf{s}_c} (- \log \mathbf{s}_c)")


def test_second_derivative():
    assert latex_expr(sympy.Derivative(L, z[i], z[j], evaluate=False)) == (
        r"\frac{\partial^{2} L}{\partial z_i \partial z_j}")


def test_sum_over_the_full_range_shows_only_the_index():
    assert tex(NORM) == r"\sum_{j} e^{\mathbf{z}_j}"
    assert tex(sympy.Sum(sympy.exp(z[j]), (j, 2, k))) == r"\sum_{j=2}^{k} e^{\mathbf{z}_j}"
    assert latex_expr(NORM) == r"\sum_{j=1}^{k} e^{z_j}"  # no derivation: no known range


def test_exp_is_e_to_the():
    assert tex(sympy.exp(z[c])) == r"e^{\mathbf{z}_c}"
    assert tex(sympy.exp(z[c]) ** 2) == r"e^{2 \mathbf{z}_c}"


def test_log_drops_brackets_around_a_name():
    assert tex(sympy.log(s[c])) == r"\log \mathbf{s}_c"
    assert tex(sympy.log(1 + s[c])) == r"\log (\mathbf{s}_c + 1)"
    assert tex(-sympy.Sum(y[i] * sympy.log(s[i]), (i, 1, k))) == r"- \sum_{i} \mathbf{y}_i \log \mathbf{s}_i"


def test_softmax_is_named_as_the_file_chooses():
    assert tex(s[i]) == r"\mathbf{s}_i"
    assert tex(s[i], softmax_name="softmax") == r"\operatorname{softmax}(\mathbf{z})_i"
    assert tex(s[i], softmax_name="softmax", bold_vectors=False) == r"\operatorname{softmax}(z)_i"


def test_softmax_with_the_denominator_written_out_is_recognised():
    from symce.read.toml import loads_derivation

    d = loads_derivation('''
title = "t"
[symbols]
k = 2
indices = ["i", "j"]
vectors = { z = "real" }
[definitions]
"s[i]" = "exp(z[i]) / (exp(z[1]) + exp(z[2]))"
"q[i]" = "exp(z[i]) / (exp(z[1]) + exp(z[1]))"
"r[i]" = "exp(z[i]) / Sum(exp(z[j]), (j, 2, k))"
[notation]
softmax_name = "softmax"
[[chains]]
name = "x"
start = "s[i]"
steps = [{ expr = "s[i]", reason = "same" }]
''')
    q = sympy.IndexedBase("q")
    assert latex_expr(s[i], d) == r"\operatorname{softmax}(\mathbf{z})_i"
    assert latex_expr(q[i], d) == r"\mathbf{q}_i"  # not a softmax: z_2 is missing from its denominator
    assert latex_expr(sympy.IndexedBase("r")[i], d) == r"\mathbf{r}_i"  # nor is a sum over classes 2..k


def test_kronecker_delta_is_delta_with_the_running_index_first():
    # SymPy sorts the arguments (delta_{ci}); the derivation's index order restores i first.
    assert tex(sympy.KroneckerDelta(i, c)) == r"\delta_{ic}"
    assert tex(s[i] - sympy.KroneckerDelta(i, c)) == r"\mathbf{s}_i - \delta_{ic}"
    assert latex_expr(sympy.KroneckerDelta(i, j + 1)) == r"\delta_{i,j + 1}"


def test_fraction_layout():
    quotient = (sympy.exp(z[c]) * NORM - sympy.exp(z[c]) * sympy.exp(z[i])) / NORM ** 2
    assert tex(quotient) == (
        r"\frac{e^{\mathbf{z}_c} \sum_{j} e^{\mathbf{z}_j} - e^{\mathbf{z}_c} e^{\mathbf{z}_i}}"
        r"{\left(\sum_{j} e^{\mathbf{z}_j}\right)^{2}}")
    assert tex(-1 / s[c]) == r"- \frac{1}{\mathbf{s}_c}"


def test_products_written_by_hand_keep_their_fractions():
    split = sympy.Mul(sympy.exp(z[c]) / NORM, NORM - sympy.exp(z[c]), 1 / NORM, evaluate=False)
    assert tex(split) == (
        r"\frac{e^{\mathbf{z}_c}}{\sum_{j} e^{\mathbf{z}_j}} "
        r"\frac{\sum_{j} e^{\mathbf{z}_j} - e^{\mathbf{z}_c}}{\sum_{j} e^{\mathbf{z}_j}}")
    # -1/s[c] * Derivative(...) as the parser builds it: ((-1) / s_c) * D; the minus leads, as
    # in a reason that quotes it (issue 14: it was \frac{-1}{s_c} here, -\frac{1}{s_c} there)
    outer = sympy.Mul(sympy.Mul(-1, 1 / s[c], evaluate=False), sympy.Derivative(s[c], z[i]), evaluate=False)
    assert tex(outer) == r"- \frac{1}{\mathbf{s}_c} \frac{\partial \mathbf{s}_c}{\partial \mathbf{z}_i}"


def test_factor_order_and_light_parentheses():
    assert tex(s[c] * (1 - s[c])) == r"\mathbf{s}_c (1 - \mathbf{s}_c)"
    assert tex(-s[i] * s[c]) == r"- \mathbf{s}_c \mathbf{s}_i"


def test_row_vector_is_a_bmatrix():
    assert tex(sympy.Matrix([[s[1], s[c] - 1]])) == (
        r"\begin{bmatrix}\mathbf{s}_1 & \mathbf{s}_c - 1\end{bmatrix}")


def test_relations_for_case_labels():
    assert latex_expr(sympy.Eq(i, c)) == "i = c"
    assert latex_expr(sympy.Ne(i, c)) == r"i \neq c"


def test_the_printer_never_doubles_braces():
    # SymPy itself prints e^{{z}_{c}}; a leftover nested group is split by a space.
    printed = NotesPrinter().doprint(sympy.exp(z[c]) / sympy.Symbol("x_{1}"))
    assert "{{" not in printed
    assert "{{" not in sympy.latex(sympy.Symbol("a")) + tex(sympy.exp(z[c]) ** -2)


def test_unknown_printer_setting_is_refused():
    with pytest.raises(TypeError, match="Unknown setting 'vector'"):
        NotesPrinter({"vector": ("z",)})


# --- text escaping ------------------------------------------------------------------

def test_reasons_and_titles_are_escaped():
    assert escape_text(r"_ % & # $ { } ~ ^ \ ") == (
        r"\_ \% \& \# \$ \{ \} \textasciitilde{} \textasciicircum{} \textbackslash{}")
    assert escape_text("two\n  lines") == "two lines"


def test_mathjax_text_keeps_underscores_literal():
    # MathJax's \text knows only \$, \{, \}: a percent sign leaves the text for math mode.
    assert escape_text("s_c {50%}", "mathjax") == r"s_c \{50}\%\text{\}"


def test_markdown_text_never_opens_a_liquid_tag():
    assert escape_text("{{ x }} {% raw %}", "md") == "&#123;&#123; x &#125;&#125; &#123;&#37; raw &#37;&#125;"


# --- assembly ---------------------------------------------------------------------

def small_derivation(reason: str = "definition of s_c", title: str = "Own logit") -> Derivation:
    case = Case("i_eq_c", "i = c", sympy.Eq(i, c))
    chain = Chain(
        name="own", title=title, start=sympy.Derivative(s[c], z[i]), start_source="",
        steps=(Step(sympy.Derivative(sympy.exp(z[c]) / NORM, z[i]), reason, ""),
               Step(sympy.Mul(s[c], 1 - s[c], evaluate=False), "quotient rule", "")),  # as parsed
        case=case)
    return Derivation(path="own.toml", title="Softmax {{gradient}} 100%", k=None, symbols={"k": k},
                      vectors=("z", "s"), indices=(i, j, c), definitions=(SOFTMAX,),
                      cases=(case,), chains=(chain,))


def proved(d: Derivation, **evidence: Evidence) -> Report:
    """A report in which every step is proved, except ``chain_step=Evidence`` overrides."""
    return Report(d, tuple(
        StepResult(ch.name, n, st.reason, evidence.get(f"{ch.name}_{n}", Evidence.PROVED_ALL_K), 0.0)
        for ch in d.chains for n, st in enumerate(ch.steps, start=1)))


def test_a_chain_is_an_align_block_with_reasons_beside():
    out = render_latex(proved(small_derivation()))
    assert (
        "\\subsection*{Own logit}\n\n"
        "\\noindent\\textit{Case $i = c$.}\n\n"
        "\\begin{align*}\n"
        "    \\frac{\\partial \\mathbf{s}_c}{\\partial \\mathbf{z}_i} &= \\frac{\\partial}{\\partial \\mathbf{z}_i} "
        "\\frac{e^{\\mathbf{z}_c}}{\\sum_{j} e^{\\mathbf{z}_j}} && \\parbox[t]{0.36\\linewidth}{\\raggedright "
        "definition of s\\_c\\strut} \\\\\n"
        "    &= \\mathbf{s}_c (1 - \\mathbf{s}_c) && \\parbox[t]{0.36\\linewidth}{\\raggedright quotient rule\\strut}\n"
        "\\end{align*}\n") in out


def test_long_reasons_are_wrapped_by_tex_and_top_aligned_in_mathjax():
    long = "the numerator does not contain z_i, so only the denominator's derivative contributes"
    out = render_latex(proved(small_derivation(reason=long)))
    # TeX fills and breaks the lines of a top-aligned box (issue 14: no lone words on a line)
    assert (r"&& \parbox[t]{0.36\linewidth}{\raggedright the numerator does not contain z\_i, "
            r"so only the denominator's derivative contributes\strut} \\") in out
    md = render_markdown(proved(small_derivation(reason=long)))
    assert (r"&& \begin{array}[t]{l} \text{the numerator does not contain z_i,} \\ "
            r"\text{so only the denominator's derivative} \\ \text{contributes} \end{array}") in md


def test_titles_and_reasons_are_escaped_in_the_output():
    out = render_document(proved(small_derivation(reason="50% & #1", title="s_c ~ e^z")))
    assert r"\section*{Softmax \{\{gradient\}\} 100\%}" in out
    assert r"\subsection*{s\_c \textasciitilde{} e\textasciicircum{}z}" in out
    assert r"\parbox[t]{0.36\linewidth}{\raggedright 50\% \& \#1\strut}" in out


def test_markdown_has_blank_lines_around_every_display_block():
    out = render_markdown(proved(small_derivation()))
    lines = out.split("\n")
    fences = [n for n, line in enumerate(lines) if line == "$$"]
    assert fences and len(fences) % 2 == 0
    for open_, close in zip(fences[::2], fences[1::2]):
        assert lines[open_ - 1] == "" and lines[close + 1] == ""
    assert "*Case $$i = c$$.*" in out
    assert out.startswith("## Softmax &#123;&#123;gradient&#125;&#125; 100&#37;\n\n")


@pytest.mark.parametrize("fmt", ["tex", "md"])
def test_no_liquid_tags_in_any_output(fmt):
    out = render(proved(small_derivation(reason="{{ x }} {% y %}", title="{%")), format=fmt)
    assert "{{" not in out and "{%" not in out


def test_an_unverified_step_is_refused_by_name():
    report = proved(small_derivation(), own_2=Evidence.FAILS)
    with pytest.raises(UnverifiedStepError,
                       match=r"^own\.toml, chain 'own', step 2 \('quotient rule'\): fails; "
                             r"only verified steps are typeset") as info:
        render_latex(report)
    assert info.value.step.index == 2


def test_numeric_only_is_not_verified():
    with pytest.raises(UnverifiedStepError, match="step 1 .*: numeric only"):
        render_markdown(proved(small_derivation(), own_1=Evidence.NUMERIC))


@pytest.mark.parametrize("fmt", ["tex", "md"])
def test_allow_unverified_marks_the_step_and_adds_a_note(fmt):
    out = render(proved(small_derivation(), own_2=Evidence.UNVERIFIED), format=fmt, allow_unverified=True)
    assert (r"&& \parbox[t]{0.36\linewidth}{\raggedright quotient rule \quad \textbf{(unverified)}\strut}" if fmt == "tex"
            else r"&& \text{quotient rule} \quad \textbf{(unverified)}") in out
    assert out.count(r"\textbf{(unverified)}") == 1
    assert "Step 2 (quotient rule) is not verified; its evidence: unverified." in out


def test_unknown_format_and_standalone_markdown_are_refused():
    report = proved(small_derivation())
    with pytest.raises(UsageError, match="unknown format 'pdf'; expected one of: tex, md"):
        render(report, format="pdf")
    with pytest.raises(UsageError, match="cannot be combined with format 'md'"):
        render(report, format="md", standalone=True)


def test_standalone_uses_amsmath_and_amssymb_only():
    out = render_document(proved(small_derivation()))
    assert re.findall(r"\\usepackage(?:\[[^]]*\])?\{([^}]*)\}", out) == ["amsmath", "amssymb"]
    assert out.startswith("\\documentclass") and out.endswith("\\end{document}\n")


def test_rendering_is_deterministic():
    d = load(REFERENCE)
    assert render_document(proved(d)) == render_document(proved(load(REFERENCE)))
    assert render_markdown(proved(d)) == render_markdown(proved(d))


# --- a chain over a vector index: the whole vector after its entries ---------------

def vector_derivation(last=None, onehot: bool = True, k_value=None) -> Derivation:
    """dL/dz_i = s_i - y_i, read as entry i of the gradient (``vector = "i"``)."""
    steps = (Step(s[i] - sympy.KroneckerDelta(i, c), "cancel s_c", ""),
             Step(s[i] - y[i] if last is None else last, "one-hot", ""))
    chain = Chain(name="grad", title="", start=sympy.Derivative(L, z[i], evaluate=False), start_source="",
                  steps=steps, vector_index=i)
    hot = (Assumption("onehot", "onehot(y, c)", vector="y", index=c),) if onehot else ()
    size = k if k_value is None else sympy.Integer(k_value)
    return Derivation(path="grad.toml", title="", k=k_value, symbols={"k": size, "y": y, "z": z},
                      vectors=("z", "y", "s"), indices=(i, j, c), definitions=(SOFTMAX,),
                      assumptions=hot, chains=(chain,))


def test_vector_chain_ends_with_the_whole_row_vector():
    out = render_latex(proved(vector_derivation()))
    assert out.endswith(
        "    &= \\mathbf{s}_i - \\mathbf{y}_i && \\parbox[t]{0.36\\linewidth}{\\raggedright one-hot\\strut} \\\\\n"
        "    \\frac{\\partial L}{\\partial \\mathbf{z}} &= \\begin{bmatrix} \\mathbf{s}_1 & \\cdots & "
        "\\mathbf{s}_c - 1 & \\cdots & \\mathbf{s}_k \\end{bmatrix} "
        "&& \\parbox[t]{0.36\\linewidth}{\\raggedright entries $i = 1$, $c$, $k$, for $1 < c < k$\\strut}\n"
        "\\end{align*}\n")


def test_vector_entries_are_computed_not_copied():
    # The same row from s_i - delta_ic with no one-hot target: the delta names the class.
    row = render_latex(proved(vector_derivation(onehot=False, last=s[i] - sympy.KroneckerDelta(i, c))))
    assert (r"\begin{bmatrix} \mathbf{s}_1 & \cdots & \mathbf{s}_c - 1 & \cdots & \mathbf{s}_k \end{bmatrix}"
            in row)
    # Entry i of 2 s_i: no class singled out, entries 1 and k only.
    row = render_latex(proved(vector_derivation(onehot=False, last=2 * s[i])))
    assert (r"&= \begin{bmatrix} 2 \mathbf{s}_1 & \cdots & 2 \mathbf{s}_k \end{bmatrix} "
            r"&& \parbox[t]{0.36\linewidth}{\raggedright entries $i = 1$ and $k$\strut}" + "\n") in row


def test_vector_of_three_classes_lists_every_entry():
    out = render_latex(proved(vector_derivation(k_value=3)))
    assert (r"&= \begin{bmatrix} \mathbf{s}_1 & \mathbf{s}_c - 1 & \mathbf{s}_3 \end{bmatrix} "
            r"&& \parbox[t]{0.36\linewidth}{\raggedright entries $i = 1$, $c$, $3$, for $1 < c < 3$\strut}") in out


def test_vector_row_of_an_unverified_chain_is_marked_too():
    out = render_markdown(proved(vector_derivation(), grad_1=Evidence.UNVERIFIED), allow_unverified=True)
    assert out.count(r"\textbf{(unverified)}") == 2
    assert r"1 < c < k \quad \textbf{(unverified)}" in out
    assert "{{" not in out


def test_chained_inequalities_print_as_one():
    assert latex_expr(sympy.And(sympy.Lt(1, c), sympy.Lt(c, k))) == "1 < c < k"
    assert latex_expr(sympy.And(sympy.Lt(1, c), sympy.Lt(i, k))) == r"1 < c \wedge i < k"


def test_jupyter_reprs():
    d = small_derivation()
    assert d.chains[0].steps[1]._repr_latex_() == r"$\displaystyle = s_c (1 - s_c) \qquad \text{quotient rule}$"
    assert d.chains[0]._repr_latex_().startswith("$\\displaystyle \\begin{aligned}\n")
    shown = d._repr_latex_()
    assert r"&\textbf{Own logit} \quad \text{Case } i = c \\" in shown
    assert r"\mathbf{s}_c (1 - \mathbf{s}_c)" in shown  # the derivation's own notation


# --- golden files of the reference derivation ------------------------------------

def load(path: Path) -> Derivation:
    from symce.read.toml import load_derivation

    return load_derivation(os.path.relpath(path, ROOT))


GOLDEN_CASES = {
    "softmax_cross_entropy.tex": lambda r: render_latex(r),
    "softmax_cross_entropy.md": lambda r: render_markdown(r),
    "softmax_cross_entropy.standalone.tex": lambda r: render_document(r),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden(name):
    out = GOLDEN_CASES[name](proved(load(REFERENCE)))
    target = GOLDEN / name
    if os.environ.get("SYMCE_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        target.write_text(out, encoding="utf-8", newline="\n")
    assert out == target.read_text(encoding="utf-8"), (
        f"{name} changed; if intended, run SYMCE_REGEN_GOLDEN=1 python -m pytest tests/test_latex.py")


def test_golden_markdown_reads_like_the_reference_post():
    md = (GOLDEN / "softmax_cross_entropy.md").read_text(encoding="utf-8")
    assert r"\frac{\partial \mathbf{s}_c}{\partial \mathbf{z}_i} &= \frac{\partial}{\partial \mathbf{z}_i} " \
           r"\frac{e^{\mathbf{z}_c}}{\sum_{j} e^{\mathbf{z}_j}}" in md
    assert r"&= \mathbf{s}_c (1 - \mathbf{s}_c)" in md
    assert "{{" not in md and "{%" not in md


# --- the CLI ------------------------------------------------------------------------

@pytest.fixture
def fake_check(monkeypatch):
    """Stand in for the checker (issue 3) and count its calls: it must run once per render."""
    calls, evidence = [], {}

    def check(d, **kwargs):
        calls.append(d.path)
        return proved(d, **evidence)

    monkeypatch.setattr("symce.verify.steps.check", check)
    return calls, evidence


def test_cli_renders_to_stdout_and_checks_once(fake_check, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["latex", "derivations/softmax_cross_entropy.toml", "--format", "md"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "softmax_cross_entropy.md").read_text(encoding="utf-8")
    assert fake_check[0] == ["derivations/softmax_cross_entropy.toml"]


def test_cli_end_to_end_with_the_real_checker(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["latex", "derivations/softmax_cross_entropy.toml", "--standalone"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "softmax_cross_entropy.standalone.tex").read_text(
        encoding="utf-8")


def test_cli_writes_the_output_file(fake_check, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "notes.tex"
    assert cli.main(["latex", "derivations/softmax_cross_entropy.toml", "--standalone", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == (GOLDEN / "softmax_cross_entropy.standalone.tex").read_text(
        encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.tex"]


def test_cli_unverified_step_exits_1_naming_it(fake_check, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    fake_check[1]["ds_c_dz_i_same_2"] = Evidence.FAILS
    out = tmp_path / "notes.tex"
    out.write_text("old notes\n")
    code = cli.main(["latex", "derivations/softmax_cross_entropy.toml", "-o", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("symce: derivations/softmax_cross_entropy.toml, chain 'ds_c_dz_i_same', step 2 (")
    assert err.count("\n") == 1
    assert out.read_text() == "old notes\n"  # untouched
    assert cli.main(["latex", "derivations/softmax_cross_entropy.toml", "--allow-unverified",
                     "-o", str(out)]) == 0
    assert r"\textbf{(unverified)}" in out.read_text()


def test_cli_failed_write_leaves_no_file(fake_check, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    out = tmp_path / "notes.tex"
    assert cli.main(["latex", "derivations/softmax_cross_entropy.toml", "-o", str(out)]) == 2
    assert capsys.readouterr().err == f"symce: error: {out}: cannot write (No space left on device)\n"
    assert list(tmp_path.iterdir()) == []  # neither the target nor the temporary file


@pytest.mark.parametrize("argv, message", [
    (["latex", "missing.toml"], "symce: error: missing.toml: cannot read file (No such file or directory)\n"),
    (["latex", "x.toml", "--format", "md", "--standalone"],
     "symce: error: --standalone makes a LaTeX document; it cannot be combined with format 'md'\n"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, message, fake_check, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == message
    assert fake_check[0] == []  # refused before any checking


def test_cli_unknown_format_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["latex", "x.toml", "--format", "pdf"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        "symce: error: argument --format: invalid choice: 'pdf' (choose from 'tex', 'md')\n")


def test_cli_malformed_file_exits_2(fake_check, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text("title = 3\n")
    assert cli.main(["latex", "bad.toml"]) == 2
    assert capsys.readouterr().err == "symce: error: bad.toml, title: expected string, found integer\n"


# --- compiled, as a reader sees it --------------------------------------------------

@pytest.mark.skipif(not (shutil.which("pdflatex") and shutil.which("pdftoppm")),
                    reason="pdflatex and pdftoppm are not installed "
                           "(Debian: apt-get install texlive-latex-base poppler-utils)")
@pytest.mark.parametrize("path", DERIVATIONS, ids=[p.name for p in DERIVATIONS])
def test_standalone_compiles_and_renders_page_one(path, tmp_path):
    from symce.verify.steps import check

    # The real checker; a step it cannot prove is typeset marked, so the file still compiles.
    report = check(load(path))
    (tmp_path / "notes.tex").write_text(render_document(report, allow_unverified=True), encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "notes.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    log = (tmp_path / "notes.log").read_text(errors="replace")
    assert "Overfull \\hbox" not in log
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "notes.pdf", "page"],
                   cwd=tmp_path, check=True, timeout=60)
    pngs = list(tmp_path.glob("page*.png"))
    assert len(pngs) == 1 and pngs[0].stat().st_size > 1000
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_final_guard_fails_loudly():
    from symce.typeset.document import _guard

    with pytest.raises(AssertionError, match=r"symce\.typeset produced '\{%' near 'x \{% raw'"):
        _guard("x {% raw")


# --- from a review of what the page shows against what was checked ----------------------

def test_a_log_followed_by_a_factor_is_bracketed():
    a = sympy.Symbol("a", positive=True)
    assert latex_expr(sympy.Mul(sympy.log(a), y[c], evaluate=False)) == r"(\log a) y_c"
    assert latex_expr(sympy.Mul(y[c], sympy.log(a), evaluate=False)) == r"y_c \log a"


def test_a_number_before_a_factor_printed_with_a_digit_gets_a_dot():
    assert latex_expr(sympy.Mul(2, sympy.Pow(3, z[c], evaluate=False), evaluate=False)) == r"2 \cdot 3^{z_c}"


def test_nested_sums_print_the_outer_sum_first():
    nested = sympy.Sum(sympy.Sum(y[i], (i, 1, j)), (j, 1, k))
    assert latex_expr(nested) == r"\sum_{j=1}^{k} \sum_{i=1}^{j} y_i"


def test_steps_proved_only_for_small_k_are_marked():
    from symce.read.toml import load_derivation
    from symce.verify.steps import check

    report = check(load_derivation(REFERENCE))
    first = report.steps[0]
    limited = StepResult(first.chain, first.index, first.reason, Evidence.PROVED_SMALL_K, 0.0)
    report = Report(report.derivation, (limited,) + report.steps[1:])
    for fmt in ("tex", "md"):
        out = render(report, format=fmt, all_k=False)
        assert out.count(r"\textbf{(only k up to 6)}") == 1
        assert "is proved at every instance up to k = 6, not for every k." in out


def test_steps_proved_only_for_small_k_are_unverified_by_default():
    from symce.read.toml import load_derivation
    from symce.verify.steps import check

    report = check(load_derivation(REFERENCE))
    first = report.steps[0]
    limited = StepResult(first.chain, first.index, first.reason, Evidence.PROVED_SMALL_K, 0.0)
    report = Report(report.derivation, (limited,) + report.steps[1:])
    render(report, all_k=False)  # passes only when the caller gives up larger k, marked
    with pytest.raises(UnverifiedStepError, match=r"chain 'loss', step 1 .*: proved only for k <= 6"):
        render(report)
    assert r"\textbf{(unverified)}" in render(report, allow_unverified=True)


def _mathjax_node_path():
    """Where .ci/run installs mathjax-full (npm), or $SYMCE_MATHJAX_NODE_PATH; None if absent."""
    path = os.environ.get("SYMCE_MATHJAX_NODE_PATH") or str(ROOT / ".ci" / "node" / "node_modules")
    return path if (Path(path) / "mathjax-full").is_dir() else None


@pytest.mark.parametrize("path", DERIVATIONS, ids=[p.name for p in DERIVATIONS])
def test_markdown_typesets_in_mathjax_as_written(path):
    """Every $$ block of the md output goes through MathJax 3 (no textmacros), as a blog reader's would."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed; .ci/run installs MathJax only where npm is available")
    node_path = _mathjax_node_path()
    if node_path is None:
        pytest.skip("mathjax-full is not installed (.ci/run installs it with npm into .ci/node)")
    from symce.verify.steps import check

    md = render_markdown(check(load(path)))
    blocks, lines = [], iter(md.splitlines())
    for line in lines:  # display blocks are "$$" lines around the math; inline math is $$...$$
        if line == "$$":
            blocks.append("\n".join(iter(lambda: next(lines), "$$")))
        else:
            blocks += re.findall(r"\$\$(.+?)\$\$", line)
    assert blocks
    run = subprocess.run(["node", str(Path(__file__).parent / "mathjax_check.js")], input=json.dumps(blocks),
                         capture_output=True, text=True, env={**os.environ, "NODE_PATH": node_path}, check=True)
    problems = [(b, p) for b, p in zip(blocks, json.loads(run.stdout)) if p]
    assert problems == []


# --- issue 14: the author's order, fractions by context, page options -----------------------

AUTHORED = {"y": sympy.Symbol("y", real=True), "p": sympy.Symbol("p", positive=True),
            "yhat": sympy.Symbol("yhat", real=True), "t": sympy.Symbol("t", real=True),
            "T": sympy.Symbol("T", positive=True), "x": sympy.IndexedBase("x"), "s": s, "z": z,
            "i": i, "j": j, "c": c, "k": k, "L": L}


def written(text: str, **settings) -> str:
    """Print an expression as the file's parser builds it, with the document's printer settings."""
    from symce.read.expr import read_expression

    return NotesPrinter({"kept_order": True, **settings}).doprint(read_expression(text, AUTHORED))


@pytest.mark.parametrize("text, printed", [
    ("-(y*log(p) + (1 - y)*log(1 - p))", r"- (y \log p + (1 - y) \log (1 - p))"),
    ("(yhat - t) * x[i]", r"(yhat - t) x_i"),
    ("x[i] * (yhat - t)", r"x_i (yhat - t)"),
    ("-1/s[c]", r"- \frac{1}{s_c}"),
    ("-(1/s[c])", r"- \frac{1}{s_c}"),
    ("-1/s[c] * Derivative(L, s[c])", r"- \frac{1}{s_c} \frac{\partial L}{\partial s_c}"),
    ("y * 2", "2 y"),
])
def test_the_authors_order_is_printed(text, printed):
    assert written(text) == printed


@pytest.mark.parametrize("text, display, inline", [
    ("exp(z[i]/T)", "e^{z_i/T}", "e^{z_i/T}"),
    ("exp((z[i] - t)/T)", "e^{(z_i - t)/T}", "e^{(z_i - t)/T}"),
    ("x[i]**(1/T)", "x_i^{1/T}", "x_i^{1/T}"),
    ("1/s[c]", r"\frac{1}{s_c}", "1/s_c"),
    ("-y/s[c]", r"- \frac{y}{s_c}", "- y/s_c"),
    ("exp(z[c]) / Sum(exp(z[j]), (j, 1, k))", r"\frac{e^{z_c}}{\sum_{j=1}^{k} e^{z_j}}",
     r"\tfrac{e^{z_c}}{\sum_{j=1}^{k} e^{z_j}}"),
    ("Derivative(L, s[c])", r"\frac{\partial L}{\partial s_c}", r"\partial L/\partial s_c"),
    ("-1/s[c] * Derivative(L, s[c])", r"- \frac{1}{s_c} \frac{\partial L}{\partial s_c}",
     r"- \tfrac{1}{s_c} (\partial L/\partial s_c)"),
])
def test_fractions_by_context(text, display, inline):
    assert written(text) == display
    assert written(text, fractions="inline") == inline


def test_vector_entries_set_their_fractions_inline():
    assert NotesPrinter().row_vector([1 / s[1], sympy.exp(z[k]) / NORM], gaps=False) == (
        r"\begin{bmatrix} 1/s_1 & \tfrac{e^{z_k}}{\sum_{j=1}^{k} e^{z_j}} \end{bmatrix}")


def test_a_step_and_the_reason_quoting_it_print_minus_one_over_the_same_way():
    out = render_latex(proved(load(REFERENCE)))
    assert r"&= - \frac{1}{\mathbf{s}_c} \frac{\partial \mathbf{s}_c}{\partial \mathbf{z}_i}" in out
    assert r"insert $\partial L/\partial \mathbf{s}_c = - 1/\mathbf{s}_c$ from above" in out
    assert r"\frac{-1}" not in out and r"\textstyle" not in out


def test_numbered_steps_a4_paper_and_front_matter():
    report = proved(load(REFERENCE))
    doc = render(report, standalone=True, numbered=True, paper="a4")
    assert doc.startswith(r"\documentclass[11pt,a4paper]{article}")
    assert r"\pdfpagewidth=\paperwidth" in doc
    assert [int(n) for n in re.findall(r"\\tag\{(\d+)\}", doc)] == list(range(1, 24))  # 21 steps, 2 rows
    md = render(report, format="md", front_matter=True, numbered=True)
    assert md.startswith('---\nlayout: post\ntitle: "Gradient of the softmax cross-entropy loss"\n'
                         'date: 2026-12-01\n---\n\n### Definitions')
    assert r"\tag{23}" in md and "## Gradient" not in md
    assert render(report, format="md").startswith("## Gradient of the softmax cross-entropy loss\n")


def test_prose_around_a_chain_in_both_formats():
    report = proved(load(REFERENCE))
    tex, md = render_latex(report), render_markdown(report)
    assert ("The logits $\\mathbf{z}$ go through the softmax $\\mathbf{s}$, and the loss compares "
            "$\\mathbf{s}$ with the target $\\mathbf{y}$.") in tex
    assert r"\textbf{no exponential is left} in it, and each entry lies between $-1$ and $1$." in tex
    assert "**no exponential is left** in it, and each entry lies between $$-1$$ and $$1$$." in md
    # before the chain's equations, after its title; the closing words after them
    assert tex.index("The logits") < tex.index(r"L &= - \sum_{j} \mathbf{y}_j \log \mathbf{s}_j &&")
    assert tex.index("no exponential") > tex.index(r"&= \mathbf{s}_i - \mathbf{y}_i")


def test_stacked_layout_sets_each_reason_under_its_step():
    md = render(proved(small_derivation()), format="md", layout="stacked")
    assert ("    &= \\mathbf{s}_c (1 - \\mathbf{s}_c) \\\\\n"
            "    & \\qquad {\\small \\text{quotient rule}}\n") in md
    with pytest.raises(UsageError, match="--layout stacked is for MathJax pages"):
        render(proved(small_derivation()), layout="stacked")
    with pytest.raises(UsageError, match="unknown paper size 'a5'; expected one of: letter, a4"):
        render(proved(small_derivation()), standalone=True, paper="a5")
    with pytest.raises(UsageError, match="--front-matter is Jekyll's, for format 'md'"):
        render(proved(small_derivation()), front_matter=True)
