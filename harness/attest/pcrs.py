"""PCR access for attestation: PCR_Read over many banks, PCR_Extend with all banks.

TPM 2.0 Part 3 §22.4 (PCR_Read) answers at most eight digests per call
(TPML_DIGEST) and says which PCRs it answered in its selection, so
:func:`read_pcrs` loops until every requested PCR has come back.
"""

from __future__ import annotations

from tpm2_pytss.constants import ESYS_TR, TPM2_ALG
from tpm2_pytss.types import TPML_DIGEST_VALUES, TPML_PCR_SELECTION, TPMT_HA

from harness.errors import HarnessError, NotSupportedError
from harness.identity import list_pcr_banks
from harness.reference.hashes import ALG_IDS, alg_name

def selection(banks: list[str], pcrs: list[int]) -> TPML_PCR_SELECTION:
    """TPML_PCR_SELECTION of ``pcrs`` in each of ``banks``, in that order."""
    spec = "+".join(f"{bank}:{','.join(str(p) for p in sorted(pcrs))}" for bank in banks)
    return TPML_PCR_SELECTION.parse(spec)


def selected(sel: TPML_PCR_SELECTION) -> list[tuple[str, list[int]]]:
    """(bank, PCRs ascending) per entry of a TPML_PCR_SELECTION, in its order."""
    out = []
    for i in range(sel.count):
        s = sel.pcrSelections[i]
        pcrs = [j * 8 + k for j in range(s.sizeofSelect) for k in range(8)
                if s.pcrSelect[j] & (1 << k)]
        out.append((alg_name(int(s.hash)), pcrs))
    return out


def active_banks(esapi) -> list[str]:
    """The chip's active PCR banks (GetCapability TPM_CAP_PCRS)."""
    return sorted(list_pcr_banks(esapi))


def read_pcrs(esapi, banks: list[str], pcrs: list[int]) -> dict[str, dict[int, bytes]]:
    """PCR_Read every PCR of ``pcrs`` in every bank of ``banks``.

    Raises:
        HarnessError: the chip answers none of the PCRs still wanted (an
            inactive bank), instead of looping forever.
    """
    out: dict[str, dict[int, bytes]] = {bank: {} for bank in banks}
    for bank in banks:
        wanted = list(pcrs)
        while wanted:
            _counter, sel_out, digests = esapi.pcr_read(selection([bank], wanted))
            answered = [p for _b, ps in selected(sel_out) for p in ps]
            if not answered:
                raise HarnessError(f"PCR_Read answered no {bank} PCR out of {wanted}: "
                                   f"is the {bank} bank active on the chip?")
            for pcr, i in zip(answered, range(digests.count)):
                out[bank][pcr] = bytes(digests.digests[i])
            wanted = [p for p in wanted if p not in out[bank]]
    return out


def extend(esapi, pcr: int, digests: dict[str, bytes]) -> None:
    """TPM2_PCR_Extend (Part 3 §22.2) of one PCR in every bank of ``digests`` at once."""
    if not 0 <= pcr <= 23:
        raise NotSupportedError(f"PCR {pcr} is not a PC Client PCR (0-23)")
    entries = []
    for bank, digest in digests.items():
        ha = TPMT_HA(hashAlg=TPM2_ALG(ALG_IDS[bank]))
        setattr(ha.digest, bank, digest)  # TPMU_HA members are named like the banks
        entries.append(ha)
    values = TPML_DIGEST_VALUES(entries)
    esapi.pcr_extend(ESYS_TR(pcr), values)
