r"""Document assembly: verified chains as ``align*`` fragments, a LaTeX document, or Markdown.

Only verified steps are typeset: rendering takes the ``Report`` of
``symce.verify.steps.check`` and refuses a derivation whose steps did not all pass,
unless ``allow_unverified=True``, which marks each such step in the output. Math
comes from ``printer``, words from ``prose``; this module only arranges them.
"""

from __future__ import annotations

import json
import re

import sympy

from ..errors import ProofError, UsageError
from ..model.derivation import Chain, Derivation, Step, whole_vector
from ..verify.steps import Evidence, Report, StepResult
from . import FORMATS
from .notation import latex_expr, printer_for
from .prose import escape_text, inline_prose, math_prose, prose_pieces, wrap_prose

__all__ = ["UnverifiedStepError", "render", "render_latex", "render_document", "render_markdown",
           "check_options", "repr_step", "repr_chain", "repr_derivation"]


class UnverifiedStepError(ProofError):
    """A step that did not pass was about to be typeset; ``step`` is its verdict."""

    def __init__(self, message: str, step: StepResult):
        super().__init__(message)
        self.step = step


# --- assembly ----------------------------------------------------------------

_UNVERIFIED = r"\textbf{(unverified)}"
_SMALL_K = r"\textbf{(only k up to 6)}"  # proved at every instance k <= 6, not for every k


def _step_verdicts(report: Report) -> dict[tuple[str, int], StepResult]:
    return {(r.chain, r.index): r for r in report.steps}


def _unverified(report: Report, all_k: bool = True):
    """Each step of the derivation that did not pass, with its verdict (None if never checked).

    ``all_k``: a step proved only for k <= 6 does not pass either (the default).
    """
    verdicts = _step_verdicts(report)
    for chain in report.derivation.chains:
        for n, _ in enumerate(chain.steps, start=1):
            r = verdicts.get((chain.name, n))
            if r is None or not r.passes(all_k=all_k):
                yield chain, n, r


def _describe(derivation: Derivation, chain: Chain, n: int, r: StepResult | None) -> str:
    reason = chain.steps[n - 1].reason
    verdict = "not checked" if r is None else r.evidence_text
    if r is not None and r.detail:
        verdict += f" ({r.detail})"
    return f"{derivation.path}, chain {chain.name!r}, step {n} ({reason!r}): {verdict}"


def _require_verified(report: Report, all_k: bool = True) -> None:
    for chain, n, r in _unverified(report, all_k):
        message = (_describe(report.derivation, chain, n, r) + "; only verified steps are typeset"
                   " (--allow-unverified, or allow_unverified=True, typesets it marked)")
        raise UnverifiedStepError(message, r)


REASON_WIDTH = 36  # characters per line of a reason; longer reasons are wrapped


def _chain_rows(chain: Chain, tex, unverified: set[int], fmt: str = "tex",
                derivation: Derivation | None = None, small_k: frozenset[int] = frozenset(),
                text_tex=None, options: dict | None = None) -> list[str]:
    """The rows of one align* block: ``lhs &= rhs && reason``.

    In LaTeX a reason is a top-aligned ``\\parbox`` that TeX itself fills and breaks.
    MathJax has no ``\\parbox``, so there a long reason is wrapped here at word
    boundaries into a top-aligned one-column array of ``\\text`` lines, or, with the
    ``stacked`` layout (for phones), set in rows of its own under its step. Math in a
    reason is printed by ``text_tex`` (fractions as in a line of text). A chain over a
    vector index (``vector = "i"``) ends with one more row, the whole vector (needs
    ``derivation`` for its assumptions). ``options``: ``numbered`` (a list holding the
    last equation number, advanced here) and ``layout``.
    """
    text_tex = text_tex or tex
    options = options or {}
    rows = []

    def add(row: str, parts: tuple, mark) -> None:
        number = options.get("numbered")
        if number is not None:
            number[0] += 1
        tag = "" if number is None else r" \tag{" + str(number[0]) + "}"
        if options.get("layout") == "stacked" and fmt != "tex":
            rows.append(row + tag)
            rows.extend(r"& \qquad {\small " + line + "}" for line in _reason_lines(parts, text_tex, mark))
        else:
            rows.append(row + _note(parts, text_tex, fmt, mark) + tag)

    for n, step in enumerate(chain.steps, start=1):
        lhs = tex(chain.start) + " " if n == 1 else ""
        mark = _UNVERIFIED if n in unverified else _SMALL_K if n in small_k else None
        if step.whole is not None:  # the whole matrix, its entry proved as this step
            lhs = tex(step.whole[0]) + " "
        add(lhs + "&= " + tex(step.expr if step.whole is None else step.whole[1]),
            prose_pieces(step.reason_parts, step.reason), mark)
    if chain.vector_index is not None and derivation is not None:
        lhs, entries, gaps, reason = _vector_line(chain, derivation)
        row = printer_for(derivation, markdown=fmt != "tex").row_vector(entries, gaps)
        mark = _UNVERIFIED if unverified else _SMALL_K if small_k else None
        add(tex(lhs) + " &= " + row, reason, mark)
    return rows


