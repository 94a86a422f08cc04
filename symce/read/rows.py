r"""One display block of a notes file -> chains: rows split, reasons set aside, vector rows unrolled.

A block's rows (``align*``/``aligned`` rows split on ``\\``, or one line ``a = b = c``)
are joined by ``=``: the first row's left side starts the chain and each later
``= x`` is a step. A row with a left side of its own starts another chain in the
same block. A column after ``&&`` or ``\quad``, or a ``\text{...}`` ending a row, is
the step's reason.

Whole vectors (``\mathbf{z}``) are read entry by entry: ``dL/dz = ...`` is checked
as ``dL/dz_i = ...`` for an index ``i`` the block does not use. A row whose right
side is a ``bmatrix`` or ``pmatrix`` with dots is checked entry by entry: its cells
stand at positions ``1, 2, ..., c, ..., k`` (the hot index ``c`` of the one-hot
assumption in the middle), and each entry is its own small chain under the case
that places it (``c != 1``; nothing for ``c``; ``c != k``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy

from ..errors import DerivationFormatError
from ..model.derivation import Case, Chain, Step
from .tex import Reading, Source, Tok, parse
from .texforms import MATRIX

ENVIRONMENTS = ("align", "align*", "aligned", "equation", "equation*", "split")
_RELATIONS = ("le", "leq", "ge", "geq", "approx", "propto", "equiv", "sim", "simeq", "neq", "ne", "lt", "gt")
_UNITS = ("pt", "em", "ex", "mm", "cm", "in", "bp", "pc", "dd", "cc", "sp")  # TeX lengths, as in \\[4pt]
ENTRY = sympy.Symbol("_entry", integer=True, positive=True)  # stands for a whole vector's entry while reading


@dataclass
class Part:
    """One side of an ``=`` as written: its tokens, where its ``=`` is, and the row's reason."""

    toks: list[Tok]
    line: int  # line of the '=' before it (of the row's start for the left side)
    reason: str = ""
    reason_toks: list = field(default_factory=list)  # the reason column's tokens, for its math
    reading: Reading | None = None
    positions: tuple = ()  # for a vector row: the position of each shown cell


@dataclass
class Block:
    """What the file scan found: a display block and what controls it."""

    name: str  # the chain name: the annotation's, or "block N"
    start: int  # offset of the block's content in the file
    end: int
    line: int  # line of the block's first row
    case: Case | None = None
    notes: list[str] = field(default_factory=list)


def rows_of(src: Source, toks: list[Tok], block: Block) -> list[list[Tok]]:
    """The block's rows: its environment taken off, split on ``\\\\`` outside groups."""
    toks = _unwrap(src, toks, block)
    rows, current, open_ = [], [], []
    skip = set()
    for n, t in enumerate(toks):
        if n in skip:
            continue
        if (t.kind == "sym" and t.text == "{") or t.kind == "begin":
            open_.append(t)
        elif (t.kind == "sym" and t.text == "}") or t.kind == "end":
            if not open_:
                raise src.error(t.start, "a '{' or \\begin before this", t.shown())
            opener = open_.pop()
            if (opener.kind == "begin") != (t.kind == "end") or (t.kind == "end" and t.text != opener.text):
                closer = "'}'" if opener.kind == "sym" else f"\\end{{{opener.text}}}"
                raise src.error(t.start, f"{closer} to close the {opener.shown()} at "
                                f"{src.at(opener.start).split(', ', 1)[1]}", t.shown())
        if not open_ and t.kind == "cmd" and t.text == "\\":
            rows.append(current)
            current = []
            skip |= _row_spacing(toks, n + 1)
        else:
            current.append(t)
    if open_:
        closer = "'}'" if open_[-1].kind == "sym" else f"\\end{{{open_[-1].text}}}"
        raise src.error(open_[-1].start, f"{closer} to close this {open_[-1].shown()}", "the end of the block")
    rows.append(current)
    return [r for r in rows if r]


def _row_spacing(toks: list[Tok], n: int) -> set[int]:
    """The positions of a ``[4pt]`` spacing argument right after ``\\``, if there is one."""
    if not (n < len(toks) and toks[n].kind == "sym" and toks[n].text == "["):
        return set()
    m = n + 1
    while m < len(toks) and (toks[m].kind in ("num", "letter") or toks[m].text == "."):
        m += 1
    size = toks[n + 1:m]
    unit = "".join(t.text for t in size if t.kind == "letter")
    if m < len(toks) and toks[m].text == "]" and size and size[0].kind == "num" and unit in _UNITS \
            and all(t.kind == "letter" for t in size[1:]):
        return set(range(n, m + 1))
    return set()


