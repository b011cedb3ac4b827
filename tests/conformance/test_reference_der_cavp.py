"""harness.reference.der and .cavp: encoding round trips and clear errors."""

import pytest
from cryptography import x509

from harness.errors import HarnessError
from harness.reference import cavp, der
from harness.reference.symmetric import aes_cfb_decrypt, aes_cfb_encrypt


def test_der_lengths_and_split():
    short, long_ = der.tlv(0x04, b"a" * 5), der.tlv(0x04, b"b" * 300)
    assert short[:2] == b"\x04\x05" and long_[:4] == b"\x04\x82\x01\x2c"
    assert der.split(short + long_) == [short, long_]
    assert der.contents(long_) == b"b" * 300
    name = x509.Name([]).public_bytes()
    assert der.sequence() == name == b"\x30\x00"


def test_der_errors_name_the_offset():
    with pytest.raises(ValueError, match="offset 0"):
        der.split(b"\x04\x05ab")
    with pytest.raises(ValueError, match="indefinite"):
        der.split(b"\x30\x80\x00\x00")


def test_cavp_records_and_missing_file():
    recs = cavp.load("ciphers/AES/CFB/CFB128GFSbox128.rsp")
    assert {r["section"] for r in recs} == {"ENCRYPT", "DECRYPT"}
    rec = recs[0]
    ct = aes_cfb_encrypt(bytes.fromhex(rec["KEY"]), bytes.fromhex(rec["PLAINTEXT"]),
                         bytes.fromhex(rec["IV"]))
    assert ct.hex() == rec["CIPHERTEXT"]
    assert aes_cfb_decrypt(bytes.fromhex(rec["KEY"]), ct, bytes.fromhex(rec["IV"])).hex() == \
        rec["PLAINTEXT"]
    with pytest.raises(HarnessError, match="not found"):
        cavp.load("hashes/SHA2/NOPE.rsp")
