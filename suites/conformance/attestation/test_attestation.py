"""Attestation commands (TPM 2.0 Part 3 §18) and command/session audit
(§18.5, §18.6, §21.2): each structure is unmarshalled, its fields checked
against independently known values and its signature verified in software."""

import hashlib
import struct

import pytest
from tpm2_pytss.constants import (
    ESYS_TR, TPM2_ALG, TPM2_CAP, TPM2_CC, TPM2_SE, TPM2_ST, TPMA_SESSION,
)
from tpm2_pytss.types import (
    TPM2B_PUBLIC, TPML_CC, TPML_PCR_SELECTION, TPMT_SIG_SCHEME, TPMT_SYM_DEF,
)

from harness.reference.hashes import TPM_ALG_SHA256, digest, digest_size
from harness.reference.names import object_name
from harness.reference.pcr import composite
from suites.conformance.signatures import attest_bytes, parse_attest, verify

pytestmark = [pytest.mark.conformance, pytest.mark.attestation]
REQ = ("IEC62443-4-2:CR 2.12", "IEC62443-4-2:CR 3.4", "IEC62443-4-2:CR 1.9")
AK = "userwithauth|sign|restricted|fixedtpm|fixedparent|sensitivedataorigin"
SIGN = "userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin"
NULL_SCHEME = TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL)
OWNER, ENDORSEMENT = "hierarchy:owner", "hierarchy:endorsement"
P256 = ("alg:ecc", "curve:nist_p256", "alg:ecdsa", "alg:sha256")
needs = pytest.mark.needs
verifies = pytest.mark.verifies
TPM_RH_OWNER = 0x40000001


def _ak(primary, hierarchy=ESYS_TR.OWNER):
    return primary("ecc256:ecdsa-sha256:null", AK, hierarchy)


@pytest.mark.spec("TPM 2.0 Part 3 §18.2 TPM2_Certify")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, "cc:TPM2_Certify")
@verifies("Certify")
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
@needs(OWNER, *P256, "alg:aes", "alg:cfb", "cc:TPM2_Certify")
def test_certify_with_storage_key_rejected(tpm, primary, expect_rc):
    storage, _ = primary("ecc256:aes128cfb",
                         "userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin")
    obj, _ = primary("ecc256:ecdsa-sha256:null", SIGN)
    with expect_rc(0x09C + 0x200):  # TPM_RC_KEY (handle 2)
        tpm.certify(obj, storage, b"", NULL_SCHEME)


@pytest.mark.spec("TPM 2.0 Part 3 §18.3 TPM2_CertifyCreation")
@pytest.mark.requirement(*REQ)
@needs(OWNER, *P256, "cc:TPM2_CertifyCreation")
@verifies("CertifyCreation")
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
@needs(OWNER, *P256, "cc:TPM2_CertifyCreation")
def test_certify_creation_wrong_hash(tpm, primary, expect_rc):
    ak, _ = _ak(primary)
    public = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes=SIGN)
    obj, _, _, chash, ticket = tpm.create_primary(None, public, ESYS_TR.OWNER)
    with expect_rc(0x0A0 + 0x440):  # TPM_RC_TICKET (parameter 4)
        tpm.certify_creation(ak, obj, b"", b"\x00" * 32, NULL_SCHEME, ticket)


@pytest.mark.spec("TPM 2.0 Part 3 §18.4 TPM2_Quote over every active bank, pcrDigest "
                  "recomputed from PCR_Read")
@pytest.mark.requirement("IEC62443-4-2:EDR 3.14", *REQ)
@needs(ENDORSEMENT, *P256, "cc:TPM2_Quote", "cc:TPM2_ReadClock")
@verifies("Quote")
def test_quote_pcr_digest_and_clock(tpm, primary, caps):
    # An endorsement-hierarchy signer: resetCount/restartCount are not obfuscated (Part 1 §36.3).
    ak, ak_pub = _ak(primary, ESYS_TR.ENDORSEMENT)
    banks = sorted(b for b, count in caps.banks.items() if count > 16)[:4]  # 8 digests/read
    assert banks, f"no active PCR bank with PCR 16 (TPM_CAP_PCRS: {dict(caps.banks)})"
    sel = TPML_PCR_SELECTION.parse("+".join(f"{b}:0,16" for b in banks))
    _, _, values = tpm.pcr_read(sel)
    assert values.count == 2 * len(banks)
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
@needs(OWNER, *P256, "bank:sha256", "cc:TPM2_Quote")
def test_quote_oversized_nonce(tpm, primary, raw_pw, caps):
    ak, _ = _ak(primary)
    size = caps.max_digest + 2 + 1  # a TPM2B_DATA holds sizeof(TPMT_HA) (Part 2 §10.4.3)
    params = struct.pack(">H", size) + b"q" * size + struct.pack(">H", TPM2_ALG.NULL) \
        + TPML_PCR_SELECTION.parse("sha256:0").marshal()
    rc, _ = raw_pw(0x158, [tpm.tr_get_tpm_handle(ak)], params)
    assert rc == 0x095 + 0x140, hex(rc)  # TPM_RC_SIZE (parameter 1)


