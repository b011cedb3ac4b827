"""TPM2_MakeCredential computed in software, as a verifier does it.

The verifier never needs a TPM of its own: from the EK public key (taken from
the EK certificate) and the AK's name it builds a credential blob that only
the TPM holding that EK, with that exact AK loaded, can open with
TPM2_ActivateCredential.

Spec: TPM 2.0 Part 1 §24 "Protected Storage" (§24.4 symmetric encryption,
§24.5 HMAC), §B.10.4 / §C.6.4 (secret sharing: RSA-OAEP with label
"IDENTITY", ECDH + KDFe), §11.4.10 (KDFa, KDFe); Part 3 §12.6 MakeCredential.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.errors import HarnessError
from harness.reference import credential as _credential
from harness.reference import names as _names
from harness.reference.hashes import alg_id, digest, digest_size


def object_name(name_alg: str, public_area) -> bytes:
    """TPM name of an object (Part 1 §16): nameAlg id || H(marshalled TPMT_PUBLIC),
    by tpm2-pytss (:func:`harness.reference.names.object_name`)."""
    return _names.object_name(alg_id(name_alg), public_area)


def qualified_name(name_alg: str, parent_qualified_name: bytes, name: bytes) -> bytes:
    """Qualified name (Part 1 §16.6): nameAlg id || H(QN of parent || Name).

    The QN of a hierarchy is its handle (e.g. TPM_RH_ENDORSEMENT 0x4000000B).
    """
    alg = alg_id(name_alg)
    return alg.to_bytes(2, "big") + digest(alg, parent_qualified_name + name)


def make_credential(ek_public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
                    ek_name_alg: str, ek_sym_bits: int, ak_name: bytes,
                    credential: bytes) -> tuple[bytes, bytes]:
    """Software TPM2_MakeCredential, as a verifier computes it (tpm2-pytss, through
    :func:`harness.reference.credential.make_credential`).

    Args:
        ek_public_key: the EK's public key (from its certificate).
        ek_name_alg: the EK's nameAlg (``sha256`` for the TCG default
            templates L-1/L-2, ``sha384`` for H-3...).
        ek_sym_bits: key size of the EK's symmetric definition (AES-128 for
            the low-range templates, AES-256 for the high-range ones).
        ak_name: the AK's TPM name (the credential is bound to it).
        credential: the secret (at most the nameAlg digest size).

    Returns:
        ``(id_object, encrypted_secret)``: the bodies of TPM2B_ID_OBJECT and
        TPM2B_ENCRYPTED_SECRET (without their size prefixes).
    """
    try:
        alg = alg_id(ek_name_alg)
        size = digest_size(alg)
    except ValueError as exc:
        raise HarnessError(f"EK nameAlg: {exc}") from None
    if not 0 < len(credential) <= size:
        raise HarnessError(f"credential must be 1-{size} bytes, got {len(credential)}")
    try:
        blob = _credential.make_credential(ek_public_key, alg, ak_name, credential,
                                           sym_key_bits=ek_sym_bits)
    except (TypeError, ValueError) as exc:
        raise HarnessError(f"MakeCredential for this EK: {exc}") from None
    return blob.credential_blob, blob.encrypted_secret
