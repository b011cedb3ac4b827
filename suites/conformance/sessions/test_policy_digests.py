"""Policy commands (TPM 2.0 Part 3 §23): the TPM's policyDigest, read with
TPM2_PolicyGetDigest (§23.19), equals the digest computed in software by
:mod:`harness.reference.policy`; failing assertions answer exact codes."""

import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CC, TPM2_EO, TPM2_SE, TPMA_NV
from tpm2_pytss.types import (
    TPM2B_NV_PUBLIC, TPM2B_PUBLIC, TPML_DIGEST, TPML_PCR_SELECTION, TPMS_NV_PUBLIC,
    TPMT_SIGNATURE, TPMT_SYM_DEF,
)

from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.names import handle_name, nv_name, object_name
from harness.reference.pcr import composite
from harness.reference.policy import PolicyDigest, approved_policy_hash, signed_auth_hash

pytestmark = [pytest.mark.conformance]
REQ = ("IEC62443-4-2:CR 1.2", "IEC62443-4-2:CR 2.1", "IEC62443-4-2:CR 3.8")
NV_INDEX = 0x01500010
TPM_RC_VALUE_P1 = 0x1C4
OWNER = "hierarchy:owner"
NV = (OWNER, "cc:TPM2_NV_DefineSpace", "cc:TPM2_NV_Write", "cc:TPM2_NV_ReadPublic")
SOFT_P256 = ("alg:ecc", "curve:nist_p256", "alg:ecdsa", "cc:TPM2_LoadExternal")
needs = pytest.mark.needs
verifies = pytest.mark.verifies
pytestmark.append(needs("alg:sha256", "cc:TPM2_PolicyGetDigest"))
NV_ATTRS = (TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.AUTHREAD | TPMA_NV.AUTHWRITE)


def _session(tpm, kind=TPM2_SE.TRIAL):
    return tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, kind,
                                  TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)


def _digest(tpm, session) -> bytes:
    return bytes(tpm.policy_get_digest(session))


def _nv(tpm, data: bytes = b"", size: int = 8) -> tuple[object, bytes]:
    """Define (and write) the test index; returns its handle and its name computed in
    software from the public area defined here (Part 1 §16), never the chip's."""
    public = TPMS_NV_PUBLIC(nvIndex=NV_INDEX, nameAlg=TPM2_ALG.SHA256, attributes=NV_ATTRS,
                            dataSize=size)
    handle = tpm.nv_define_space(b"", TPM2B_NV_PUBLIC(public), ESYS_TR.OWNER)
    if data:
        tpm.nv_write(handle, data, 0, ESYS_TR.OWNER)
    written = TPMS_NV_PUBLIC(nvIndex=NV_INDEX, nameAlg=TPM2_ALG.SHA256, dataSize=size,
                             attributes=NV_ATTRS | (TPMA_NV.WRITTEN if data else 0))
    return handle, nv_name(TPM_ALG_SHA256, written.marshal())


@pytest.mark.spec("TPM 2.0 Part 3 §23.17 PolicyAuthValue, §23.18 PolicyPassword, "
                  "§23.11 PolicyCommandCode, §23.16 PolicyRestart, §23.19 PolicyGetDigest")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_PolicyAuthValue", "cc:TPM2_PolicyCommandCode", "cc:TPM2_PolicyRestart",
       "cc:TPM2_PolicyPassword")
@verifies("StartAuthSession", "PolicyAuthValue", "PolicyCommandCode", "PolicyRestart",
          "PolicyPassword", "PolicyGetDigest")
def test_simple_policy_commands(tpm):
    s = _session(tpm)
    assert _digest(tpm, s) == bytes(32)
    tpm.policy_auth_value(s)
    tpm.policy_command_code(s, TPM2_CC.Unseal)
    assert _digest(tpm, s) == PolicyDigest(TPM_ALG_SHA256).auth_value().command_code(
        TPM2_CC.Unseal).value
    tpm.policy_restart(s)
    assert _digest(tpm, s) == bytes(32)
    tpm.policy_password(s)
    assert _digest(tpm, s) == PolicyDigest(TPM_ALG_SHA256).password().value


