"""Semantic negative tests for commands whose other tests are positive: wrong
handle types, wrong hierarchies, oversized buffers and conflicting assertions,
each answered with the exact response code (TPM 2.0 Part 3 per command)."""

import struct

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CC, TPM2_SE, TPMA_NV
from tpm2_pytss.types import TPM2B_NV_PUBLIC, TPMS_NV_PUBLIC, TPMT_SIG_SCHEME, TPMT_SYM_DEF

from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.policy import PolicyDigest
from harness.tpm.names import command_code, rc_name

pytestmark = [pytest.mark.conformance, pytest.mark.negative]
verifies = pytest.mark.verifies
needs = pytest.mark.needs
REQ = ("IEC62443-4-2:CR 3.5", "IEC62443-4-2:CR 3.7")
RC_H1, RC_H2 = 0x100, 0x200
RC_P1, RC_P2 = 0x140, 0x240
TPM_RC_VALUE, TPM_RC_SIZE, TPM_RC_KEY, TPM_RC_HASH = 0x084, 0x095, 0x09C, 0x083
SIGN = "userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin"
STORAGE = "userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin"
NV = 0x01500500

POLICY_COMMANDS = ["PolicyAuthValue", "PolicyCommandCode", "PolicyLocality", "PolicyNameHash",
                   "PolicyRestart", "PolicyPhysicalPresence", "PolicyDuplicationSelect",
                   "PolicyGetDigest", "PolicyPassword", "PolicyNvWritten", "PolicyTemplate"]


def _hmac_session(tpm):
    return tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC,
                                  TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)


@pytest.mark.spec("TPM 2.0 Part 3 §23 policy commands: policySession is a TPMI_SH_POLICY; an "
                  "HMAC session handle is TPM_RC_VALUE (handle 1)")
@pytest.mark.requirement(*REQ)
@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(f"cc:{n}"), id=n)
                                  for n in POLICY_COMMANDS])
def test_policy_command_on_hmac_session(tpm, raw, name):
    handle = tpm.tr_get_tpm_handle(_hmac_session(tpm))
    rc, _ = raw(command_code(name), struct.pack(">I", handle))
    assert rc == TPM_RC_VALUE + RC_H1, rc_name(rc)


