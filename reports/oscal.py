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
from reports.assessment import FAIL, PASS, Assessment, TestRef
from reports.catalogue import Catalogue
from reports.run_data import RunData

NS = "urn:tpm-hil:oscal"
_UUID_NS = uuid.UUID("6f1c1d2e-8b0a-5c4e-9d3f-2a7b5e4c1f00")


class OscalError(HarnessError):
    """The OSCAL document does not validate."""


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_UUID_NS, "\x1f".join(parts)))


def _time(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(microsecond=0)


def _prop(name: str, value: str) -> common.Property:
    return common.Property(name=name, value=value or "-", ns=NS)


def _observation(ref: TestRef, run_key: str, finished: float) -> common.Observation:
    where = f"data/{ref.run_id}"
    evidence = [common.RelevantEvidence(href=f"{where}/tests.csv",
                                        description=f"Verdict row of {ref.nodeid}"),
                common.RelevantEvidence(href=f"{where}/exchanges.csv",
                                        description="TPM command log of this test (column 'test')")]
    props = [_prop("run-id", ref.run_id), _prop("test-outcome", ref.outcome),
             _prop("linked-by", ref.via.replace(" ", "-"))]
    if ref.point_id:
        props.append(_prop("campaign-point", ref.point_id))
    if not ref.judged:
        props.append(_prop("judged", "beyond-rated-range"))
    return common.Observation(
        uuid=_uuid(run_key, "obs", ref.run_id, ref.nodeid, ref.point_id or ""),
        title=ref.nodeid, description=f"pytest {ref.nodeid}: {ref.outcome}"
        + (f" ({ref.message})" if ref.message else ""),
        methods=["TEST"], props=props, relevant_evidence=evidence,
        collected=_time(finished))


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
        state = "satisfied" if v.verdict == PASS else "not-satisfied"
        reason = "pass" if v.verdict == PASS else ("fail" if v.verdict == FAIL else "other")
        findings.append(common.Finding(
            uuid=_uuid(run_key, "finding", req.id), title=f"{req.id} {req.title}",
            description=f"{req.text} Verdict: {v.verdict} ({v.note}).",
            props=[_prop("verdict", v.verdict.replace(" ", "-"))],
            target=common.FindingTarget(
                type="objective-id", target_id=req.oscal_id, title=req.id,
                status=common.ObjectiveStatus(state=state, reason=reason, remarks=v.note)),
            related_observations=related or None))
    chips = sorted({r.chip for r in runs})
    result = ar.Result(
        uuid=_uuid(run_key, "result"), title=f"tpm-hil evidence for runs {', '.join(r.run_id for r in runs)}",
        description="TPM 2.0 tests run by tpm-hil, judged against the IEC 62443-4-2 and FIPS 140-3 "
                    "entries of the tpm-hil requirement catalogue.",
        start=_time(start), end=_time(end),
        props=[_prop("chip", c) for c in chips] + [_prop("run-id", r.run_id) for r in runs],
        reviewed_controls=common.ReviewedControls(control_selections=[common.ControlSelections(
            include_controls=[common.SelectControlById(control_id=r.oscal_id) for r in catalogue])]),
        observations=sorted(observations.values(), key=lambda o: o.uuid) or None,
        findings=findings)
    metadata = common.Metadata(title="TPM compliance evidence (tpm-hil)", last_modified=_time(end),
                               version=__version__, oscal_version=OSCAL_VERSION)
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
