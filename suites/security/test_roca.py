"""ROCA (CVE-2017-15361): no RSA key the chip produces has the fingerprint (badkeys, with
its offline Fermat, small-factor and shared-prime checks)."""

import pytest

from harness.audit.checks import FAIL, NOT_RUN, REQUIREMENTS, check_roca

pytestmark = [pytest.mark.security]


@pytest.mark.spec("Nemec et al., CCS 2017 (ROCA); TPM 2.0 Part 3 §24.1 CreatePrimary, §12.1 Create")
@pytest.mark.requirement(*REQUIREMENTS["roca"])
@pytest.mark.needs("hierarchy:owner", "hierarchy:endorsement")
def test_chip_rsa_keys_have_no_roca_fingerprint(tpm, identity, security_evidence):
    if "rsa" not in identity.algorithms:
        pytest.skip("the chip offers no RSA")
    pytest.importorskip("badkeys", reason="the lab host lacks badkeys: pip install 'tpm-hil[audit]'")
    outcome = check_roca(tpm, identity)
    security_evidence(outcome)
    assert outcome.verdict not in (FAIL, NOT_RUN), outcome.summary
    assert len(outcome.details) >= 3  # EK, storage primary, created key at least
    if identity.ek_certificates.get("0x01c00002"):
        assert any(d["origin"] == "EK certificate 0x01c00002" for d in outcome.details)
