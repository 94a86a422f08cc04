r"""Document assembly: verified chains as ``align*`` fragments, a LaTeX document, or Markdown.

Only verified steps are typeset: rendering takes the ``Report`` of
``symce.verify.steps.check`` and refuses a derivation whose steps did not all pass,
unless ``allow_unverified=True``, which marks each such step in the output. Math
comes from ``printer``, words from ``prose``; this module only arranges them.
"""

from __future__ import annotations

import sympy

from ..errors import ProofError, UsageError
from ..model.derivation import Chain, Derivation, Step, whole_vector
from ..verify.steps import Evidence, Report, StepResult
from . import FORMATS
from .printer import latex_expr, printer_for
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
                derivation: Derivation | None = None, small_k: frozenset[int] = frozenset()) -> list[str]:
    """The rows of one align* block: ``lhs &= rhs && \\text{reason}``.

    Math mode cannot wrap text (and MathJax has no ``\\parbox``), so a long reason
    is wrapped here at word boundaries into a one-column array of ``\\text`` lines,
    top-aligned with its step in LaTeX. A chain over a vector index (``vector = "i"``)
    ends with one more row, the whole vector (needs ``derivation`` for its assumptions).
    """
    rows = []
    for n, step in enumerate(chain.steps, start=1):
        lhs = tex(chain.start) + " " if n == 1 else ""
        mark = _UNVERIFIED if n in unverified else _SMALL_K if n in small_k else None
        note = _note(prose_pieces(step.reason_parts, step.reason), tex, fmt, mark)
        if step.whole is not None:  # the whole matrix, its entry proved as this step
            lhs = tex(step.whole[0]) + " "
        rows.append(lhs + "&= " + tex(step.expr if step.whole is None else step.whole[1]) + note)
    if chain.vector_index is not None and derivation is not None:
        lhs, entries, gaps, reason = _vector_line(chain, derivation)
        row = printer_for(derivation, markdown=fmt != "tex").row_vector(entries, gaps)
        mark = _UNVERIFIED if unverified else _SMALL_K if small_k else None
        rows.append(tex(lhs) + " &= " + row + _note(reason, tex, fmt, mark))
    return rows


def _note(parts: tuple, tex, fmt: str, mark: str | None) -> str:
    """A reason beside its step, ``&& \\text{...}``, wrapped and marked as needed ("" if none)."""
    lines = wrap_prose(parts, tex, REASON_WIDTH)
    notes = [math_prose(line, tex, "tex" if fmt == "tex" else "mathjax") for line in lines]
    if len(notes) == 1 and any(tall in notes[0] for tall in (r"\frac", r"\sum")):
        notes[0] = r"\textstyle " + notes[0]  # a reason's fraction is set small, as in a line of text
    if mark:
        notes = notes[:-1] + [(notes[-1] + r" \quad " if notes else "") + mark]
    if len(notes) > 1:
        head = r"\begin{array}[t]{@{}l@{}} " if fmt == "tex" else r"\begin{array}{l} "
        notes = [head + r" \\ ".join(notes) + r" \end{array}"]
    return " && " + notes[0] if notes else ""


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


def _sections(report: Report, fmt: str, all_k: bool = True) -> list[str]:
    """The document as a list of paragraphs: headings, sentences, display blocks."""
    d = report.derivation
    printer = printer_for(d, markdown=fmt != "tex")
    tex = printer.doprint
    math = (lambda e: "$" + tex(e) + "$") if fmt == "tex" else (lambda e: "$$" + tex(e) + "$$")
    heading = (lambda text: r"\subsection*{" + escape_text(text) + "}") if fmt == "tex" else (
        lambda text: "### " + escape_text(text, "md"))
    display = (lambda block: block) if fmt == "tex" else (lambda block: "$$\n" + block + "\n$$")
    words = (lambda text: escape_text(text, fmt))

    out = []
    defs = [_defined(dn, d) for dn in d.definitions]
    rows = [tex(sympy.Function(f.name)(*f.params)) + " &= " + tex(f.body) for f in d.functions]
    rows += [tex(lhs) + " &= " + tex(dn.body) for dn, lhs in zip(d.definitions, defs)]
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
            title = inline_prose(prose_pieces(chain.title_parts, chain.title), tex, fmt)
            out.append(r"\subsection*{" + title + "}" if fmt == "tex" else "### " + title)
        if chain.case is not None:
            out.append(_case_label(math(chain.case.condition), fmt))
        limited = frozenset(small_k.get(chain.name, ()))
        out.append(display(_align(_chain_rows(chain, tex, set(bad.get(chain.name, {})), fmt, d, limited))))
        if limited:
            steps = ", ".join(str(n) for n in sorted(limited))
            out.append(words(f"Step{'s' if len(limited) > 1 else ''} {steps} of this chain "
                             f"{'are' if len(limited) > 1 else 'is'} proved at every instance up to k = 6, "
                             "not for every k."))
        for n, r in sorted(bad.get(chain.name, {}).items()):
            verdict = "it was not checked" if r is None else "its evidence: " + r.evidence_text
            step = chain.steps[n - 1]
            note = (words(f"Step {n} (") + inline_prose(prose_pieces(step.reason_parts, step.reason), tex, fmt)
                    + words(f") is not verified; {verdict}."))
            out.append((r"\noindent\textbf{Unverified.} " if fmt == "tex" else "**Unverified.** ") + note)
    return out


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


_PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage{amsmath}
\usepackage{amssymb}
\setlength{\textwidth}{6.5in}
\setlength{\oddsidemargin}{0in}
\setlength{\evensidemargin}{0in}
\setlength{\parindent}{0pt}
\setlength{\parskip}{0.5\baselineskip}
\begin{document}
"""


def check_options(format: str, standalone: bool = False) -> None:
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


def render(report: Report, *, format: str = "tex", standalone: bool = False,
           allow_unverified: bool = False, all_k: bool = True) -> str:
    """Typeset a checked derivation; the engine behind ``render_latex``/``render_document``/``render_markdown``.

    Raises ``UnverifiedStepError`` naming the first step that did not pass, unless
    ``allow_unverified``, which typesets such steps marked ``(unverified)``. Steps
    proved only for k <= 6 pass only with ``all_k=False``, marked ``(only k up to 6)``; by default they
    count as unverified.
    """
    check_options(format, standalone)
    if not allow_unverified:
        _require_verified(report, all_k)
    d = report.derivation
    if format == "md":
        title = ["## " + escape_text(d.title, "md")] if d.title.strip() else []
        return _guard("\n\n".join(title + _sections(report, "md", all_k)) + "\n")
    body = "\n\n".join(_sections(report, "tex", all_k)) + "\n"
    if not standalone:
        return _guard(body)
    title = (r"\section*{" + escape_text(d.title) + "}\n\n") if d.title.strip() else ""
    return _guard(_PREAMBLE + "\n" + title + body + "\n\\end{document}\n")


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

