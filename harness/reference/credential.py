"""TPM2_MakeCredential in software (TPM 2.0 Part 1 §24, Part 3 §12.6).

A verifier wraps a secret for a key (the AK) named ``name`` so that only the
TPM holding the RSA EK can recover it with TPM2_ActivateCredential.
"""

from __future__ import annotations

import hmac
import os
import struct
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from harness.reference.hashes import digest_size, hashlib_name
from harness.reference.kdf import kdfa
from harness.reference.symmetric import aes_cfb_encrypt

_CRYPTO_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
                  "sha512": hashes.SHA512}


class CredentialBlob(NamedTuple):
    """What TPM2_ActivateCredential takes.

    Attributes:
        credential_blob: the TPM2B_ID_OBJECT contents (integrityHMAC as a
            TPM2B_DIGEST followed by encIdentity), without its outer size.
        encrypted_secret: the TPM2B_ENCRYPTED_SECRET contents (the OAEP-wrapped seed).
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


def make_credential(ek_public: rsa.RSAPublicKey, name_alg: int, name: bytes,
                    credential: bytes, seed: bytes | None = None,
                    sym_key_bits: int = 128) -> CredentialBlob:
    """TPM2_MakeCredential for an RSA EK (Part 1 §24.4, Annex B.10.3).

    Args:
        ek_public: the EK's RSA public key.
        name_alg: the EK's nameAlg (TPM_ALG id); also the OAEP hash.
        name: the name of the key the credential is for (e.g. the AK).
        credential: the secret (at most the size of a digest).
        seed: the seed, random if None (fixed only in unit tests).
        sym_key_bits: the EK's symmetric key size.
    """
    seed = seed if seed is not None else os.urandom(digest_size(name_alg))
    algo = _CRYPTO_HASHES[hashlib_name(name_alg)]()
    secret = ek_public.encrypt(
        seed, padding.OAEP(mgf=padding.MGF1(algo), algorithm=algo, label=b"IDENTITY\x00"))
    return CredentialBlob(wrap_credential(name_alg, seed, name, credential, sym_key_bits), secret)
