"""The self-contained HTML report: one file, inline CSS and images.

:func:`report_context` turns loaded runs and their assessment into plain
data; :func:`render_html` renders ``templates/report.html.j2`` with it.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
import pandas as pd

from harness import __version__
from reports.assessment import VERDICTS, Assessment, point_conditions
from reports.campaign_view import events_rows, harness_reason, stressed_points
from reports.catalogue import Catalogue
from reports.plots import point_outcome_plot, telemetry_plot
from reports.provenance_view import (NOT_RECORDED, printable, provenance_rows, read_provenance,
                                     run_facts)
from reports.run_data import RunData
from reports.security_figures import security_checks

TEMPLATES = Path(__file__).with_name("templates")
MAX_LOG_ROWS = 200


def _utc(ts: float | None) -> str:
    if not ts:
        return NOT_RECORDED
    return dt.datetime.fromtimestamp(float(ts), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def command_coverage(run: RunData) -> dict[str, Any]:
    """Advertised commands against those the run exercised (TPM2_GetCapability list vs log)."""
    ex = run.exchanges
    advertised = sorted(run.identity.get("commands") or [])
    rows = []
    if len(ex):
        for name, grp in sorted(ex.groupby("command"), key=lambda g: g[0]):
            rows.append({"command": name, "count": len(grp), "errors": int((grp["rc"] != 0).sum()),
                         "median_ms": float(grp["duration_s"].median() * 1e3),
                         "max_ms": float(grp["duration_s"].max() * 1e3),
                         "advertised": name in advertised if advertised else None})
    used = {r["command"] for r in rows}
    covered = [c for c in advertised if c in used]
    return {"rows": rows, "advertised": len(advertised), "covered": len(covered),
            "percent": (100.0 * len(covered) / len(advertised)) if advertised else None,
            "not_exercised": [c for c in advertised if c not in used]}


def _command_log(run: RunData, nodeid: str, point_id: str | None) -> tuple[list[dict[str, Any]], int]:
    """The first MAX_LOG_ROWS exchanges of one test at one point, and how many there were."""
    ex = run.exchanges
    # the test's own commands and those the harness sent for it (``cleanup:<nodeid>``...)
    sel = ex[(ex["test"] == nodeid) | ex["test"].str.endswith(":" + nodeid)]
    sel = sel[sel["point_id"].isna()] if point_id is None else sel[sel["point_id"] == point_id]
    return [{"seq": int(r.seq), "time": _utc(r.t_start), "command": r.command, "rc": r.rc_name,
             "duration_ms": r.duration_s * 1e3, "cmd_size": int(r.cmd_size),
             "rsp_size": int(r.rsp_size), "retries": int(r.retries), "error": r.error}
            for r in sel.head(MAX_LOG_ROWS).itertuples(index=False)], len(sel)


def _failures(run: RunData) -> list[dict[str, Any]]:
    """Failed tests with their command logs; ``stressed`` marks those at stressed campaign points."""
    tests = run.tests
    failed = tests[tests["outcome"].isin(["failed", "error"])]
    stressed = stressed_points(run)
    out = []
    for r in failed.itertuples(index=False):
        point = None if pd.isna(r.point_id) else str(r.point_id)
        log, total = _command_log(run, r.nodeid, point)
        reason = harness_reason(r.message, r.longrepr, [e["error"] for e in log])
        out.append({"nodeid": r.nodeid, "outcome": r.outcome, "point_id": point,
                    "message": reason, "longrepr": r.longrepr, "anchor": f"fail-{len(out)}-{run.run_id}",
                    "requirements": r.requirements_list, "log": log, "log_total": total,
                    "stressed": point in stressed})
    return out


def _environment(run: RunData) -> dict[str, Any] | None:
    conds = point_conditions(run)
    if not conds and run.telemetry.empty:
        return None
    labels = {pid: c["label"] for pid, c in conds.items()}
    events = events_rows(run.events, labels)
    stressed = stressed_points(run)
    for c in conds.values():
        c["stressed"] = c["point_id"] in stressed
        window = c.get("window") or {}
        c["window_text"] = (f"{_utc(window['start'])[11:19]}..{_utc(window['end'])[11:19]} UTC"
                            if window.get("start") else window.get("kind", ""))
    return {"points": sorted(conds.values(), key=lambda c: (c["seq"], c["point_id"])),
            "telemetry_plot": telemetry_plot(run.telemetry, f"Telemetry, run {run.run_id}", [
                (c["window"]["start"], c["window"]["end"], c["label"]) for c in conds.values()
                if (c.get("window") or {}).get("start")]),
            "outcome_plot": point_outcome_plot(run.tests, labels, f"Verdicts per point, run {run.run_id}"),
            "events": events}


def _run_verdict(run: RunData) -> str:
    """The run's own verdict: its command's (audit, attestation), else summary.json's."""
    summary = run.summary
    for key in ("audit", "attestation", "verdict"):   # the command's own verdict first
        if summary.get(key):
            return str(summary[key])
    return NOT_RECORDED


