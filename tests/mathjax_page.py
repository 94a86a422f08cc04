"""Make an HTML page of ``symce latex --format md`` output as a Jekyll blog shows it, for a browser.

kramdown turns a ``$$`` block into display math and ``$$...$$`` inside a paragraph or
heading into inline math; MathJax 3 (tex-chtml, base and ams only, as a plain blog
loads it) then typesets both. This module does the same small conversion, so that a
headless browser can show the page as a reader sees it: ``tests/test_pages.py``
screenshots it at phone width.

    python tests/mathjax_page.py post.md page.html
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MATHJAX = ROOT / ".ci" / "node" / "node_modules" / "mathjax-full" / "es5" / "tex-chtml.js"

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body {{ font-family: serif; max-width: 44em; margin: 0 auto; padding: 0 8px; line-height: 1.5; }}</style>
<script>window.MathJax = {{ tex: {{ packages: ['base', 'ams'] }},
  startup: {{ pageReady: () => MathJax.startup.defaultPageReady().then(() => {{
    const b = document.body;  // read back by tests/test_pages.py from the browser's DOM
    b.setAttribute('data-scroll-width', document.documentElement.scrollWidth);
    b.setAttribute('data-inner-width', window.innerWidth);
    const shown = [...document.querySelectorAll('div.display mjx-container mjx-math')];  // display blocks, in order
    b.setAttribute('data-display-widths', shown.map(m => Math.ceil(m.getBoundingClientRect().width)).join(','));
    b.setAttribute('data-errors', document.querySelectorAll('mjx-merror').length);
    b.setAttribute('data-typeset', 'done'); }}) }} }};</script>
<script src="{mathjax}"></script>
</head><body>
{body}
</body></html>
"""


def _inline(text: str) -> str:
    """A paragraph's text: emphasis, Markdown escapes undone, ``$$x$$`` as inline math."""
    parts = re.split(r"(\$\$.+?\$\$)", text)
    math = [r"\(" + html.escape(p[2:-2], quote=False) + r"\)" for p in parts[1::2]]
    words = "\x00".join(parts[::2])  # math held out while emphasis and escapes are read
    words = re.sub(r"(?<!\\)\*\*(.+?)(?<!\\)\*\*", "\x01\\1\x02", words)
    words = re.sub(r"(?<!\\)\*(.+?)(?<!\\)\*", "\x03\\1\x04", words)
    words = html.escape(html.unescape(re.sub(r"\\([\\`*_\[\]#<>|$])", r"\1", words)), quote=False)
    for mark, tag in zip("\x01\x02\x03\x04", ("<strong>", "</strong>", "<em>", "</em>")):
        words = words.replace(mark, tag)
    pieces = words.split("\x00")
    return "".join(p + (math[n] if n < len(math) else "") for n, p in enumerate(pieces))


def markdown_to_html(md: str) -> str:
    """The HTML body kramdown would make of symce's Markdown (front matter dropped)."""
    md = re.sub(r"\A---\n.*?\n---\n", "", md, flags=re.S)
    blocks = [b.strip("\n") for b in md.split("\n\n") if b.strip()]
    body = []
    for block in blocks:
        if block.startswith("$$\n") and block.endswith("\n$$"):
            body.append(r"<div class='display'>\[" + html.escape(block[3:-3], quote=False) + r"\]</div>")
        elif block.startswith("#"):
            level = len(block) - len(block.lstrip("#"))
            body.append(f"<h{level}>{_inline(block[level:].strip())}</h{level}>")
        else:
            body.append(f"<p>{_inline(block)}</p>")
    return "\n".join(body)


def page(md: str) -> str:
    return _PAGE.format(mathjax=MATHJAX.as_uri(), body=markdown_to_html(md))


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(page(Path(sys.argv[1]).read_text(encoding="utf-8")), encoding="utf-8")