_A, _B = b"\x00\x0b" + b"\x11" * 32, b"\x00\x0b" + b"\x22" * 32
_H = hashlib.sha256(b"tpm-hil").digest()
# One assertion per session: (command, chip call, software replay). Each needs its command,
# so a chip without e.g. PolicyTemplate skips only that one.
ASSERTIONS = {
    "PolicyLocality": (lambda t, s: t.policy_locality(s, 1), lambda r: r.locality(1)),
    "PolicyPhysicalPresence": (lambda t, s: t.policy_physical_presence(s),
                               lambda r: r.physical_presence()),
    "PolicyCpHash": (lambda t, s: t.policy_cp_hash(s, _H), lambda r: r.cp_hash(_H)),
    "PolicyNvWritten": (lambda t, s: t.policy_nv_written(s, True), lambda r: r.nv_written(True)),
    "PolicyNameHash": (lambda t, s: t.policy_name_hash(s, _H), lambda r: r.name_hash(_H)),
    "PolicyDuplicationSelect": (lambda t, s: t.policy_duplication_select(s, _A, _B, True),
                                lambda r: r.duplication_select(_A, _B, True)),
    "PolicyTemplate": (lambda t, s: t.policy_template(s, _H), lambda r: r.template(_H)),
}


@pytest.mark.spec("TPM 2.0 Part 3 §23.8 Locality, §23.12 PhysicalPresence, §23.13 CpHash, "
                  "§23.14 NameHash, §23.15 DuplicationSelect, §23.21 NvWritten, §23.22 Template")
@pytest.mark.requirement(*REQ)
@pytest.mark.parametrize("command", [pytest.param(c, marks=[needs(f"cc:TPM2_{c}"),
                                                            verifies(c)])
                                     for c in ASSERTIONS])
def test_policy_assertion_digests(tpm, command):
    chip_call, replay = ASSERTIONS[command]
    s = _session(tpm)
    chip_call(tpm, s)
    ref = replay(PolicyDigest(TPM_ALG_SHA256))
    assert _digest(tpm, s) == ref.value, f"{command}: policyDigest differs from software"
    if command == "PolicyLocality":  # a second assertion extends the same digest
        tpm.policy_command_code(s, TPM2_CC.NV_Read)
        assert _digest(tpm, s) == ref.command_code(TPM2_CC.NV_Read).value


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §23.13 PolicyCpHash: a second, different cpHash is TPM_RC_CPHASH")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_PolicyCpHash")
def test_policy_cp_hash_twice_rejected(tpm, expect_rc):
    s = _session(tpm)
    tpm.policy_cp_hash(s, bytes(32))
    with expect_rc(0x151):  # TPM_RC_CPHASH (format zero)
        tpm.policy_cp_hash(s, b"\x01" * 32)


@pytest.mark.spec("TPM 2.0 Part 3 §23.7 TPM2_PolicyPCR with the TPM computing the PCR digest")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", *REQ)
@needs("bank:sha256", "cc:TPM2_PolicyPCR")
@verifies("PolicyPCR")
def test_policy_pcr_digest_of_current_values(tpm):
    sel = TPML_PCR_SELECTION.parse("sha256:0,1,2,16")
    _, _, values = tpm.pcr_read(sel)
    pcr_digest = composite(TPM_ALG_SHA256, [bytes(v) for v in values])
    s = _session(tpm, TPM2_SE.POLICY)
    tpm.policy_pcr(s, b"", sel)
    assert _digest(tpm, s) == PolicyDigest(TPM_ALG_SHA256).pcr(sel.marshal(), pcr_digest).value


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §23.7 TPM2_PolicyPCR: a digest other than the PCRs' is TPM_RC_VALUE")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", *REQ)
@needs("bank:sha256", "cc:TPM2_PolicyPCR")
def test_policy_pcr_wrong_digest_rejected(tpm, expect_rc):
    s = _session(tpm, TPM2_SE.POLICY)
    with expect_rc(TPM_RC_VALUE_P1):
        tpm.policy_pcr(s, b"\x5a" * 32, TPML_PCR_SELECTION.parse("sha256:0"))


