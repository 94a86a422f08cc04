"""Notes files: Markdown posts and .tex notes checked where they are written."""

import json
from pathlib import Path

import pytest
import sympy
import yaml

from symce.cli import main
from symce.errors import DerivationFormatError
from symce.read.notes import load_any, load_notes, loads_notes
from symce.read.toml import derivation_paths
from symce.typeset.printer import latex_expr
from symce.verify.steps import Evidence, check

ROOT = Path(__file__).parent.parent
DERIVATIONS = ROOT / "derivations"
REFERENCE = ROOT.parent / "shared" / "reference" / "softmax-cross-entropy-gradient.md"
SIDECAR = DERIVATIONS / "reference.declarations.yaml"
POST = DERIVATIONS / "softmax_cross_entropy.md"

HEAD = r"""---
title: t
symce:
  symbols: {k: symbolic, indices: [i, j, c], vectors: {z: real, y: real}}
  definitions:
    '\mathbf{s}_{i}': '\frac{e^{z_i}}{\sum_j e^{z_j}}'
  assumptions:
    - onehot(y, c)
---
"""


def reference() -> Path:
    if not REFERENCE.is_file():
        pytest.skip(f"the reference post is not beside the repository (looked for {REFERENCE})")
    return REFERENCE


def run_json(capsys, *argv):
    code = main(["check", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_reference_post_checks_unchanged_in_place(capsys):
    path = reference()
    before = path.read_bytes()
    code, doc = run_json(capsys, str(path), "--declarations", str(SIDECAR))
    assert path.read_bytes() == before
    assert code == 0 and doc["passed"]
    (report,) = doc["files"]
    steps = report["steps"]
    assert {s["evidence"] for s in steps} == {"proved_all_k"}
    # every display block: the definition, the one-hot reduction, both cases, the vector chain
    assert sorted({s["chain"].split(",")[0] for s in steps}) == [f"block {n}" for n in range(1, 6)]
    assert sorted({s["line"] for s in steps}) == [18, 28, 29, 39, 40, 41, 42, 50, 51, 52, 60, 62, 63]
    entries = sorted(s["chain"] for s in steps if "entry" in s["chain"])
    assert entries == sorted(f"block 5, entry {p}" for p in ("1", "2", "c", "k") for _ in range(2))
    notes = "\n".join(report["notes"])
    assert 'case i = c, read from the sentence on line 35: "If $$i = c$$ then we have"' in notes
    assert 'case i != c, read from the sentence on line 46: "If $$i \\neq c$$, we get"' in notes
    assert "line 61: vector row checked entry by entry, entries 1, 2, c, k (1 < 2 < c < k)" in notes


def test_own_post_checks_clean_with_every_step_proved_for_all_k(capsys):
    code, doc = run_json(capsys, str(POST))
    assert code == 0
    assert {s["evidence"] for s in doc["files"][0]["steps"]} == {"proved_all_k"}
    assert len(doc["files"][0]["steps"]) == 19


def test_text_report_gives_lines_and_what_was_read_from_prose(capsys):
    path = reference()
    assert main(["check", str(path), "--declarations", str(SIDECAR)]) == 0
    out = capsys.readouterr().out
    assert "  note line 38: case i = c, read from the sentence on line 35" in out
    assert "  ok   block 3 step 2: proved for all k (" in out and "; line 40)" in out
    assert out.rstrip().endswith("19 of 19 steps hold in 1 file")


MUTANTS = [
    # (line, before, after): a sign flipped, a square dropped, (s_c - 1) -> (s_c + 1)
    (52, r"&= -\mathbf{s}_{i}\mathbf{s}_{c}", r"&= \mathbf{s}_{i}\mathbf{s}_{c}"),
    (40, r"{(\sum_{j}e^{\mathbf{z}_{j}})^{2}}", r"{(\sum_{j}e^{\mathbf{z}_{j}})}"),
    (63, r"(\mathbf{s}_{c} - 1)", r"(\mathbf{s}_{c} + 1)"),
    (62, r"-\mathbf{s}_{2}\mathbf{s}_{c}", r"\mathbf{s}_{2}\mathbf{s}_{c}"),
    (29, r"&= -\log \mathbf{s}_{c}", r"&= \log \mathbf{s}_{c}"),
    (61, r"\frac{-1}{\mathbf{s}_{c}}", r"\frac{1}{\mathbf{s}_{c}}"),  # the factor every entry shares
]


def _mutate(text: str, line: int, before: str, after: str) -> str:
    lines = text.split("\n")
    assert lines[line - 1].count(before) == 1
    lines[line - 1] = lines[line - 1].replace(before, after)
    return "\n".join(lines)


@pytest.mark.parametrize("line, before, after", MUTANTS, ids=[f"line{m[0]}" for m in MUTANTS])
@pytest.mark.parametrize("which", ["reference", "own"])
def test_mutation_fails_at_the_mutated_line_with_a_counterexample(tmp_path, capsys, which, line, before, after):
    source = reference() if which == "reference" else POST
    text = source.read_text()
    if which == "own":  # the same mathematics, on other lines: the first line that holds it
        line = next(n for n, s in enumerate(text.split("\n"), start=1) if before in s)
    path = tmp_path / "mutant.md"
    path.write_text(_mutate(text, line, before, after))
    code, doc = run_json(capsys, str(path), *(["--declarations", str(SIDECAR)] if which == "reference" else []))
    assert code == 1
    bad = next(s for s in doc["files"][0]["steps"] if not s["passed"])
    assert (bad["evidence"], bad["line"]) == ("fails", line)
    assert bad["counterexample"]["values"]
    assert main(["check", str(path)] + (["--declarations", str(SIDECAR)] if which == "reference" else [])) == 1
    assert f"(line {line}): fails" in capsys.readouterr().out


# --- the round trip ---------------------------------------------------------------------

def _domain(obj) -> str:
    return "positive" if obj.is_positive else "nonnegative" if obj.is_nonnegative else "real"


def _sidecar(d) -> str:
    """Declarations for the Markdown that ``symce latex`` writes, which has no front matter yet."""
    defined = {x.name for x in d.definitions}
    data = {"symbols": {
        "k": "symbolic" if d.k is None else d.k,
        "indices": [i.name for i in d.indices],
        "vectors": {v: _domain(d.symbols[v]) for v in d.vectors if v not in defined},
        "scalars": {n: _domain(o) for n, o in d.symbols.items() if isinstance(o, sympy.Symbol)
                    and o not in d.indices and n != "k" and n not in defined}}}
    data["definitions"] = {
        latex_expr(sympy.IndexedBase(x.name)[x.params] if x.params else sympy.Symbol(x.name), d): latex_expr(x.body, d)
        for x in d.definitions}
    data["assumptions"] = [a.text for a in d.assumptions]
    return yaml.safe_dump(data, sort_keys=False)


# The LaTeX reader knows one dimension, k: files with named dims, matrices or functions
# (the catalogue of issue 12) are read from TOML only, so they have no round trip.
FILES = sorted(p for p in DERIVATIONS.iterdir() if p.suffix in (".toml", ".md") and not load_any(p).uses_dims)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_round_trip_latex_md_read_back_gives_the_same_verdicts(path, capsys):
    original = check(load_any(path))
    assert main(["latex", str(path), "--format", "md"]) == 0
    markdown = capsys.readouterr().out
    d = load_any(path)
    back = check(loads_notes(markdown, path="back.md", sidecar=(_sidecar(d), "back.yaml")))
    assert back.passed() == original.passed()
    offset = 1 if d.definitions else 0  # the typeset Definitions block comes first
    for m, chain in enumerate(d.chains):
        want = [r.evidence for r in original.steps if r.chain == chain.name]
        got = [r.evidence for r in back.steps if r.chain == f"block {m + 1 + offset}"]
        assert got == want, chain.name
    # the rest: the definitions, and the whole vector a chain over an index ends with
    named = {f"block {m + 1 + offset}" for m in range(len(d.chains))}
    assert all(r.evidence.proved for r in back.steps if r.chain not in named)


# --- bad input ----------------------------------------------------------------------

@pytest.mark.parametrize("block, message", [
    (r"\foo = 1", r"post.md, line 12, column 1: expected a known LaTeX command, found unknown macro \foo"),
    (r"\frac{e^{z_c}}{2 = 1", r"post.md, line 12, column 15: expected '}' to close this '{', found the end of the block"),
    (r"\sum_{j} = 1", r"post.md, line 12, column 9: expected the body of \sum (the rest of the product), found the end"),
    (r"w = 1", r"post.md, line 12, column 1: expected a declared name, found 'w' (not declared)"),
    (r"z_i = q_i", r"post.md, line 12, column 7: expected a declared name, found 'q' (not declared)"),
    (r"z_i \approx 1", r"post.md, line 12, column 5: expected '=' (symce checks equalities), found \approx"),
    (r"z_i", r"post.md, line 12, column 1: expected '=' in the row (each row of a block is a step), found a row"),
])
def test_bad_latex_exits_2_with_one_line(tmp_path, capsys, block, message):
    path = tmp_path / "post.md"
    path.write_text(HEAD + "\n$$\n" + block + "\n$$\n")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert message in err.replace(str(tmp_path) + "/", "")


def read_post(body: str):
    return loads_notes(HEAD + body, path="post.md")


@pytest.mark.parametrize("sentence, label", [
    ("If $$i = c$$ then we have", "i = c"),
    ("For $$i \\neq c$$:", "i != c"),
    ("When $i = c$", "i = c"),
    ("*Case $$i != c$$.*", "i != c"),
    ("We look at one entry. If $$i \\ne c$$, we get", "i != c"),
])
def test_cases_read_from_the_sentence_before_a_block(sentence, label):
    d = read_post(f"\n{sentence}\n\n$$\n\\frac{{\\partial e^{{z_c}}}}{{\\partial z_i}} = e^{{z_c}}\\delta_{{ic}}\n$$\n")
    assert d.chains[0].case.label == label
    assert "read from the sentence on line 11: " in d.notes[0]


@pytest.mark.parametrize("sentence", [
    "If $$i = c$$ or $$i = j$$ then",  # two conditions
    "If $$i = c$$ does not hold",      # a negation
    "Now take $$i = c$$",              # no condition word
    "If $$z_i = 1$$ then",             # not a relation between indices
    "If $$i = c$$ then we have\n\n## A heading",
])
def test_sentences_that_cannot_be_read_with_certainty_set_no_case(sentence):
    d = read_post(f"\n{sentence}\n\n$$\nz_i = z_i\n$$\n")
    assert d.chains[0].case is None


def test_annotations_name_skip_and_case():
    d = read_post("\n<!-- symce: skip -->\n$$\nz_i = 2\n$$\n\n<!-- symce: name x -->\n<!-- symce: case i = c -->\n"
                  "$$\nz_i = z_c\n$$\n\nIf $$i \\neq c$$ then\n\n<!-- symce: case i = c -->\n$$\nz_i = z_c\n$$\n")
    assert [(c.name, c.case.label) for c in d.chains] == [("x", "i = c"), ("block 3", "i = c")]


@pytest.mark.parametrize("body, message", [
    ("\n<!-- symce: maybe -->\n$$\nz_i = z_i\n$$\n", "expected 'symce: case ...', 'symce: skip' or 'symce: name ...'"),
    ("\n<!-- symce: skip -->\nSome words.\n", "expected a display block after the annotation, found text on line 12"),
    ("\n<!-- symce: case i \\neq i -->\n$$\nz_i = z_i\n$$\n", "expected a case that can hold"),
    ("\n$$\n\\mathbf{z} = \\begin{bmatrix} z_1 & z_2 \\end{bmatrix}\n$$\n",
     "expected dots in a vector of k entries"),
])
def test_bad_annotations_and_rows_are_errors(body, message):
    with pytest.raises(DerivationFormatError, match=message.replace("\\", "\\\\").replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace(".", r"\.").replace("*", r"\*").replace("+", r"\+")):
        read_post(body)


def test_inline_double_dollars_in_a_paragraph_are_not_checked():
    d = read_post("\nText with $$z_i = 2$$ inside,\n$$ and more $$ text.\n\n$$\nz_i = z_i\n$$\n")
    assert len(d.chains) == 1 and d.chains[0].steps[0].line == 15


def test_declarations_in_one_place_only(tmp_path):
    path = tmp_path / "post.md"
    path.write_text(HEAD + "\n$$\nz_i = z_i\n$$\n")
    with pytest.raises(DerivationFormatError, match="expected declarations in one place"):
        load_notes(path, str(SIDECAR))
    bare = tmp_path / "bare.md"
    bare.write_text("$$\nz_i = z_i\n$$\n")
    with pytest.raises(DerivationFormatError, match="bare.md: expected declarations"):
        load_notes(bare)


TEX = r"""\documentclass{article}
% symce:
%   symbols: {k: symbolic, indices: [i, j, c], vectors: {z: real}}
%   definitions:
%     '\mathbf{s}_{i}': '\frac{e^{z_i}}{\sum_j e^{z_j}}'
\begin{document}
For $i \neq c$, the derivative is
\begin{align*}
  \frac{\partial \mathbf{s}_c}{\partial \mathbf{z}_i}
    &= \frac{-e^{z_i} e^{z_c}}{(\sum_j e^{z_j})^2} \label{eq:x} \\
    &= -\mathbf{s}_i \mathbf{s}_c \quad \text{two softmaxes}
\end{align*}
% symce: name total
\[ \sum_{j=1}^{k} \mathbf{s}_j = 1 \]
\end{document}
"""


def test_tex_notes_with_a_comment_block_of_declarations(tmp_path):
    path = tmp_path / "notes.tex"
    path.write_text(TEX)
    d = load_notes(path)
    assert [c.name for c in d.chains] == ["block 1", "total"]
    assert d.chains[0].case.label == "i != c"
    assert [s.line for s in d.chains[0].steps] == [10, 11]
    assert d.chains[0].steps[1].reason == "two softmaxes"
    assert check(d).passed()


def test_folders_include_notes_files(tmp_path):
    for name in ("a.toml", "b.md", "c.tex", "d.txt"):
        (tmp_path / name).write_text("")
    assert [Path(p).name for p in derivation_paths([str(tmp_path)])] == ["a.toml", "b.md", "c.tex"]


def test_reasons_keep_their_math_for_the_typesetter():
    d = read_post("\n$$\n\\begin{align*}\nz_i &= z_i + 0 && \\text{add } z_c - z_c \\text{, which is } 0 \\\\\n"
                  "&= z_i \\quad \\text{as } 0 = 0\n\\end{align*}\n$$\n")
    first, second = d.chains[0].steps
    z, c = d.symbols["z"], d.symbols["c"]
    assert first.reason == r"add z_c - z_c , which is 0"
    assert first.reason_parts[0] == "add " and first.reason_parts[2] == ", which is "
    assert len(first.reason_parts) == 5 and first.reason_parts[1].has(z[c]) and first.reason_parts[3] == 0
    assert second.reason == "as 0 = 0" and isinstance(second.reason_parts[1], sympy.Eq)


VARIANTS = r"""---
title: variants
symce:
  symbols: {k: symbolic, indices: [i, j, c], vectors: {z: real, y: real}}
  definitions:
    '\mathbf{s}_{i}': '\frac{\exp(z_i)}{\sum_{j=1}^{k} \exp(z_j)}'
    'L': '-\sum\limits_{j} y_j \cdot \log(\mathbf{s}_j)'
  assumptions:
    - onehot(y, c)
---

$$
\begin{aligned}
\frac{\partial L}{\partial \mathbf{z}_i} &= \sum_{j} \frac{\partial L}{\partial \mathbf{s}_j}\frac{\partial \mathbf{s}_j}{\partial \mathbf{z}_i} \\
&= \sum_{j} \frac{-y_j}{\mathbf{s}_j} \left[ \mathbf{s}_j \delta_{ij} - \mathbf{s}_j \mathbf{s}_i \right] \\
&= \mathbf{s}_i - y_i
\end{aligned}
$$

When $i = c$:

\[
\frac{\partial L}{\partial z_i} = s_i - 1 \qquad \text{since } y_i = 1
\]

```math
\frac{d}{d z_c} \left( - \log \mathbf{s}_c \right) = \mathbf{s}_c - \mathbb{1}[c = c]
```

$$ \nabla_{\mathbf{z}} L = \mathbf{s} - \mathbf{y} $$
"""


def test_what_lecturers_commonly_write_checks_clean():
    d = loads_notes(VARIANTS, path="variants.md")
    assert [c.name for c in d.chains] == ["block 1", "block 2", "block 3", "block 4"]
    assert d.chains[1].case.label == "i = c" and d.chains[1].steps[0].reason == "since y_i = 1"
    assert [s.line for c in d.chains for s in c.steps] == [14, 15, 16, 23, 27, 30]
    report = check(d)
    assert {r.evidence for r in report.steps} == {Evidence.PROVED_ALL_K}


def test_own_post_typesets_in_mathjax_as_written():
    """Every $$ block and piece of inline math of our post goes through MathJax 3, as a reader's browser would."""
    import os
    import re
    import shutil
    import subprocess

    if shutil.which("node") is None:
        pytest.skip("node is not installed; .ci/run installs MathJax only where npm is available")
    node_path = os.environ.get("SYMCE_MATHJAX_NODE_PATH") or str(ROOT / ".ci" / "node" / "node_modules")
    if not (Path(node_path) / "mathjax-full").is_dir():
        pytest.skip("mathjax-full is not installed (.ci/run installs it with npm into .ci/node)")
    text = POST.read_text().split("---", 2)[2]
    blocks = re.findall(r"^\$\$\n(.*?)\n\$\$$", text, re.S | re.M)
    inline = re.findall(r"\$\$([^$\n]+?)\$\$", re.sub(r"^\$\$\n.*?\n\$\$$", "", text, flags=re.S | re.M))
    assert len(blocks) == 5 and inline
    run = subprocess.run(["node", str(Path(__file__).parent / "mathjax_check.js")], input=json.dumps(blocks + inline),
                         capture_output=True, text=True, env={**os.environ, "NODE_PATH": node_path}, check=True)
    problems = [(b, p) for b, p in zip(blocks + inline, json.loads(run.stdout)) if p]
    assert problems == []


def test_column_vector_entries_and_vector_rows_refused_under_a_case():
    d = read_post("\n$$\n\\mathbf{s} - \\mathbf{y} = \\begin{pmatrix} \\mathbf{s}_1 \\\\ \\vdots \\\\ \\mathbf{s}_c - 1"
                  " \\\\ \\vdots \\\\ \\mathbf{s}_k \\end{pmatrix}\n$$\n")
    assert [c.name for c in d.chains] == ["block 1, entry 1", "block 1, entry c", "block 1, entry k"]
    assert [c.case.label if c.case else None for c in d.chains] == ["c != 1", None, "c != k"]
    assert "entries 1, c, k (1 < c < k)" in d.notes[0]
    assert {r.evidence for r in check(d).steps} == {Evidence.PROVED_ALL_K}
    with pytest.raises(DerivationFormatError, match="expected no vector row in a block checked under a case"):
        read_post("\n<!-- symce: case i = c -->\n$$\n\\mathbf{s} = \\begin{bmatrix} \\mathbf{s}_1 & \\cdots "
                  "& \\mathbf{s}_k \\end{bmatrix}\n$$\n")


def test_row_spacing_after_a_row_break_is_not_math():
    d = read_post("\n$$\n\\begin{align*}\nz_i + z_i &= 2 z_i \\\\[4pt]\n&= z_i + z_i \\\\[1.5ex]\n&= [z_i + z_i]\n"
                  "\\end{align*}\n$$\n")
    assert [s.line for s in d.chains[0].steps] == [13, 14, 15]
    with pytest.raises(DerivationFormatError, match="line 13, column 14: expected '=' in the row"):
        read_post("\n$$\n\\begin{align*}\nz_i &= z_i \\\\[2x]\n\\end{align*}\n$$\n")


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "side.yaml: expected a mapping of declarations (symbols, definitions, ...), found array"),
    ("symbols: {k: symbolic\n", "side.yaml, line 2: expected YAML declarations, found expected ',' or '}'"),
    ("symbols: {k: symbolic, indices: [i]}\nfoo: 1\n", "side.yaml, foo: unknown key (expected one of: title,"),
    ("symbols: {k: symbolic, indices: [i], scalars: {e: real}}\n", "side.yaml, symbols.scalars.e: 'e' is reserved"),
    ("symbols: {k: symbolic, indices: [i], vectors: {z: real}}\ndefinitions: {'q_{j}': 'z_j'}\n",
     "side.yaml, definitions.'q_{j}', line 1, column 4: expected a declared index as the definition's parameter, found 'j'"),
])
def test_bad_sidecar_declarations_are_named_by_place(tmp_path, capsys, text, message):
    post, side = tmp_path / "post.md", tmp_path / "side.yaml"
    post.write_text("$$\nz_i = z_i\n$$\n")
    side.write_text(text)
    assert main(["check", str(post), "--declarations", str(side)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and message in err.replace(str(tmp_path) + "/", "")


def test_a_definition_uses_only_the_ones_above_it():
    side = {"symbols": {"k": "symbolic", "indices": ["i", "j"], "vectors": {"z": "real"}},
            "definitions": {"L": r"-\log \mathbf{s}_{1}", r"\mathbf{s}_{i}": r"\frac{e^{z_i}}{\sum_j e^{z_j}}"}}
    with pytest.raises(DerivationFormatError, match=r"column 7: expected a declared name, found 's' \(defined further down\)"):
        loads_notes("$$\nz_i = z_i\n$$\n", path="p.md", sidecar=(yaml.safe_dump(side, sort_keys=False), "s.yaml"))
