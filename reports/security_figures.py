"""The figures behind every security verdict (``evidence/security/<check>.json``).

Each security check (ROCA, nonce timing, reference-library probes, EK
credentials, advisories...) writes one JSON file into its results folder::

    {"check": "nonce_timing", "verdict": "pass"|"fail"|"incomplete"|"not run",
     "figures": {name: {"value": ..., "unit": ..., "meaning": ...}},
     "plots": ["evidence/nonce_timing_ecdsa.png", ...],
     "simulation": false, "reason": "..."}

:func:`security_checks` reads them for the report: figures as table rows,
plots as PNG data URIs (only files inside the results folder are read), the
SIMULATION flag, and a check that did not run shown as such. A file that is
not such an object is listed as unreadable, never dropped.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

SECURITY_DIR = Path("evidence") / "security"
VERDICTS = ("pass", "fail", "incomplete", "not run")
MAX_PLOT_BYTES = 4 * 1024 * 1024


def _plot(folder: Path, rel: Any) -> dict[str, str]:
    """A plot as a data URI, if ``rel`` names a PNG inside the folder (never outside it)."""
    name = str(rel)
    root = folder.resolve()
    for base in (root, root / SECURITY_DIR):
        path = (base / name).resolve()
        if path.is_relative_to(root) and path.is_file() and path.suffix.lower() == ".png" \
                and path.stat().st_size <= MAX_PLOT_BYTES:
            data = path.read_bytes()
            if data.startswith(b"\x89PNG"):
                return {"name": name, "uri": "data:image/png;base64," + base64.b64encode(data).decode()}
    return {"name": name, "uri": ""}


def _figures(raw: Any) -> list[dict[str, str]]:
    rows = []
    if isinstance(raw, dict):
        for name, fig in raw.items():
            fig = fig if isinstance(fig, dict) else {"value": fig}
            value = fig.get("value")
            if isinstance(value, float):
                value = f"{value:.4g}"
            rows.append({"name": str(name), "value": "" if value is None else str(value),
                         "unit": str(fig.get("unit") or ""), "meaning": str(fig.get("meaning") or "")})
    return rows


def read_check(folder: Path, path: Path) -> dict[str, Any]:
    """One check file as the report shows it."""
    name = path.stem
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        data = {"verdict": "unreadable", "reason": f"{path.name}: not readable JSON ({exc})"}
    if not isinstance(data, dict):
        data = {"verdict": "unreadable", "reason": f"{path.name}: not a JSON object"}
    verdict = str(data.get("verdict") or "not recorded").lower()
    return {
        "check": str(data.get("check") or name), "file": str(path.relative_to(folder)),
        "verdict": verdict, "ran": verdict not in ("not run", "unreadable"),
        "reason": str(data.get("reason") or ""), "simulation": bool(data.get("simulation")),
        "figures": _figures(data.get("figures")),
        "plots": [_plot(folder, p) for p in data.get("plots") or [] if isinstance(p, str)],
    }


def security_checks(folder: Path) -> list[dict[str, Any]]:
    """Every ``evidence/security/*.json`` of a results folder, sorted by check name."""
    folder = Path(folder)
    directory = folder / SECURITY_DIR
    if not directory.is_dir():
        return []
    checks = [read_check(folder, p) for p in sorted(directory.glob("*.json")) if p.is_file()]
    return sorted(checks, key=lambda c: c["check"])
