"""TPM2_MakeCredential in software (TPM 2.0 Part 1 §24, Part 3 §12.6).

A verifier wraps a secret for a key (the AK) named ``name`` so that only the
TPM holding the EK can recover it with TPM2_ActivateCredential. The seed is
shared with the EK by RSA-OAEP (label "IDENTITY", Part 1 Annex B.10.3) or by
an ephemeral ECDH and KDFe (Annex C.6.4).

:func:`make_credential` is tpm2-pytss's ``utils.make_credential``;
:func:`wrap_credential` is the independent reference for the wrapping step
alone, from a known seed, with which a chip's own TPM2_MakeCredential is
checked (the chip is what is under test there, so it is not checked with the
library a verifier would use).
"""

from __future__ import annotations

import hmac
import struct
from typing import NamedTuple

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from tpm2_pytss.constants import TPM2_ALG
from tpm2_pytss.types import TPMT_PUBLIC, TPMT_SYM_DEF_OBJECT
from tpm2_pytss.utils import make_credential as _pytss_make_credential

from harness.reference.hashes import digest_size, hashlib_name
from harness.reference.kdf import kdfa
from harness.reference.symmetric import aes_cfb_encrypt


class CredentialBlob(NamedTuple):
    """What TPM2_ActivateCredential takes.

    Attributes:
        credential_blob: the TPM2B_ID_OBJECT contents (integrityHMAC as a
            TPM2B_DIGEST followed by encIdentity), without its outer size.
        encrypted_secret: the TPM2B_ENCRYPTED_SECRET contents: the OAEP-wrapped
            seed (RSA EK) or the ephemeral TPMS_ECC_POINT (ECC EK).
    """

    credential_blob: bytes
    encrypted_secret: bytes


def wrap_credential(name_alg: int, seed: bytes, name: bytes, credential: bytes,
                    sym_key_bits: int = 128) -> bytes:
    """Protect ``credential`` with ``seed`` for the object named ``name``.

    Returns:
        The TPM2B_ID_OBJECT body: ``TPM2B(outerHMAC) || encIdentity``.
    """
    sym_key = kdfa(name_alg, seed, b"STORAGE", name, b"", sym_key_bits)
    enc_identity = aes_cfb_encrypt(sym_key, struct.pack(">H", len(credential)) + credential)
    hmac_key = kdfa(name_alg, seed, b"INTEGRITY", b"", b"", digest_size(name_alg) * 8)
    outer = hmac.new(hmac_key, enc_identity + name, hashlib_name(name_alg)).digest()
    return struct.pack(">H", len(outer)) + outer + enc_identity


def ek_public_area(ek_public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, name_alg: int,
                   sym_key_bits: int = 128) -> TPMT_PUBLIC:
    """The parts of an EK's TPMT_PUBLIC MakeCredential uses, from its public key:
    the key, nameAlg and the AES-CFB symmetric definition.

    Raises:
        TypeError: the EK is neither RSA nor ECC.
    """
    if not isinstance(ek_public, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey)):
        raise TypeError(f"EK public key of type {type(ek_public).__name__} is neither RSA nor ECC")
    der = ek_public.public_bytes(serialization.Encoding.DER,
                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    symmetric = TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.AES)
    symmetric.keyBits.aes = sym_key_bits
    symmetric.mode.aes = TPM2_ALG.CFB
    return TPMT_PUBLIC.from_pem(der, nameAlg=name_alg, symmetric=symmetric)


def make_credential(ek_public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, name_alg: int,
                    name: bytes, credential: bytes, sym_key_bits: int = 128) -> CredentialBlob:
    """TPM2_MakeCredential for an RSA or ECC EK (Part 1 §24.4, Annex B.10.3, C.6.4),
    by tpm2-pytss (``tpm2_pytss.utils.make_credential``).

    Args:
        ek_public: the EK's public key.
        name_alg: the EK's nameAlg (TPM_ALG id); also the OAEP / KDFe hash.
        name: the name of the key the credential is for (e.g. the AK).
        credential: the secret (at most the size of a digest).
        sym_key_bits: the EK's symmetric (AES-CFB) key size.

    Raises:
        TypeError: the EK is neither RSA nor ECC.
        ValueError: a curve, hash or credential size the library refuses.
    """
    id_object, secret = _pytss_make_credential(
        ek_public_area(ek_public, name_alg, sym_key_bits), credential, name)
    return CredentialBlob(bytes(id_object), bytes(secret))
