"""HTML to PDF (and screenshots) with headless Chromium (Debian package ``chromium``).

Chromium renders the same self-contained HTML file the browser shows, so the
PDF and the HTML report cannot drift apart. Every call is bounded by a
timeout and runs with a fresh, throw-away profile directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from harness.errors import HarnessError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 180.0


class RenderError(HarnessError):
    """Chromium is missing or did not render the page."""


def find_chromium() -> str:
    """The Chromium binary: ``$TPMHIL_CHROMIUM`` or the first known name on PATH.

    Raises:
        RenderError: none is installed (``apt-get install chromium``).
    """
    explicit = os.environ.get("TPMHIL_CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise RenderError("no Chromium found to render the PDF: apt-get install chromium "
                      "(or set TPMHIL_CHROMIUM), or build with --no-pdf")


def _flags(profile_dir: str) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile_dir}"]


def run_chromium(args: list[str], expect: Path, timeout_s: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run headless Chromium with ``args`` and check it wrote ``expect``.

    Raises:
        RenderError: Chromium failed, timed out or wrote nothing.
    """
    binary = find_chromium()
    with tempfile.TemporaryDirectory(prefix="tpmhil-chromium-") as profile:
        cmd = [binary, *_flags(profile), *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired as exc:
            raise RenderError(f"Chromium did not finish within {timeout_s:.0f} s: {' '.join(args)}") from exc
    if not expect.is_file() or expect.stat().st_size == 0:
        tail = (proc.stderr or "").strip().splitlines()[-5:]
        raise RenderError(f"Chromium wrote no {expect.name} (exit {proc.returncode}): " + " | ".join(tail))
    return proc


def html_to_pdf(html: Path, pdf: Path) -> Path:
    """Print ``html`` to ``pdf`` (A4, no browser header or footer)."""
    pdf.unlink(missing_ok=True)
    run_chromium(["--no-pdf-header-footer", "--print-to-pdf-no-header",
                  f"--print-to-pdf={pdf}", html.resolve().as_uri()], pdf)
    return pdf


def page_texts(pdf: Path, timeout_s: float = 120.0) -> list[str]:
    """The text of each page of ``pdf`` (poppler's pdftotext; pages split at form feeds)."""
    try:
        proc = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                              text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"pdftotext could not read {pdf.name}: {exc}") from exc
    if proc.returncode != 0:
        raise RenderError(f"pdftotext could not read {pdf.name}: {proc.stderr.strip()[-200:]}")
    return proc.stdout.split("\f")


def heading_pages(pages: list[str], headings: list[tuple[str, str]], after: str = "Contents") -> dict[str, int]:
    """The page (1-based) each heading starts on, searched in order after the contents page.

    Args:
        pages: text per page.
        headings: (section id, heading text) in document order.
    """
    found: dict[str, int] = {}
    start = next((i for i, text in enumerate(pages) if after in text), 0)
    for sid, heading in headings:
        # a heading's words are one or two blanks apart; a contents line spreads them wide
        pattern = re.compile(r"(?m)^\s*" + r" {1,2}".join(map(re.escape, heading.split())) + r"\s*$")
        for index in range(start, len(pages)):
            if pattern.search(pages[index]):
                found[sid] = index + 1
                start = index
                break
    return found


def print_with_toc(render: Callable[[dict[str, int]], Path], headings: list[tuple[str, str]],
                   pdf: Path) -> Path:
    """Print twice: once to find the page of each heading, then with those pages in the contents.

    Args:
        render: writes the HTML for given page numbers ({section id: page}) and returns its path.
        headings: (section id, heading text) in document order.
    """
    html_to_pdf(render({}), pdf)
    if shutil.which("pdftotext") is None:
        return pdf    # contents without page numbers; the PDF is still complete
    pages = heading_pages(page_texts(pdf), headings)
    return html_to_pdf(render(pages), pdf)


def screenshot(html: Path, png: Path, width: int = 1280, height: int = 2400) -> Path:
    """A PNG of how Chromium lays the page out (used by the report tests)."""
    png.unlink(missing_ok=True)
    run_chromium([f"--window-size={width},{height}", f"--screenshot={png}", html.resolve().as_uri()], png)
    return png


def dump_dom(html: Path, timeout_s: float = TIMEOUT_S, virtual_time_ms: int = 0) -> str:
    """The DOM as Chromium parsed and laid it out (``--dump-dom``).

    Args:
        virtual_time_ms: let scripts run this long (virtual time) before the dump,
            for pages that build themselves in JavaScript (the Allure report).
    """
    binary = find_chromium()
    budget = [f"--virtual-time-budget={virtual_time_ms}"] if virtual_time_ms else []
    with tempfile.TemporaryDirectory(prefix="tpmhil-chromium-") as profile:
        try:
            proc = subprocess.run([binary, *_flags(profile), *budget, "--dump-dom", html.resolve().as_uri()],
                                  capture_output=True, text=True, timeout=timeout_s,
                                  env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired as exc:
            raise RenderError(f"Chromium --dump-dom did not finish within {timeout_s:.0f} s") from exc
    if proc.returncode != 0 or "<html" not in proc.stdout:
        raise RenderError(f"Chromium --dump-dom failed (exit {proc.returncode}): {proc.stderr[-300:]}")
    return proc.stdout
