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
    provenance.json             each run's provenance and the signing key's fingerprint
    data/<run-id>/withheld.json files not copied, with the reason (private keys, links, ...)
    lab-key.pub.pem, manifest.json, manifest.sig       (file-key signing), or
    tpm-signing/                key, EK certificate, binding record (--sign-with-tpm)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from reports import allure_env, allure_render
from reports.assessment import Assessment, assess
from reports.catalogue import CATALOGUE_FILE, Catalogue, load_catalogue
from reports.html_report import print_pdf, render_html, report_context
from reports.manifest import MANIFEST, file_signer, sign_package
from reports.matrix import write_csv, write_verdicts_json, write_xlsx
from reports.oscal import build_assessment_results, read_oscal, write_oscal
from reports.progress import timed
from reports.redact import copy_redacted, holds_private_key, redact_url_credentials
from reports.run_data import RUN_FILES, RunData, load_runs

_TABLE_DROP = {"tests": ["markers_list", "requirements_list"]}


class PackageBuildError(HarnessError):
    """The package cannot be built where asked, or would carry a secret."""


def _check_destination(out: Path, run_dirs: list[Path]) -> None:
    """``out`` may be replaced only if it is absent, empty, or a previous package of ours
    (its manifest verifies and it holds no file the manifest does not list)."""
    from reports.manifest import PackageError, verify_package

    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise PackageBuildError(f"-o {out} is a file, not a folder: choose a folder for the package")
    resolved = out.resolve()
    for run in run_dirs:
        if resolved == run.resolve() or run.resolve().is_relative_to(resolved):
            raise PackageBuildError(f"-o {out} holds the results folder {run}: choose another -o")
    if not out.exists() or not any(out.iterdir()):
        return
    if not (out / MANIFEST).exists():
        raise PackageBuildError(f"{out} exists and is not an evidence package: choose another -o")
    try:
        found = verify_package(out)
    except PackageError as exc:
        raise PackageBuildError(f"{out} is not a tpm-hil evidence package ({exc}): it is left "
                                "as it is; choose another -o") from None
    if not found.ok:
        what = found.added[:3] or found.changed[:3] or found.missing[:3] or found.problems[:1]
        raise PackageBuildError(f"{out} is not an unmodified tpm-hil evidence package "
                                f"({', '.join(what)}...): it is left as it is; choose another -o")


def _publish(staging: Path, out: Path) -> None:
    """Replace an earlier package of ours at ``out`` with the finished ``staging`` folder."""
    staging.chmod(0o755)            # mkdtemp made it private
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(staging, out)
        shutil.rmtree(old)
    else:
        os.replace(staging, out)