REASON_BOX = r"0.36\linewidth"  # width of a reason's \parbox in LaTeX; TeX breaks the lines


def _note(parts: tuple, tex, fmt: str, mark: str | None) -> str:
    """A reason beside its step, ``&& ...``, wrapped and marked as needed ("" if none)."""
    if fmt == "tex":
        text = inline_prose(parts, tex, "tex") if any(not isinstance(p, str) or p.strip() for p in parts) else ""
        if mark:
            text = (text + r" \quad " if text else "") + mark
        # [t]: the box's first line sits on the step's baseline, as by hand
        # \strut: the last line keeps its depth, so the next row's reason starts a line lower
        return r" && \parbox[t]{" + REASON_BOX + r"}{\raggedright " + text + r"\strut}" if text else ""
    notes = _reason_lines(parts, tex, mark)
    if len(notes) > 1:  # [t]: the first line beside its step, the rest below (MathJax knows it)
        notes = [r"\begin{array}[t]{l} " + r" \\ ".join(notes) + r" \end{array}"]
    return " && " + notes[0] if notes else ""


def _reason_lines(parts: tuple, tex, mark: str | None) -> list[str]:
    """A reason for MathJax, wrapped at word boundaries into ``\\text`` lines, the mark last."""
    notes = [math_prose(line, tex, "mathjax") for line in wrap_prose(parts, tex, REASON_WIDTH)]
    if mark:
        notes = notes[:-1] + [(notes[-1] + r" \quad " if notes else "") + mark]
    return notes


def _vector_line(chain: Chain, d: Derivation):
    """The whole vector a chain over ``vector = "i"`` proves, computed from its last expression.

    Each one-hot vector is written as ``KroneckerDelta(a, c)`` (as the checker reads it);
    the hot index ``c`` is the one-hot's, else the index that a ``KroneckerDelta(i, c)``
    singles out. Then ``i`` is put to 1, to ``c`` (if any) and to ``k``, and a delta between
    two of those is 0 (they are distinct for 1 < c < k) and 1 between equals.
    Returns (left side, entries, whether entries are left out between them, reason parts).
    """
    index, expr = chain.vector_index, chain.steps[-1].expr
    hot = None
    for a in d.assumptions:
        if a.kind == "onehot" and a.vector in d.symbols:
            base = d.symbols[a.vector]
            expr = expr.replace(lambda x, base=base: isinstance(x, sympy.Indexed) and x.base == base,
                                lambda x, c=a.index: sympy.KroneckerDelta(x.indices[0], c))
            if hot is None and a.index != index:
                hot = a.index
    if hot is None:  # no one-hot target: the class a delta singles out, if there is one
        singled = {x for delta in expr.atoms(sympy.KroneckerDelta) if index in delta.args
                   for x in delta.args if x != index and x in d.indices}
        hot = singled.pop() if len(singled) == 1 else None
    k = d.symbols["k"]
    places = [sympy.Integer(1)] + ([hot] if hot is not None else []) + [k]
    distinct = set(places)

    def entry(place):
        e = expr.xreplace({index: place})  # rebuilt with evaluation: KroneckerDelta(c, c) is 1
        return e.replace(lambda x: isinstance(x, sympy.KroneckerDelta) and set(x.args) <= distinct
                         and x.args[0] != x.args[1], lambda x: sympy.Integer(0))

    entries = [entry(p) for p in places]
    gaps = not (d.k is not None and d.k == len(places))
    first = sympy.Eq(index, places[0], evaluate=False)
    if hot is None:
        reason = ("entries ", first, " and ", k, "")
    else:
        between = sympy.And(sympy.Lt(1, hot, evaluate=False), sympy.Lt(hot, k, evaluate=False))
        reason = ("entries ", first, ", ", hot, ", ", k, ", for ", between, "")  # i = 1, c, k, for 1 < c < k
    return whole_vector(chain.start, index), entries, gaps, reason