def _unwrap(src: Source, toks: list[Tok], block: Block) -> list[Tok]:
    while toks and toks[0].kind == "begin":
        env = toks[0].text
        if env in ("bmatrix", "pmatrix"):
            break
        if env not in ENVIRONMENTS:
            raise src.error(toks[0].start, "align, align*, aligned, equation or equation*", f"\\begin{{{env}}}")
        if not (toks[-1].kind == "end" and toks[-1].text == env):
            raise src.error(toks[0].start, f"\\end{{{env}}} closing the block",
                            toks[-1].shown() if len(toks) > 1 else "the end of the block")
        toks = toks[1:-1]
    if not toks:
        raise src.error(block.start, "an equation in the display block", "an empty block")
    return toks


def parts_of(src: Source, rows: list[list[Tok]]) -> list[list[Part]]:
    """Each row's sides split on '=', reasons set aside; a row with a left side starts a new group."""
    groups: list[list[Part]] = []
    for row in rows:
        row, reason_toks = _reason(src, row)
        reason = _words(src, reason_toks)
        row = _alignment(src, row)
        while row and row[-1].kind == "sym" and row[-1].text in ",.;":
            row = row[:-1]  # a sentence's punctuation after the math
        sides = _split_equals(src, row)
        if len(sides) == 1:
            if groups and row and row[0].kind == "sym" and row[0].text in "+-":
                groups[-1][-1].toks = groups[-1][-1].toks + row  # a long right side, continued
                if reason:
                    groups[-1][-1].reason, groups[-1][-1].reason_toks = reason, reason_toks
                continue
            raise src.error(row[0].start, "'=' in the row (each row of a block is a step)",
                            "a row without one")
        (lhs, lhs_line), rest = sides[0], sides[1:]
        if lhs:
            groups.append([Part(lhs, lhs_line)])
        elif not groups:
            raise src.error(rest[0][0][0].start if rest[0][0] else row[0].start,
                            "a left side before the first '='", "'='")
        for toks, line in rest:
            if not toks:
                raise src.error(row[-1].end, "an expression after '='", "nothing")
            groups[-1].append(Part(toks, line))
        groups[-1][-1].reason, groups[-1][-1].reason_toks = reason, reason_toks
        if len(groups[-1]) < 2:
            raise src.error(row[0].start, "'=' and a right side", "a left side alone")
    return groups


def _depths(toks: list[Tok]):
    depth = 0
    for n, t in enumerate(toks):
        if t.kind == "sym" and t.text in "{([":
            depth += 1
        elif t.kind == "sym" and t.text in "})]":
            depth -= 1
        elif t.kind == "begin":
            depth += 1
        elif t.kind == "end":
            depth -= 1
        yield n, t, depth


def _reason(src: Source, row: list[Tok]) -> tuple[list[Tok], list[Tok]]:
    seen_equals = False
    for n, t, depth in _depths(row):
        if depth:
            continue
        if t.kind == "sym" and t.text == "=":
            seen_equals = True
        last = row[n - 1] if n else None
        after_math = seen_equals and last is not None and not (last.kind == "sym" and last.text in "=&")
        if t.kind == "sym" and t.text == "&" and n + 1 < len(row) and row[n + 1].kind == "sym" and row[n + 1].text == "&":
            return row[:n], row[n + 2:]
        if t.kind == "cmd" and t.text in ("quad", "qquad") and after_math:
            return row[:n], row[n + 1:]
        if t.kind == "cmd" and t.text in ("text", "textrm", "mbox") and after_math and _ends_with_group(row, n):
            return row[:n], row[n:]
    return row, []


def _ends_with_group(row: list[Tok], n: int) -> bool:
    if n + 1 >= len(row) or row[n + 1].text != "{":
        return False
    depth = 0
    for m in range(n + 1, len(row)):
        depth += {"{": 1, "}": -1}.get(row[m].text, 0) if row[m].kind == "sym" else 0
        if depth == 0:
            return all(t.kind == "sym" and t.text in ",.;" for t in row[m + 1:])
    return False


