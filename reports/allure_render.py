"""Render allure-results into the Allure 3 HTML report (npm package ``allure``, Node.js).

The tool is installed project-locally by ``reports/install_allure.sh``
(``.tools/allure``); ``$TPMHIL_ALLURE`` names another binary.
"""

from __future__ import annotations

import json
import os
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


def render(results_dirs: list[Path], out: Path, name: str = "TPM compliance tests") -> Path:
    """``allure generate RESULTS... -o OUT``; returns the report's index.html.

    Raises:
        AllureError: no results, Allure missing, failed, or timed out.
    """
    dirs = [d for d in results_dirs if d.is_dir() and any(d.glob("*-result.json"))]
    if not dirs:
        raise AllureError("no allure results to render: none of the runs has test results in "
                          "allure-results/ (was it run with tpmhil run or pytest --alluredir?)")
    binary = find_allure()
    out = out.resolve()
    dirs = [d.resolve() for d in dirs]
    # Allure 3's default (awesome) report takes categories from its config, not
    # from categories.json (which only its allure2/classic plugins read).
    config = out.parent / ".allurerc.json"
    config.write_text(json.dumps({"name": name, "categories": CATEGORIES}))
    cmd = [binary, "generate", *map(str, dirs), "--output", str(out), "--config", str(config)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S,
                              env={**os.environ, "NO_COLOR": "1"}, cwd=out.parent)
    except subprocess.TimeoutExpired as exc:
        raise AllureError(f"allure generate did not finish within {TIMEOUT_S:.0f} s") from exc
    finally:
        config.unlink(missing_ok=True)
    index = out / "index.html"
    if proc.returncode != 0 or not index.is_file():
        raise AllureError(f"allure generate failed (exit {proc.returncode}): "
                          f"{(proc.stderr or proc.stdout)[-500:]}")
    return index
