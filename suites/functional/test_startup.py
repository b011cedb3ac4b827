"""Startup and self-test: TPM 2.0 Part 3 §9 (Startup) and §10 (Testing)."""

import pytest
from tpm2_pytss.constants import TPM2_RC, TPM2_SU

pytestmark = [pytest.mark.functional]

TPM_RC_INITIALIZE = 0x100


@pytest.mark.spec("TPM 2.0 Part 3 §10.4 TPM2_SelfTest, §10.6 TPM2_GetTestResult")
@pytest.mark.requirement("IEC62443-4-2:CR 3.3", "FIPS140-3:self-tests")
def test_full_self_test_then_test_result_is_success(tpm):
    tpm.self_test(True)
    out, rc = tpm.get_test_result()
    assert int(rc) == TPM2_RC.SUCCESS, f"GetTestResult after SelfTest(full) returned 0x{int(rc):x}"


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §9.3 TPM2_Startup")
@pytest.mark.requirement("IEC62443-4-2:CR 3.7")
def test_second_startup_is_refused_with_initialize(raw_rc):
    """A started TPM answers a second TPM2_Startup with TPM_RC_INITIALIZE.

    Sent raw: ESAPI's Esys_Startup reports TPM_RC_INITIALIZE as success, which
    would hide the chip's answer.
    """
    rc = raw_rc(0x144, int(TPM2_SU.CLEAR).to_bytes(2, "big"))
    assert rc == TPM_RC_INITIALIZE, f"expected TPM_RC_INITIALIZE 0x100, got 0x{rc:03x}"


@pytest.mark.spec("TPM 2.0 Part 3 §10.6 TPM2_GetTestResult")
@pytest.mark.requirement("FIPS140-3:error-states")
def test_chip_is_not_in_failure_mode(identity, tpm):
    out, rc = tpm.get_test_result()
    assert int(rc) != TPM2_RC.FAILURE, f"chip in failure mode, outData={bytes(out).hex()}"
    assert not identity.in_failure_mode
