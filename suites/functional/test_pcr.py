"""PCR_Extend / PCR_Read / PCR_Reset: TPM 2.0 Part 3 §22.

Only a debug PCR is extended (16 or 23: one locality 0 may extend and reset, see
:mod:`suites.functional.pcrs`), and each test resets it afterwards, so a board's PCRs
are as they were."""

import hashlib

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG
from tpm2_pytss.types import TPML_DIGEST_VALUES, TPMT_HA

from harness.reference import pcr
from suites.functional.pcrs import TPM_PT_PCR_RESET_L0, debug_pcr, handle, pcrs_with

pytestmark = [pytest.mark.functional,
              pytest.mark.needs("cc:TPM2_PCR_Extend", "cc:TPM2_PCR_Reset")]

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
    index = debug_pcr(tpm)
    tpm.pcr_reset(handle(index))
    try:
        before = {b: _read(tpm, b, index) for b in banks}
        data = b"tpm-hil measured component"
        tpm.pcr_extend(handle(index), _digests(banks, data))
        for bank in banks:
            expected = pcr.extend(int(ALG[bank]), before[bank], hashlib.new(bank, data).digest())
            assert _read(tpm, bank, index) == expected, \
                f"bank {bank}: PCR{index} != H(old || digest)"
    finally:
        tpm.pcr_reset(handle(index))


@pytest.mark.spec("TPM 2.0 Part 3 §22.3 TPM2_PCR_Reset")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4")
@pytest.mark.needs("bank:sha256")
@pytest.mark.verifies("PCR_Reset")
def test_reset_debug_pcr_gives_zeros(tpm):
    index = debug_pcr(tpm)
    tpm.pcr_extend(handle(index), _digests(["sha256"], b"x"))
    tpm.pcr_reset(handle(index))
    assert _read(tpm, "sha256", index) == bytes(32)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §22.3: a PCR locality 0 may not reset (PCR 0, PC Client "
                  "PTP) is TPM_RC_LOCALITY")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", "IEC62443-4-2:CR 3.7")
def test_reset_of_pcr0_is_refused(tpm, expect_rc):
    if 0 in pcrs_with(tpm, TPM_PT_PCR_RESET_L0):  # never reset a board's firmware PCR
        pytest.skip("chip lets locality 0 reset PCR 0 (TPM_PT_PCR_RESET_L0)")
    with expect_rc(0x907):  # TPM_RC_LOCALITY (warning)
        tpm.pcr_reset(ESYS_TR.PCR0)