def _align(rows: list[str], env: str = "align*") -> str:
    body = " \\\\\n".join("    " + row for row in rows)
    return "\\begin{" + env + "}\n" + body + "\n\\end{" + env + "}"


def _sections(report: Report, fmt: str, all_k: bool = True, options: dict | None = None) -> list[str]:
    """The document as a list of paragraphs: headings, sentences, display blocks.

    What the author wrote is printed in the author's order (``kept_order``); math in
    a heading or a line of text with its fractions as in text (``fractions="inline"``).
    """
    d = report.derivation
    options = dict(options or {})
    if options.get("numbered"):
        options["numbered"] = [0]  # the last equation number, advanced row by row
    else:
        options.pop("numbered", None)
    printer = printer_for(d, markdown=fmt != "tex")
    tex = printer.doprint
    written = printer_for(d, markdown=fmt != "tex", kept_order=True).doprint
    in_text = printer_for(d, markdown=fmt != "tex", kept_order=True, fractions="inline").doprint
    math = (lambda e: "$" + tex(e) + "$") if fmt == "tex" else (lambda e: "$$" + tex(e) + "$$")
    heading = (lambda text: r"\subsection*{" + escape_text(text) + "}") if fmt == "tex" else (
        lambda text: "### " + escape_text(text, "md"))
    display = (lambda block: block) if fmt == "tex" else (lambda block: "$$\n" + block + "\n$$")
    words = (lambda text: escape_text(text, fmt))

    out = []
    defs = [_defined(dn, d) for dn in d.definitions]
    rows = [tex(sympy.Function(f.name)(*f.params)) + " &= " + tex(f.body) for f in d.functions]
    rows += [tex(lhs) + " &= " + written(dn.body) for dn, lhs in zip(d.definitions, defs)]
    if rows:
        out.append(heading("Definitions"))
        out.append(display(_align(rows)))
    assumed = [_assumption(a, tex, math, words) for a in d.assumptions]
    if assumed:
        out.append(words("Assume") + " " + (words(",") + " " + words("and") + " ").join(assumed) + ".")
    bad = {}
    for chain, n, r in _unverified(report, all_k):
        bad.setdefault(chain.name, {})[n] = r
    small_k = {}  # steps shown only at k <= 6: typeset, but never as if proved for every k
    for r in report.steps:
        if r.evidence is Evidence.PROVED_SMALL_K and not all_k:  # with all_k: unverified
            small_k.setdefault(r.chain, set()).add(r.index)
    for chain in d.chains:
        if chain.title.strip():
            title = inline_prose(prose_pieces(chain.title_parts, chain.title), in_text, fmt)
            out.append(r"\subsection*{" + title + "}" if fmt == "tex" else "### " + title)
        if chain.case is not None:
            out.append(_case_label(math(chain.case.condition), fmt))
        out += [_paragraph(p, in_text, fmt) for p in chain.text]
        limited = frozenset(small_k.get(chain.name, ()))
        out.append(display(_align(_chain_rows(chain, written, set(bad.get(chain.name, {})), fmt, d, limited,
                                              in_text, options))))
        if limited:
            steps = ", ".join(str(n) for n in sorted(limited))
            out.append(words(f"Step{'s' if len(limited) > 1 else ''} {steps} of this chain "
                             f"{'are' if len(limited) > 1 else 'is'} proved at every instance up to k = 6, "
                             "not for every k."))
        for n, r in sorted(bad.get(chain.name, {}).items()):
            verdict = "it was not checked" if r is None else "its evidence: " + r.evidence_text
            step = chain.steps[n - 1]
            note = (words(f"Step {n} (") + inline_prose(prose_pieces(step.reason_parts, step.reason), in_text, fmt)
                    + words(f") is not verified; {verdict}."))
            if r is not None and r.feedback is not None and r.feedback.kind:
                note += " " + _feedback_note(r.feedback, in_text, words, fmt)
            out.append((r"\noindent\textbf{Unverified.} " if fmt == "tex" else "**Unverified.** ") + note)
        out += [_paragraph(p, in_text, fmt) for p in chain.text_after]
    return out