def _run_context(run: RunData, withheld: list[str]) -> dict[str, Any]:
    ident = run.identity
    facts = run_facts(run)
    failures = _failures(run)
    return {
        "run_id": run.run_id, "kind": run.kind, "path": run.path.name, "chip": facts["chip"],
        "target_uri": facts["target"], "profile_name": facts["profile"],
        "provenance": provenance_rows(run.path), "security": security_checks(run.path),
        "started": _utc(run.started()), "finished": _utc(run.finished()),
        "verdict": _run_verdict(run),
        "outcomes": dict(sorted(run.tests["outcome"].value_counts().items())),
        "target": run.target, "identity": ident, "profile": run.profile,
        "rig": run.rig, "simulation": run.simulation,
        "harness_version": run.meta.get("harness_version", NOT_RECORDED),
        "exchange_count": len(run.exchanges), "coverage": command_coverage(run),
        "failures": [f for f in failures if not f["stressed"]],
        "stressed_failures": [f for f in failures if f["stressed"]],
        "environment": _environment(run),
        "evidence": [str(p) for p in run.evidence_files if str(p) not in withheld],
        "other_files": [str(p) for p in run.other_files if str(p) not in withheld],
        "withheld": withheld,
    }


def report_context(catalogue: Catalogue, runs: list[RunData], assessment: Assessment,
                   withheld: dict[str, list[str]], pdf_name: str | None) -> dict[str, Any]:
    """Plain data for the template; deterministic (no wall-clock time of the build)."""
    by_standard: dict[str, list] = {}
    for v in assessment.verdicts:
        by_standard.setdefault(v.requirement.standard, []).append(v)
    run_ctx = [_run_context(r, withheld.get(r.run_id, [])) for r in runs]
    return {
        "sections": _sections(run_ctx), "verdict_states": VERDICTS,
        "deviations": assessment.deviations, "deviation_rows": deviation_rows(assessment),
        "header": _page_header(runs, run_ctx),
        "title": "TPM compliance evidence: " + ", ".join(r.run_id for r in runs),
        "generated_from": [r.run_id for r in runs],
        "report_time": _utc(max(r.finished() for r in runs)),
        "harness_version": __version__, "catalogue_version": catalogue.version,
        "standards": catalogue.standards, "by_standard": by_standard,
        "totals": assessment.totals(), "unknown_ids": assessment.unknown_ids,
        "untraced": assessment.untraced_tests,
        "runs": run_ctx, "pdf_name": pdf_name, "toc_pages": {},
    }


