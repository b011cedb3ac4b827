"""TPM2_MakeCredential in software (TPM 2.0 Part 1 §24, Part 3 §12.6).

A verifier wraps a secret for a key (the AK) named ``name`` so that only the
TPM holding the EK can recover it with TPM2_ActivateCredential. The seed is
shared with the EK by RSA-OAEP (label "IDENTITY", Part 1 Annex B.10.3) or by
an ephemeral ECDH and KDFe (Annex C.6.4).
"""

from __future__ import annotations

import hmac
import os
import struct
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from harness.reference.hashes import digest_size, hashlib_name
from harness.reference.kdf import kdfa, kdfe
from harness.reference.symmetric import aes_cfb_encrypt

_CRYPTO_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
                  "sha512": hashes.SHA512}


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


def _rsa_seed(ek_public: rsa.RSAPublicKey, name_alg: int, seed: bytes | None
              ) -> tuple[bytes, bytes]:
    seed = seed if seed is not None else os.urandom(digest_size(name_alg))
    algo = _CRYPTO_HASHES[hashlib_name(name_alg)]()
    secret = ek_public.encrypt(
        seed, padding.OAEP(mgf=padding.MGF1(algo), algorithm=algo, label=b"IDENTITY\x00"))
    return seed, secret


def _ecdh_seed(ek_public: ec.EllipticCurvePublicKey, name_alg: int) -> tuple[bytes, bytes]:
    """Seed from an ephemeral ECDH with the EK (Part 1 Annex C.6.4):
    ``KDFe(nameAlg, Z, "IDENTITY", Qe.x, Qs.x)``; the secret is the point Qe."""
    size = (ek_public.curve.key_size + 7) // 8
    ephemeral = ec.generate_private_key(ek_public.curve)
    z = ephemeral.exchange(ec.ECDH(), ek_public)
    qe = ephemeral.public_key().public_numbers()
    qe_x, qe_y = qe.x.to_bytes(size, "big"), qe.y.to_bytes(size, "big")
    qs_x = ek_public.public_numbers().x.to_bytes(size, "big")
    seed = kdfe(name_alg, z, b"IDENTITY", qe_x, qs_x, digest_size(name_alg) * 8)
    point = struct.pack(">H", size) + qe_x + struct.pack(">H", size) + qe_y  # TPMS_ECC_POINT
    return seed, point


def make_credential(ek_public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey, name_alg: int,
                    name: bytes, credential: bytes, seed: bytes | None = None,
                    sym_key_bits: int = 128) -> CredentialBlob:
    """TPM2_MakeCredential for an RSA or ECC EK (Part 1 §24.4, Annex B.10.3, C.6.4).

    Args:
        ek_public: the EK's public key.
        name_alg: the EK's nameAlg (TPM_ALG id); also the OAEP / KDFe hash.
        name: the name of the key the credential is for (e.g. the AK).
        credential: the secret (at most the size of a digest).
        seed: the seed, random if None (fixed only in unit tests; RSA EKs only,
            an ECC EK's seed comes from an ephemeral ECDH).
        sym_key_bits: the EK's symmetric key size.

    Raises:
        TypeError: the EK is neither RSA nor ECC.
        ValueError: a seed was given for an ECC EK.
    """
    if isinstance(ek_public, rsa.RSAPublicKey):
        seed, secret = _rsa_seed(ek_public, name_alg, seed)
    elif isinstance(ek_public, ec.EllipticCurvePublicKey):
        if seed is not None:
            raise ValueError("an ECC EK's seed comes from an ephemeral ECDH; it cannot be given")
        seed, secret = _ecdh_seed(ek_public, name_alg)
    else:
        raise TypeError(f"EK public key of type {type(ek_public).__name__} is neither RSA nor ECC")
    return CredentialBlob(wrap_credential(name_alg, seed, name, credential, sym_key_bits), secret)
