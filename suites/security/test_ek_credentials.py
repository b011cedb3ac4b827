"""EK certificates against the TCG EK Credential Profile (SAN TPM attributes, key usage,
key strength, validity, key equal to the template-derived EK, chain to a trusted root)."""

import pytest

from harness.audit.checks import PASS, REQUIREMENTS, check_ek_credentials

pytestmark = [pytest.mark.security]


@pytest.mark.spec("TCG EK Credential Profile for TPM Family 2.0 §2.1.5, §2.2.1.4, §3.2")
@pytest.mark.requirement(*REQUIREMENTS["ek_credentials"])
@pytest.mark.needs("hierarchy:endorsement")
def test_ek_certificates_meet_the_credential_profile(tpm, identity, ek_roots, security_evidence):
    outcome = check_ek_credentials(tpm, identity, ek_roots)
    security_evidence(outcome)
    assert outcome.verdict == PASS, outcome.summary