@pytest.mark.spec("TPM 2.0 Part 3 §18.7 TPM2_GetTime, §29.2 TPM2_ReadClock")
@pytest.mark.requirement(*REQ)
@needs(OWNER, ENDORSEMENT, *P256, "cc:TPM2_GetTime", "cc:TPM2_ReadClock")
@verifies("GetTime")
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
@needs("cc:TPM2_GetTime")
def test_get_time_wrong_privacy_handle(raw):
    body = struct.pack(">II", 0x40000001, 0x80000000)  # TPM_RH_OWNER as privacy admin
    rc, _ = raw(0x14C, body)
    assert rc == 0x184, hex(rc)  # TPM_RC_VALUE (handle 1)


def _u16(v: int) -> bytes:
    return struct.pack(">H", v)


def _u32(v: int) -> bytes:
    return struct.pack(">I", v)


def _audit_extend(alg: int, old: bytes, cp_hash: bytes, rp_hash: bytes) -> bytes:
    """One audit step: ``H(old || cpHash || rpHash)`` (Part 1 §19.6.11, §33.3)."""
    return digest(alg, old + cp_hash + rp_hash)


def _get_random_hashes(alg: int, requested: int, random: bytes) -> tuple[bytes, bytes]:
    """cpHash and rpHash of TPM2_GetRandom (Part 1 §18.7, §18.8: no handles)."""
    cc = int(TPM2_CC.GetRandom)
    return (digest(alg, _u32(cc) + _u16(requested)),
            digest(alg, _u32(0) + _u32(cc) + _u16(len(random)) + random))


def _audited_commands(tpm) -> list[int]:
    more, data = tpm.get_capability(TPM2_CAP.AUDIT_COMMANDS, 0, 256)
    ccs = data.data.auditCommands
    return sorted(int(ccs[i]) for i in range(len(ccs)))


@pytest.mark.spec("TPM 2.0 Part 3 §21.2 SetCommandCodeAuditStatus, §18.5 GetCommandAuditDigest; "
                  "the audit digest recomputed in software (Part 1 §33)")
@pytest.mark.requirement("IEC62443-4-2:CR 2.8", *REQ)
@pytest.mark.destructive  # GetCommandAuditDigest empties the board's audit digest and the
# next audited command advances the NV auditCounter (Part 1 §33.3): neither can be restored.
@needs(OWNER, ENDORSEMENT, *P256, "cc:TPM2_SetCommandCodeAuditStatus",
       "cc:TPM2_GetCommandAuditDigest")
