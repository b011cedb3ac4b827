"""TPM-Fail (CVE-2019-16863): EC signing time must not depend on the nonce's length.

Bounded: the sample size comes from a power analysis on the first signatures,
the test stops when the answer is clear, and the whole check (all schemes)
has a wall-time budget ($TPMHIL_AUDIT_BUDGET_S, default 120 s). A check that
runs out of budget without an answer is reported as skipped with what it
could resolve (never as passed); a chip whose first signatures break its
profile's TPM2_Sign latency bound fails at once.
"""

import pytest

from harness.audit.checks import (FAIL, INCOMPLETE, PASS, REQUIREMENTS, check_nonce_timing,
                                  offered_schemes)
from harness.audit.nonce_timing import SCHEMES

pytestmark = [pytest.mark.security, pytest.mark.slow]


@pytest.mark.spec("TPM 2.0 Part 3 §20.2 TPM2_Sign, §12.3 TPM2_LoadExternal; Part 1 Annex C.4")
@pytest.mark.requirement(*REQUIREMENTS["nonce_timing"])
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_signing_time_does_not_leak_nonce_length(tpm, tpm_raw, identity, chip, audit_samples,
                                                 audit_budget_s, evidence_dir, progress,
                                                 security_evidence, scheme):
    offered = offered_schemes(identity)
    if scheme not in offered:
        pytest.skip(f"the chip does not offer {scheme} on NIST P-256 (TPM_CAP_ALGS / ECC_CURVES)")
    (outcome,) = check_nonce_timing(tpm, tpm_raw, identity, audit_samples,
                                    plot_path=evidence_dir / f"nonce_timing_{scheme}.png",
                                    schemes=[scheme], budget_s=audit_budget_s / len(offered),
                                    profile=chip, progress=progress)
    security_evidence(outcome)
    if outcome.verdict == INCOMPLETE:
        pytest.skip(outcome.summary)
    assert outcome.verdict != FAIL, outcome.summary
    assert outcome.verdict == PASS, outcome.summary
