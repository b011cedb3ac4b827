"""The PCR a test may extend on a board, and how to put it back.

A test extends only a PCR that locality 0 may both extend and reset
(TPM_CAP_PCR_PROPERTIES: TPM_PT_PCR_EXTEND_L0 and TPM_PT_PCR_RESET_L0, TPM 2.0
Part 2 §6.14; the PC Client PTP makes PCR 16 and 23 such debug PCRs), and resets
it afterwards, so the board keeps what its firmware measured.
"""

from __future__ import annotations

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_CAP

TPM_PT_PCR_EXTEND_L0 = 0x00000001
TPM_PT_PCR_RESET_L0 = 0x00000002
DEBUG_PCRS = (16, 23)


def pcrs_with(tpm, prop: int) -> set[int]:
    """The PCRs listed for TPM_PT_PCR property ``prop`` (TPM_CAP_PCR_PROPERTIES)."""
    more, data = tpm.get_capability(TPM2_CAP.PCR_PROPERTIES, prop, 1)
    props = data.data.pcrProperties
    if props.count == 0 or int(props.pcrProperty[0].tag) != prop:
        return set()
    select = bytes(props.pcrProperty[0].pcrSelect)[: props.pcrProperty[0].sizeofSelect]
    return {i for i in range(len(select) * 8) if select[i // 8] & (1 << (i % 8))}


def debug_pcr(tpm) -> int:
    """PCR 16 or 23, whichever locality 0 may extend and reset; skips the test naming
    the property when neither is."""
    resettable = pcrs_with(tpm, TPM_PT_PCR_RESET_L0)
    extendable = pcrs_with(tpm, TPM_PT_PCR_EXTEND_L0)
    usable = [p for p in DEBUG_PCRS if p in resettable and p in extendable]
    if not usable:
        pytest.skip(f"chip lets locality 0 extend and reset none of PCR {DEBUG_PCRS} "
                    f"(TPM_PT_PCR_RESET_L0 {sorted(resettable)}, "
                    f"TPM_PT_PCR_EXTEND_L0 {sorted(extendable)})")
    return usable[0]


def handle(pcr: int):
    """The ESYS_TR of PCR ``pcr``."""
    return getattr(ESYS_TR, f"PCR{pcr}")