@verifies("PolicyCommandCode")
@pytest.mark.spec("TPM 2.0 Part 3 §23.11 PolicyCommandCode: a second, different code is "
                  "TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_policy_command_code_conflict(tpm, expect_rc):
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.TRIAL,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.policy_command_code(s, TPM2_CC.Unseal)
    with expect_rc(TPM_RC_VALUE + RC_P1):
        tpm.policy_command_code(s, TPM2_CC.Sign)


@pytest.mark.spec("TPM 2.0 Part 3 §23.4 PolicySecret with the wrong owner authValue is "
                  "TPM_RC_BAD_AUTH (hierarchies are not DA-protected)")
@pytest.mark.requirement("IEC62443-4-2:CR 1.5", *REQ)
@needs("hierarchy:owner")
@verifies("PolicySecret")
def test_policy_secret_wrong_auth(tpm, expect_rc, hierarchy_auth):
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.tr_set_auth(ESYS_TR.OWNER, hierarchy_auth.get_auth("owner") + b"-not-the-owner-auth")
    try:
        with expect_rc(0x9A2):  # TPM_RC_BAD_AUTH (session 1)
            tpm.policy_secret(ESYS_TR.OWNER, s, b"", b"", b"", 0)
    finally:
        tpm.tr_set_auth(ESYS_TR.OWNER, hierarchy_auth.get_auth("owner"))


@pytest.mark.spec("TPM 2.0 Part 3 §30.2 GetCapability of an undefined capability is "
                  "TPM_RC_VALUE (parameter 1)")
@pytest.mark.requirement(*REQ)
@verifies("GetCapability")
def test_get_capability_unknown_capability(raw):
    rc, _ = raw(command_code("GetCapability"), struct.pack(">III", 0x0F00, 0, 1))
    assert rc == TPM_RC_VALUE + RC_P1, rc_name(rc)


@pytest.mark.spec("TPM 2.0 Part 3 §22.4 PCR_Read: sizeofSelect beyond PCR_SELECT_MAX is "
                  "TPM_RC_VALUE (parameter 1)")
@pytest.mark.requirement(*REQ)
@verifies("PCR_Read")
def test_pcr_read_oversized_select(raw):
    body = struct.pack(">IHB", 1, TPM_ALG_SHA256, 9) + b"\xff" * 9
    rc, _ = raw(command_code("PCR_Read"), body)
    assert rc == TPM_RC_VALUE + RC_P1, rc_name(rc)


@pytest.mark.spec("TPM 2.0 Part 3 §17.3 HashSequenceStart with a non-hash algorithm is "
                  "TPM_RC_HASH (parameter 2)")
@pytest.mark.requirement(*REQ)
@verifies("HashSequenceStart")
def test_hash_sequence_start_bad_alg(raw):
    rc, _ = raw(command_code("HashSequenceStart"), struct.pack(">HH", 0, 0x0001))
    assert rc == TPM_RC_HASH + RC_P2, rc_name(rc)


@pytest.mark.spec("TPM 2.0 Part 3 §17.4 SequenceUpdate / §17.5 SequenceComplete with a buffer "
                  "over MAX_DIGEST_BUFFER (TPM_PT_INPUT_BUFFER) is TPM_RC_SIZE (parameter 1)")
@pytest.mark.requirement(*REQ)
@verifies("SequenceUpdate", "SequenceComplete")
def test_sequence_oversized_buffers(tpm, raw_pw, caps):
    seq = tpm.tr_get_tpm_handle(tpm.hash_sequence_start(b"", TPM2_ALG.SHA256))
    size = caps.input_buffer + 1
    big = struct.pack(">H", size) + b"b" * size
    rc, _ = raw_pw(command_code("SequenceUpdate"), [seq], big)
    assert rc == TPM_RC_SIZE + RC_P1, rc_name(rc)
    rc, _ = raw_pw(command_code("SequenceComplete"), [seq], big + struct.pack(">I", 0x40000001))
    assert rc == TPM_RC_SIZE + RC_P1, rc_name(rc)


@pytest.mark.spec("TPM 2.0 Part 3 §17.6 EventSequenceComplete of a plain hash sequence is "
                  "TPM_RC_MODE (handle 2)")
@pytest.mark.requirement(*REQ)
@verifies("EventSequenceComplete")
def test_event_sequence_complete_on_hash_sequence(tpm, expect_rc):
    seq = tpm.hash_sequence_start(b"", TPM2_ALG.SHA256)
    with expect_rc(0x089 + RC_H2):  # TPM_RC_MODE (handle 2)
        tpm.event_sequence_complete(ESYS_TR.PCR16, seq, b"x")


@pytest.mark.spec("TPM 2.0 Part 3 §28.2 ContextSave of an empty transient slot is "
                  "TPM_RC_REFERENCE_H0")
@pytest.mark.requirement(*REQ)
@verifies("ContextSave")
def test_context_save_unloaded(raw):
    rc, _ = raw(command_code("ContextSave"), struct.pack(">I", 0x80000002))
    assert rc == 0x910, rc_name(rc)


@pytest.mark.spec("TPM 2.0 Part 3 §31.6 NV_ReadPublic of an undefined index is TPM_RC_HANDLE")
@pytest.mark.requirement(*REQ)
@verifies("NV_ReadPublic")
def test_nv_read_public_undefined(raw):
    rc, _ = raw(command_code("NV_ReadPublic"), struct.pack(">I", NV + 0xFF))
    assert rc == 0x08B + RC_H1, rc_name(rc)


def _define(tpm, offset, attrs, policy=b"", hierarchy=ESYS_TR.OWNER):
    public = TPM2B_NV_PUBLIC(TPMS_NV_PUBLIC(nvIndex=NV + offset, nameAlg=TPM2_ALG.SHA256,
                                            attributes=attrs, authPolicy=policy, dataSize=8))
    return tpm.nv_define_space(b"", public, hierarchy)


@pytest.mark.spec("TPM 2.0 Part 3 §31.4 NV_UndefineSpace of a platform index with owner "
                  "authorization is TPM_RC_NV_AUTHORIZATION")
@pytest.mark.requirement(*REQ)
@needs("hierarchy:platform", "hierarchy:owner")
@verifies("NV_UndefineSpace")
def test_nv_undefine_platform_index_by_owner(tpm, expect_rc):
    nv = _define(tpm, 0, TPMA_NV.PPWRITE | TPMA_NV.PPREAD | TPMA_NV.PLATFORMCREATE,
                 hierarchy=ESYS_TR.PLATFORM)
    with expect_rc(0x149):  # TPM_RC_NV_AUTHORIZATION
        tpm.nv_undefine_space(nv, ESYS_TR.OWNER)


@pytest.mark.spec("TPM 2.0 Part 3 §31.2 NV_UndefineSpaceSpecial of an index without "
                  "POLICY_DELETE is TPM_RC_ATTRIBUTES (handle 1)")
@pytest.mark.requirement(*REQ)
@needs("hierarchy:platform")
@verifies("NV_UndefineSpaceSpecial")
def test_nv_undefine_special_without_policy_delete(tpm, expect_rc):
    policy = PolicyDigest(TPM_ALG_SHA256).command_code(TPM2_CC.NV_UndefineSpaceSpecial).value
    nv = _define(tpm, 1, TPMA_NV.PPWRITE | TPMA_NV.PPREAD | TPMA_NV.PLATFORMCREATE,
                 policy=policy, hierarchy=ESYS_TR.PLATFORM)
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.policy_command_code(s, TPM2_CC.NV_UndefineSpaceSpecial)
    with expect_rc(0x082 + RC_H1):
        tpm.nv_undefine_space_special(nv, s, ESYS_TR.PLATFORM)


@pytest.mark.spec("TPM 2.0 Part 3 §18.5 GetCommandAuditDigest with a storage key as signer "
                  "is TPM_RC_KEY (handle 2)")
@pytest.mark.requirement(*REQ)
@needs("hierarchy:owner", "hierarchy:endorsement")
@verifies("GetCommandAuditDigest")
def test_audit_digest_with_non_signing_key(tpm, primary, expect_rc):
    storage, _ = primary("ecc256:aes128cfb", STORAGE)
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL)
    with expect_rc(TPM_RC_KEY + RC_H2):  # signHandle is handle 2
        tpm.get_command_audit_digest(storage, b"", scheme, ESYS_TR.ENDORSEMENT)


