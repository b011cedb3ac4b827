"""The traceability matrix: requirement -> test -> run, as CSV and XLSX.

One row per (requirement, test execution); a requirement no test gave
evidence for still gets one row, with verdict "not covered" and no test.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from reports.assessment import Assessment

COLUMNS = ["standard", "requirement", "title", "requirement_verdict", "run_id", "test", "point_id",
           "test_outcome", "linked_by", "judged", "duration_s", "evidence"]


def matrix_rows(assessment: Assessment) -> list[dict[str, object]]:
    """The matrix as plain rows, in catalogue order then by run, point and test."""
    rows: list[dict[str, object]] = []
    for v in assessment.verdicts:
        req = v.requirement
        base = {"standard": req.standard, "requirement": req.id, "title": req.title,
                "requirement_verdict": v.verdict}
        if not v.tests:
            rows.append({**base, "run_id": "", "test": "", "point_id": "", "test_outcome": "",
                         "linked_by": "", "judged": "", "duration_s": "", "evidence": v.note})
        for t in v.tests:
            rows.append({**base, "run_id": t.run_id, "test": t.nodeid, "point_id": t.point_id or "",
                         "test_outcome": t.outcome, "linked_by": t.via,
                         "judged": "yes" if t.judged else "no (beyond rated range)",
                         "duration_s": round(t.duration_s, 6),
                         "evidence": f"data/{t.run_id}/tests.csv; data/{t.run_id}/exchanges.csv"})
    return rows


def write_verdicts_json(assessment: Assessment, run_ids: list[str], path: Path) -> Path:
    """``verdicts.json``: totals and one entry per requirement, for scripts and CI."""
    data = {"runs": run_ids, "totals": assessment.totals(),
            "requirements": [{"id": v.requirement.id, "verdict": v.verdict, "note": v.note,
                              "tests": len(v.tests), "outcomes": dict(sorted(v.counts.items()))}
                             for v in assessment.verdicts],
            "unknown_requirement_ids": assessment.unknown_ids}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def write_csv(assessment: Assessment, path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(matrix_rows(assessment))
    return path


def write_xlsx(assessment: Assessment, path: Path, created: float) -> Path:
    """Write the XLSX workbook: sheet "requirements" (one row each) and "traceability".

    Args:
        created: document timestamp (the runs' end, so rebuilding gives the same file).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill

    wb = Workbook()
    fills = {"pass": "C8E6C9", "fail": "FFCDD2", "not covered": "FFF59D"}
    summary = wb.active
    summary.title = "requirements"
    summary.append(["standard", "requirement", "title", "verdict", "tests", "why"])
    for v in assessment.verdicts:
        summary.append([v.requirement.standard, v.requirement.id, v.requirement.title, v.verdict,
                        len(v.tests), v.note])
        summary.cell(summary.max_row, 4).fill = PatternFill("solid", fgColor=fills[v.verdict])
    trace = wb.create_sheet("traceability")
    trace.append(COLUMNS)
    for row in matrix_rows(assessment):
        trace.append([row[c] for c in COLUMNS])
        trace.cell(trace.max_row, 4).fill = PatternFill("solid", fgColor=fills[str(row["requirement_verdict"])])
    for sheet in (summary, trace):
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for col in sheet.columns:
            width = max(len(str(c.value or "")) for c in col)
            sheet.column_dimensions[col[0].column_letter].width = min(max(width + 2, 10), 70)
    stamp = dt.datetime.fromtimestamp(created, dt.timezone.utc).replace(tzinfo=None)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    wb.properties.creator = "tpm-hil"
    wb.save(path)
    return path