@verifies("SetCommandCodeAuditStatus", "GetCommandAuditDigest")
def test_command_audit_digest(tpm, primary):
    ak, ak_pub = _ak(primary)
    cc_set, cc_random = int(TPM2_CC.SetCommandCodeAuditStatus), int(TPM2_CC.GetRandom)
    before = _audited_commands(tpm)
    if set(before) - {cc_set}:
        pytest.skip(f"the chip already audits {len(before) - 1} other commands; the digest "
                    "would include them")
    attest, _ = tpm.get_command_audit_digest(ak, b"", NULL_SCHEME, ESYS_TR.ENDORSEMENT)
    alg_before = int(parse_attest(attest).attested.commandAudit.digestAlg)
    try:
        if alg_before != TPM_ALG_SHA256:
            tpm.set_command_code_audit_status(TPM2_ALG.SHA256, TPML_CC(), TPML_CC(), ESYS_TR.OWNER)
        tpm.get_command_audit_digest(ak, b"", NULL_SCHEME, ESYS_TR.ENDORSEMENT)  # empties it
        tpm.set_command_code_audit_status(TPM2_ALG.NULL, TPML_CC([TPM2_CC.GetRandom]), TPML_CC(),
                                          ESYS_TR.OWNER)
        random = bytes(tpm.get_random(8))
        attest, sig = tpm.get_command_audit_digest(ak, b"audit", NULL_SCHEME, ESYS_TR.ENDORSEMENT)
        verify(ak_pub, attest_bytes(attest), sig)
        info = parse_attest(attest)
        assert info.type == TPM2_ST.ATTEST_COMMAND_AUDIT
        audit = info.attested.commandAudit
        assert audit.digestAlg == TPM2_ALG.SHA256 and audit.auditCounter >= 1
        # commandDigest = H(the audited command codes, in order) (Part 3 §18.5).
        listed = sorted({cc_set, cc_random})
        assert _audited_commands(tpm) == listed
        assert bytes(audit.commandDigest) == digest(TPM_ALG_SHA256, b"".join(map(_u32, listed)))
        # The digest starts from zeros, then SetCommandCodeAuditStatus (always audited) and
        # GetRandom are extended into it.
        params = _u16(int(TPM2_ALG.NULL)) + _u32(1) + _u32(cc_random) + _u32(0)
        expected = _audit_extend(TPM_ALG_SHA256, bytes(digest_size(TPM_ALG_SHA256)),
                                 digest(TPM_ALG_SHA256, _u32(cc_set) + _u32(TPM_RH_OWNER) + params),
                                 digest(TPM_ALG_SHA256, _u32(0) + _u32(cc_set)))
        expected = _audit_extend(TPM_ALG_SHA256, expected,
                                 *_get_random_hashes(TPM_ALG_SHA256, 8, random))
        assert bytes(audit.auditDigest) == expected, "command audit digest differs from software"
    finally:
        tpm.set_command_code_audit_status(TPM2_ALG.NULL, TPML_CC(), TPML_CC([TPM2_CC.GetRandom]),
                                          ESYS_TR.OWNER)
        if alg_before != TPM_ALG_SHA256 and alg_before != int(TPM2_ALG.NULL):
            tpm.set_command_code_audit_status(alg_before, TPML_CC(), TPML_CC(), ESYS_TR.OWNER)
    assert _audited_commands(tpm) == before, "the audit list was not restored"


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §21.2 SetCommandCodeAuditStatus with the endorsement "
                  "hierarchy is TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_SetCommandCodeAuditStatus")
def test_audit_status_wrong_hierarchy(raw_pw):
    params = struct.pack(">HII", TPM2_ALG.NULL, 0, 0)
    rc, _ = raw_pw(0x140, [0x4000000B], params)
    assert rc == 0x184, hex(rc)  # TPM_RC_VALUE (handle 1): only owner or platform


@pytest.mark.spec("TPM 2.0 Part 3 §18.6 TPM2_GetSessionAuditDigest")
@pytest.mark.requirement("IEC62443-4-2:CR 2.8", *REQ)
@needs(OWNER, ENDORSEMENT, *P256, "cc:TPM2_GetSessionAuditDigest")
@verifies("GetSessionAuditDigest")
def test_session_audit_digest(tpm, primary):
    ak, ak_pub = _ak(primary)
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.trsess_set_attributes(s, TPMA_SESSION.AUDIT | TPMA_SESSION.CONTINUESESSION)
    expected = bytes(digest_size(TPM_ALG_SHA256))  # starts as a Zero Digest (Part 1 §19.6.11)
    for requested in (4, 7):
        random = bytes(tpm.get_random(requested, session1=s))
        expected = _audit_extend(TPM_ALG_SHA256, expected,
                                 *_get_random_hashes(TPM_ALG_SHA256, requested, random))
    attest, sig = tpm.get_session_audit_digest(ak, s, b"sa", NULL_SCHEME, ESYS_TR.ENDORSEMENT)
    verify(ak_pub, attest_bytes(attest), sig)
    info = parse_attest(attest)
    assert info.type == TPM2_ST.ATTEST_SESSION_AUDIT
    assert bytes(info.attested.sessionAudit.sessionDigest) == expected, \
        "session audit digest differs from the one computed in software"


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §18.6 TPM2_GetSessionAuditDigest of a non-audit session is "
                  "TPM_RC_TYPE")
@pytest.mark.requirement(*REQ)
@needs(OWNER, ENDORSEMENT, *P256, "cc:TPM2_GetSessionAuditDigest")
def test_session_audit_digest_of_non_audit_session(tpm, primary, expect_rc):
    ak, _ = _ak(primary)
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    with expect_rc(0x08A + 0x300):  # TPM_RC_TYPE (handle 3): not an audit session
        tpm.get_session_audit_digest(ak, s, b"", NULL_SCHEME, ESYS_TR.ENDORSEMENT)