@pytest.mark.spec("TPM 2.0 Part 3 §31.16 NV_Certify with a storage key as signer is "
                  "TPM_RC_KEY (handle 1)")
@pytest.mark.requirement(*REQ)
@needs("hierarchy:owner")
@verifies("NV_Certify")
def test_nv_certify_with_non_signing_key(tpm, primary, expect_rc):
    storage, _ = primary("ecc256:aes128cfb", STORAGE)
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL)
    nv = _define(tpm, 2, TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD)
    tpm.nv_write(nv, b"12345678", 0, ESYS_TR.OWNER)
    with expect_rc(TPM_RC_KEY + RC_H1):  # signHandle is handle 1
        tpm.nv_certify(storage, nv, b"", scheme, 8, 0, ESYS_TR.OWNER)


@pytest.mark.spec("TPM 2.0 Part 3 §14.3 RSA_Decrypt with a key whose decrypt attribute is "
                  "CLEAR is TPM_RC_ATTRIBUTES")
@pytest.mark.requirement(*REQ)
@needs("hierarchy:owner", "rsa:2048")
@verifies("RSA_Decrypt")
def test_rsa_decrypt_with_signing_key(tpm, primary, expect_rc):
    from tpm2_pytss.types import TPMT_RSA_DECRYPT
    key, _ = primary("rsa2048:null:null", SIGN)
    with expect_rc(0x082 + RC_H1):  # TPM_RC_ATTRIBUTES (handle 1)
        tpm.rsa_decrypt(key, b"\x01" * 256, TPMT_RSA_DECRYPT(scheme=TPM2_ALG.NULL), b"")


@pytest.mark.spec("TPM 2.0 Part 3 §26.3 SetAlgorithmSet needs platform authorization: the "
                  "owner handle is TPM_RC_VALUE (handle 1)")
@pytest.mark.requirement(*REQ)
@needs("hierarchy:owner")
@verifies("SetAlgorithmSet")
def test_set_algorithm_set_by_owner(raw_pw):
    rc, _ = raw_pw(command_code("SetAlgorithmSet"), [0x40000001], struct.pack(">I", 1))
    assert rc == TPM_RC_VALUE + RC_H1, rc_name(rc)
