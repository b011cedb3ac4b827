"""Verify TPM signatures and parse attestation structures in software
(``cryptography`` and tpm2-pytss unmarshalling; TPM 2.0 Part 2 §10.12, §11.3)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tpm2_pytss.constants import TPM2_ALG, TPM2_GENERATED
from tpm2_pytss.types import TPMS_ATTEST

from harness.tpm.software import public_key

_HASHES = {int(TPM2_ALG.SHA1): hashes.SHA1, int(TPM2_ALG.SHA256): hashes.SHA256,
           int(TPM2_ALG.SHA384): hashes.SHA384, int(TPM2_ALG.SHA512): hashes.SHA512}


def verify(tpm2b_public, message: bytes, signature) -> None:
    """Verify a TPMT_SIGNATURE over ``message`` with the key of ``tpm2b_public``.

    Raises:
        cryptography.exceptions.InvalidSignature: the signature does not verify.
        ValueError: a signature scheme this helper does not know.
    """
    key = public_key(tpm2b_public)
    alg = int(signature.sigAlg)
    if alg == TPM2_ALG.ECDSA:
        sig = signature.signature.ecdsa
        der = encode_dss_signature(int.from_bytes(bytes(sig.signatureR), "big"),
                                   int.from_bytes(bytes(sig.signatureS), "big"))
        key.verify(der, message, ec.ECDSA(_HASHES[int(sig.hash)]()))
    elif alg == TPM2_ALG.RSASSA:
        sig = signature.signature.rsassa
        key.verify(bytes(sig.sig), message, padding.PKCS1v15(), _HASHES[int(sig.hash)]())
    elif alg == TPM2_ALG.RSAPSS:
        sig = signature.signature.rsapss
        key.verify(bytes(sig.sig), message, padding.PSS(padding.MGF1(_HASHES[int(sig.hash)]()),
                                                        padding.PSS.AUTO), _HASHES[int(sig.hash)]())
    else:
        raise ValueError(f"signature scheme 0x{alg:04x} not supported by the verifier")


def parse_attest(tpm2b_attest) -> TPMS_ATTEST:
    """Unmarshal the TPMS_ATTEST inside a TPM2B_ATTEST and check its magic.

    Raises:
        ValueError: the structure is not TPM-generated (magic) or has trailing bytes.
    """
    data = bytes(tpm2b_attest)
    attest, used = TPMS_ATTEST.unmarshal(data)
    if int(attest.magic) != int(TPM2_GENERATED.VALUE):
        raise ValueError(f"TPMS_ATTEST magic 0x{int(attest.magic):08x} is not TPM_GENERATED_VALUE")
    if used != len(data):
        raise ValueError(f"TPMS_ATTEST has {len(data) - used} trailing bytes")
    return attest


def attest_bytes(tpm2b_attest) -> bytes:
    """The signed bytes of an attestation (the TPM2B's contents)."""
    return bytes(tpm2b_attest)
