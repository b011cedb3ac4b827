"""NV index types and attributes (TPM 2.0 Part 3 §31): ordinary, counter,
bits, extend, PIN pass/fail; write-once, read/write locks, global lock,
auth change, NV_Certify, UndefineSpaceSpecial, persistence across a restart."""

import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CC, TPM2_NT, TPM2_SE, TPM2_SU, TPMA_NV
from tpm2_pytss.types import (
    TPM2B_NV_PUBLIC, TPMS_NV_PUBLIC, TPMT_SIG_SCHEME, TPMT_SYM_DEF,
)

from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.names import nv_name
from harness.reference.policy import PolicyDigest
from harness.tpm.software import public_key

pytestmark = [pytest.mark.conformance]
REQ = ("IEC62443-4-2:CR 3.4", "IEC62443-4-2:CR 2.1")
BASE = 0x01500100
OWNER_RW = TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD


def _define(tpm, offset, nt=TPM2_NT.ORDINARY, size=8, attrs=OWNER_RW, auth=b"", policy=b"",
            hierarchy=ESYS_TR.OWNER):
    attrs = attrs | (int(nt) << TPMA_NV.TPM2_NT_SHIFT)
    public = TPM2B_NV_PUBLIC(TPMS_NV_PUBLIC(nvIndex=BASE + offset, nameAlg=TPM2_ALG.SHA256,
                                            attributes=attrs, authPolicy=policy, dataSize=size))
    return tpm.nv_define_space(auth, public, hierarchy)


@pytest.mark.spec("TPM 2.0 Part 3 §31.3 NV_DefineSpace, §31.6 NV_ReadPublic, §31.5 NV_Write, "
                  "§31.13 NV_Read, §31.4 NV_UndefineSpace")
@pytest.mark.requirement(*REQ)
def test_ordinary_index_write_read_name_undefine(tpm, raw):
    nv = _define(tpm, 0, size=16)
    public, name = tpm.nv_read_public(nv)
    tpm.nv_write(nv, b"0123456789", 3, ESYS_TR.OWNER)
    public, name = tpm.nv_read_public(nv)
    assert public.nvPublic.attributes & TPMA_NV.WRITTEN
    assert bytes(name) == nv_name(TPM_ALG_SHA256, public.nvPublic.marshal())
    assert bytes(tpm.nv_read(nv, 10, 3, ESYS_TR.OWNER)) == b"0123456789"
    tpm.nv_undefine_space(nv, ESYS_TR.OWNER)
    rc, _ = raw(0x169, struct.pack(">I", BASE))  # NV_ReadPublic: index gone
    assert rc == 0x18B, hex(rc)  # TPM_RC_HANDLE (handle 1)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.13 NV_Read of an unwritten index is TPM_RC_NV_UNINITIALIZED")
@pytest.mark.requirement(*REQ)
def test_read_unwritten_index(tpm, expect_rc):
    nv = _define(tpm, 1)
    with expect_rc(0x14A):
        tpm.nv_read(nv, 8, 0, ESYS_TR.OWNER)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.5 NV_Write beyond dataSize is TPM_RC_NV_RANGE")
@pytest.mark.requirement(*REQ)
def test_write_out_of_range(tpm, expect_rc):
    nv = _define(tpm, 2)
    with expect_rc(0x146):
        tpm.nv_write(nv, b"123456789", 0, ESYS_TR.OWNER)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.3 NV_DefineSpace of an existing index is TPM_RC_NV_DEFINED")
@pytest.mark.requirement(*REQ)
def test_define_twice(tpm, expect_rc):
    _define(tpm, 3)
    with expect_rc(0x14C):
        _define(tpm, 3)


@pytest.mark.spec("TPM 2.0 Part 3 §31.8 NV_Increment (counter), §31.10 NV_SetBits, "
                  "§31.9 NV_Extend")
@pytest.mark.requirement(*REQ)
def test_counter_bits_extend_indices(tpm, expect_rc):
    counter = _define(tpm, 4, TPM2_NT.COUNTER)
    tpm.nv_increment(counter, ESYS_TR.OWNER)
    first = struct.unpack(">Q", bytes(tpm.nv_read(counter, 8, 0, ESYS_TR.OWNER)))[0]
    tpm.nv_increment(counter, ESYS_TR.OWNER)
    assert struct.unpack(">Q", bytes(tpm.nv_read(counter, 8, 0, ESYS_TR.OWNER)))[0] == first + 1
    bits = _define(tpm, 5, TPM2_NT.BITS)
    tpm.nv_set_bits(bits, 0x5, ESYS_TR.OWNER)
    tpm.nv_set_bits(bits, 0x100, ESYS_TR.OWNER)
    assert struct.unpack(">Q", bytes(tpm.nv_read(bits, 8, 0, ESYS_TR.OWNER)))[0] == 0x105
    ext = _define(tpm, 6, TPM2_NT.EXTEND, size=32)
    tpm.nv_extend(ext, b"measurement", ESYS_TR.OWNER)
    expected = hashlib.sha256(bytes(32) + b"measurement").digest()
    assert bytes(tpm.nv_read(ext, 32, 0, ESYS_TR.OWNER)) == expected
    with expect_rc(0x082):  # TPM_RC_ATTRIBUTES: NV_Write on a counter
        tpm.nv_write(counter, b"\x00" * 8, 0, ESYS_TR.OWNER)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.8/§31.9/§31.10 on an ordinary index is TPM_RC_ATTRIBUTES")
