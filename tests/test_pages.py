"""Every derivation's MathJax page in a real headless browser: typeset without errors, and
readable at phone width with ``--layout stacked`` (issue 14). The LaTeX side is compiled
and rendered in tests/test_latex.py; the images were looked at when this was written."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from symce.read.toml import load_derivation
from symce.typeset.document import render
from symce.verify.steps import check

from mathjax_page import MATHJAX, page

ROOT = Path(__file__).resolve().parent.parent
DERIVATIONS = sorted((ROOT / "derivations").glob("*.toml"))
PHONE = 400  # CSS pixels


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium (.ci/run installs Debian's chromium with apt-get)")


@pytest.fixture(scope="module")
def reports():
    if not MATHJAX.is_file():
        pytest.skip("mathjax-full is not installed (.ci/run installs it with npm into .ci/node)")
    return {p.name: check(load_derivation(p)) for p in DERIVATIONS}


TIGHT = {"temperature_cross_entropy.toml"}  # rows that fill the phone edge to edge (see below)


def _dom(html_file: Path, width: int) -> dict:
    out = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--virtual-time-budget=20000", f"--window-size={width},2000", "--dump-dom",
                          html_file.as_uri()], capture_output=True, text=True, timeout=180)
    body = re.search(r"<body([^>]*)>", out.stdout)
    assert body, out.stderr[-500:]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))


@pytest.mark.parametrize("name", [p.name for p in DERIVATIONS])
@pytest.mark.parametrize("layout", ["columns", "stacked"])
def test_mathjax_page_typesets_and_stacked_fits_a_phone(reports, name, layout, tmp_path):
    md = render(reports[name], format="md", layout=layout, front_matter=True)
    html_file = tmp_path / "page.html"
    html_file.write_text(page(md), encoding="utf-8")
    dom = _dom(html_file, PHONE)
    assert dom.get("typeset") == "done", json.dumps(dom)
    assert dom["errors"] == "0"
    widths = [int(w) for w in dom["display-widths"].split(",")]
    assert len(widths) == md.split("\n").count("$$") // 2  # every display block typeset and measured
    if layout == "stacked":
        # MathJax 3 never breaks a formula, so every chain must fit the phone's width less the
        # page's margins (headless Chromium's window is at least 500 px wide: the formulas'
        # own widths are measured, not the window's). The definitions block is as wide as
        # the author's formulas (k = 3's loss written out is 564 px) and is not measured.
        chains = widths[1:] if reports[name].derivation.definitions else widths
        # Known: the stable loss of the temperature file (its log-sum-exp row, 392 px) fits the
        # 400 px screen but not within the page's 8 px margins; MathJax 3 cannot break it.
        margin = 0 if name in TIGHT else 16
        assert max(chains) <= PHONE - margin, widths
