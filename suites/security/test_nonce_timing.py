"""TPM-Fail (CVE-2019-16863): EC signing time must not depend on the nonce's length."""

import pytest

from harness.audit.checks import PASS, REQUIREMENTS, check_nonce_timing, offered_schemes
from harness.audit.nonce_timing import SCHEMES

pytestmark = [pytest.mark.security, pytest.mark.slow]


@pytest.mark.spec("TPM 2.0 Part 3 §20.2 TPM2_Sign, §12.3 TPM2_LoadExternal; Part 1 Annex C.4")
@pytest.mark.requirement(*REQUIREMENTS["nonce_timing"])
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_signing_time_does_not_leak_nonce_length(tpm, tpm_raw, identity, audit_samples,
                                                 evidence_dir, scheme):
    if scheme not in offered_schemes(identity):
        pytest.skip(f"the chip does not offer {scheme} on NIST P-256")
    (outcome,) = check_nonce_timing(tpm, tpm_raw, identity, audit_samples,
                                    plot_path=evidence_dir / f"nonce_timing_{scheme}.png",
                                    schemes=[scheme])
    assert outcome.verdict == PASS, outcome.summary
