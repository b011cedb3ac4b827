"""NIST OSCAL assessment results (compliance-trestle models, OSCAL 1.x).

One OSCAL ``result`` covers all runs of the package: each test execution is an
``observation`` (method TEST) pointing at the raw data in the package; each
catalogue entry is a ``finding`` whose target objective is satisfied (pass)
or not satisfied (fail, or not covered with reason "other"). trestle's
pydantic models are generated from the OSCAL JSON schema and validate on
construction and on :func:`read_oscal`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import mimetypes
import uuid
from pathlib import Path

from trestle.oscal import OSCAL_VERSION
from trestle.oscal import assessment_results as ar
from trestle.oscal import common

from harness import __version__
from harness.errors import HarnessError
from reports.assessment import FAIL, PASS, PASS_DEVIATIONS, Assessment, TestRef
from reports.catalogue import Catalogue
from reports.provenance_view import NOT_RECORDED, provenance_rows, run_facts
from reports.run_data import RunData
from reports.security_figures import security_checks

NS = "urn:tpm-hil:oscal"
_UUID_NS = uuid.UUID("6f1c1d2e-8b0a-5c4e-9d3f-2a7b5e4c1f00")


class OscalError(HarnessError):
    """The OSCAL document does not validate."""


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_UUID_NS, "\x1f".join(parts)))


def _time(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(microsecond=0)


def _value(value: object) -> str:
    """An OSCAL property value: one line, no blanks at either end, never empty."""
    return " ".join(str(value).split()) or "-"


def _prop(name: str, value: str) -> common.Property:
    return common.Property(name=name, value=_value(value), ns=NS)


def _observation(ref: TestRef, run_key: str, finished: float) -> common.Observation:
    where = f"data/{ref.run_id}"
    evidence = [common.RelevantEvidence(href=ref.row_ref,
                                        description=f"Verdict row of {ref.nodeid} ({ref.file})"),
                common.RelevantEvidence(href=f"{where}/exchanges.csv",
                                        description="TPM command log of this test (column 'test')")]
    props = [_prop("run-id", ref.run_id), _prop("test-outcome", ref.outcome),
             _prop("linked-by", ref.via.replace(" ", "-"))]
    if ref.point_id:
        props.append(_prop("campaign-point", ref.point_id))
    if not ref.judged:
        props.append(_prop("judged", "beyond-rated-range"))
    if ref.outcome == "xfailed":
        props += [_prop("deviation", "known"), _prop("spec-clause", ref.spec or NOT_RECORDED),
                  _prop("deviation-reason", ref.message or NOT_RECORDED)]
    if ref.excluded:
        props.append(_prop("counted", "no"))
    return common.Observation(
        uuid=_uuid(run_key, "obs", ref.run_id, ref.nodeid, ref.point_id or ""),
        title=ref.nodeid, description=f"pytest {ref.nodeid}: {ref.outcome}"
        + (f" ({ref.message})" if ref.message else ""),
        methods=["TEST"], props=props, relevant_evidence=evidence,
        collected=_time(finished))


def _token(text: str) -> str:
    """An OSCAL property name: letters, digits, '-', starting with a letter."""
    out = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return out if out[:1].isalpha() else f"p-{out}"


def _provenance_props(runs: list[RunData]) -> list[common.Property]:
    """The provenance block of every run as metadata props (``provenance-<item>``, class = run id)."""
    props = []
    for run in runs:
        block = provenance_rows(run.path)
        props.append(common.Property(name="provenance-recorded", value="yes" if block["recorded"] else "no",
                                     ns=NS, class_=_token(run.run_id)))
        for label, value in block["rows"]:
            props.append(common.Property(name=_token(f"provenance-{label}"), value=_value(value),
                                         ns=NS, class_=_token(run.run_id)))
    return props


def _security_observation(check: dict, run: RunData, run_key: str) -> common.Observation:
    """One security check (evidence/security/<check>.json) with its figures as props."""
    props = [_prop("run-id", run.run_id), _prop("security-check", check["check"]),
             _prop("check-verdict", check["verdict"].replace(" ", "-")),
             _prop("simulation", "yes" if check["simulation"] else "no")]
    for fig in check["figures"]:
        props.append(common.Property(name=_token(f"figure-{fig['name']}"), value=_value(fig["value"]),
                                     ns=NS, remarks=" ".join(x for x in (fig["unit"], fig["meaning"]) if x)
                                     or None))
    evidence = [common.RelevantEvidence(href=f"evidence/{run.run_id}/{check['file'].removeprefix('evidence/')}",
                                        description=f"Figures of the {check['check']} check")]
    evidence += [common.RelevantEvidence(href=f"evidence/{run.run_id}/{p['name'].removeprefix('evidence/')}",
                                         description="Plot") for p in check["plots"] if p["uri"]]
    sim = " SIMULATION: figures from a simulated target." if check["simulation"] else ""
    return common.Observation(
        uuid=_uuid(run_key, "security", run.run_id, check["check"]),
        title=f"security check {check['check']}: {check['verdict']}",
        description=(f"Security check {check['check']} in run {run.run_id}: {check['verdict']}"
                     + (f" ({check['reason']})" if check["reason"] else "") + "." + sim),
        methods=["TEST"], props=props, relevant_evidence=evidence, collected=_time(run.finished()))


def _back_matter(package: Path, run_key: str) -> common.BackMatter | None:
    """One resource per file already in the package, with its SHA-256 (OSCAL rlink hashes)."""
    resources = []
    for path in sorted(p for p in package.rglob("*") if p.is_file()):
        rel = path.relative_to(package).as_posix()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        media = mimetypes.guess_type(path.name)[0]
        resources.append(common.Resource(
            uuid=_uuid(run_key, "resource", rel), title=rel,
            rlinks=[common.Rlink(href=rel, media_type=media,
                                 hashes=[common.Hash(algorithm="SHA-256", value=digest)])]))
    return common.BackMatter(resources=resources) if resources else None


def build_assessment_results(catalogue: Catalogue, runs: list[RunData], assessment: Assessment,
                             package: Path | None = None) -> ar.AssessmentResults:
    """The OSCAL assessment-results model for ``runs``.

    Args:
        package: the package folder being built; its files so far (raw data,
            report, matrix) are listed in back-matter with their SHA-256.
    """
    run_key = "|".join(r.run_id for r in runs)
    start = min(r.started() for r in runs)
    end = max(r.finished() for r in runs)
    observations: dict[str, common.Observation] = {}
    findings = []
    for v in assessment.verdicts:
        req = v.requirement
        related = []
        for t in v.tests:
            obs = _observation(t, run_key, t.started + t.duration_s)
            observations.setdefault(obs.uuid, obs)
            related.append(common.RelatedObservation(observation_uuid=obs.uuid))
        satisfied = v.verdict in (PASS, PASS_DEVIATIONS)
        state = "satisfied" if satisfied else "not-satisfied"
        reason = "pass" if satisfied else ("fail" if v.verdict == FAIL else "other")
        props = [_prop("verdict", v.verdict.replace(" ", "-")), _prop("rationale", req.rationale)]
        if req.limits:
            props.append(_prop("limits", req.limits))
        props += [_prop("missing-evidence", m) for m in v.missing]
        props += [_prop("deviation", f"{t.nodeid}: {t.spec or NOT_RECORDED}: {t.message or NOT_RECORDED}")
                  for t in v.deviations]
        findings.append(common.Finding(
            uuid=_uuid(run_key, "finding", req.id), title=f"{req.id} {req.title}",
            description=f"{req.text} Verdict: {v.verdict} ({v.note}). Mapping: {req.rationale}",
            props=props,
            target=common.FindingTarget(
                type="objective-id", target_id=req.oscal_id, title=req.id,
                status=common.ObjectiveStatus(state=state, reason=reason, remarks=v.note)),
            related_observations=related or None))
    facts = [run_facts(r) for r in runs]
    chips = sorted({f["chip"] for f in facts})
    for run in runs:
        for check in security_checks(run.path):
            obs = _security_observation(check, run, run_key)
            observations[obs.uuid] = obs
    result = ar.Result(
        uuid=_uuid(run_key, "result"), title=f"tpm-hil evidence for runs {', '.join(r.run_id for r in runs)}",
        description="TPM 2.0 tests run by tpm-hil, judged against the IEC 62443-4-2 and FIPS 140-3 "
                    "entries of the tpm-hil requirement catalogue.",
        start=_time(start), end=_time(end),
        props=[_prop("chip", c) for c in chips] + [_prop("run-id", r.run_id) for r in runs]
        + [_prop("target", f["target"]) for f in facts] + [_prop("chip-profile", f["profile"]) for f in facts],
        reviewed_controls=common.ReviewedControls(control_selections=[common.ControlSelections(
            include_controls=[common.SelectControlById(control_id=r.oscal_id) for r in catalogue])]),
        observations=sorted(observations.values(), key=lambda o: o.uuid) or None,
        findings=findings)
    metadata = common.Metadata(title="TPM compliance evidence (tpm-hil)", last_modified=_time(end),
                               version=__version__, oscal_version=OSCAL_VERSION,
                               props=_provenance_props(runs))
    return ar.AssessmentResults(
        uuid=_uuid(run_key, "assessment-results"), metadata=metadata,
        import_ap=ar.ImportAp(href="catalogue.yaml",
                              remarks="No OSCAL assessment plan: the plan is the tpm-hil requirement "
                                      "catalogue shipped in this package."),
        results=[result],
        back_matter=_back_matter(package, run_key) if package else None)


def write_oscal(model: ar.AssessmentResults, path: Path) -> Path:
    """Serialise to OSCAL JSON (``{"assessment-results": {...}}``)."""
    model.oscal_write(path)
    return path


def read_oscal(path: Path) -> ar.AssessmentResults:
    """Read and validate an assessment-results file.

    Raises:
        OscalError: the file does not validate against the OSCAL model.
    """
    try:
        model = ar.AssessmentResults.oscal_read(path)
    except Exception as exc:  # trestle raises pydantic and its own errors
        raise OscalError(f"{path}: not valid OSCAL assessment results: {exc}") from exc
    if model is None:
        raise OscalError(f"{path}: not valid OSCAL assessment results: empty")
    return model
