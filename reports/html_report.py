"""The self-contained HTML report: one file, inline CSS and images.

:func:`report_context` turns loaded runs and their assessment into plain
data; :func:`render_html` renders ``templates/report.html.j2`` with it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from harness import __version__
from reports.assessment import Assessment, point_conditions
from reports.catalogue import Catalogue
from reports.plots import point_outcome_plot, telemetry_plot
from reports.run_data import RunData

TEMPLATES = Path(__file__).with_name("templates")
MAX_LOG_ROWS = 200


def _utc(ts: float | None) -> str:
    if not ts:
        return "?"
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
    sel = ex[ex["test"] == nodeid]
    sel = sel[sel["point_id"].isna()] if point_id is None else sel[sel["point_id"] == point_id]
    return [{"seq": int(r.seq), "time": _utc(r.t_start), "command": r.command, "rc": r.rc_name,
             "duration_ms": r.duration_s * 1e3, "cmd_size": int(r.cmd_size),
             "rsp_size": int(r.rsp_size), "retries": int(r.retries), "error": r.error}
            for r in sel.head(MAX_LOG_ROWS).itertuples(index=False)], len(sel)


def _failures(run: RunData) -> list[dict[str, Any]]:
    tests = run.tests
    failed = tests[tests["outcome"].isin(["failed", "error"])]
    out = []
    for r in failed.itertuples(index=False):
        point = None if pd.isna(r.point_id) else str(r.point_id)
        log, total = _command_log(run, r.nodeid, point)
        out.append({"nodeid": r.nodeid, "outcome": r.outcome, "point_id": point,
                    "message": r.message, "longrepr": r.longrepr, "anchor": f"fail-{len(out)}-{run.run_id}",
                    "requirements": r.requirements_list, "log": log, "log_total": total})
    return out


def _environment(run: RunData) -> dict[str, Any] | None:
    conds = point_conditions(run)
    if not conds and run.telemetry.empty:
        return None
    labels = {pid: c["label"] for pid, c in conds.items()}
    events = [{"time": _utc(e.t), "kind": e.kind, "detail": e.detail, "point_id": e.point_id}
              for e in run.events.itertuples(index=False)]
    return {"points": sorted(conds.values(), key=lambda c: (c["seq"], c["point_id"])),
            "telemetry_plot": telemetry_plot(run.telemetry, f"Telemetry, run {run.run_id}"),
            "outcome_plot": point_outcome_plot(run.tests, labels, f"Verdicts per point, run {run.run_id}"),
            "events": events}


def _run_context(run: RunData, withheld: list[str]) -> dict[str, Any]:
    ident = run.identity
    return {
        "run_id": run.run_id, "kind": run.kind, "path": run.path.name, "chip": run.chip,
        "started": _utc(run.started()), "finished": _utc(run.finished()),
        "verdict": run.summary.get("verdict", "?"),
        "outcomes": dict(sorted(run.tests["outcome"].value_counts().items())),
        "target": run.target, "identity": ident, "profile": run.profile,
        "rig": run.rig, "simulation": run.simulation,
        "harness_version": run.meta.get("harness_version", "?"),
        "exchange_count": len(run.exchanges), "coverage": command_coverage(run),
        "failures": _failures(run), "environment": _environment(run),
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
    return {
        "title": "TPM compliance evidence: " + ", ".join(r.run_id for r in runs),
        "generated_from": [r.run_id for r in runs],
        "report_time": _utc(max(r.finished() for r in runs)),
        "harness_version": __version__, "catalogue_version": catalogue.version,
        "standards": catalogue.standards, "by_standard": by_standard,
        "totals": assessment.totals(), "unknown_ids": assessment.unknown_ids,
        "untraced": assessment.untraced_tests,
        "runs": [_run_context(r, withheld.get(r.run_id, [])) for r in runs],
        "pdf_name": pdf_name,
    }


def render_html(context: dict[str, Any], out: Path) -> Path:
    """Render the report template into ``out``."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    out.write_text(env.get_template("report.html.j2").render(**context), encoding="utf-8")
    return out
