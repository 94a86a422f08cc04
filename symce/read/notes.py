r"""Read a Markdown post or a ``.tex`` note and build the ``Derivation`` its display blocks state.

Lecturers write derivations in LaTeX where they publish them. This module finds
the display blocks (Markdown: ``$$ ... $$`` standing on its own lines, ``\[ ... \]``,
a fenced ``math`` block; LaTeX: ``align``, ``align*``, ``equation``, ``equation*``,
``\[ \]``), what controls each (``<!-- symce: case i = c -->``, ``skip``, ``name``;
in ``.tex`` the same after ``% symce:``), the case a sentence just before a block
states ("If $$i = c$$ then we have"), and the declarations (the ``symce`` key of the
YAML front matter, a ``% symce:`` comment block, or a sidecar file). ``rows.py``
turns each block into chains; ``tex.py`` reads the math. Every line number in a
report is the line of the notes file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ..errors import DerivationFormatError, UnsafeExpressionError
from ..model.derivation import Derivation
from .declare import Declarations, case_from, declarations, yaml_mapping
from .rows import Block, chains_of, parts_of, rows_of
from .tex import Source, tokenize
from .bounds import MAX_FILE_TOKENS, Budget
from .files import read_text
from .toml import MAX_FILE_BYTES, MAX_STEPS, load_derivation

SUFFIXES = (".md", ".markdown", ".tex")
_TRIGGERS = ("if", "for", "when", "whenever", "case", "in the case", "in case", "suppose", "for the case")
_DOUBT = re.compile(r"\b(not|or|and|unless|otherwise|except|nor|neither|both|all|any)\b", re.I)
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)", re.S)
_ANNOTATION = re.compile(r"(case|skip|name)\b[ \t]*(.*)", re.S)


def is_notes(path: str) -> bool:
    """Whether ``path`` names a notes file (Markdown or LaTeX) rather than a TOML derivation."""
    return os.fspath(path).lower().endswith(SUFFIXES)


def load_any(path: str | os.PathLike, declarations_path: str | None = None) -> Derivation:
    """A derivation file of either kind: TOML, or a notes file with its declarations."""
    path = os.fspath(path)
    if is_notes(path):
        return load_notes(path, declarations_path)
    return load_derivation(path)


def load_notes(path: str | os.PathLike, declarations_path: str | None = None) -> Derivation:
    """Read the notes file at ``path``; ``declarations_path`` is a sidecar YAML file, if any."""
    path = os.fspath(path)
    text = read_text(path, MAX_FILE_BYTES)
    sidecar = None if declarations_path is None else (read_text(declarations_path, MAX_FILE_BYTES), declarations_path)
    return loads_notes(text, path=path, sidecar=sidecar)


@dataclass
class _Found:
    """A display block as the scan found it, before its math is read."""

    start: int  # offset of its content
    end: int
    annotations: list  # (directive text, offset)
    prose: tuple[int, int] | None  # the paragraph just before it: (start, end) offsets


def loads_notes(text: str, *, path: str = "<string>", sidecar: tuple[str, str] | None = None) -> Derivation:
    """Notes text already in memory; ``sidecar`` is (YAML text, its path) when given."""
    if len(text) > MAX_FILE_BYTES:
        raise UnsafeExpressionError(f"{path}: text is {len(text)} characters (at most {MAX_FILE_BYTES})")
    src = Source(text, path)
    tex = path.lower().endswith(".tex")
    own, found, title = _scan_tex(src) if tex else _scan_md(src)
    if own is not None and sidecar is not None:
        raise DerivationFormatError(f"{path}: expected declarations in one place, found them in the file "
                                    f"and in --declarations {sidecar[1]}")
    if own is None and sidecar is None:
        where = "a '% symce:' comment block" if tex else "a 'symce' key in the YAML front matter"
        raise DerivationFormatError(f"{path}: expected declarations ({where}, or --declarations FILE), found none")
    data, where = own if own is not None else (yaml_mapping(sidecar[0], sidecar[1]), sidecar[1])
    decl = declarations(data, where)
    if not found:
        raise DerivationFormatError(f"{path}: expected at least one display block to check, found none")
    chains, notes, names, budget = [], [], set(), Budget(MAX_FILE_TOKENS, "LaTeX tokens")
    for number, block in enumerate(found, start=1):
        control = _control(src, block, decl, number, names)
        if control is None:
            continue
        toks = tokenize(src, block.start, block.end)
        budget.spend(len(toks), src.at(block.start))  # each block is capped; so are all of them (load time)
        groups = parts_of(src, rows_of(src, toks, control))
        for g, group in enumerate(groups):
            name = control.name if g == 0 else f"{control.name}, equation {g + 1}"
            chains += chains_of(src, group, name, control, decl, notes)
        notes += control.notes
        if sum(len(c.steps) for c in chains) > MAX_STEPS:
            raise DerivationFormatError(f"{path}: more than {MAX_STEPS} steps in the file")
    if not chains:
        raise DerivationFormatError(f"{path}: expected a display block to check, found every one skipped")
    cases = dict(decl.cases)
    for chain in chains:
        if chain.case is not None:
            cases.setdefault(chain.case.name, chain.case)
    loader = decl.loader
    return Derivation(path=path, title=decl.title or title or os.path.basename(path), k=loader.k,
                      symbols=dict(loader.names), vectors=tuple(loader.vectors), indices=tuple(loader.indices),
                      definitions=decl.definitions, assumptions=decl.assumptions, cases=tuple(cases.values()),
                      chains=tuple(chains), notation=decl.notation, notes=tuple(notes))


def _control(src: Source, found: _Found, decl: Declarations, number: int, names: set) -> Block | None:
    """The block with its name and case, from its annotations or the sentence before it; None: skipped."""
    line = src.line(found.start + len(src.text[found.start:found.end]) - len(src.text[found.start:found.end].lstrip()))
    block = Block(name=f"block {number}", start=found.start, end=found.end, line=line)
    case_set = False
    for text, offset in found.annotations:
        m = _ANNOTATION.fullmatch(text)
        if m is None:
            raise src.error(offset, "'symce: case ...', 'symce: skip' or 'symce: name ...'", repr(text))
        what, arg = m.group(1), m.group(2).strip()
        arg_at = offset + text.index(arg) if arg else offset + len(text)
        if what == "skip":
            if arg:
                raise src.error(arg_at, "nothing after 'skip'", repr(arg))
            return None
        if what == "name":
            if not re.fullmatch(r"[\w.:-]+", arg):
                raise src.error(arg_at, "a name (letters, digits, _ . : -)", repr(arg))
            if arg in names:
                raise src.error(arg_at, "a name no other block has", repr(arg))
            block.name = arg
        else:
            if case_set:
                raise src.error(offset, "one case per block", "a second 'case'")
            if arg in decl.cases:
                block.case = decl.cases[arg]
            else:
                block.case = case_from(decl.loader, decl.scope, src, arg_at, arg_at + len(arg))
            block.notes.append(f"line {line}: case {block.case.label}, from the annotation on line {src.line(offset)}")
            case_set = True
    names.add(block.name)
    if not case_set and found.prose is not None:
        block.case = _prose_case(src, found.prose, decl, block)
    return block


def _prose_case(src: Source, span: tuple[int, int], decl: Declarations, block: Block):
    """The case a sentence just before the block states, read only when it can be read with certainty."""
    text = src.text[span[0]:span[1]]
    pieces = [(m.start(), m.end(), next(g for g in range(1, 4) if m.group(g) is not None), m)
              for m in _MATH.finditer(text)]
    # The last sentence: after the last '.', '!' or '?' outside math that a space or the end follows.
    start, cursor = 0, 0
    for a, b, _, _ in pieces + [(len(text), len(text), 0, None)]:
        for m in re.finditer(r"[.!?](?=\s)", text[cursor:a]):
            if text[cursor + m.end():].strip():
                start = cursor + m.end()
        cursor = b
    sentence_math = [p for p in pieces if p[0] >= start]
    if len(sentence_math) != 1:
        return None
    a, b, g, m = sentence_math[0]
    before = text[start:a].strip().strip("*_").strip().lower()
    after = text[b:]
    if before not in _TRIGGERS or _DOUBT.search(after):
        return None
    sentence = " ".join(text[start:].split())
    line = src.line(span[0] + a)
    try:
        case = case_from(decl.loader, decl.scope, src, span[0] + m.start(g), span[0] + m.end(g))
    except DerivationFormatError:
        block.notes.append(f"line {block.line}: no case read from the sentence on line {line} "
                           f'("{sentence}"): its condition is not a relation between indices')
        return None
    block.notes.append(f'line {block.line}: case {case.label}, read from the sentence on line {line}: "{sentence}"')
    return case


# --- Markdown -----------------------------------------------------------------------

def _scan_md(src: Source):
    """Front matter, display blocks and the title of a Markdown post."""
    lines = src.text.split("\n")
    offs = src.starts
    own, title, n = None, None, 0
    if lines and lines[0].strip() == "---":
        close = next((m for m in range(1, len(lines)) if lines[m].strip() in ("---", "...")), None)
        if close is None:
            raise src.error(0, "'---' closing the front matter", "the end of the file")
        front = yaml_mapping("\n".join(lines[1:close]), f"{src.path}, front matter", line=2)
        if isinstance(front, dict):
            if isinstance(front.get("title"), str):
                title = front["title"]
            if "symce" in front:
                own = (front["symce"], f"{src.path}, front matter symce")
        n = close + 1
    found, pending, para, last_para, fence = [], [], [], None, None
    while n < len(lines):
        line, s = lines[n], lines[n].strip()
        if fence is not None:
            fence = None if s.startswith(fence) else fence
            n += 1
            continue
        block = None
        if s[:3] in ("```", "~~~"):
            if s[3:].strip() == "math":
                close = next((m for m in range(n + 1, len(lines)) if lines[m].strip().startswith(s[:3])), None)
                if close is None:
                    raise src.error(offs[n], f"{s[:3]} closing the math block", "the end of the file")
                block, end_line = (offs[n + 1], offs[close]), close
            else:
                fence, para, last_para = s[:3], [], None
        elif s.startswith("<!--"):
            m = re.fullmatch(r"<!--\s*symce:(.*?)-->", s, re.S)
            if m is not None:
                pending.append((m.group(1).strip(), offs[n] + line.index("symce:") + len("symce:")
                                + (len(m.group(1)) - len(m.group(1).lstrip()))))
            last_para, para = (para or last_para), []
        elif not s:
            last_para, para = (para or last_para), []
        elif not para and (s.startswith("$$") or s.startswith("\\[")):
            block, end_line = _md_display(src, lines, n)
        if block is None and s and not s.startswith("<!--") and s[:3] not in ("```", "~~~"):
            if pending:
                raise src.error(pending[0][1], "a display block after the annotation", f"text on line {n + 1}")
            if s.startswith("#"):
                para, last_para = [], None
                title = title or s.lstrip("#").strip()
            else:
                para.append(n)
        if block is not None:
            prose = last_para if not para else None
            span = (offs[prose[0]], offs[prose[-1]] + len(lines[prose[-1]])) if prose else None
            found.append(_Found(block[0], block[1], pending, span))
            pending, para, last_para, n = [], [], None, end_line
        n += 1
    if pending:
        raise src.error(pending[0][1], "a display block after the annotation", "the end of the file")
    return own, found, title


def _md_display(src: Source, lines: list[str], n: int):
    """A ``$$``/``\\[`` block starting a paragraph at line ``n``: ((start, end), last line), or (None, n)."""
    line = lines[n]
    opener, closer = ("$$", "$$") if line.strip().startswith("$$") else ("\\[", "\\]")
    at = src.starts[n] + line.index(opener) + 2
    rest = line[line.index(opener) + 2:].rstrip()
    if closer in rest:
        if rest.endswith(closer) and rest.count(closer) == 1:
            return (at, at + len(rest) - 2), n
        return None, n  # "$$x$$ is ..." opens a paragraph of inline math
    for m in range(n + 1, len(lines)):
        s = lines[m].rstrip()
        if closer in s:
            if not s.endswith(closer):
                raise src.error(src.starts[m] + s.index(closer) + 2, f"the end of the line after {closer}",
                                repr(s[s.index(closer) + 2:][:20]))
            return (at, src.starts[m] + len(s) - 2), m
    raise src.error(at - 2, f"{closer} closing the display block", "the end of the file")


# --- LaTeX --------------------------------------------------------------------------

_TEX_BLOCK = re.compile(r"\\begin\{(align\*?|equation\*?)\}|(?<!\\)\\\[|\$\$")


def _mask_comments(text: str) -> str:
    """The text with every ``%`` comment blanked (offsets kept), ``\\%`` left alone."""
    return re.sub(r"(?<!\\)%[^\n]*", lambda m: " " * len(m.group()), text)


def _scan_tex(src: Source):
    """Declarations, display blocks and the title of a ``.tex`` note."""
    text, lines = src.text, src.text.split("\n")
    own = None
    for n, line in enumerate(lines):
        if line.strip() == "% symce:":
            if own is not None:
                raise src.error(src.starts[n], "one '% symce:' declarations block", "a second one")
            body = []
            for follow in lines[n + 1:]:
                if not follow.lstrip().startswith("%"):
                    break
                body.append(re.sub(r"^\s*% ?", "", follow))
            own = (yaml_mapping("\n".join(body), f"{src.path}, % symce: block", line=n + 2),
                   f"{src.path}, % symce: block")
    masked = _mask_comments(text)
    title_m = re.search(r"\\title\{([^{}]*)\}", masked)
    doc = masked.find("\\begin{document}")
    found, cursor = [], max(doc, 0)
    while True:
        m = _TEX_BLOCK.search(masked, cursor)
        if m is None:
            break
        if m.group(1):
            close = masked.find(f"\\end{{{m.group(1)}}}", m.end())
            end_tok = len(f"\\end{{{m.group(1)}}}")
            start, stop, after = m.start(), close + end_tok, close + end_tok
        else:
            closer = "$$" if m.group() == "$$" else "\\]"
            close = masked.find(closer, m.end())
            start, stop, after = m.end(), close, close + len(closer)
        if close < 0:
            raise src.error(m.start(), f"the end of the block opened by {m.group()}", "the end of the file")
        line = src.line(m.start())
        gap = masked[cursor:m.start()]
        # The paragraph just before the block, from after the last line that is a command
        # (\section{...}, \begin{document}): a sentence stands in text, not in commands.
        last = re.split(r"\n\s*\n", gap)[-1]
        lines_before = last.split("\n")
        keep = len(lines_before)
        while keep > 0 and not lines_before[keep - 1].lstrip().startswith("\\"):
            keep -= 1
        words = "\n".join(lines_before[keep:])
        prose = (m.start() - len(words), m.start()) if words.strip() else None
        found.append(_Found(start, stop, _tex_annotations(src, lines, line), prose))
        cursor = after
    return own, found, title_m.group(1).strip() if title_m else None


def _tex_annotations(src: Source, lines: list[str], line: int) -> list:
    """``% symce: ...`` comments on the lines just above line ``line`` (blank lines between allowed)."""
    out = []
    n = line - 2
    while n >= 0:
        s = lines[n].strip()
        if not s:
            n -= 1
            continue
        if not s.startswith("%"):
            break
        m = re.match(r"%\s*symce:\s*(\S.*)$", s)
        if m is not None:
            out.append((m.group(1).strip(), src.starts[n] + lines[n].index(m.group(1))))
        n -= 1
    return list(reversed(out))
