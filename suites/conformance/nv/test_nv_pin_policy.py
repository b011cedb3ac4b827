"""PIN indices and policy-only authorization (TPM 2.0 Part 1 §37.2.3 PIN Pass and
PIN Fail indices, Part 3 §31.3 TPMA_NV_POLICYWRITE/POLICYREAD): the pinCount
moves exactly as the spec says, and the wrong kind of authorization is refused."""

import struct

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CC, TPM2_NT, TPM2_SE, TPMA_NV
from tpm2_pytss.types import TPM2B_NV_PUBLIC, TPMS_NV_PUBLIC, TPMT_SYM_DEF

from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.policy import PolicyDigest

needs = pytest.mark.needs
verifies = pytest.mark.verifies
pytestmark = [pytest.mark.conformance,
              needs("hierarchy:owner", "cc:TPM2_NV_DefineSpace", "cc:TPM2_NV_Write",
                    "cc:TPM2_NV_Read")]
# PIN Pass/Fail index types (Part 2 §13.4 TPM_NT) are in Library revision 1.38 and later;
# no capability reports the index types, so an older chip is not asked to have them.
PIN_INDICES = needs("pt:revision>=138")
REQ = ("IEC62443-4-2:CR 1.5", "IEC62443-4-2:CR 1.11", "IEC62443-4-2:CR 2.1")
BASE = 0x01500400
TPM_RC_BAD_AUTH_S1 = 0x9A2
TPM_RC_AUTH_UNAVAILABLE = 0x12F


def _define(tpm, offset: int, nt, attrs, auth=b"", policy=b"", size=8):
    attrs = attrs | (int(nt) << TPMA_NV.TPM2_NT_SHIFT)
    public = TPM2B_NV_PUBLIC(TPMS_NV_PUBLIC(nvIndex=BASE + offset, nameAlg=TPM2_ALG.SHA256,
                                            attributes=attrs, authPolicy=policy, dataSize=size))
    handle = tpm.nv_define_space(auth, public, ESYS_TR.OWNER)
    tpm.tr_set_auth(handle, auth)
    return handle


def _pins(tpm, nv) -> tuple[int, int]:
    return struct.unpack(">II", bytes(tpm.nv_read(nv, 8, 0, ESYS_TR.OWNER)))


@pytest.mark.spec("TPM 2.0 Part 1 §37.2.3.3 PIN Pass index: each successful authorization "
                  "increments pinCount; at pinLimit the authValue is unavailable (TPM_RC_AUTH_UNAVAILABLE)")
@pytest.mark.requirement(*REQ)
@PIN_INDICES
@verifies("NV_Read", "NV_Write")
def test_pin_pass_index(tpm, expect_rc):
    nv = _define(tpm, 0, TPM2_NT.PIN_PASS, TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD
                 | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA, auth=b"1234")
    tpm.nv_write(nv, struct.pack(">II", 0, 2), 0, ESYS_TR.OWNER)
    assert _pins(tpm, nv) == (0, 2)
    for expected in (1, 2):
        tpm.nv_read(nv, 8, 0, nv)  # authorized with the PIN
        assert _pins(tpm, nv)[0] == expected
    with expect_rc(TPM_RC_AUTH_UNAVAILABLE):
        tpm.nv_read(nv, 8, 0, nv)
    assert _pins(tpm, nv)[0] == 2


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 1 §37.2.3.4 PIN Fail index: a wrong PIN increments pinCount "
                  "(TPM_RC_BAD_AUTH); at pinLimit even the right PIN is TPM_RC_AUTH_UNAVAILABLE")
@pytest.mark.requirement(*REQ)
@PIN_INDICES
def test_pin_fail_index(tpm, expect_rc):
    nv = _define(tpm, 1, TPM2_NT.PIN_FAIL, TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD
                 | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA, auth=b"1234")
    tpm.nv_write(nv, struct.pack(">II", 0, 2), 0, ESYS_TR.OWNER)
    tpm.nv_read(nv, 8, 0, nv)  # the right PIN: pinCount stays 0
    assert _pins(tpm, nv) == (0, 2)
    tpm.tr_set_auth(nv, b"0000")
    for expected in (1, 2):
        with expect_rc(TPM_RC_BAD_AUTH_S1):
            tpm.nv_read(nv, 8, 0, nv)
        assert _pins(tpm, nv)[0] == expected
    tpm.tr_set_auth(nv, b"1234")
    with expect_rc(TPM_RC_AUTH_UNAVAILABLE):
        tpm.nv_read(nv, 8, 0, nv)
    assert _pins(tpm, nv)[0] == 2


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.3 NV_DefineSpace: a PIN Fail index without NO_DA is "
                  "TPM_RC_ATTRIBUTES")
@pytest.mark.requirement(*REQ)
@PIN_INDICES
def test_pin_fail_requires_no_da(tpm, expect_rc):
    with expect_rc(0x082 + 0x240):  # TPM_RC_ATTRIBUTES (parameter 2: publicInfo)
        _define(tpm, 2, TPM2_NT.PIN_FAIL, TPMA_NV.OWNERWRITE | TPMA_NV.AUTHREAD, auth=b"1")


@pytest.mark.spec("TPM 2.0 Part 3 §31.3 POLICYWRITE only: writes need the policy, a password "
                  "is TPM_RC_AUTH_UNAVAILABLE")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_PolicyCommandCode")
@verifies("NV_Write", "NV_Read", "PolicyCommandCode")
def test_policy_write_only_index(tpm, expect_rc):
    policy = PolicyDigest(TPM_ALG_SHA256).command_code(TPM2_CC.NV_Write).value
    nv = _define(tpm, 3, TPM2_NT.ORDINARY, TPMA_NV.POLICYWRITE | TPMA_NV.AUTHREAD
                 | TPMA_NV.NO_DA, auth=b"pw", policy=policy)
    with expect_rc(TPM_RC_AUTH_UNAVAILABLE):
        tpm.nv_write(nv, b"data", 0, nv)  # password session on the index
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.policy_command_code(s, TPM2_CC.NV_Write)
    tpm.nv_write(nv, b"data", 0, nv, session1=s)
    assert bytes(tpm.nv_read(nv, 4, 0, nv)) == b"data"


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.5 a policy session whose digest is not the index's "
                  "authPolicy is TPM_RC_POLICY_FAIL")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_PolicyAuthValue")
def test_policy_write_wrong_policy(tpm, expect_rc):
    policy = PolicyDigest(TPM_ALG_SHA256).command_code(TPM2_CC.NV_Write).value
    nv = _define(tpm, 4, TPM2_NT.ORDINARY, TPMA_NV.POLICYWRITE | TPMA_NV.AUTHREAD
                 | TPMA_NV.NO_DA, auth=b"pw", policy=policy)
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.policy_auth_value(s)  # a different policy
    with expect_rc(0x99D):  # TPM_RC_POLICY_FAIL (session 1)
        tpm.nv_write(nv, b"data", 0, nv, session1=s)
