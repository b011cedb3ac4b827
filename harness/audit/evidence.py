"""Security figures: one ``evidence/security/<check>.json`` per check.

The file format is the team's contract 5 (read by the report builders):

    {"check": str, "verdict": "pass" | "fail" | "incomplete" | "not run",
     "figures": {name: {"value": number | str | None, "unit": str, "meaning": str}},
     "plots": [png paths relative to the results folder],
     "simulation": bool, "reason": str}

``reason`` says why the verdict is what it is (the check's summary); a
simulated measurement says so at the start of it and in
``simulation_reason``. Written by ``tpmhil audit`` and by the ``security``
suites, scrubbed of registered secrets like every artefact.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

SUBDIR = Path("evidence") / "security"
VERDICTS = ("pass", "fail", "incomplete", "not run")


def figure(value: Any, unit: str, meaning: str) -> dict[str, Any]:
    """One figure; non-finite numbers become None (JSON has no infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    return {"value": value, "unit": unit, "meaning": meaning}


def file_name(check: str) -> str:
    """``nonce_timing:ecdsa`` -> ``nonce_timing-ecdsa.json`` (never a path)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", check).strip(".-") + ".json"


def document(check: str, verdict: str, figures: dict[str, dict], plots: list[str],
             reason: str, simulation: str | None = None) -> dict[str, Any]:
    if verdict not in VERDICTS:
        raise ValueError(f"security verdict {verdict!r} is not one of {VERDICTS}")
    doc = {"check": check, "verdict": verdict, "figures": figures, "plots": sorted(plots),
           "simulation": simulation is not None,
           "reason": (f"SIMULATION ({simulation}): " if simulation else "") + reason}
    if simulation:
        doc["simulation_reason"] = simulation
    return doc


def relative_plots(root: Path, plots: list[str]) -> list[str]:
    """Plot paths relative to the results folder (plots outside it are left out)."""
    out = []
    for p in plots:
        try:
            out.append(Path(p).resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            continue
    return out


def write(root: Path, doc: dict[str, Any]) -> Path:
    """Write one check's document under ``root/evidence/security/`` atomically."""
    from harness.results.run_folder import write_json_atomic

    try:
        from harness.secrets import scrub_json
    except ImportError:  # pragma: no cover - older tree
        def scrub_json(value):
            return value
    path = Path(root) / SUBDIR / file_name(doc["check"])
    write_json_atomic(path, scrub_json(json.loads(json.dumps(doc, default=str))))
    return path
