"""harness.reference.policy/pcr against published digests and their definitions."""

import hashlib
import struct

from harness.reference.hashes import TPM_ALG_SHA256, TPM_ALG_SHA1
from harness.reference.names import handle_name
from harness.reference.pcr import composite, event, extend, initial, selection_bitmap
from harness.reference.policy import PolicyDigest, approved_policy_hash

TPM_RH_ENDORSEMENT = 0x4000000B


def test_policy_auth_value_published_digest():
    # The widely published SHA-256 digest of a lone TPM2_PolicyAuthValue.
    expected = "8fcd2169ab92694e0c633f1ab772842b8241bbc20288981fc7ac1eddc1fddb0e"
    assert PolicyDigest(TPM_ALG_SHA256).auth_value().value.hex() == expected
    assert PolicyDigest(TPM_ALG_SHA256).password().value.hex() == expected


def test_ek_policy_secret_endorsement_matches_ek_credential_profile():
    # TCG EK Credential Profile, template L-1: PolicySecret(TPM_RH_ENDORSEMENT).
    expected = "837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa"
    digest = PolicyDigest(TPM_ALG_SHA256).secret(handle_name(TPM_RH_ENDORSEMENT)).value
    assert digest.hex() == expected


def test_policy_command_code_definition():
    zero = bytes(32)
    expected = hashlib.sha256(zero + struct.pack(">II", 0x16C, 0x15E)).digest()
    assert PolicyDigest(TPM_ALG_SHA256).command_code(0x15E).value == expected


def test_policy_or_resets_then_hashes_branches():
    a, b = b"\x01" * 32, b"\x02" * 32
    p = PolicyDigest(TPM_ALG_SHA256).auth_value().or_([a, b])
    assert p.value == hashlib.sha256(bytes(32) + struct.pack(">I", 0x171) + a + b).digest()


def test_policy_authorize_resets_and_updates_with_ref():
    name, ref = b"\x00\x0b" + b"\x33" * 32, b"ref"
    p = PolicyDigest(TPM_ALG_SHA256).auth_value().authorize(name, ref)
    inner = hashlib.sha256(bytes(32) + struct.pack(">I", 0x16A) + name).digest()
    assert p.value == hashlib.sha256(inner + ref).digest()
    assert approved_policy_hash(TPM_ALG_SHA256, b"a", b"b") == hashlib.sha256(b"ab").digest()


def test_policy_nv_and_counter_timer_hash_their_arguments():
    args = hashlib.sha256(b"\x05" + struct.pack(">HH", 2, 1)).digest()
    p = PolicyDigest(TPM_ALG_SHA256).nv(b"NAME", b"\x05", 2, 1)
    assert p.value == hashlib.sha256(bytes(32) + struct.pack(">I", 0x149) + args + b"NAME").digest()
    p = PolicyDigest(TPM_ALG_SHA256).counter_timer(b"\x05", 2, 1)
    assert p.value == hashlib.sha256(bytes(32) + struct.pack(">I", 0x16D) + args).digest()


def test_pcr_arithmetic():
    zero = initial(TPM_ALG_SHA1)
    assert zero == bytes(20)
    d = hashlib.sha1(b"m").digest()
    assert extend(TPM_ALG_SHA1, zero, d) == hashlib.sha1(zero + d).digest()
    assert event(TPM_ALG_SHA1, zero, b"m") == extend(TPM_ALG_SHA1, zero, d)
    assert composite(TPM_ALG_SHA256, [b"a", b"b"]) == hashlib.sha256(b"ab").digest()
    assert selection_bitmap([0, 7, 16]) == bytes([0x81, 0x00, 0x01])
