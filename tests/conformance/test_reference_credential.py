"""harness.reference.credential (tpm2-pytss MakeCredential): the blob opens with the
harness's own KDFa/KDFe/AES-CFB references (Part 1 §24, Annex B.10.3, C.6.4).

The same blobs are accepted by a real swtpm's ActivateCredential in
tests/attest/test_attest_enrollment_quote.py and the conformance suite.
"""

import hmac
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from harness.reference.credential import make_credential, wrap_credential
from harness.reference.hashes import TPM_ALG_SHA256, TPM_ALG_SHA384, hashlib_name
from harness.reference.kdf import kdfa, kdfe
from harness.reference.symmetric import aes_cfb_decrypt

NAME = b"\x00\x0b" + bytes(range(32))


def _open(alg: int, bits: int, seed: bytes, blob: bytes, name: bytes) -> bytes:
    (hsize,) = struct.unpack(">H", blob[:2])
    outer, enc = blob[2:2 + hsize], blob[2 + hsize:]
    hkey = kdfa(alg, seed, b"INTEGRITY", b"", b"", hsize * 8)
    assert hmac.compare_digest(hmac.new(hkey, enc + name, hashlib_name(alg)).digest(), outer)
    return aes_cfb_decrypt(kdfa(alg, seed, b"STORAGE", name, b"", bits), enc)


def test_make_credential_round_trip_in_software():
    key = rsa.generate_private_key(65537, 2048)
    blob = make_credential(key.public_key(), TPM_ALG_SHA256, NAME, b"secret!")
    seed = key.decrypt(blob.encrypted_secret, padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"IDENTITY\x00"))
    assert _open(TPM_ALG_SHA256, 128, seed, blob.credential_blob, NAME) == \
        struct.pack(">H", 7) + b"secret!"
    assert blob.credential_blob == wrap_credential(TPM_ALG_SHA256, seed, NAME, b"secret!")


def test_make_credential_ecc_p384_ek_kdfe_aes256():
    key = ec.generate_private_key(ec.SECP384R1())
    blob = make_credential(key.public_key(), TPM_ALG_SHA384, NAME, b"x" * 48, sym_key_bits=256)
    point = blob.encrypted_secret
    (xs,) = struct.unpack(">H", point[:2])
    qe_x, qe_y = point[2:2 + xs], point[4 + xs:]
    qe = ec.EllipticCurvePublicNumbers(int.from_bytes(qe_x, "big"), int.from_bytes(qe_y, "big"),
                                       ec.SECP384R1()).public_key()
    qs_x = key.public_key().public_numbers().x.to_bytes(48, "big")
    seed = kdfe(TPM_ALG_SHA384, key.exchange(ec.ECDH(), qe), b"IDENTITY", qe_x, qs_x, 384)
    assert _open(TPM_ALG_SHA384, 256, seed, blob.credential_blob, NAME) == \
        struct.pack(">H", 48) + b"x" * 48


def test_make_credential_refuses_a_key_that_is_neither_rsa_nor_ecc():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    with pytest.raises(TypeError, match="neither RSA nor ECC"):
        make_credential(ed25519.Ed25519PrivateKey.generate().public_key(), TPM_ALG_SHA256,
                        NAME, b"s")
