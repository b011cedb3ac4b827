"""The HTML and PDF as a reader sees them: rendered by Chromium and poppler, not just present."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
from matplotlib import image as mpimg

from reports.pdf import dump_dom, screenshot

# a campaign report leads with its conditions
SECTIONS = ["1. Summary", "2. Environmental conditions", "3. Provenance", "4. Chip identity",
            "5. Requirement verdicts", "6. Deviations", "7. Security figures",
            "8. Failures and their command logs", "9. TPM command coverage", "10. Traceability gaps",
            "11. Evidence files and package integrity", "Appendix A. Evidence per requirement",
            "Appendix B. Failures at stressed campaign points"]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _cells(text: str) -> str:
    """The summary's target/chip/profile cells must never read "?" (only prose may ask)."""
    return text.split("Verdicts:")[0]


def _not_blank(png: Path) -> None:
    pixels = mpimg.imread(png)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(np.std(pixels[..., :3])) > 0.02, f"{png} is blank"


def test_html_renders_with_every_section(package: Path, facts, tmp_path: Path) -> None:
    text = _text(dump_dom(package / "report.html"))
    for heading in SECTIONS:
        assert heading in text, heading
    assert "IBM" in text and "20191023.00163636" in text                 # chip identity from the run
    assert re.search(r"IEC62443-4-2:CR 1\.2 Software process and device identification and "
                     r"authentication not covered", text)
    assert "IEC62443-4-2:CR 4.2 Information persistence fail" in text
    assert "TPM2_NV_ReadPublic TPM_RC_HANDLE (handle 1)" in text  # the failure's command log
    assert "Environmental evidence" in text and "-40 °C, 3.0 V" in text
    assert facts["unknown_req"] in text                           # shown, not dropped
    assert "TPM2_GetRandom" in text and "advertised commands exercised" in text
    assert facts["secret"] not in text
    assert "leaked_key.pem" in text and "Withheld" in text
    # provenance block, deviations, security figures (contract 5), mapping rationale
    assert "Provenance" in text and "EK certificate serial" in text and "?" not in _cells(text)
    assert re.search(r"test_bad_tag\[0x8003\].*TPM 2\.0 Part 3 §5\.2: an unknown tag is "
                     r"TPM_RC_BAD_TAG known swtpm/libtpms deviation", text)
    assert "IEC62443-4-2:CR 3.5 Input validation pass with deviations" in text
    assert "get_random_timing pass" in text and "TPM2_GetRandom timed" in text
    assert "simulated_leak SIMULATION fail" in text
    assert "roca not run" in text and "Not run: no RSA key generation" in text
    assert "Why these tests:" in text and "What a test cannot prove:" in text
    # campaign: conditions first, events in words and UTC, stressed failures summarised + appendix
    assert text.index("2. Environmental conditions") < text.index("5. Requirement verdicts")
    assert re.search(r"UTC power cycle 95 °C, 3\.3 V off s = 0\.2", text)
    assert re.search(r"Failures at stressed points \(details in Appendix B\) Point Test Reason p02-hot "
                     r"suites/nv/test_nv_present\.py::test_reserved_index_present\[hot\]", text)
    assert "temperature -39.8 °C (-40.0..-39.6, 5 samples)" in text     # the suite window, not the ramp
    _not_blank(screenshot(package / "report.html", tmp_path / "shot.png", height=1600))


def test_html_is_self_contained(package: Path) -> None:
    html = (package / "report.html").read_text()
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", html)
    # telemetry and verdict plots, the security check's plot, and the same under SIMULATION
    assert html.count("data:image/png;base64,") == 4


def test_pdf_renders_with_every_section(package: Path, facts, tmp_path: Path) -> None:
    pdf = package / "report.pdf"
    text = re.sub(r"\s+", " ", subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                                              capture_output=True, text=True, timeout=120).stdout)
    for heading in SECTIONS:
        assert heading in text, heading
    assert "not covered" in text and "TPM_RC_HANDLE" in text
    assert facts["secret"] not in text and facts["url_password"] not in text
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True,
                          timeout=60).stdout
    assert "(A4)" in info
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    # the contents name the page of each section: Deviations is where its heading is
    contents = subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"],
                              check=True, capture_output=True, text=True, timeout=60).stdout
    page = int(re.search(r"6\.\s+Deviations\s+(\d+)", contents).group(1))
    on_page = subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
                             check=True, capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"(?m)^\s*6\. Deviations\s*$", on_page)
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True, timeout=120)
    (page,) = tmp_path.glob("page*.png")
    _not_blank(page)