def _words(src: Source, toks: list[Tok]) -> str:
    """A reason as the author wrote it, its ``\\text{...}`` wrappers taken off."""
    if not toks:
        return ""
    text = src.text[toks[0].start:toks[-1].end]
    text = re.sub(r"\\(?:text|textrm|mbox)\s*\{([^{}]*)\}", r"\1", text)
    return " ".join(text.split())


def _alignment(src: Source, row: list[Tok]) -> list[Tok]:
    marks = [n for n, t, depth in _depths(row) if depth == 0 and t.kind == "sym" and t.text == "&"]
    if len(marks) > 1:
        raise src.error(row[marks[1]].start, "one '&' (the alignment point) before a reason column",
                        "another '&'")
    return [t for n, t in enumerate(row) if n not in marks]


def _split_equals(src: Source, row: list[Tok]) -> list[tuple[list[Tok], int]]:
    sides, start, line = [], 0, src.line(row[0].start) if row else 0
    for n, t, depth in _depths(row):
        if depth:
            continue
        if t.kind == "cmd" and t.text in _RELATIONS or (t.kind == "sym" and t.text in "<>"):
            raise src.error(t.start, "'=' (symce checks equalities)", t.shown())
        if t.kind == "sym" and t.text == "=":
            sides.append((row[start:n], line))
            start, line = n + 1, src.line(t.start)
    sides.append((row[start:], line))
    return sides


# --- parts to chains ------------------------------------------------------------

def chains_of(src: Source, group: list[Part], name: str, block: Block, decl, notes: list[str]) -> list[Chain]:
    """The chains one group of a block stands for (several when it has vector rows)."""
    for n, part in enumerate(group):
        end = part.toks[-1].end
        part.reading = parse(src, part.toks, decl.scope, end=end, entry=ENTRY, matrix=n > 0)
        if part.reading.cells is not None:
            part.positions = _positions(src, part, decl)
    matrices = [p for p in group if p.reading.cells is not None]
    if matrices and block.case is not None:
        raise src.error(matrices[0].toks[0].start, "no vector row in a block checked under a case",
                        f"a vector row under the case {block.case.label}")
    spare = _spare_index(src, group, decl, block) if any(p.reading.used_entry for p in group) else None
    out, formula, entries = [], None, {}
    previous = group[0]
    if previous.reading.cells is None:
        formula = [previous]
    for n, part in enumerate(group[1:], start=1):
        if previous.reading.cells is None and part.reading.cells is None:
            formula.append(part)
        else:
            if formula is not None and len(formula) > 1:
                out.append(_formula_chain(src, formula, _unique(name, out), block, spare, decl.scope))
            formula = None
            entries = _entry_steps(src, previous, part, entries, decl)
            if part.reading.cells is None:
                formula = [part]
                out.extend(_entry_chains(src, entries, name, out, decl))
                entries = {}
        previous = part
    if formula is not None and len(formula) > 1:
        out.append(_formula_chain(src, formula, _unique(name, out), block, spare, decl.scope))
    out.extend(_entry_chains(src, entries, name, out, decl))
    for part in matrices:
        shown = ", ".join(map(str, part.positions))
        notes.append(f"line {src.line(part.toks[0].start)}: vector row checked entry by entry, "
                     f"entries {shown} ({' < '.join(map(str, part.positions))})")
    if spare is not None:
        notes.append(f"line {block.line}: whole vectors read entry by entry, as entry {spare}")
    return out


def _unique(base: str, chains: list) -> str:
    """``base``, or ``base (2)``, ``base (3)``... when a chain already has that name."""
    taken = {c.name for c in chains}
    if base not in taken:
        return base
    m = 2
    while f"{base} ({m})" in taken:
        m += 1
    return f"{base} ({m})"


def _formula_chain(src: Source, parts: list[Part], name: str, block: Block, spare, scope) -> Chain:
    def expr(part):
        e = part.reading.expr
        return e.xreplace({ENTRY: spare}) if spare is not None else e

    steps = tuple(Step(expr=expr(p), reason=p.reason, source=_text(src, p), line=p.line,
                       reason_parts=reason_parts(src, p.reason_toks, scope)) for p in parts[1:])
    return Chain(name=name, title="", start=expr(parts[0]), start_source=_text(src, parts[0]),
                 steps=steps, case=block.case)


