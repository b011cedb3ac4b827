"""Verify TPM signatures and parse attestation structures in software
(``cryptography`` and tpm2-pytss unmarshalling; TPM 2.0 Part 2 §10.12, §11.3)."""

from __future__ import annotations

from tpm2_pytss.constants import TPM2_GENERATED
from tpm2_pytss.types import TPMS_ATTEST

from harness.attest.quote import QuoteFormatError, unmarshal_attest, verify_tpm_signature
from harness.tpm.software import public_key


def verify(tpm2b_public, message: bytes, signature) -> None:
    """Verify a TPMT_SIGNATURE over ``message`` with the key of ``tpm2b_public``
    (:func:`harness.attest.quote.verify_tpm_signature`).

    Raises:
        cryptography.exceptions.InvalidSignature: the signature does not verify.
        ValueError: a signature scheme this helper does not know.
    """
    try:
        verify_tpm_signature(public_key(tpm2b_public), message, signature)
    except QuoteFormatError as exc:
        raise ValueError(str(exc)) from None


def parse_attest(tpm2b_attest) -> TPMS_ATTEST:
    """Unmarshal the TPMS_ATTEST inside a TPM2B_ATTEST and check its magic
    (:func:`harness.attest.quote.unmarshal_attest`).

    Raises:
        ValueError: the structure is not TPM-generated (magic) or has trailing bytes.
    """
    try:
        attest = unmarshal_attest(bytes(tpm2b_attest))
    except QuoteFormatError as exc:
        raise ValueError(str(exc)) from None
    if int(attest.magic) != int(TPM2_GENERATED.VALUE):
        raise ValueError(f"TPMS_ATTEST magic 0x{int(attest.magic):08x} is not TPM_GENERATED_VALUE")
    return attest


def attest_bytes(tpm2b_attest) -> bytes:
    """The signed bytes of an attestation (the TPM2B's contents)."""
    return bytes(tpm2b_attest)
