"""One audit of one chip: identity, advisories and every behavioural check,
with evidence written into a results folder (``tpmhil audit``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.audit import checks, nonce_timing
from harness.audit.catalogue import Catalogue
from harness.audit.checks import ERROR, FAIL, NOT_RUN, PASS, CheckOutcome
from harness.results.run_folder import RunFolder
from harness.results.store import TestRecord

ALL_CHECKS = ("roca", "nonce_timing", "reference_probes", "ek_credentials")


@dataclass
class AuditOptions:
    """What to run and how.

    Attributes:
        samples: signatures per EC scheme for the timing test.
        destructive_ok: the reference-library probes may run (a vulnerable
            chip may need a power cycle after them).
        trust_roots: certificates (and intermediates) EK chains must reach.
        skip: check names not to run.
        budget_s: wall time of the nonce-timing check (all schemes).
        profile: the chip profile (its TPM2_Sign bound fails a slow chip early).
        progress: receives progress lines of long checks.
    """

    samples: int = nonce_timing.DEFAULT_SAMPLES
    budget_s: float | None = nonce_timing.DEFAULT_AUDIT_BUDGET_S
    profile: object = None
    progress: Callable[[str], None] | None = None
    alpha: float = nonce_timing.DEFAULT_ALPHA
    floor_us_per_bit: float = nonce_timing.DEFAULT_FLOOR_US_PER_BIT
    destructive_ok: bool = False
    destructive_note: str = ""
    trust_roots: list = field(default_factory=list)
    skip: tuple[str, ...] = ()


@dataclass
class AuditReport:
    identity: object
    firmware: object
    profile: str | None
    outcomes: list[CheckOutcome]
    catalogue_versions: dict[str, str]
    started: float
    finished: float = 0.0

    @property
    def weakness_found(self) -> bool:
        """True when any check failed or could not complete (the audit does not pass)."""
        return any(o.failed for o in self.outcomes)

    @property
    def passed(self) -> bool:
        """Every check ran and passed: nothing less is a PASS."""
        return bool(self.outcomes) and all(o.verdict == PASS for o in self.outcomes)

    @property
    def verdict(self) -> str:
        """``WEAKNESS FOUND``, ``INCOMPLETE (...)`` naming every check that did not
        pass (not run, inconclusive, over budget, broke off) or ``PASS``."""
        if any(o.verdict == FAIL for o in self.outcomes):
            return "WEAKNESS FOUND"
        gaps = [f"{o.name} {o.verdict}" for o in self.outcomes if o.verdict != PASS]
        if gaps:
            return f"INCOMPLETE ({'; '.join(gaps)})"
        return "PASS"

    def to_dict(self) -> dict:
        return {"identity": self.identity.to_dict(),
                "firmware": {"text": self.firmware.text, "rule": self.firmware.rule,
                             "parts": list(self.firmware.parts)},
                "profile": self.profile, "catalogues": self.catalogue_versions,
                "verdict": self.verdict,
                "checks": [o.to_dict() for o in self.outcomes],
                "started": self.started, "finished": self.finished}


def run_audit(esapi, transport, identity, profile_format: str | None, profile_name: str | None,
              catalogue: Catalogue, options: AuditOptions, evidence_dir: Path | None = None,
              on_outcome: Callable[[CheckOutcome], None] | None = None) -> AuditReport:
    """Run the advisory lookup and every check not skipped, in a fixed order."""
    report = AuditReport(identity, checks.decoded_firmware(identity, profile_format), profile_name,
                         [], dict(catalogue.versions), time.time())

    def emit(outcome: CheckOutcome) -> None:
        report.outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    def guarded(name: str, run: Callable[[], object]) -> None:
        """Run one check; a check that breaks off is an ERROR verdict, never a pass."""
        try:
            result = run()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # TSS2_Exception, HarnessError, a bug: all must show
            emit(CheckOutcome(name, ERROR, f"check could not complete: {type(exc).__name__}: {exc}",
                              None, checks.REQUIREMENTS[name]))
            return
        for outcome in (result if isinstance(result, list) else [result]):
            emit(outcome)

    emit(checks.check_advisories(catalogue, identity, profile_format)[0])
    for name in ALL_CHECKS:
        if name in options.skip:
            emit(CheckOutcome(name, NOT_RUN, "skipped on request (--skip)", None,
                              checks.REQUIREMENTS[name]))
    if "ek_credentials" not in options.skip:
        guarded("ek_credentials", lambda: checks.check_ek_credentials(esapi, identity, options.trust_roots))
    if "roca" not in options.skip:
        guarded("roca", lambda: checks.check_roca(esapi, identity))
    if "nonce_timing" not in options.skip:
        plot = evidence_dir / "nonce_timing.png" if evidence_dir is not None else None
        guarded("nonce_timing", lambda: checks.check_nonce_timing(
            esapi, transport, identity, options.samples, options.alpha, options.floor_us_per_bit, plot,
            budget_s=options.budget_s, profile=options.profile, progress=options.progress))
    if "reference_probes" not in options.skip:
        if options.destructive_ok:
            guarded("reference_probes", lambda: checks.check_reference_probes(transport, esapi))
        else:
            emit(CheckOutcome("reference_probes", NOT_RUN, options.destructive_note or
                              "destructive probes run only on disposable targets or with "
                              "--allow-destructive URI", None, checks.REQUIREMENTS["reference_probes"]))
    report.finished = time.time()
    return report


def record(folder: RunFolder, report: AuditReport) -> None:
    """Write the audit into the results folder: audit.json, one
    ``evidence/security/<check>.json`` per check (figures, plots, simulation
    flag), one test row per check (with its requirement ids) and the summary."""
    folder.write_json("audit.json", report.to_dict())
    for o in report.outcomes:
        o.write_evidence(folder.path)
    outcome_map = {PASS: "passed", FAIL: "failed", ERROR: "error", NOT_RUN: "skipped"}
    for o in report.outcomes:
        folder.store.add_test(TestRecord(
            nodeid=f"audit::{o.name}", outcome=outcome_map.get(o.verdict, "skipped"),
            duration_s=0.0, started=report.started, finished=report.finished,
            markers=("security",), requirements=o.requirements, message=o.summary))
    for path in sorted({e for o in report.outcomes for e in o.evidence}):
        folder.store.add_artifact(Path(path).name, "plot", "audit::nonce_timing")
