"""Render allure-results into the Allure 3 HTML report (npm package ``allure``, Node.js).

The tool is installed project-locally by ``reports/install_allure.sh``
(``.tools/allure``); ``$TPMHIL_ALLURE`` names another binary.

The report is written in Allure 3's single-file mode (the awesome plugin's
``singleFile`` option): ``index.html`` carries its data inline, so it opens
from disk (file://) in a browser; the multi-file report fetches its data and
shows only a spinner there.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from harness.errors import HarnessError
from reports.allure_env import CATEGORIES

REPO = Path(__file__).resolve().parents[1]
LOCAL_BIN = REPO / ".tools" / "allure" / "node_modules" / ".bin" / "allure"
TIMEOUT_S = 300.0


class AllureError(HarnessError):
    """Allure is not installed or failed to render the report."""


def find_allure() -> str:
    """``$TPMHIL_ALLURE``, the project-local install, or ``allure`` on PATH.

    Raises:
        AllureError: none found; names the install script.
    """
    for candidate in (os.environ.get("TPMHIL_ALLURE"), str(LOCAL_BIN), shutil.which("allure")):
        if candidate and Path(candidate).exists():
            return candidate
    raise AllureError(f"Allure 3 is not installed: run {REPO / 'reports' / 'install_allure.sh'} "
                      "(npm package 'allure'), or set TPMHIL_ALLURE")


def _has_results(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*-result.json"))


def available(runs) -> bool:
    """Allure is installed and at least one run (:class:`RunData`) has allure-results."""
    try:
        find_allure()
    except AllureError:
        return False
    return any(_has_results(run.path / "allure-results") for run in runs)


def config(name: str) -> dict:
    """The allurerc: report name, categories, and the awesome report as a single file."""
    return {"name": name, "categories": CATEGORIES,
            "plugins": {"awesome": {"options": {"singleFile": True, "reportName": name}}}}


def render(results_dirs: list[Path], out: Path, name: str = "TPM compliance tests") -> Path:
    """``allure generate RESULTS... -o OUT``; returns the report's index.html.

    Raises:
        AllureError: no results, Allure missing, failed, or timed out.
    """
    dirs = [d for d in results_dirs if _has_results(d)]
    if not dirs:
        raise AllureError("no allure results to render: none of the runs has test results in "
                          "allure-results/ (was it run with tpmhil run or pytest --alluredir?)")
    binary = find_allure()
    out = out.resolve()
    dirs = [d.resolve() for d in dirs]
    # Allure 3's default (awesome) report takes categories from its config, not
    # from categories.json (which only its allure2/classic plugins read).
    rc = out.parent / ".allurerc.json"
    rc.write_text(json.dumps(config(name)))
    cmd = [binary, "generate", *map(str, dirs), "--output", str(out), "--config", str(rc)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                              env={**os.environ, "NO_COLOR": "1"}, cwd=out.parent)
    except subprocess.TimeoutExpired as exc:
        raise AllureError(f"allure generate did not finish within {TIMEOUT_S:.0f} s") from exc
    finally:
        rc.unlink(missing_ok=True)
    index = out / "index.html"
    if proc.returncode != 0 or not index.is_file():
        raise AllureError(f"allure generate failed (exit {proc.returncode}): "
                          f"{(proc.stderr or proc.stdout)[-500:]}")
    return index


_EMBEDDED = re.compile(r'd\("([^"\\]+)","([A-Za-z0-9+/=]*)"\)')


def embedded_files(index: Path) -> dict[str, bytes]:
    """The data files a single-file report carries inline (``widgets/tree.json``...)."""
    text = index.read_text(encoding="utf-8")
    return {name: base64.b64decode(value) for name, value in _EMBEDDED.findall(text)}