@pytest.mark.requirement(*REQ)
def test_increment_setbits_extend_on_ordinary_rejected(tpm, expect_rc):
    nv = _define(tpm, 7)
    with expect_rc(0x282):  # TPM_RC_ATTRIBUTES (handle 2: nvIndex)
        tpm.nv_increment(nv, ESYS_TR.OWNER)
    with expect_rc(0x282):
        tpm.nv_set_bits(nv, 1, ESYS_TR.OWNER)
    with expect_rc(0x282):
        tpm.nv_extend(nv, b"x", ESYS_TR.OWNER)


@pytest.mark.spec("TPM 2.0 Part 3 §31.7 NV_WriteLock, §31.11 WriteDefine, §31.14 NV_ReadLock")
@pytest.mark.requirement(*REQ)
def test_write_and_read_locks(tpm, expect_rc):
    nv = _define(tpm, 8, attrs=OWNER_RW | TPMA_NV.WRITE_STCLEAR | TPMA_NV.READ_STCLEAR)
    tpm.nv_write(nv, b"abcdefgh", 0, ESYS_TR.OWNER)
    tpm.nv_write_lock(nv, ESYS_TR.OWNER)
    with expect_rc(0x148):  # TPM_RC_NV_LOCKED
        tpm.nv_write(nv, b"x", 0, ESYS_TR.OWNER)
    assert bytes(tpm.nv_read(nv, 8, 0, ESYS_TR.OWNER)) == b"abcdefgh"
    tpm.nv_read_lock(nv, ESYS_TR.OWNER)
    with expect_rc(0x148):
        tpm.nv_read(nv, 8, 0, ESYS_TR.OWNER)


@pytest.mark.spec("TPM 2.0 Part 3 §31.11 TPM2_NV_GlobalWriteLock (WRITEDEFINE is write-once)")
@pytest.mark.requirement(*REQ)
def test_global_write_lock_and_write_once(tpm, expect_rc):
    nv = _define(tpm, 9, attrs=OWNER_RW | TPMA_NV.GLOBALLOCK)
    once = _define(tpm, 10, attrs=OWNER_RW | TPMA_NV.WRITEDEFINE)
    tpm.nv_write(once, b"12345678", 0, ESYS_TR.OWNER)
    tpm.nv_write_lock(once, ESYS_TR.OWNER)
    tpm.nv_global_write_lock(ESYS_TR.OWNER)
    with expect_rc(0x148):
        tpm.nv_write(nv, b"x", 0, ESYS_TR.OWNER)
    with expect_rc(0x148):
        tpm.nv_write(once, b"x", 0, ESYS_TR.OWNER)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.7 NV_WriteLock without WRITEDEFINE/WRITE_STCLEAR is "
                  "TPM_RC_ATTRIBUTES")
@pytest.mark.requirement(*REQ)
def test_write_lock_not_lockable(tpm, expect_rc):
    nv = _define(tpm, 11)
    with expect_rc(0x282):  # TPM_RC_ATTRIBUTES (handle 2: nvIndex)
        tpm.nv_write_lock(nv, ESYS_TR.OWNER)
    with expect_rc(0x282):
        tpm.nv_read_lock(nv, ESYS_TR.OWNER)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.12 TPM2_NV_GlobalWriteLock with the endorsement "
                  "hierarchy is TPM_RC_HIERARCHY")
@pytest.mark.requirement(*REQ)
def test_global_write_lock_wrong_hierarchy(raw):
    rc, _ = raw(0x132, struct.pack(">I", 0x4000000B))
    assert rc in (0x184,), hex(rc)  # TPM_RC_VALUE (handle 1): not an owner/platform handle


@pytest.mark.spec("TPM 2.0 Part 3 §31.15 TPM2_NV_ChangeAuth (policy session with "
                  "PolicyCommandCode(NV_ChangeAuth)), PIN via authValue")