def deviation_rows(assessment: Assessment) -> list[dict[str, Any]]:
    """One row per deviating test execution, with every requirement it touches."""
    rows: dict[tuple, dict[str, Any]] = {}
    for d in assessment.deviations:
        t = d.test
        row = rows.setdefault((t.run_id, t.nodeid, t.point_id), {
            "nodeid": t.nodeid, "point_id": t.point_id, "run_id": t.run_id, "row_ref": t.row_ref,
            "clause": d.clause, "reason": d.reason, "requirements": []})
        row["requirements"].append(d.requirement_id)
    return sorted(rows.values(), key=lambda r: (r["run_id"], r["nodeid"], r["point_id"] or ""))


def _sections(runs: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The report's sections in order; a campaign report leads with its conditions."""
    campaign = any(r["environment"] for r in runs)
    ids = ["summary", *(["environment"] if campaign else []), "provenance", "chip-identity",
           "requirements", "deviations", "security", "failures",
           *([] if campaign else ["environment"]), "coverage", "traceability-gaps", "evidence"]
    ids.append("appendix-evidence")
    if any(r["stressed_failures"] for r in runs):
        ids.append("appendix-stressed")
    titles = {"summary": "Summary", "environment": "Environmental conditions",
              "provenance": "Provenance", "chip-identity": "Chip identity",
              "requirements": "Requirement verdicts", "deviations": "Deviations",
              "security": "Security figures", "failures": "Failures and their command logs",
              "coverage": "TPM command coverage", "traceability-gaps": "Traceability gaps",
              "evidence": "Evidence files and package integrity",
              "appendix-evidence": "Evidence per requirement",
              "appendix-stressed": "Failures at stressed campaign points"}
    out = []
    for n, sid in enumerate(ids, 1):
        number = (f"Appendix {'AB'[ids.index(sid) - ids.index('appendix-evidence')]}."
                  if sid.startswith("appendix") else f"{n}.")
        out.append({"id": sid, "number": number, "title": titles[sid],
                    "heading": f"{number} {titles[sid]}"})
    return out


def _page_header(runs: list[RunData], run_ctx: list[dict[str, Any]]) -> dict[str, str]:
    """What every PDF page's header says: lab, chip, run."""
    labs = set()
    for run in runs:
        lab = (read_provenance(run.path) or {}).get("lab")
        lab = lab.get("name") if isinstance(lab, dict) else lab
        if lab:
            labs.add(str(lab))
    labs = sorted(labs)
    chips = sorted({c["chip"] for c in run_ctx})
    return {"lab": ", ".join(labs) or "lab not recorded", "chip": "; ".join(chips),
            "runs": ", ".join(r.run_id for r in runs)}


def css_string(value: object) -> Markup:
    """A CSS string literal for the @page header boxes, safe inside <style>.

    Backslashes, quotes and ``< > &`` become CSS escapes (a <style> element is
    raw text: HTML entities would show literally, and "</style>" would end it).
    """
    out = []
    for c in str(value)[:120]:
        if c in '\\"<>&':
            out.append(f"\\{ord(c):x} ")
        else:
            out.append(c if c.isprintable() else " ")
    return Markup('"' + "".join(out) + '"')


def render_html(context: dict[str, Any], out: Path) -> Path:
    """Render the report template into ``out``."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["css_string"] = css_string
    env.filters["printable"] = printable
    out.write_text(env.get_template("report.html.j2").render(**context), encoding="utf-8")
    return out


def print_pdf(context: dict[str, Any], pdf: Path) -> Path:
    """report.pdf: the report printed A4 by Chromium, its contents with page numbers.

    The page numbers come from a first print (:func:`reports.pdf.print_with_toc`);
    the HTML printed is a temporary copy, so report.html stays free of them.
    """
    from reports.pdf import print_with_toc

    headings = [(s["id"], s["heading"]) for s in context["sections"]]
    with tempfile.TemporaryDirectory(prefix="tpmhil-print-") as tmp:
        html = Path(tmp) / "report.html"
        return print_with_toc(lambda pages: render_html({**context, "toc_pages": pages}, html),
                              headings, pdf)