@pytest.mark.spec("TPM 2.0 Part 3 §23.6 TPM2_PolicyOR")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_PolicyOR", "cc:TPM2_PolicyAuthValue")
@verifies("PolicyOR")
def test_policy_or(tpm):
    branch_a = PolicyDigest(TPM_ALG_SHA256).auth_value().value
    branch_b = PolicyDigest(TPM_ALG_SHA256).command_code(TPM2_CC.NV_Read).value
    s = _session(tpm, TPM2_SE.POLICY)
    tpm.policy_auth_value(s)
    tpm.policy_or(s, TPML_DIGEST([branch_a, branch_b]))
    assert _digest(tpm, s) == PolicyDigest(TPM_ALG_SHA256).or_([branch_a, branch_b]).value


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §23.6 TPM2_PolicyOR: current digest in no branch is TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_PolicyOR")
def test_policy_or_without_matching_branch(tpm, expect_rc):
    s = _session(tpm, TPM2_SE.POLICY)
    with expect_rc(TPM_RC_VALUE_P1):
        tpm.policy_or(s, TPML_DIGEST([b"\x01" * 32, b"\x02" * 32]))


@pytest.mark.spec("TPM 2.0 Part 3 §23.4 PolicySecret, §23.5 PolicyTicket")
@pytest.mark.requirement(*REQ)
@needs(OWNER, "cc:TPM2_PolicySecret", "cc:TPM2_PolicyTicket")
@verifies("PolicySecret", "PolicyTicket")
def test_policy_secret_and_ticket(tpm):
    s = _session(tpm, TPM2_SE.POLICY)
    nonce = tpm.trsess_get_nonce_tpm(s)
    timeout, ticket = tpm.policy_secret(ESYS_TR.OWNER, s, nonce, b"", b"ref", -60)
    expected = PolicyDigest(TPM_ALG_SHA256).secret(handle_name(0x40000001), b"ref").value
    assert _digest(tpm, s) == expected
    s2 = _session(tpm, TPM2_SE.POLICY)
    tpm.policy_ticket(s2, timeout, handle_name(0x40000001), ticket, b"", b"ref")
    assert _digest(tpm, s2) == expected


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §23.5 TPM2_PolicyTicket: a forged ticket is TPM_RC_TICKET")
@pytest.mark.requirement(*REQ)
@needs(OWNER, "cc:TPM2_PolicySecret", "cc:TPM2_PolicyTicket")
def test_policy_ticket_forged(tpm, expect_rc):
    s = _session(tpm, TPM2_SE.POLICY)
    nonce = tpm.trsess_get_nonce_tpm(s)
    timeout, ticket = tpm.policy_secret(ESYS_TR.OWNER, s, nonce, b"", b"ref", -60)
    ticket.digest = b"\x00" * len(bytes(ticket.digest))
    s2 = _session(tpm, TPM2_SE.POLICY)
    with expect_rc(0x0A0 + 0x540):  # TPM_RC_TICKET (parameter 5)
        tpm.policy_ticket(s2, timeout, handle_name(0x40000001), ticket, b"", b"ref")


def _soft_key(tpm):
    key = ec.generate_private_key(ec.SECP256R1())
    nums = key.public_key().public_numbers()
    public = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes="userwithauth|sign")
    public.publicArea.unique.ecc.x = nums.x.to_bytes(32, "big")
    public.publicArea.unique.ecc.y = nums.y.to_bytes(32, "big")
    handle = tpm.load_external(public, None, ESYS_TR.OWNER)
    return key, handle, object_name(TPM_ALG_SHA256, public.publicArea.marshal())


