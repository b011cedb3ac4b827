"""Campaign and failure material for the report, in the words an assessor reads.

* :func:`stressed_points`: campaign points the EFP/EFT check marked stressed
  or beyond the rated range (failures there are expected evidence for EFP/EFT,
  summarised in the body and detailed in an appendix);
* :func:`events_rows`: the events table with UTC times and ``key = value``
  details instead of raw JSON and epoch seconds;
* :func:`harness_reason`: a failure's own reason where the TSS only says
  "Catch all" (the harness's exchange error or its exception line).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd

from reports.provenance_view import utc

_TIME_FIELDS = ("t", "t_start", "t_end", "time", "started", "finished")
_TSS_VAGUE = re.compile(r"catch all|not otherwise specified|general failure"
                        r"|^\S+\.py:\d+: \w+$", re.IGNORECASE)   # or pytest's bare "file.py:12: Error"
_HARNESS_LINE = re.compile(r"^E\s+(\w*(Error|Exception)\b.*)$", re.MULTILINE)


#: Display scale and decimals per telemetry unit: the margins a campaign probes are in
#: tens of mV and single mA, so "0.0 A" or "3.0 V" for 2.97 V would hide them.
_DISPLAY = {"A": (1e3, "mA", 1), "V": (1.0, "V", 2), "degC": (1.0, "°C", 1), "°C": (1.0, "°C", 1)}


def measured_text(m: dict[str, Any]) -> str:
    """``"36.8 mA (35.0..39.0, 40 samples)"`` for a measured quantity (mean, min, max, unit)."""
    scale, unit, decimals = _DISPLAY.get(m.get("unit") or "", (1.0, m.get("unit") or "", 3))

    def num(v: float) -> str:
        return f"{v * scale:.{decimals}f}" if decimals != 3 else f"{v * scale:.4g}"

    return (f"{num(m['mean'])} {unit} ({num(m['min'])}..{num(m['max'])}, "
            f"{m['samples']} samples)")


def stressed_points(run) -> set[str]:
    """Points whose efp_check event says stressed or out_of_range."""
    out = set()
    for row in run.events[run.events["kind"] == "efp_check"].itertuples(index=False):
        try:
            detail = json.loads(row.detail or "{}")
        except ValueError:
            continue
        if isinstance(detail, dict) and (detail.get("stressed") or detail.get("out_of_range")):
            out.add(str(row.point_id))
    return out


def _detail_text(detail: Any) -> str:
    try:
        data = json.loads(detail) if isinstance(detail, str) else detail
    except ValueError:
        return str(detail)
    if not isinstance(data, dict):
        return str(data)
    parts = []
    for key, value in data.items():
        if key in _TIME_FIELDS and isinstance(value, (int, float)) and value > 1e9:
            value = utc(value)
        elif isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, bool):
            value = "yes" if value else "no"
        elif isinstance(value, (list, dict)):
            value = json.dumps(value, sort_keys=True)
        parts.append(f"{str(key).replace('_', ' ')} = {value}")
    return "; ".join(parts)


def events_rows(events: pd.DataFrame, labels: dict[str, str]) -> list[dict[str, str]]:
    """Events in time order: UTC time, kind in words, point label, readable detail."""
    rows = []
    for e in events.sort_values("t").itertuples(index=False):
        point = None if pd.isna(e.point_id) else str(e.point_id)
        rows.append({"time": utc(e.t), "kind": str(e.kind).replace("_", " "),
                     "point_id": point or "", "point": labels.get(point, point or ""),
                     "detail": _detail_text(e.detail)})
    return rows


def harness_reason(message: str, longrepr: str, exchange_errors: list[str]) -> str:
    """The failure's message, or the harness's own reason when the TSS's is vague."""
    if not _TSS_VAGUE.search(message or ""):
        return message
    errors = [e for e in exchange_errors if e]
    if errors:
        return f"{errors[-1]} (reported as: {message})"
    for match in _HARNESS_LINE.finditer(longrepr or ""):
        line = match.group(1)
        if not _TSS_VAGUE.search(line) and "TSS2_Exception" not in line:
            return f"{line} (reported as: {message})"
    # pytest's bare "file.py:12: AssertionError": the first assertion line says more
    location = re.match(r"^\S+\.py:\d+: (\w+)$", message or "")
    for line in re.findall(r"(?m)^E\s+(.+)$", longrepr or ""):
        if location and not _TSS_VAGUE.search(line) and "TSS2_Exception" not in line:
            return f"{location.group(1)}: {line.strip()} (reported as: {message})"
    return message