def _copy_run_data(run: RunData, out: Path) -> None:
    data = out / "data" / run.run_id
    data.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        src = run.path / name
        if src.is_file() and not src.is_symlink() and not holds_private_key(src):
            text = src.read_bytes().decode("utf-8", errors="replace")
            (data / name).write_text(redact_url_credentials(text), encoding="utf-8")
    if run.provenance:
        (data / "provenance.json").write_text(
            json.dumps(run.provenance, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for table, df in sorted(run.tables.items()):
        df.drop(columns=_TABLE_DROP.get(table, [])).to_csv(data / f"{table}.csv", index=False,
                                                           lineterminator="\n")


def _copy_files(run: RunData, rels: list[Path], dest_root: Path, strip: int) -> dict[str, str]:
    """Copy files (secrets scrubbed); return those withheld with the reason."""
    withheld = {}
    for rel in rels:
        dest = dest_root.joinpath(*rel.parts[strip:])
        dest.parent.mkdir(parents=True, exist_ok=True)
        reason = copy_redacted(run.path / rel, dest)
        if reason:
            withheld[str(rel)] = reason
    return withheld


def _copy_run(run: RunData, out: Path) -> dict[str, str]:
    """Everything of one run; the withheld and refused entries with their reasons."""
    _copy_run_data(run, out)
    withheld = dict(run.refused)
    withheld.update(_copy_files(run, run.evidence_files, out / "evidence" / run.run_id, 1))
    withheld.update(_copy_files(run, run.other_files, out / "data" / run.run_id / "files", 0))
    if withheld:
        (out / "data" / run.run_id / "withheld.json").write_text(
            json.dumps(withheld, indent=2, sort_keys=True) + "\n", encoding="utf-8")
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
            copy = Path(tmp) / run.run_id
            copy.mkdir()
            for src in sorted(p for p in results.iterdir() if p.is_file() and not p.is_symlink()):
                copy_redacted(src, copy / src.name)
            allure_env.write(run.path, out=copy)   # the input folder is never written
            dirs.append(copy)
        return allure_render.render(dirs, out / "allure-report")


class MixedChipsError(PackageBuildError):
    """The runs come from different chips and --allow-mixed-chips was not given."""


def _chip_of(run: RunData) -> dict[str, Any]:
    chip = run.provenance.get("chip") if isinstance(run.provenance.get("chip"), dict) else {}
    ek = run.identity.get("endorsement") if isinstance(run.identity.get("endorsement"), dict) else {}
    return {"ek": chip.get("ek_public_sha256") or ek.get("ek_public_sha256"),
            "maker": chip.get("manufacturer") or run.identity.get("manufacturer"),
            "firmware": chip.get("firmware") or run.identity.get("firmware")}


def check_same_chip(runs: list[RunData]) -> list[str]:
    """Lines describing how the runs' chips differ ([] when they are one chip).

    Two runs are one chip when their EK public keys hash the same; when a run
    has no EK certificate, when manufacturer and firmware match.
    """
    first = _chip_of(runs[0])
    lines = []
    for run in runs[1:]:
        other = _chip_of(run)
        if first["ek"] and other["ek"]:
            if first["ek"] != other["ek"]:
                lines.append(f"{runs[0].run_id} has EK sha256 {first['ek'][:16]}..., "
                             f"{run.run_id} has {other['ek'][:16]}...")
        elif (first["maker"], first["firmware"]) != (other["maker"], other["firmware"]):
            lines.append(f"{runs[0].run_id} is {first['maker']} firmware {first['firmware']}, "
                         f"{run.run_id} is {other['maker']} firmware {other['firmware']}")
    return lines


def build_package(run_dirs: list[Path], out_dir: Path | None = None, *, pdf: bool = True,
                  allure: bool | None = None, key_path: Path | None = None,
                  catalogue: Catalogue | None = None, allow_mixed_chips: bool = False,
                  sign_with_tpm: str | None = None,
                  progress: Callable[[str], None] | None = None) -> Path:
    """Build the signed evidence package for one or several results folders.

    Args:
        run_dirs: results folders (a run, a campaign, an audit...).
        out_dir: where to write; default ``<first run folder>/report``. Only an
            absent or empty folder, or an unmodified earlier package, is replaced.
        pdf: also print report.pdf with headless Chromium.
        allure: also render the Allure 3 report (single file) from the runs' allure-results;
            None: when Allure is installed and a run has allure-results.
        key_path: the Ed25519 lab key (must exist; default ``$TPMHIL_LAB_KEY`` or
            ``~/.config/tpm-hil/lab-ed25519.pem``, the latter created on first
            use and announced).
        catalogue: another requirement catalogue than the shipped one.
        allow_mixed_chips: merge runs of different chips (else MixedChipsError).
        sign_with_tpm: a target string: sign with a key resident in that TPM
            instead of the file key (:mod:`reports.tpm_signing`).
        progress: called with one line per step.

    Returns:
        The package folder.
    """
    step = timed(progress)   # stage lines with elapsed time; stderr by default
    run_dirs = [Path(p) for p in run_dirs]
    step(f"loading {len(run_dirs)} results folder(s)")
    runs = load_runs(run_dirs)
    mixed = check_same_chip(runs)
    if mixed and not allow_mixed_chips:
        raise MixedChipsError("runs of different chips are not merged into one package ("
                              + "; ".join(mixed) + "): pass --allow-mixed-chips to merge them")
    cat = catalogue or load_catalogue()
    out = Path(out_dir) if out_dir else run_dirs[0] / "report"
    _check_destination(out, run_dirs)
    out.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if sign_with_tpm:
            from reports.tpm_signing import TpmSigner

            signer = stack.enter_context(TpmSigner(sign_with_tpm))
        else:
            signer = file_signer(key_path, out)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
        try:
            _build(runs, cat, staging, pdf=pdf, allure=allure, signer=signer, mixed=mixed,
                   progress=step)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    _publish(staging, out)
    step(f"package written: {out}")
    return out


def _package_provenance(runs: list[RunData], signer: Any, mixed: list[str]) -> dict[str, Any]:
    """provenance.json at the top of the package: each run's record and the signing key."""
    return {"format": "tpm-hil package provenance", "version": 1,
            "signing_key": signer.info(), "mixed_chips": mixed,
            "runs": {r.run_id: r.provenance or None for r in runs}}


def _build(runs: list[RunData], cat: Catalogue, out: Path, *, pdf: bool, allure: bool | None,
           signer: Any, mixed: list[str], progress: Callable[[str], None]) -> None:
    """Write every file of the package into ``out`` (a fresh staging folder), then sign it."""
    withheld = {}
    for run in runs:
        progress(f"copying run {run.run_id}")
        withheld[run.run_id] = sorted(_copy_run(run, out))
    (out / "provenance.json").write_text(json.dumps(_package_provenance(runs, signer, mixed),
                                                    indent=2, sort_keys=True) + "\n")
    shutil.copyfile(CATALOGUE_FILE, out / "catalogue.yaml")
    result: Assessment = assess(cat, runs)
    progress("rendering report.html")
    context = report_context(cat, runs, result, withheld, "report.pdf" if pdf else None)
    render_html(context, out / "report.html")
    if pdf:
        progress("printing report.pdf (headless Chromium, A4, twice for the contents' page numbers)")
        print_pdf(context, out / "report.pdf")
    created = max(r.finished() for r in runs)
    write_verdicts_json(result, [r.run_id for r in runs], out / "verdicts.json")
    write_csv(result, out / "traceability.csv")
    write_xlsx(result, out / "traceability.xlsx", created)
    write_oscal(build_assessment_results(cat, runs, result, out), out / "assessment-results.json")
    read_oscal(out / "assessment-results.json")
    if allure or (allure is None and allure_render.available(runs)):
        progress("rendering the Allure report (single file)")
        _allure(runs, out)
    _assert_no_private_keys(out)
    progress(f"signing the manifest ({signer.info()['kind']}, {signer.info()['fingerprint']})")
    sign_package(out, signer)