@pytest.mark.requirement("IEC62443-4-2:CR 1.5", *REQ)
def test_nv_change_auth_with_policy(tpm, expect_rc):
    policy = PolicyDigest(TPM_ALG_SHA256).command_code(TPM2_CC.NV_ChangeAuth).value
    nv = _define(tpm, 12, attrs=TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD | TPMA_NV.NO_DA,
                 auth=b"old", policy=policy)
    tpm.tr_set_auth(nv, b"old")
    tpm.nv_write(nv, b"pinvalue", 0, nv)
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.policy_command_code(s, TPM2_CC.NV_ChangeAuth)
    tpm.nv_change_auth(nv, b"new", session1=s)
    tpm.tr_set_auth(nv, b"new")
    assert bytes(tpm.nv_read(nv, 8, 0, nv)) == b"pinvalue"
    tpm.tr_set_auth(nv, b"old")
    with expect_rc(0x9A2):  # TPM_RC_BAD_AUTH (session 1): noDA index, no DA count
        tpm.nv_read(nv, 8, 0, nv)


@pytest.mark.spec("TPM 2.0 Part 3 §31.16 TPM2_NV_Certify, checked in software")
@pytest.mark.requirement("IEC62443-4-2:CR 2.12", *REQ)
def test_nv_certify(tpm, primary, expect_rc):
    nv = _define(tpm, 14, size=8)
    tpm.nv_write(nv, b"certify!", 0, ESYS_TR.OWNER)
    key, pub = primary("ecc256:ecdsa-sha256:null",
                       "userwithauth|sign|restricted|fixedtpm|fixedparent|sensitivedataorigin")
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL)
    attest, sig = tpm.nv_certify(key, nv, b"nonce", scheme, 8, 0, ESYS_TR.OWNER)
    body = bytes(attest.marshal())[2:]
    public_key(pub).verify(encode_dss_signature(
        int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big"),
        int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big")), body,
        ec.ECDSA(hashes.SHA256()))
    assert body[:4] == b"\xffTCG" and b"nonce" in body and body.endswith(b"certify!")
    with expect_rc(0x146 + 0x000):  # TPM_RC_NV_RANGE
        tpm.nv_certify(key, nv, b"", scheme, 9, 0, ESYS_TR.OWNER)


@pytest.mark.spec("TPM 2.0 Part 3 §31.2 TPM2_NV_UndefineSpaceSpecial (POLICY_DELETE index)")
@pytest.mark.requirement(*REQ)
def test_undefine_space_special(tpm, raw, expect_rc):
    policy = PolicyDigest(TPM_ALG_SHA256).command_code(TPM2_CC.NV_UndefineSpaceSpecial).value
    nv = _define(tpm, 15, attrs=TPMA_NV.PPWRITE | TPMA_NV.PPREAD | TPMA_NV.PLATFORMCREATE
                 | TPMA_NV.POLICY_DELETE, policy=policy, hierarchy=ESYS_TR.PLATFORM)
    with expect_rc(0x282):  # TPM_RC_ATTRIBUTES (handle 2): ordinary undefine refused
        tpm.nv_undefine_space(nv, ESYS_TR.PLATFORM)
    s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                               TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
    tpm.policy_command_code(s, TPM2_CC.NV_UndefineSpaceSpecial)
    tpm.nv_undefine_space_special(nv, s, ESYS_TR.PLATFORM)
    rc, _ = raw(0x169, struct.pack(">I", BASE + 15))
    assert rc == 0x18B, hex(rc)


@pytest.mark.destructive
@pytest.mark.slow
@pytest.mark.spec("TPM 2.0 Part 3 §9.4 Shutdown(STATE)/Startup(CLEAR): NV data and counters "
                  "persist; WRITE_STCLEAR locks clear")
@pytest.mark.requirement("IEC62443-4-2:CR 7.4", *REQ)
def test_nv_persists_across_restart(tpm, power_cycle):
    nv = _define(tpm, 16, attrs=OWNER_RW | TPMA_NV.WRITE_STCLEAR)
    tpm.nv_write(nv, b"persist!", 0, ESYS_TR.OWNER)
    tpm.nv_write_lock(nv, ESYS_TR.OWNER)
    tpm.shutdown(TPM2_SU.CLEAR)
    power_cycle()
    tpm.startup(TPM2_SU.CLEAR)
    nv = tpm.tr_from_tpmpublic(BASE + 16)
    assert bytes(tpm.nv_read(nv, 8, 0, ESYS_TR.OWNER)) == b"persist!"
    tpm.nv_write(nv, b"unlocked", 0, ESYS_TR.OWNER)  # WRITE_STCLEAR lock cleared