def _text(src: Source, part: Part) -> str:
    return " ".join(src.text[part.toks[0].start:part.toks[-1].end].split())


def _entry_steps(src: Source, before: Part, after: Part, entries: dict, decl) -> dict:
    """One step per shown position, from ``before`` at that position to ``after`` at it."""
    positions = after.positions or before.positions
    if before.positions and after.positions and before.positions != after.positions:
        raise src.error(after.toks[0].start, f"the entries {', '.join(map(str, before.positions))} "
                        "of the row above", f"entries {', '.join(map(str, after.positions))}")
    for p in (before, after):
        if p.reading.cells is None and not p.reading.used_entry:
            raise src.error(p.toks[0].start, "a whole vector (such as \\mathbf{z}) beside a vector row",
                            "an expression with no whole vector")
    new = {}
    for n, pos in enumerate(positions):
        lhs, _ = _at(src, before, n, pos)
        rhs, line = _at(src, after, n, pos)
        start, steps = entries.get(pos, (lhs, []))
        factor = after.reading.cells is not None and _factor(src, after) != 1
        new[pos] = (start, steps + [Step(expr=rhs, reason=after.reason, source=_text(src, after), line=line,
                                         reason_parts=reason_parts(src, after.reason_toks, decl.scope),
                                         factor_line=src.line(after.toks[0].start) if factor else None)])
    return new


def _at(src: Source, part: Part, n: int, pos) -> tuple[sympy.Basic, int]:
    """Part ``part`` at position ``pos`` (the n-th shown), and the line it is written on."""
    if part.reading.cells is None:
        return part.reading.expr.xreplace({ENTRY: pos}), part.line
    cell = [c for c in part.reading.cells if c.expr is not None][n]
    factor = _factor(src, part)
    value = cell.expr if factor == 1 else sympy.Mul(factor, cell.expr, evaluate=False)
    return value, src.line(cell.offset)


def _factor(src: Source, part: Part) -> sympy.Basic:
    """The scalar in front of the matrix: ``c M`` -> c, ``M`` -> 1, ``-M`` -> -1."""
    e = part.reading.expr
    if e == MATRIX:
        return sympy.Integer(1)
    factors = _flat_mul(e)
    if factors.count(MATRIX) == 1 and all(not f.has(MATRIX) for f in factors if f is not MATRIX):
        rest = [f for f in factors if f is not MATRIX]
        return rest[0] if len(rest) == 1 else sympy.Mul(*rest, evaluate=False)
    raise src.error(part.toks[0].start, "a scalar factor times the matrix (c \\begin{bmatrix}...)",
                    "the matrix inside a sum or a quotient")


def _flat_mul(e: sympy.Basic) -> list:
    if isinstance(e, sympy.Mul):
        return [f for a in e.args for f in _flat_mul(a)]
    return [e]


def _positions(src: Source, part: Part, decl) -> tuple:
    """Shown positions: ``a_1, a_2, ..., a_c, ..., a_k`` -> (1, 2, c, k)."""
    cells = part.reading.cells
    dots = [n for n, c in enumerate(cells) if c.expr is None]
    k = decl.scope.objects["k"]
    where = cells[0].offset
    shape = "entries 1, 2, ..., c, ..., k (a head from 1, dots, the correct class c, dots, the last)"
    if not dots:
        if k.is_Integer and len(cells) == k:
            return tuple(sympy.Integer(n) for n in range(1, len(cells) + 1))
        raise src.error(where, f"dots in a vector of k entries ({shape})", f"{len(cells)} entries and no dots")
    head = dots[0]
    tail = cells[dots[-1] + 1:]
    if head == 0 or len(tail) != 1 or any(b - a != 2 for a, b in zip(dots, dots[1:])) or len(dots) > 2:
        raise src.error(where, shape, f"{len(cells)} cells with dots at "
                        f"{', '.join(str(d + 1) for d in dots)}")
    positions = [sympy.Integer(n) for n in range(1, head + 1)]
    if len(dots) == 2:
        hot = decl.hot
        if hot is None:
            raise src.error(cells[dots[0] + 1].offset, "a one-hot assumption naming the correct class "
                            "(the middle entry stands at it)", "none")
        positions.append(hot)
    positions.append(k)
    if k.is_Integer and k < head + len(dots):
        raise src.error(where, f"k of at least {head + len(dots)} for {shape}", f"k = {k}")
    return tuple(positions)


