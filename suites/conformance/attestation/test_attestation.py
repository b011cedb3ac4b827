"""Attestation commands (TPM 2.0 Part 3 §18) and command/session audit
(§18.5, §18.6, §21.2): each structure is unmarshalled, its fields checked
against independently known values and its signature verified in software."""

import hashlib
import struct

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CC, TPM2_SE, TPM2_ST, TPMA_SESSION
from tpm2_pytss.types import (
    TPM2B_PUBLIC, TPML_CC, TPML_PCR_SELECTION, TPMT_SIG_SCHEME, TPMT_SYM_DEF,
)

from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.names import object_name
from harness.reference.pcr import composite
from suites.conformance.signatures import attest_bytes, parse_attest, verify

pytestmark = [pytest.mark.conformance, pytest.mark.attestation]
REQ = ("IEC62443-4-2:CR 2.12", "IEC62443-4-2:CR 3.4", "IEC62443-4-2:CR 1.9")
AK = "userwithauth|sign|restricted|fixedtpm|fixedparent|sensitivedataorigin"
SIGN = "userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin"
NULL_SCHEME = TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL)


def _ak(primary, hierarchy=ESYS_TR.OWNER):
    return primary("ecc256:ecdsa-sha256:null", AK, hierarchy)


@pytest.mark.spec("TPM 2.0 Part 3 §18.2 TPM2_Certify")
@pytest.mark.requirement(*REQ)
def test_certify(tpm, primary):
    ak, ak_pub = _ak(primary)
    obj, obj_pub = primary("ecc256:ecdsa-sha256:null", SIGN)
    attest, sig = tpm.certify(obj, ak, b"certify-nonce", NULL_SCHEME)
    verify(ak_pub, attest_bytes(attest), sig)
    info = parse_attest(attest)
    assert info.type == TPM2_ST.ATTEST_CERTIFY
    assert bytes(info.extraData) == b"certify-nonce"
    assert bytes(info.attested.certify.name) == object_name(
        TPM_ALG_SHA256, obj_pub.publicArea.marshal())
    assert bytes(info.qualifiedSigner)[:2] == b"\x00\x0b"


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §18.2 TPM2_Certify: a non-signing signer is TPM_RC_KEY")
@pytest.mark.requirement(*REQ)
def test_certify_with_storage_key_rejected(tpm, primary, expect_rc):
    storage, _ = primary("ecc256:aes128cfb",
                         "userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin")
    obj, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    with expect_rc(0x09C + 0x200):  # TPM_RC_KEY (handle 2)
        tpm.certify(obj, storage, b"", NULL_SCHEME)


@pytest.mark.spec("TPM 2.0 Part 3 §18.3 TPM2_CertifyCreation")
@pytest.mark.requirement(*REQ)
def test_certify_creation(tpm, primary):
    ak, ak_pub = _ak(primary)
    public = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes=SIGN)
    obj, obj_pub, cdata, chash, ticket = tpm.create_primary(None, public, ESYS_TR.OWNER,
                                                            b"outside")
    assert bytes(cdata.creationData.outsideInfo) == b"outside"
    attest, sig = tpm.certify_creation(ak, obj, b"n", chash, NULL_SCHEME, ticket)
    verify(ak_pub, attest_bytes(attest), sig)
    info = parse_attest(attest)
    assert info.type == TPM2_ST.ATTEST_CREATION
    assert bytes(info.attested.creation.creationHash) == hashlib.sha256(
        cdata.creationData.marshal()).digest()


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §18.3 TPM2_CertifyCreation: a wrong creationHash is TPM_RC_TICKET")
@pytest.mark.requirement(*REQ)
def test_certify_creation_wrong_hash(tpm, primary, expect_rc):
    ak, _ = _ak(primary)
    public = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes=SIGN)
    obj, _, _, chash, ticket = tpm.create_primary(None, public, ESYS_TR.OWNER)
    with expect_rc(0x0A0 + 0x440):  # TPM_RC_TICKET (parameter 4)
        tpm.certify_creation(ak, obj, b"", b"\x00" * 32, NULL_SCHEME, ticket)


@pytest.mark.spec("TPM 2.0 Part 3 §18.4 TPM2_Quote with pcrDigest recomputed from PCR_Read")
@pytest.mark.requirement("IEC62443-4-2:EDR 3.14", *REQ)
def test_quote_pcr_digest_and_clock(tpm, primary):
    # An endorsement-hierarchy signer: resetCount/restartCount are not obfuscated (Part 1 §36.3).
    ak, ak_pub = _ak(primary, ESYS_TR.ENDORSEMENT)
    sel = TPML_PCR_SELECTION.parse("sha256:0,7,16")
    _, _, values = tpm.pcr_read(sel)
    clock = tpm.read_clock()
    attest, sig = tpm.quote(ak, sel, b"quote-nonce", NULL_SCHEME)
    verify(ak_pub, attest_bytes(attest), sig)
    info = parse_attest(attest)
    assert info.type == TPM2_ST.ATTEST_QUOTE and bytes(info.extraData) == b"quote-nonce"
    assert bytes(info.attested.quote.pcrDigest) == composite(
        TPM_ALG_SHA256, [bytes(v) for v in values])
    assert info.clockInfo.resetCount == clock.clockInfo.resetCount
    assert info.clockInfo.clock >= clock.clockInfo.clock


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §18.4 TPM2_Quote: qualifyingData over sizeof(TPMT_HA) is "
                  "TPM_RC_SIZE")
