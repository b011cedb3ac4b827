"""What a report says about where a results folder came from.

Two things, read from the folder only:

* :func:`run_facts`: target, chip and chip profile in one line each, from
  whichever file of the folder holds them (identity.json, target.json,
  profile.yaml, the store's meta, summary.json, provenance.json): audit and
  attestation folders write different files than ``tpmhil run`` does;
* :func:`provenance_rows`: the provenance block (``provenance.json``, written
  by every command since issue 17): chip (EK certificate serial, EK public
  key SHA-256, TIS ids, bus and clock), DUT, operator, host, lab, harness
  version, git revision and suites hash, tool versions, start and end in UTC.
  Whatever the file holds is shown; an expected item it lacks reads
  "not recorded", and so does everything for a folder written before it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

from reports.redact import redact_json

NOT_RECORDED = "not recorded"
PROVENANCE_FILE = "provenance.json"

# label, and the key-name fragments (all must occur in a flattened key) that fill it
EXPECTED: list[tuple[str, tuple[tuple[str, ...], ...]]] = [
    ("EK certificate serial", (("ek", "serial"),)),
    ("EK public key SHA-256", (("ek", "sha256"), ("ek", "sha-256"), ("ek", "public"))),
    ("TIS ids (DID/VID/RID)", (("tis",), ("did",), ("vid",))),
    ("Bus and clock", (("bus",), ("clock",))),
    ("DUT / board serial", (("dut",), ("board",))),
    ("Operator", (("operator",),)),
    ("Host", (("host",),)),
    ("Lab", (("lab",),)),
    ("Harness version", (("harness", "version"), ("tpm-hil",), ("tpm_hil",))),
    ("Git revision", (("git",), ("revision",), ("commit",))),
    ("Suites hash", (("suite",),)),
    ("swtpm", (("swtpm",),)),
    ("libtpms", (("libtpms",),)),
    ("tpm2-tss", (("tss",),)),
    ("tpm2-pytss", (("pytss",),)),
    ("Python", (("python",),)),
    ("Start (UTC)", (("start",),)),
    ("End (UTC)", (("end",), ("finish",))),
]
_TIME_KEYS = ("start", "end", "finish", "created", "time")
_NOT_SHOWN = {"format", "version", "run_id", "kind"}   # the file's own format; the run is named above


def utc(ts: float | None) -> str:
    if not ts:
        return NOT_RECORDED
    return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def read_provenance(folder: Path) -> dict[str, Any] | None:
    """provenance.json of a results folder, or None (absent, unreadable or not an object)."""
    path = Path(folder) / PROVENANCE_FILE
    if not path.is_file():
        return None
    try:
        data = redact_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        out = []
        for key in data:
            out += _flatten(data[key], f"{prefix}.{key}" if prefix else str(key))
        return out
    return [(prefix, data)]


def _value(key: str, value: Any) -> str:
    if value is None or value == "":
        return NOT_RECORDED
    last = key.rsplit(".", 1)[-1].lower()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 1e9 \
            and any(t in last for t in _TIME_KEYS):
        return utc(value)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)", value):
        return value[:19].replace("T", " ") + " UTC"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or NOT_RECORDED
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


LABELS = {
    "chip.manufacturer": "Chip manufacturer", "chip.vendor": "Chip vendor string",
    "chip.firmware": "Chip firmware", "chip.target": "Target",
    "chip.ek_certificate_serial": "EK certificate serial",
    "chip.ek_certificate_issuer": "EK certificate issuer",
    "chip.ek_certificate_index": "EK certificate NV index",
    "chip.ek_public_sha256": "EK public key SHA-256", "chip.tis": "TIS ids (DID/VID/RID)",
    "chip.tis.did": "TIS DID", "chip.tis.vid": "TIS VID", "chip.tis.rid": "TIS RID",
    "chip.bus": "Bus", "chip.clock_hz": "Bus clock [Hz]", "dut": "DUT / board serial",
    "operator": "Operator", "host": "Host", "lab": "Lab",
    "harness.version": "Harness version", "harness.git_revision": "Git revision",
    "harness.git_dirty": "Uncommitted changes in the harness", "harness.code_sha256": "Harness code SHA-256",
    "harness.suites": "Suites run", "harness.suites_sha256": "Suites hash (SHA-256)",
    "software.swtpm": "swtpm", "software.libtpms": "libtpms", "software.tpm2_tss": "tpm2-tss",
    "software.tpm2_pytss": "tpm2-pytss", "software.python": "Python",
    "started_utc": "Start (UTC)", "finished_utc": "End (UTC)",
}


def _label(key: str) -> str:
    return LABELS.get(key) or " / ".join(part.replace("_", " ") for part in key.split("."))


def provenance_rows(folder: Path) -> dict[str, Any]:
    """The provenance block of one results folder.

    Returns:
        ``{"recorded": bool, "rows": [(label, value)], "missing": [labels]}``:
        every item of provenance.json in file order, then each expected item the
        file lacks, as "not recorded".
    """
    data = read_provenance(folder)
    if data is None:
        return {"recorded": False, "rows": [(label, NOT_RECORDED) for label, _ in EXPECTED],
                "missing": [label for label, _ in EXPECTED]}
    order = list(LABELS)
    flat = sorted(((k, v) for k, v in _flatten(data) if k not in _NOT_SHOWN),
                  key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    rows = [(_label(k), _value(k, v)) for k, v in flat]
    keys = [k.lower() for k, _ in flat]
    missing = [label for label, options in EXPECTED
               if not any(all(frag in k for frag in opt) for opt in options for k in keys)]
    return {"recorded": True, "rows": rows + [(label, NOT_RECORDED) for label in missing],
            "missing": missing}


def printable(text: Any) -> str:
    """``text`` with control and unassigned characters dropped, blanks collapsed.

    Vendor strings come from TPM_PT_VENDOR_STRING_1..4: four raw bytes each,
    which some chips fill with zeros or binary.
    """
    kept = "".join(c for c in str(text) if c.isprintable() and unicodedata.category(c) != "Co")
    return " ".join(kept.split())


def _chip_from(value: Any) -> str:
    if isinstance(value, dict):
        parts = [printable(value.get("manufacturer") or ""), printable(value.get("vendor") or "")]
        if value.get("firmware"):
            parts.append(f"firmware {printable(value['firmware'])}")
        return " ".join(p for p in parts if p)
    return printable(value or "")


def _matching_profile(chip: dict[str, Any]) -> str:
    """The bundled chip profile whose identity matches, named as matched (the run recorded none)."""
    if not isinstance(chip, dict) or not chip.get("manufacturer"):
        return ""
    from harness.chip_profile import profile_for_chip

    try:
        found = profile_for_chip(str(chip["manufacturer"]), str(chip.get("vendor") or ""))
    except Exception:   # a broken profile file must not stop the report
        return ""
    return f"{found.name} (matched by chip identity; the run recorded none)" if found else ""


def run_facts(run) -> dict[str, str]:
    """Target, chip and chip profile of a loaded run (:class:`reports.run_data.RunData`).

    Each comes from the first file of the folder that holds it; "not recorded"
    when none does, never "?".
    """
    meta, summary = run.meta, run.summary
    prov = read_provenance(run.path) or {}
    target = ""
    for source in (run.target, meta.get("target"), meta.get("target_uri"), summary.get("target"),
                   prov.get("target")):
        target = source.get("uri", "") if isinstance(source, dict) else str(source or "")
        if target:
            break
    chip = _chip_from(run.identity) if run.identity else ""
    for source in (meta.get("identity_brief"), summary.get("chip"), prov.get("chip")):
        if chip:
            break
        chip = _chip_from(source)
    prov_chip = prov.get("chip") if isinstance(prov.get("chip"), dict) else {}
    profile = (run.profile.get("name") or meta.get("profile_name") or summary.get("profile")
               or prov_chip.get("profile") or prov.get("profile"))
    if not profile:
        profile = _matching_profile(run.identity or prov_chip)
    return {"target": target or NOT_RECORDED, "chip": chip or NOT_RECORDED,
            "profile": str(profile) if profile else NOT_RECORDED}
