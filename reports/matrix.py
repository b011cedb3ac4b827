"""The traceability matrix: requirement -> test -> run, as CSV and XLSX.

One row per (requirement, test execution); a requirement no test gave
evidence for still gets one row, with verdict "not covered" and no test.
Each row points at the test's own verdict row (``data/<run>/tests.csv#row=N``,
RFC 7111) and its source file; a known deviation (xfailed) carries the spec
clause the test names and its reason.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from reports.assessment import Assessment

COLUMNS = ["standard", "requirement", "title", "requirement_verdict", "run_id", "test", "test_file",
           "point_id", "test_outcome", "linked_by", "judged", "counted", "deviation_clause",
           "deviation_reason", "duration_s", "evidence", "command_log"]
FILLS = {"pass": "C8E6C9", "pass with deviations": "DCEDC8", "fail": "FFCDD2",
         "not covered": "FFF59D", "insufficient evidence": "FFE0B2", "not demonstrated": "FFE0B2"}


def matrix_rows(assessment: Assessment) -> list[dict[str, object]]:
    """The matrix as plain rows, in catalogue order then by run, point and test."""
    rows: list[dict[str, object]] = []
    for v in assessment.verdicts:
        req = v.requirement
        base = {"standard": req.standard, "requirement": req.id, "title": req.title,
                "requirement_verdict": v.verdict}
        if not v.tests:
            rows.append({**{c: "" for c in COLUMNS}, **base, "evidence": v.note})
        for t in v.tests:
            deviation = t.outcome == "xfailed"
            rows.append({**base, "run_id": t.run_id, "test": t.nodeid, "test_file": t.file,
                         "point_id": t.point_id or "", "test_outcome": t.outcome, "linked_by": t.via,
                         "judged": "yes" if t.judged else "no (beyond rated range)",
                         "counted": f"no ({t.excluded})" if t.excluded else "yes",
                         "deviation_clause": (t.spec or "not named") if deviation else "",
                         "deviation_reason": (t.message or "not given") if deviation else "",
                         "duration_s": round(t.duration_s, 6), "evidence": t.row_ref,
                         "command_log": f"data/{t.run_id}/exchanges.csv (rows whose test is {t.nodeid})"})
    return rows


def _deviation(t) -> dict[str, object]:
    return {"run_id": t.run_id, "test": t.nodeid, "point_id": t.point_id, "clause": t.spec or None,
            "reason": t.message or None, "evidence": t.row_ref}


def write_verdicts_json(assessment: Assessment, run_ids: list[str], path: Path) -> Path:
    """``verdicts.json``: totals and one entry per requirement, for scripts and CI."""
    data = {"runs": run_ids, "totals": assessment.totals(),
            "requirements": [{"id": v.requirement.id, "verdict": v.verdict, "note": v.note,
                              "rationale": v.requirement.rationale, "limits": v.requirement.limits,
                              "missing_evidence": v.missing,
                              "tests": len(v.tests), "outcomes": dict(sorted(v.counts.items())),
                              "deviations": [_deviation(t) for t in v.deviations]}
                             for v in assessment.verdicts],
            "deviations": [{"requirement": d.requirement_id, **_deviation(d.test)}
                           for d in assessment.deviations],
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
    fills = FILLS
    summary = wb.active
    summary.title = "requirements"
    summary.append(["standard", "requirement", "title", "verdict", "tests", "why", "rationale",
                    "limits", "deviations"])
    for v in assessment.verdicts:
        summary.append([v.requirement.standard, v.requirement.id, v.requirement.title, v.verdict,
                        len(v.tests), v.note, v.requirement.rationale, v.requirement.limits,
                        len(v.deviations)])
        summary.cell(summary.max_row, 4).fill = PatternFill("solid", fgColor=fills[v.verdict])
    trace = wb.create_sheet("traceability")
    trace.append(COLUMNS)
    for row in matrix_rows(assessment):
        trace.append([row[c] for c in COLUMNS])
        trace.cell(trace.max_row, 4).fill = PatternFill("solid", fgColor=fills[str(row["requirement_verdict"])])
    devs = wb.create_sheet("deviations")
    devs.append(["requirement", "run_id", "test", "point_id", "spec clause", "reason", "evidence"])
    for d in assessment.deviations:
        t = d.test
        devs.append([d.requirement_id, t.run_id, t.nodeid, t.point_id or "", t.spec or "not named",
                     t.message or "not given", t.row_ref])
    for sheet in (summary, trace, devs):
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
