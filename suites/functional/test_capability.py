"""TPM2_GetCapability against the chip profile: TPM 2.0 Part 3 §30.2."""

import pytest
from tpm2_pytss.constants import TPM2_CAP

pytestmark = [pytest.mark.functional]

BASIC_COMMANDS = {
    "TPM2_Startup", "TPM2_SelfTest", "TPM2_GetTestResult", "TPM2_GetRandom",
    "TPM2_GetCapability", "TPM2_PCR_Read", "TPM2_PCR_Extend", "TPM2_CreatePrimary",
    "TPM2_Create", "TPM2_Load", "TPM2_Sign", "TPM2_VerifySignature", "TPM2_Quote",
    "TPM2_NV_DefineSpace", "TPM2_NV_Write", "TPM2_NV_Read", "TPM2_NV_UndefineSpace",
    "TPM2_StartAuthSession", "TPM2_PolicyPCR", "TPM2_Unseal", "TPM2_FlushContext",
}


@pytest.mark.spec("TPM 2.0 Part 2 §6.13 TPM_PT_FAMILY_INDICATOR")
@pytest.mark.requirement("IEC62443-4-2:CR 1.2")
def test_family_is_2_0_and_revision_meets_profile(identity, chip):
    assert identity.family == "2.0"
    assert identity.spec_revision / 100 >= chip.spec_revision_min, (
        f"spec revision {identity.spec_revision / 100:.2f} < profile minimum {chip.spec_revision_min}")


@pytest.mark.requirement("IEC62443-4-2:CR 1.2")
def test_manufacturer_matches_profile(identity, chip):
    if chip.manufacturer == "*":
        pytest.skip("generic profile: no manufacturer promised; name one with --chip-profile")
    assert chip.matches(identity.manufacturer, identity.vendor), (
        f"chip reports {identity.manufacturer!r}/{identity.vendor!r}, profile {chip.name} "
        f"promises {chip.manufacturer!r}/{list(chip.vendor_strings)}")


@pytest.mark.requirement("IEC62443-4-2:CR 4.3", "FIPS140-3:approved-algorithms")
def test_algorithms_cover_profile(identity, chip):
    missing = sorted(set(chip.algorithms) - set(identity.algorithms))
    assert not missing, f"algorithms promised by {chip.name} but not reported: {missing}"


@pytest.mark.requirement("IEC62443-4-2:CR 4.3")
def test_curves_cover_profile(identity, chip):
    missing = sorted(set(chip.ecc_curves) - set(identity.ecc_curves))
    assert not missing, f"ECC curves promised by {chip.name} but not reported: {missing}"


@pytest.mark.requirement("IEC62443-4-2:CR 3.4")
def test_pcr_banks_cover_profile(identity, chip):
    missing = sorted(set(chip.pcr_banks) - set(identity.pcr_banks))
    assert not missing, f"PCR banks promised by {chip.name} but not active: {missing}"


def test_basic_commands_are_advertised(identity):
    missing = sorted(BASIC_COMMANDS - set(identity.commands))
    assert not missing, f"commands every TPM 2.0 must implement are missing: {missing}"


@pytest.mark.requirement("FIPS140-3:approved-mode")
def test_fips_mode_indicator_matches_profile(identity, chip):
    if chip.fips_mode is None:
        pytest.skip(f"profile {chip.name} makes no FIPS-mode promise")
    assert identity.fips_mode == chip.fips_mode, (
        f"TPM_PT_MODES.FIPS_140_2 is {identity.fips_mode}, profile expects {chip.fips_mode}")


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §30.2: an unknown capability is TPM_RC_VALUE")
@pytest.mark.requirement("IEC62443-4-2:CR 3.7")
def test_unknown_capability_is_value_error(raw_rc):
    """Sent raw: tpm2-pytss refuses an unknown capability before the TPM sees it."""
    body = (int(TPM2_CAP.VENDOR_PROPERTY) + 1).to_bytes(4, "big") + bytes(4) + (1).to_bytes(4, "big")
    rc = raw_rc(0x17A, body)
    assert rc == 0x1C4, f"expected TPM_RC_VALUE (parameter 1) 0x1c4, got 0x{rc:03x}"
