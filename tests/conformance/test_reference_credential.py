"""harness.reference.credential: the blob decrypts back to the credential."""

import hmac
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.credential import make_credential
from harness.reference.kdf import kdfa
from harness.reference.symmetric import aes_cfb_decrypt


def test_make_credential_round_trip_in_software():
    key = rsa.generate_private_key(65537, 2048)
    name = b"\x00\x0b" + bytes(range(32))
    blob = make_credential(key.public_key(), TPM_ALG_SHA256, name, b"secret!")
    seed = key.decrypt(blob.encrypted_secret, padding.OAEP(
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"IDENTITY\x00"))
    (hsize,) = struct.unpack(">H", blob.credential_blob[:2])
    outer, enc = blob.credential_blob[2:2 + hsize], blob.credential_blob[2 + hsize:]
    hkey = kdfa(TPM_ALG_SHA256, seed, b"INTEGRITY", b"", b"", 256)
    assert hmac.new(hkey, enc + name, "sha256").digest() == outer
    sym = kdfa(TPM_ALG_SHA256, seed, b"STORAGE", name, b"", 128)
    plain = aes_cfb_decrypt(sym, enc)
    assert plain == struct.pack(">H", 7) + b"secret!"
