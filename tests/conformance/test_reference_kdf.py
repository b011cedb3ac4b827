"""harness.reference.kdf against NIST SP 800-108 KBKDF vectors and KDFa's definition."""

import hashlib
import hmac
import struct

import pytest

from harness.reference import cavp
from harness.reference.hashes import TPM_ALG_SHA256, TPM_ALG_SHA384
from harness.reference.kdf import kdfa, kdfe, sp800_108_counter

_PRF = {"HMAC_SHA256": TPM_ALG_SHA256, "HMAC_SHA384": TPM_ALG_SHA384}


def _kbkdf_vectors() -> list[dict[str, str]]:
    out = []
    prf = ""
    for rec in cavp.load("KDF/nist-800-108-KBKDF-CTR.txt"):
        # Section headers in this file are [PRF=...], [CTRLOCATION=...], [RLEN=...].
        prf = rec.get("PRF", prf)
        if (rec.get("PRF") in _PRF and rec.get("CTRLOCATION") == "BEFORE_FIXED"
                and rec.get("RLEN") == "32_BITS" and "KO" in rec):
            out.append(rec)
    return out


def test_kbkdf_vectors_found():
    vectors = _kbkdf_vectors()
    assert len(vectors) >= 40, "expected the HMAC-SHA256/384 counter-mode vectors"


@pytest.mark.parametrize("rec", _kbkdf_vectors()[::8], ids=lambda r: f"{r['PRF']}-L{r['L']}")
def test_sp800_108_counter_matches_nist(rec):
    bits = int(rec["L"])
    out = sp800_108_counter(_PRF[rec["PRF"]], bytes.fromhex(rec["KI"]),
                            bytes.fromhex(rec["FixedInputData"]), bits)
    assert out.hex() == rec["KO"]


def test_kdfa_is_counter_mode_over_label_contexts_and_length():
    key, u, v = b"k" * 32, b"U" * 4, b"V" * 3
    expected = hmac.new(key, struct.pack(">I", 1) + b"STORAGE\x00" + u + v
                        + struct.pack(">I", 128), "sha256").digest()[:16]
    assert kdfa(TPM_ALG_SHA256, key, b"STORAGE", u, v, 128) == expected
    # The label's terminating zero is added once, whether given or not.
    assert kdfa(TPM_ALG_SHA256, key, b"STORAGE\x00", u, v, 128) == expected


def test_kdfa_long_output_and_odd_bits():
    out = kdfa(TPM_ALG_SHA256, b"key", b"CFB", b"", b"", 512 + 4)
    assert len(out) == 65 and out[0] < 16


def test_kdfe_is_concatenation_kdf():
    z = bytes(range(32))
    expected = hashlib.sha256(struct.pack(">I", 1) + z + b"DUPLICATE\x00" + b"u" + b"v").digest()
    assert kdfe(TPM_ALG_SHA256, z, b"DUPLICATE", b"u", b"v", 256) == expected
