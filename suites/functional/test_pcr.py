"""PCR_Extend / PCR_Read / PCR_Reset: TPM 2.0 Part 3 §22.

Only PCR 16 is extended: it is resettable from locality 0 (PC Client PTP §4.6), and each
test resets it afterwards, so a board's PCRs are as they were."""

import hashlib

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG
from tpm2_pytss.types import TPML_DIGEST_VALUES, TPMT_HA

from harness.reference import pcr

pytestmark = [pytest.mark.functional,
              pytest.mark.needs("cc:TPM2_PCR_Extend", "cc:TPM2_PCR_Reset")]

DEBUG_PCR = 16  # resettable from locality 0 (PC Client PTP §4.6)
ALG = {"sha1": TPM2_ALG.SHA1, "sha256": TPM2_ALG.SHA256, "sha384": TPM2_ALG.SHA384,
       "sha512": TPM2_ALG.SHA512}


def _read(tpm, bank: str, pcr: int) -> bytes:
    _, _, digests = tpm.pcr_read(f"{bank}:{pcr}")
    assert digests.count == 1, f"PCR_Read returned {digests.count} digests for {bank}:{pcr}"
    return bytes(digests.digests[0])


def _digests(banks, data: bytes) -> TPML_DIGEST_VALUES:
    values = []
    for bank in banks:
        ha = TPMT_HA(hashAlg=ALG[bank])
        setattr(ha.digest, bank, hashlib.new(bank, data).digest())
        values.append(ha)
    return TPML_DIGEST_VALUES(values)


@pytest.mark.spec("TPM 2.0 Part 3 §22.2 TPM2_PCR_Extend, §22.4 TPM2_PCR_Read")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", "IEC62443-4-2:EDR 3.14")
@pytest.mark.verifies("PCR_Extend", "PCR_Read")
def test_extend_matches_software_digest_in_every_bank(tpm, caps):
    banks = sorted(b for b, count in caps.banks.items() if count and b in ALG)
    assert banks, f"no active hash bank among {sorted(caps.banks)} (TPM_CAP_PCRS)"
    tpm.pcr_reset(ESYS_TR.PCR16)
    try:
        before = {b: _read(tpm, b, DEBUG_PCR) for b in banks}
        data = b"tpm-hil measured component"
        tpm.pcr_extend(ESYS_TR.PCR16, _digests(banks, data))
        for bank in banks:
            expected = pcr.extend(int(ALG[bank]), before[bank], hashlib.new(bank, data).digest())
            assert _read(tpm, bank, DEBUG_PCR) == expected, \
                f"bank {bank}: PCR16 != H(old || digest)"
    finally:
        tpm.pcr_reset(ESYS_TR.PCR16)


@pytest.mark.spec("TPM 2.0 Part 3 §22.3 TPM2_PCR_Reset")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4")
@pytest.mark.needs("bank:sha256")
@pytest.mark.verifies("PCR_Reset")
def test_reset_debug_pcr_gives_zeros(tpm):
    tpm.pcr_extend(ESYS_TR.PCR16, _digests(["sha256"], b"x"))
    tpm.pcr_reset(ESYS_TR.PCR16)
    assert _read(tpm, "sha256", DEBUG_PCR) == bytes(32)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §22.3: PCR 0 is not resettable from locality 0")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", "IEC62443-4-2:CR 3.7")
def test_reset_of_pcr0_is_refused(tpm, expect_rc):
    with expect_rc(0x907):  # TPM_RC_LOCALITY (warning)
        tpm.pcr_reset(ESYS_TR.PCR0)
