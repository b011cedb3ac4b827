"""The chip's firmware against the advisory catalogue (harness/audit/advisories.yaml)."""

import pytest

from harness.audit.checks import FAIL, REQUIREMENTS, check_advisories

pytestmark = [pytest.mark.security]


@pytest.mark.spec("TPM 2.0 Part 2 §6.13 TPM_PT_MANUFACTURER, TPM_PT_FIRMWARE_VERSION_1/2")
@pytest.mark.requirement(*REQUIREMENTS["advisories"])
def test_firmware_is_not_listed_as_affected(identity, chip, advisory_catalogue, security_evidence):
    outcome, matches = check_advisories(advisory_catalogue, identity,
                                        chip.firmware_format if chip else None)
    security_evidence(outcome)
    assert outcome.verdict != FAIL, outcome.summary
    assert not [m for m in matches if m.status == "affected"]
