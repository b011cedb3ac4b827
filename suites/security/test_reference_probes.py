"""TCG reference-library flaws: CVE-2023-1017/1018 (CryptParameterDecryption) and
CVE-2025-2884 (CryptHmacSign). Destructive: a vulnerable chip may need a power cycle."""

import pytest

from harness.audit.checks import PASS, REQUIREMENTS, check_reference_probes

pytestmark = [pytest.mark.security, pytest.mark.destructive]


@pytest.mark.spec("TCG Errata 1.4 for Library 1.59 §2.6.1; TPM 2.0 Part 3 §11.1, §15.4, §20.2")
@pytest.mark.requirement(*REQUIREMENTS["reference_probes"])
def test_reference_library_probes_are_refused_and_chip_survives(tpm, tpm_raw, security_evidence):
    outcome = check_reference_probes(tpm_raw, tpm)
    security_evidence(outcome)
    assert outcome.verdict == PASS, outcome.summary
    controls = [d for d in outcome.details if d["name"].startswith("control")]
    assert len(controls) == 2 and all(d["rc"] == 0 for d in controls)