def _entry_chains(src: Source, entries: dict, name: str, out: list, decl) -> list[Chain]:
    chains = []
    hot = decl.hot
    for pos, (start, steps) in entries.items():
        case = None
        if hot is not None and pos != hot:
            case = Case(name=f"{hot} != {pos}", label=f"{hot} != {pos}", condition=sympy.Ne(hot, pos))
        chain_name = _unique(f"{name}, entry {pos}", out + chains)
        chains.append(Chain(name=chain_name, title="", start=start, start_source="", steps=tuple(steps), case=case))
    return chains


def _spare_index(src: Source, group: list[Part], decl, block: Block) -> sympy.Symbol:
    """A declared index the block and its case do not use, to stand for the entry of its whole vectors.

    Not one of the case's indices: under "i != c" a whole vector means every entry, not those off c.
    """
    used = {x.name for x in block.case.condition.free_symbols} if block.case is not None else set()
    for part in group:
        used |= {s.name for s in part.reading.expr.atoms(sympy.Symbol)}
        for cell in part.reading.cells or ():
            if cell.expr is not None:
                used |= {s.name for s in cell.expr.atoms(sympy.Symbol)}
    for index in decl.loader.indices:
        if index.name not in used and index != decl.hot:
            return index
    raise DerivationFormatError(f"{src.at(group[0].toks[0].start)}: expected a declared index that this "
                                "block does not use, to stand for the entries of its whole vectors, found none: "
                                "it uses every declared index (declare one more, or write entries such as z_i)")


def reason_parts(src: Source, toks: list[Tok], scope) -> tuple:
    r"""A reason column as text and math alternating, for the typesetter; () when its math cannot be read.

    ``\text{only } \mathbf{y}_{c} \text{ is one}`` -> ("only ", y[c], " is one"). A one-column
    ``array`` of text lines (as ``symce latex`` wraps long reasons) is read line after line.
    """
    out: list = [""]
    run: list[Tok] = []

    def flush() -> bool:
        if run:
            try:
                out.append(_reason_math(src, run, scope))
            except DerivationFormatError:
                return False
            out.append("")
            run.clear()
        return True

    n = 0
    while n < len(toks):
        t = toks[n]
        if t.kind in ("begin", "end") and t.text == "array":
            n += 1
            if t.kind == "begin" and n + 2 < len(toks) and toks[n].text == "{":
                n += 3  # the column spec {l}
            continue
        if t.kind == "cmd" and t.text == "\\":
            if not flush():
                return ()
            out[-1] += " "
            n += 1
            continue
        if t.kind == "cmd" and t.text in ("text", "textrm", "mbox") and n + 1 < len(toks) and toks[n + 1].text == "{":
            depth, m = 0, n + 1
            while m < len(toks):
                depth += {"{": 1, "}": -1}.get(toks[m].text, 0) if toks[m].kind == "sym" else 0
                if depth == 0:
                    break
                m += 1
            if not flush() or m >= len(toks):
                return ()
            out[-1] += src.text[toks[n + 1].end:toks[m].start]
            n = m + 1
            continue
        run.append(t)
        n += 1
    if not flush():
        return ()
    return tuple(out) if len(out) > 1 else ()


def _reason_math(src: Source, toks: list[Tok], scope) -> sympy.Basic:
    """One piece of math in a reason; a single top-level ``=`` or ``\neq`` makes it a relation."""
    splits = [n for n, t, depth in _depths(toks) if depth == 0
              and ((t.kind == "sym" and t.text == "=") or (t.kind == "cmd" and t.text in ("neq", "ne")))]
    if len(splits) > 1:
        raise src.error(toks[splits[1]].start, "at most one relation in a piece of a reason", "another")
    if not splits:
        return parse(src, toks, scope, end=toks[-1].end).expr
    n = splits[0]
    if n == 0 or n == len(toks) - 1:
        raise src.error(toks[n].start, "two sides of a relation", "one")
    lhs = parse(src, toks[:n], scope, end=toks[n].start).expr
    rhs = parse(src, toks[n + 1:], scope, end=toks[-1].end).expr
    return (sympy.Eq if toks[n].kind == "sym" else sympy.Ne)(lhs, rhs, evaluate=False)