def _feedback_note(fb, tex, words, fmt) -> str:
    """What symce found about a failing step, in words and math (see ``verify.feedback``)."""
    def math(e):
        return " $" + tex(e) + "$ " if fmt == "tex" else " $$" + tex(e) + "$$ "
    if fb.kind == "negation":
        return words("It is the negative of the previous expression.")
    if fb.kind == "index_swap":
        return words("Its indices") + math(fb.term.lhs) + words("and") + math(fb.term.rhs) + words("are swapped.")
    if fb.kind == "factor":
        return words("The previous expression is") + math(fb.term) + words("times it.")
    if fb.term.could_extract_minus_sign():
        return words("It has the term") + math(-fb.term) + words("too many.")
    return words("It is missing the term") + math(fb.term).rstrip() + words(".")


def _paragraph(parts: tuple, tex, fmt: str) -> str:
    """A paragraph of the author's prose: words escaped for ``fmt``, math inline, and
    Markdown's ``**strong**`` and ``*emphasis*`` kept (as ``\\textbf``/``\\emph`` in LaTeX)."""
    text = inline_prose(parts, tex, fmt)
    if fmt == "md":
        return text.replace(r"\*", "*")  # the author's own Markdown emphasis
    text = re.sub(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", r"\\textbf{\1}", text)
    return re.sub(r"\*(?=\S)(.+?)(?<=\S)\*", r"\\emph{\1}", text)


def _case_label(condition: str, fmt: str) -> str:
    return (r"\noindent\textit{Case " + condition + ".}") if fmt == "tex" else "*Case " + condition + ".*"


def _defined(dn, d: Derivation):
    """The left-hand side of a definition: ``s_i`` for ``s[i]``, ``L`` for ``L``."""
    if dn.params:
        return sympy.IndexedBase(dn.name)[dn.params]
    return sympy.Symbol(dn.name)


def _assumption(a, tex, math, words) -> str:
    if a.kind == "onehot" and a.vector is not None and a.index is not None:
        return math(sympy.Symbol(a.vector)) + " " + words("is one-hot at") + " " + math(a.index)
    if a.kind == "simplex" and a.vector is not None:
        return math(sympy.Symbol(a.vector)) + " " + words("sums to") + " " + math(sympy.Integer(1))
    if a.relation is not None:  # a relation, or a fact (0 < p < 1, y in {0, 1})
        return math(a.relation)
    return words(a.text)


def _guard(text: str) -> str:
    """Fail loudly rather than hand Liquid a template tag."""
    for tag in ("{{", "{%"):
        if tag in text:
            at = text.index(tag)
            raise AssertionError(f"symce.typeset produced {tag!r} near {text[max(0, at - 30):at + 30]!r}")
    return text


_PREAMBLE = r"""\documentclass[11pt,PAPER]{article}
\usepackage{amsmath}
\usepackage{amssymb}
\setlength{\textwidth}{6.5in}
\setlength{\oddsidemargin}{0in}
\setlength{\evensidemargin}{0in}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5\baselineskip}
\ifdefined\pdfpagewidth \pdfpagewidth=\paperwidth \pdfpageheight=\paperheight \fi
\begin{document}
"""
PAPERS = {"letter": "letterpaper", "a4": "a4paper"}  # --paper; pdflatex takes the page size from the class


def check_options(format: str, standalone: bool = False, *, paper: str = "letter", front_matter: bool = False,
                  layout: str = "columns") -> None:
    """Refuse an unknown format, or a standalone document in a format other than tex.

    >>> check_options("md", standalone=True)
    Traceback (most recent call last):
    ...
    symce.errors.UsageError: --standalone makes a LaTeX document; it cannot be combined with format 'md'
    """
    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r}; expected one of: {', '.join(FORMATS)}")
    if standalone and format != "tex":
        raise UsageError(f"--standalone makes a LaTeX document; it cannot be combined with format {format!r}")
    if paper not in PAPERS:
        raise UsageError(f"unknown paper size {paper!r}; expected one of: {', '.join(PAPERS)}")
    if front_matter and format != "md":
        raise UsageError(f"--front-matter is Jekyll's, for format 'md'; it cannot be combined with format {format!r}")
    if layout not in ("columns", "stacked"):
        raise UsageError(f"unknown layout {layout!r}; expected one of: columns, stacked")
    if layout == "stacked" and format != "md":
        raise UsageError("--layout stacked is for MathJax pages (format 'md'); LaTeX wraps reasons beside their steps")


