"""Report table headers never break inside a word (the PDF showed "Passe d", "comman d")."""

from __future__ import annotations

import re
from pathlib import Path

import reports

TEMPLATES = Path(reports.__file__).parent / "templates"


def _rule(css: str, selector: str) -> str:
    return " ".join(m.group(1) for m in re.finditer(rf"(?m)^{re.escape(selector)}\s*\{{([^}}]*)\}}", css))


def test_headers_wrap_at_spaces_only():
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    th = _rule(css, "th")
    assert "overflow-wrap: normal" in th and "word-break: keep-all" in th, th


def test_conditions_table_counts_columns_fit_their_header():
    html = (TEMPLATES / "report.html.j2").read_text(encoding="utf-8")
    row = next(ln for ln in html.splitlines() if "<th>Passed</th><th>Failed</th>" in ln)
    group = html[:html.index(row)].rsplit("<colgroup>", 1)[1]
    widths = [int(w) for w in re.findall(r"width:(\d+)%", group)]
    assert sum(widths) <= 100 and widths[5] >= 8 and widths[6] >= 8   # "Passed", "Failed" at 7.5pt