@pytest.mark.requirement(*REQ)
def test_quote_oversized_nonce(tpm, primary, raw_pw):
    ak, _ = _ak(primary)
    params = struct.pack(">H", 67) + b"q" * 67 + struct.pack(">H", TPM2_ALG.NULL) \
        + TPML_PCR_SELECTION.parse("sha256:0").marshal()
    rc, _ = raw_pw(0x158, [tpm.tr_get_tpm_handle(ak)], params)
    assert rc == 0x095 + 0x140, hex(rc)  # TPM_RC_SIZE (parameter 1)


@pytest.mark.spec("TPM 2.0 Part 3 §18.7 TPM2_GetTime, §29.2 TPM2_ReadClock")
@pytest.mark.requirement(*REQ)
def test_get_time(tpm, primary):
    ak, ak_pub = _ak(primary)
    before = tpm.read_clock()
    attest, sig = tpm.get_time(ak, b"time-nonce", NULL_SCHEME, ESYS_TR.ENDORSEMENT)
    after = tpm.read_clock()
    verify(ak_pub, attest_bytes(attest), sig)
    info = parse_attest(attest)
    assert info.type == TPM2_ST.ATTEST_TIME
    t = info.attested.time.time
    assert before.time <= t.time <= after.time
    assert before.clockInfo.clock <= t.clockInfo.clock <= after.clockInfo.clock


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §18.7 TPM2_GetTime: privacyAdminHandle must be the endorsement "
                  "hierarchy")
@pytest.mark.requirement(*REQ)
def test_get_time_wrong_privacy_handle(raw):
    body = struct.pack(">II", 0x40000001, 0x80000000)  # TPM_RH_OWNER as privacy admin
    rc, _ = raw(0x14C, body)
    assert rc == 0x184, hex(rc)  # TPM_RC_VALUE (handle 1)


@pytest.mark.spec("TPM 2.0 Part 3 §21.2 SetCommandCodeAuditStatus, §18.5 GetCommandAuditDigest")
@pytest.mark.requirement("IEC62443-4-2:CR 2.8", *REQ)
def test_command_audit_digest(tpm, primary):
    ak, ak_pub = _ak(primary)
    tpm.set_command_code_audit_status(TPM2_ALG.SHA256, TPML_CC(), TPML_CC(), ESYS_TR.OWNER)
    tpm.set_command_code_audit_status(TPM2_ALG.NULL, TPML_CC([TPM2_CC.GetRandom]), TPML_CC(),
                                      ESYS_TR.OWNER)
    try:
        tpm.get_random(8)
        attest, sig = tpm.get_command_audit_digest(ak, b"audit", NULL_SCHEME, ESYS_TR.ENDORSEMENT)
        verify(ak_pub, attest_bytes(attest), sig)
        info = parse_attest(attest)
        assert info.type == TPM2_ST.ATTEST_COMMAND_AUDIT
        audit = info.attested.commandAudit
        assert audit.digestAlg == TPM2_ALG.SHA256 and audit.auditCounter >= 1
        # commandDigest = H(TPM_CC list): GetRandom and SetCommandCodeAuditStatus are audited.
        ccs = {int(TPM2_CC.GetRandom), int(TPM2_CC.SetCommandCodeAuditStatus)}
        expected = hashlib.sha256(b"".join(struct.pack(">I", c) for c in sorted(ccs))).digest()
        assert bytes(audit.commandDigest) == expected
    finally:
        tpm.set_command_code_audit_status(TPM2_ALG.NULL, TPML_CC(), TPML_CC([TPM2_CC.GetRandom]),
                                          ESYS_TR.OWNER)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §21.2 SetCommandCodeAuditStatus with the endorsement "
                  "hierarchy is TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_audit_status_wrong_hierarchy(raw_pw):
    params = struct.pack(">HII", TPM2_ALG.NULL, 0, 0)
    rc, _ = raw_pw(0x140, [0x4000000B], params)
    assert rc == 0x184, hex(rc)  # TPM_RC_VALUE (handle 1): only owner or platform


@pytest.mark.spec("TPM 2.0 Part 3 §18.6 TPM2_GetSessionAuditDigest")
@pytest.mark.requirement("IEC62443-4-2:CR 2.8", *REQ)
def test_session_audit_digest(tpm, primary):
    ak, ak_pub = _ak(primary)
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.trsess_set_attributes(s, TPMA_SESSION.AUDIT | TPMA_SESSION.CONTINUESESSION)
    tpm.get_random(4, session1=s)
    tpm.get_random(4, session1=s)
    attest, sig = tpm.get_session_audit_digest(ak, s, b"sa", NULL_SCHEME, ESYS_TR.ENDORSEMENT)
    verify(ak_pub, attest_bytes(attest), sig)
    info = parse_attest(attest)
    assert info.type == TPM2_ST.ATTEST_SESSION_AUDIT
    assert len(bytes(info.attested.sessionAudit.sessionDigest)) == 32
    assert bytes(info.attested.sessionAudit.sessionDigest) != bytes(32)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §18.6 TPM2_GetSessionAuditDigest of a non-audit session is "
                  "TPM_RC_TYPE")
@pytest.mark.requirement(*REQ)
def test_session_audit_digest_of_non_audit_session(tpm, primary, expect_rc):
    ak, _ = _ak(primary)
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    with expect_rc(0x08A + 0x300):  # TPM_RC_TYPE (handle 3): not an audit session
        tpm.get_session_audit_digest(ak, s, b"", NULL_SCHEME, ESYS_TR.ENDORSEMENT)