def _sign(key, digest: bytes) -> TPMT_SIGNATURE:
    r, s_ = decode_dss_signature(key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256()))))
    sig = TPMT_SIGNATURE(sigAlg=TPM2_ALG.ECDSA)
    sig.signature.ecdsa.hash = TPM2_ALG.SHA256
    sig.signature.ecdsa.signatureR = r.to_bytes(32, "big")
    sig.signature.ecdsa.signatureS = s_.to_bytes(32, "big")
    return sig


@pytest.mark.spec("TPM 2.0 Part 3 §23.3 TPM2_PolicySigned with a software-signed authorization")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", *REQ)
@needs(*SOFT_P256, "cc:TPM2_PolicySigned")
@verifies("PolicySigned")
def test_policy_signed(tpm):
    key, handle, name = _soft_key(tpm)
    s = _session(tpm, TPM2_SE.POLICY)
    nonce = bytes(tpm.trsess_get_nonce_tpm(s))
    sig = _sign(key, signed_auth_hash(TPM_ALG_SHA256, nonce, 0, b"", b"ref"))
    tpm.policy_signed(handle, s, sig, nonce, b"", b"ref", 0)
    assert _digest(tpm, s) == PolicyDigest(TPM_ALG_SHA256).signed(name, b"ref").value


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §23.3 TPM2_PolicySigned: a signature over another nonce is "
                  "TPM_RC_SIGNATURE")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", *REQ)
@needs(*SOFT_P256, "cc:TPM2_PolicySigned")
def test_policy_signed_wrong_nonce(tpm, expect_rc):
    key, handle, name = _soft_key(tpm)
    s = _session(tpm, TPM2_SE.POLICY)
    nonce = bytes(tpm.trsess_get_nonce_tpm(s))
    sig = _sign(key, signed_auth_hash(TPM_ALG_SHA256, b"\x00" * len(nonce), 0, b"", b""))
    with expect_rc(0x09B + 0x540):  # TPM_RC_SIGNATURE (parameter 5: auth)
        tpm.policy_signed(handle, s, sig, nonce, b"", b"", 0)


@pytest.mark.spec("TPM 2.0 Part 3 §23.16 TPM2_PolicyAuthorize with a VerifySignature ticket")
@pytest.mark.requirement("IEC62443-4-2:CR 1.9", *REQ)
@needs(*SOFT_P256, "cc:TPM2_PolicyAuthorize", "cc:TPM2_VerifySignature",
       "cc:TPM2_PolicyAuthValue")
@verifies("PolicyAuthorize")
def test_policy_authorize(tpm):
    key, handle, name = _soft_key(tpm)
    approved = PolicyDigest(TPM_ALG_SHA256).auth_value().value
    ahash = approved_policy_hash(TPM_ALG_SHA256, approved, b"ref")
    ticket = tpm.verify_signature(handle, ahash, _sign(key, ahash))
    s = _session(tpm, TPM2_SE.POLICY)
    tpm.policy_auth_value(s)
    tpm.policy_authorize(s, approved, name, ticket, b"ref")
    assert _digest(tpm, s) == PolicyDigest(TPM_ALG_SHA256).authorize(name, b"ref").value


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §23.16 TPM2_PolicyAuthorize: digest not the approved one is "
                  "TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
@needs(*SOFT_P256, "cc:TPM2_PolicyAuthorize", "cc:TPM2_VerifySignature")
def test_policy_authorize_other_digest(tpm, expect_rc):
    key, handle, name = _soft_key(tpm)
    approved = PolicyDigest(TPM_ALG_SHA256).auth_value().value
    ahash = approved_policy_hash(TPM_ALG_SHA256, approved, b"")
    ticket = tpm.verify_signature(handle, ahash, _sign(key, ahash))
    s = _session(tpm, TPM2_SE.POLICY)  # the session's digest is still zero
    with expect_rc(TPM_RC_VALUE_P1):
        tpm.policy_authorize(s, approved, name, ticket, b"")


