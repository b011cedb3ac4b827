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

import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 43 keeps CFB among the "decrepit" modes
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB

from harness.errors import HarnessError

_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
           "sha512": hashes.SHA512}
NAME_ALG_IDS = {"sha1": 0x0004, "sha256": 0x000B, "sha384": 0x000C, "sha512": 0x000D}


def kdfa(hash_name: str, key: bytes, label: bytes, context_u: bytes, context_v: bytes,
         bits: int) -> bytes:
    """KDFa (Part 1 §11.4.10.2): SP 800-108 counter-mode KDF with HMAC.

    ``label`` is given without its terminating zero octet; it is added here.
    """
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        out += hmac.new(key, struct.pack(">I", counter) + label + b"\x00" + context_u +
                        context_v + struct.pack(">I", bits), hash_name).digest()
    out = out[:(bits + 7) // 8]
    if bits % 8:
        out = bytes([out[0] & ((1 << (bits % 8)) - 1)]) + out[1:]
    return out


def kdfe(hash_name: str, z: bytes, label: bytes, party_u: bytes, party_v: bytes,
         bits: int) -> bytes:
    """KDFe (Part 1 §11.4.10.3): SP 800-56A concatenation KDF for ECDH secrets."""
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        out += hashlib.new(hash_name, struct.pack(">I", counter) + z + label + b"\x00" +
                           party_u + party_v).digest()
    return out[:(bits + 7) // 8]


def object_name(name_alg: str, public_area: bytes) -> bytes:
    """TPM name of an object (Part 1 §16): nameAlg id || H(marshalled TPMT_PUBLIC)."""
    return struct.pack(">H", NAME_ALG_IDS[name_alg]) + hashlib.new(name_alg, public_area).digest()


def qualified_name(name_alg: str, parent_qualified_name: bytes, name: bytes) -> bytes:
    """Qualified name (Part 1 §16.6): nameAlg id || H(QN of parent || Name).

    The QN of a hierarchy is its handle (e.g. TPM_RH_ENDORSEMENT 0x4000000B).
    """
    return struct.pack(">H", NAME_ALG_IDS[name_alg]) + \
        hashlib.new(name_alg, parent_qualified_name + name).digest()


def _tpm2b(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def _seed_rsa(ek: rsa.RSAPublicKey, name_alg: str) -> tuple[bytes, bytes]:
    seed = os.urandom(hashlib.new(name_alg).digest_size)
    h = _HASHES[name_alg]()
    encrypted = ek.encrypt(seed, padding.OAEP(mgf=padding.MGF1(_HASHES[name_alg]()), algorithm=h,
                                              label=b"IDENTITY\x00"))
    return seed, encrypted


def _seed_ecc(ek: ec.EllipticCurvePublicKey, name_alg: str) -> tuple[bytes, bytes]:
    size = (ek.curve.key_size + 7) // 8
    ephemeral = ec.generate_private_key(ek.curve)
    z = ephemeral.exchange(ec.ECDH(), ek)
    e_nums = ephemeral.public_key().public_numbers()
    qe_x, qe_y = e_nums.x.to_bytes(size, "big"), e_nums.y.to_bytes(size, "big")
    qs_x = ek.public_numbers().x.to_bytes(size, "big")
    bits = hashlib.new(name_alg).digest_size * 8
    seed = kdfe(name_alg, z, b"IDENTITY", qe_x, qs_x, bits)
    return seed, _tpm2b(qe_x) + _tpm2b(qe_y)  # TPMS_ECC_POINT


def make_credential(ek_public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
                    ek_name_alg: str, ek_sym_bits: int, ak_name: bytes,
                    credential: bytes) -> tuple[bytes, bytes]:
    """Software TPM2_MakeCredential.

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
    digest_size = hashlib.new(ek_name_alg).digest_size
    if not 0 < len(credential) <= digest_size:
        raise HarnessError(f"credential must be 1-{digest_size} bytes, got {len(credential)}")
    if isinstance(ek_public_key, rsa.RSAPublicKey):
        seed, secret = _seed_rsa(ek_public_key, ek_name_alg)
    elif isinstance(ek_public_key, ec.EllipticCurvePublicKey):
        seed, secret = _seed_ecc(ek_public_key, ek_name_alg)
    else:
        raise HarnessError(f"EK public key of type {type(ek_public_key).__name__} is neither "
                           "RSA nor ECC")
    sym_key = kdfa(ek_name_alg, seed, b"STORAGE", ak_name, b"", ek_sym_bits)
    encryptor = Cipher(algorithms.AES(sym_key), CFB(b"\x00" * 16)).encryptor()
    enc_identity = encryptor.update(_tpm2b(credential)) + encryptor.finalize()
    hmac_key = kdfa(ek_name_alg, seed, b"INTEGRITY", b"", b"", digest_size * 8)
    integrity = hmac.new(hmac_key, enc_identity + ak_name, ek_name_alg).digest()
    return _tpm2b(integrity) + enc_identity, secret
