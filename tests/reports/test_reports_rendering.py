"""The HTML and PDF as a reader sees them: rendered by Chromium and poppler, not just present."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
from matplotlib import image as mpimg

from reports.pdf import dump_dom, screenshot

SECTIONS = ["1. Summary", "2. Chip identity", "3. Requirement verdicts",
            "4. Failures and their command logs", "5. Environmental conditions",
            "6. TPM command coverage", "7. Traceability gaps", "8. Evidence files and package integrity"]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _not_blank(png: Path) -> None:
    pixels = mpimg.imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(np.std(pixels[..., :3])) > 0.02, f"{png} is blank"


def test_html_renders_with_every_section(package: Path, facts, tmp_path: Path) -> None:
    text = _text(dump_dom(package / "report.html"))
    for heading in SECTIONS:
        assert heading in text, heading
    assert "IBM" in text and "8217.4131" in text                 # chip identity from the run
    assert re.search(r"IEC62443-4-2:CR 1\.2 Software process and device identification and "
                     r"authentication not covered", text)
    assert "IEC62443-4-2:CR 4.2 Information persistence fail" in text
    assert "TPM2_NV_ReadPublic TPM_RC_HANDLE (handle 1)" in text  # the failure's command log
    assert "Environmental evidence" in text and "-40 °C, 3.0 V" in text
    assert facts["unknown_req"] in text                           # shown, not dropped
    assert "TPM2_GetRandom" in text and "advertised commands exercised" in text
    assert facts["secret"] not in text
    assert "leaked_key.pem" in text and "Withheld" in text
    _not_blank(screenshot(package / "report.html", tmp_path / "shot.png", height=1600))


def test_html_is_self_contained(package: Path) -> None:
    html = (package / "report.html").read_text()
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", html)
    assert html.count("data:image/png;base64,") == 2             # telemetry and verdict plots


def test_pdf_renders_with_every_section(package: Path, facts, tmp_path: Path) -> None:
    pdf = package / "report.pdf"
    text = re.sub(r"\s+", " ", subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                                              capture_output=True, text=True, timeout=120).stdout)
    for heading in SECTIONS:
        assert heading in text, heading
    assert "not covered" in text and "TPM_RC_HANDLE" in text
    assert facts["secret"] not in text and facts["url_password"] not in text
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=120)
    (page,) = tmp_path.glob("page*.png")
    _not_blank(page)