def render(report: Report, *, format: str = "tex", standalone: bool = False,
           allow_unverified: bool = False, all_k: bool = True, numbered: bool = False,
           paper: str = "letter", front_matter: bool = False, layout: str = "columns") -> str:
    """Typeset a checked derivation; the engine behind ``render_latex``/``render_document``/``render_markdown``.

    Raises ``UnverifiedStepError`` naming the first step that did not pass, unless
    ``allow_unverified``, which typesets such steps marked ``(unverified)`` (with what
    symce found about a failing one). Steps proved only for k <= 6 pass only with
    ``all_k=False``, marked ``(only k up to 6)``; by default they count as unverified.
    ``numbered``: every step gets an equation number; ``paper``: ``letter`` or ``a4``
    (standalone); ``front_matter``: Markdown starts with Jekyll front matter (title,
    layout, the file's ``date``); ``layout``: ``columns`` (reasons beside their steps)
    or ``stacked`` (Markdown only: each reason under its step, for narrow screens).
    """
    check_options(format, standalone, paper=paper, front_matter=front_matter, layout=layout)
    if not allow_unverified:
        _require_verified(report, all_k)
    d = report.derivation
    options = {"numbered": numbered, "layout": layout}
    if format == "md":
        title = ["## " + escape_text(d.title, "md")] if d.title.strip() and not front_matter else []
        head = [_front_matter(d)] if front_matter else []
        return _guard("\n\n".join(head + title + _sections(report, "md", all_k, options)) + "\n")
    body = "\n\n".join(_sections(report, "tex", all_k, options)) + "\n"
    if not standalone:
        return _guard(body)
    title = (r"\section*{" + escape_text(d.title) + "}\n\n") if d.title.strip() else ""
    return _guard(_PREAMBLE.replace("PAPER", PAPERS[paper]) + "\n" + title + body + "\n\\end{document}\n")


def _front_matter(d: Derivation) -> str:
    """Jekyll's front matter; YAML reads a JSON string, so the title is quoted as JSON."""
    lines = ["---", "layout: post", "title: " + json.dumps(d.title, ensure_ascii=False)]
    if d.date:
        lines.append(f"date: {d.date}")
    return "\n".join(lines + ["---"])


def render_latex(report: Report, *, allow_unverified: bool = False) -> str:
    """LaTeX fragments to paste into notes: a heading and an ``align*`` block per chain."""
    return render(report, format="tex", allow_unverified=allow_unverified)


def render_document(report: Report, *, allow_unverified: bool = False) -> str:
    """A complete LaTeX document that compiles with pdflatex using amsmath and amssymb only."""
    return render(report, format="tex", standalone=True, allow_unverified=allow_unverified)


def render_markdown(report: Report, *, allow_unverified: bool = False) -> str:
    """Markdown for Jekyll/kramdown with MathJax: ``$$`` blocks set off by blank lines."""
    return render(report, format="md", allow_unverified=allow_unverified)


# --- Jupyter ----------------------------------------------------------------

def repr_step(step: Step) -> str:
    """``Step._repr_latex_``: ``= expr`` with its reason, as one display."""
    reason = math_prose(prose_pieces(step.reason_parts, step.reason), latex_expr, "tex")
    return "$\\displaystyle = " + latex_expr(step.expr) + (r" \qquad " + reason if reason else "") + "$"


def repr_chain(chain: Chain, derivation: Derivation | None = None) -> str:
    """``Chain._repr_latex_``: the chain as one ``aligned`` display (not verified here)."""
    rows = _chain_rows(chain, printer_for(derivation).doprint, set(), derivation=derivation)
    return "$\\displaystyle " + _align(rows, "aligned") + "$"


def repr_derivation(derivation: Derivation) -> str:
    """``Derivation._repr_latex_``: every chain, titled, in one ``aligned`` display."""
    tex = printer_for(derivation).doprint
    rows = []
    for chain in derivation.chains:
        label = chain.title.strip() and "&" + math_prose(
            prose_pieces(chain.title_parts, chain.title), tex, "tex", command=r"\textbf")
        if chain.case is not None:
            label = (label + r" \quad " if label else "&") + r"\text{Case } " + tex(chain.case.condition)
        rows += ([label] if label else []) + _chain_rows(chain, tex, set(), derivation=derivation)
    return "$\\displaystyle " + _align(rows, "aligned") + "$"

