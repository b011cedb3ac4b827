"""The evidence package: everything an assessor gets, built from results folders.

Layout of a package (default ``<first run>/report/``)::

    report.html                 self-contained HTML report
    report.pdf                  the same, printed by headless Chromium
    traceability.csv / .xlsx    requirement -> test -> run matrix
    verdicts.json               totals and the verdict of each requirement
    assessment-results.json     NIST OSCAL assessment results
    catalogue.yaml              the requirement catalogue the runs were judged against
    data/<run-id>/              summary, identity, target, profile, and the store's tables as CSV
    data/<run-id>/files/        the run's other files (audit.json, junit.xml, campaign plots, logs)
    evidence/<run-id>/          the run's evidence files (private keys withheld)
    allure-report/              Allure 3 HTML (with --allure)
    lab-key.pub.pem, manifest.json, manifest.sig
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from harness.errors import HarnessError
from reports import allure_env, allure_render
from reports.assessment import Assessment, assess
from reports.catalogue import CATALOGUE_FILE, Catalogue, load_catalogue
from reports.html_report import render_html, report_context
from reports.manifest import MANIFEST, write_manifest
from reports.matrix import write_csv, write_verdicts_json, write_xlsx
from reports.oscal import build_assessment_results, read_oscal, write_oscal
from reports.pdf import html_to_pdf
from reports.redact import copy_redacted, holds_private_key, redact_url_credentials
from reports.run_data import RUN_FILES, RunData, load_runs

_TABLE_DROP = {"tests": ["markers_list", "requirements_list"]}


class PackageBuildError(HarnessError):
    """The package cannot be built where asked, or would carry a secret."""


def _check_destination(out: Path) -> None:
    if out.exists() and not (out / MANIFEST).exists() and any(out.iterdir()):
        raise PackageBuildError(f"{out} exists and is not an evidence package: choose another -o")


def _publish(staging: Path, out: Path) -> None:
    """Replace an earlier package of ours at ``out`` with the finished ``staging`` folder."""
    staging.chmod(0o755)            # mkdtemp made it private
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)


def _copy_run_data(run: RunData, out: Path) -> None:
    data = out / "data" / run.run_id
    data.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        src = run.path / name
        if src.is_file() and not holds_private_key(src):
            text = src.read_text(encoding="utf-8", errors="replace")
            (data / name).write_text(redact_url_credentials(text), encoding="utf-8")
    for table, df in sorted(run.tables.items()):
        df.drop(columns=_TABLE_DROP.get(table, [])).to_csv(data / f"{table}.csv", index=False,
                                                           lineterminator="\n")


def _copy_evidence(run: RunData, out: Path) -> list[str]:
    """Copy evidence files (secrets redacted); return those withheld for holding private keys."""
    withheld = []
    for rel in run.evidence_files:
        dest = out / "evidence" / run.run_id / Path(*rel.parts[1:])
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not copy_redacted(run.path / rel, dest):
            withheld.append(str(rel))
    return withheld


def _copy_other_files(run: RunData, out: Path) -> list[str]:
    withheld = []
    for rel in run.other_files:
        dest = out / "data" / run.run_id / "files" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not copy_redacted(run.path / rel, dest):
            withheld.append(str(rel))
    return withheld


def _assert_no_private_keys(out: Path) -> None:
    leaked = [p for p in out.rglob("*") if p.is_file() and holds_private_key(p)]
    if leaked:
        raise PackageBuildError("private key material in the package: "
                                + ", ".join(str(p.relative_to(out)) for p in leaked))


def _allure(runs: list[RunData], out: Path) -> Path:
    """Render the Allure report from redacted copies of the runs' allure-results."""
    with tempfile.TemporaryDirectory(prefix="tpmhil-allure-") as tmp:
        dirs = []
        for run in runs:
            results = run.path / "allure-results"
            if not results.is_dir():
                continue
            allure_env.write(run.path)
            copy = Path(tmp) / run.run_id
            copy.mkdir()
            for src in sorted(p for p in results.iterdir() if p.is_file()):
                copy_redacted(src, copy / src.name)
            dirs.append(copy)
        return allure_render.render(dirs, out / "allure-report")


def build_package(run_dirs: list[Path], out_dir: Path | None = None, *, pdf: bool = True,
                  allure: bool = False, key_path: Path | None = None,
                  catalogue: Catalogue | None = None) -> Path:
    """Build the signed evidence package for one or several results folders.

    Args:
        run_dirs: results folders (a run, a campaign, an audit...).
        out_dir: where to write; default ``<first run folder>/report``.
        pdf: also print report.pdf with headless Chromium.
        allure: also render the Allure 3 report from the runs' allure-results.
        key_path: the Ed25519 lab key (default ``$TPMHIL_LAB_KEY`` or
            ``~/.config/tpm-hil/lab-ed25519.pem``; created if missing).
        catalogue: another requirement catalogue than the shipped one.

    Returns:
        The package folder.
    """
    run_dirs = [Path(p) for p in run_dirs]
    runs = load_runs(run_dirs)
    cat = catalogue or load_catalogue()
    out = Path(out_dir) if out_dir else run_dirs[0] / "report"
    _check_destination(out)
    if key_path and Path(key_path).resolve().is_relative_to(out.resolve()):
        raise PackageBuildError(f"lab key {key_path} is inside the package {out}: keep it outside")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        _build(runs, cat, staging, pdf=pdf, allure=allure, key_path=key_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _publish(staging, out)
    return out


def _build(runs: list[RunData], cat: Catalogue, out: Path, *, pdf: bool, allure: bool,
           key_path: Path | None) -> None:
    """Write every file of the package into ``out`` (a fresh staging folder)."""
    withheld = {}
    for run in runs:
        _copy_run_data(run, out)
        withheld[run.run_id] = _copy_evidence(run, out) + _copy_other_files(run, out)
    shutil.copyfile(CATALOGUE_FILE, out / "catalogue.yaml")
    result: Assessment = assess(cat, runs)
    html = render_html(report_context(cat, runs, result, withheld, "report.pdf" if pdf else None),
                       out / "report.html")
    if pdf:
        html_to_pdf(html, out / "report.pdf")
    created = max(r.finished() for r in runs)
    write_verdicts_json(result, [r.run_id for r in runs], out / "verdicts.json")
    write_csv(result, out / "traceability.csv")
    write_xlsx(result, out / "traceability.xlsx", created)
    write_oscal(build_assessment_results(cat, runs, result, out), out / "assessment-results.json")
    read_oscal(out / "assessment-results.json")
    if allure:
        _allure(runs, out)
    _assert_no_private_keys(out)
    write_manifest(out, key_path)
