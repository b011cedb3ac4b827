"""Allure's environment.properties and categories.json for a results folder.

allure-pytest writes only test results; the run's environment (chip,
firmware, bus, rig, harness version) and the failure categories are written
here, from the results folder's own files, into ``allure-results/``.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness import __version__
from harness.results.run_folder import RunFolder
from harness.secrets import scrub
from reports.provenance_view import NOT_RECORDED, printable
from reports.run_data import rig_text

# First match wins (Allure's rule), so the specific categories come first. The
# regexes use [\s\S] instead of inline flags so that both Allure 2 (Java, whole
# message) and Allure 3 (JavaScript) read them the same way.
CATEGORIES = [
    {"name": "Chip in failure mode", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"[\s\S]*(TPM_RC_FAILURE|failure mode)[\s\S]*"},
    {"name": "TPM did not answer in time", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"[\s\S]*(TpmTimeoutError|NO_RESPONSE|did not answer|timed out)[\s\S]*"},
    {"name": "Transport or bus error", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"[\s\S]*(TransportError|ResponseFormatError|BusError)[\s\S]*"},
    {"name": "TPM error response", "matchedStatuses": ["failed", "broken"],
     "messageRegex": r"[\s\S]*(TPM_RC_|TSS2_Exception|tpm:)[\s\S]*"},
    {"name": "Assertion on TPM output", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s).*AssertionError.*"},
    {"name": "Harness or set-up error", "matchedStatuses": ["broken"]},
    {"name": "Not run on this target", "matchedStatuses": ["skipped"]},
]


def _escape(value: object) -> str:
    """A Java .properties value: backslash, newline and leading blanks escaped."""
    text = str(value).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "\\" + text if text[:1] in (" ", "\t") else text


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def environment(folder: Path) -> dict[str, str]:
    """The environment entries of a results folder (no secrets: no auth, no keys)."""
    ident = _read(folder / "identity.json")
    target = _read(folder / "target.json")
    summary = _read(folder / "summary.json")
    run = RunFolder.open_readonly(folder)   # an input: never written
    try:
        meta = run.store.meta() if (folder / "store.sqlite").is_file() else {}
    finally:
        run.close()
    chip = " ".join(p for p in (printable(ident.get("manufacturer") or ""),
                                printable(ident.get("vendor") or "")) if p)
    target_uri = target.get("uri") or meta.get("target") or summary.get("target")
    if isinstance(target_uri, dict):
        target_uri = target_uri.get("uri")
    brief = meta.get("identity_brief") or summary.get("chip")
    return {
        "run.id": str(meta.get("run_id") or folder.name),
        "chip": chip or printable(brief.get("manufacturer", "") if isinstance(brief, dict) else brief or "")
        or NOT_RECORDED,
        "chip.firmware": str(ident.get("firmware") or NOT_RECORDED),
        "chip.spec": str(ident.get("spec") or NOT_RECORDED),
        "chip.fips_mode": (str(bool(ident["fips_mode"])).lower() if "fips_mode" in ident
                           else NOT_RECORDED),
        "chip.profile": str(meta.get("profile_name") or summary.get("profile") or NOT_RECORDED),
        "target": str(target_uri or NOT_RECORDED),
        "bus": str(target.get("bus") or NOT_RECORDED),
        "rig": rig_text(meta.get("rig") or summary.get("rig")),
        "harness.version": str(meta.get("harness_version") or __version__),
    }


def write(run_folder: RunFolder | Path | str, out: Path | None = None) -> Path:
    """Write environment.properties and categories.json into the folder's allure-results.

    Args:
        run_folder: a :class:`RunFolder` or the path of a results folder.
        out: where to write (default: the folder's allure-results).

    Returns:
        The allure-results directory.
    """
    folder = run_folder.path if isinstance(run_folder, RunFolder) else Path(run_folder)
    out = Path(out) if out is not None else folder / "allure-results"
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"{key}={_escape(scrub(value))}" for key, value in environment(folder).items()]
    (out / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n", encoding="utf-8")
    return out