@pytest.mark.spec("TPM 2.0 Part 3 §23.9 TPM2_PolicyNV, §23.10 TPM2_PolicyCounterTimer")
@pytest.mark.requirement(*REQ)
@needs(*NV, "cc:TPM2_PolicyNV", "cc:TPM2_PolicyCounterTimer")
@verifies("PolicyNV", "PolicyCounterTimer")
def test_policy_nv_and_counter_timer(tpm):
    nv, name = _nv(tpm, b"\x00\x00\x00\x05abcd")
    s = _session(tpm, TPM2_SE.POLICY)
    tpm.policy_nv(nv, nv, s, b"\x05", TPM2_EO.EQ, 3)
    ref = PolicyDigest(TPM_ALG_SHA256).nv(name, b"\x05", 3, int(TPM2_EO.EQ))
    assert _digest(tpm, s) == ref.value
    zero = bytes(8)
    tpm.policy_counter_timer(s, zero, TPM2_EO.UNSIGNED_GT, 0)  # time > 0
    ref.counter_timer(zero, 0, int(TPM2_EO.UNSIGNED_GT))
    assert _digest(tpm, s) == ref.value


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §23.9 TPM2_PolicyNV: a false comparison is TPM_RC_POLICY")
@pytest.mark.requirement(*REQ)
@needs(*NV, "cc:TPM2_PolicyNV")
def test_policy_nv_false_comparison(tpm, expect_rc):
    nv, _ = _nv(tpm, b"\x00\x00\x00\x05abcd")
    s = _session(tpm, TPM2_SE.POLICY)
    with expect_rc(0x126):  # TPM_RC_POLICY
        tpm.policy_nv(nv, nv, s, b"\x06", TPM2_EO.EQ, 3)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §23.10 TPM2_PolicyCounterTimer: a false comparison is "
                  "TPM_RC_POLICY")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_PolicyCounterTimer")
def test_policy_counter_timer_false(tpm, expect_rc):
    s = _session(tpm, TPM2_SE.POLICY)
    with expect_rc(0x126):
        tpm.policy_counter_timer(s, bytes(8), TPM2_EO.UNSIGNED_LT, 0)  # time < 0


@pytest.mark.spec("TPM 2.0 Part 3 §23.23 TPM2_PolicyAuthorizeNV")
@pytest.mark.requirement(*REQ)
@needs(*NV, "cc:TPM2_PolicyAuthorizeNV", "cc:TPM2_PolicyAuthValue")
@verifies("PolicyAuthorizeNV")
def test_policy_authorize_nv(tpm):
    approved = PolicyDigest(TPM_ALG_SHA256).auth_value().value
    nv, name = _nv(tpm, struct.pack(">H", TPM_ALG_SHA256) + approved, size=34)
    s = _session(tpm, TPM2_SE.POLICY)
    tpm.policy_auth_value(s)
    tpm.policy_authorize_nv(nv, s, nv)
    assert _digest(tpm, s) == PolicyDigest(TPM_ALG_SHA256).authorize_nv(name).value


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §23.23 TPM2_PolicyAuthorizeNV: digest not the stored one is "
                  "TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
@needs(*NV, "cc:TPM2_PolicyAuthorizeNV")
def test_policy_authorize_nv_mismatch(tpm, expect_rc):
    nv, _ = _nv(tpm, struct.pack(">H", TPM_ALG_SHA256) + b"\x07" * 32, size=34)
    s = _session(tpm, TPM2_SE.POLICY)
    with expect_rc(0x084):  # TPM_RC_VALUE
        tpm.policy_authorize_nv(nv, s, nv)
