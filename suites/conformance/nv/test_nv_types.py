"""NV index types and attributes (TPM 2.0 Part 3 §31): ordinary, counter,
bits, extend, PIN pass/fail; write-once, read/write locks, global lock,
auth change, NV_Certify, UndefineSpaceSpecial, persistence across a restart."""

import hashlib
import struct

import pytest
from tpm2_pytss import TSS2_Exception
from tpm2_pytss.constants import (
    ESYS_TR, TPM2_ALG, TPM2_CC, TPM2_NT, TPM2_SE, TPM2_ST, TPM2_SU, TPMA_NV,
)
from tpm2_pytss.types import (
    TPM2B_NV_PUBLIC, TPMS_NV_PUBLIC, TPMT_SIG_SCHEME, TPMT_SYM_DEF,
)

from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.names import nv_name
from harness.reference.policy import PolicyDigest
from harness.tpm.names import rc_name
from suites.conformance.signatures import parse_attest, verify

REQ = ("IEC62443-4-2:CR 3.4", "IEC62443-4-2:CR 2.1")
BASE = 0x01500100
OWNER_RW = TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.AUTHWRITE | TPMA_NV.AUTHREAD
OWNER = "hierarchy:owner"
NV = ("cc:TPM2_NV_DefineSpace", "cc:TPM2_NV_Write", "cc:TPM2_NV_Read")
needs = pytest.mark.needs
verifies = pytest.mark.verifies
pytestmark = [pytest.mark.conformance, needs(OWNER, *NV)]  # every test defines an owner index
TPM_RC_ATTRIBUTES = 0x082
RC_H2 = 0x200


def _public(offset, nt=TPM2_NT.ORDINARY, size=8, attrs=OWNER_RW, policy=b"") -> TPMS_NV_PUBLIC:
    attrs = attrs | (int(nt) << TPMA_NV.TPM2_NT_SHIFT)
    return TPMS_NV_PUBLIC(nvIndex=BASE + offset, nameAlg=TPM2_ALG.SHA256, attributes=attrs,
                          authPolicy=policy, dataSize=size)


def _define(tpm, offset, nt=TPM2_NT.ORDINARY, size=8, attrs=OWNER_RW, auth=b"", policy=b"",
            hierarchy=ESYS_TR.OWNER):
    return tpm.nv_define_space(auth, TPM2B_NV_PUBLIC(_public(offset, nt, size, attrs, policy)),
                               hierarchy)


def _software_name(public: TPMS_NV_PUBLIC, written: bool) -> bytes:
    """The index's name from the public area the test defined (Part 1 §16), not the chip's."""
    area = TPMS_NV_PUBLIC(nvIndex=public.nvIndex, nameAlg=public.nameAlg,
                          attributes=public.attributes | (TPMA_NV.WRITTEN if written else 0),
                          authPolicy=public.authPolicy, dataSize=public.dataSize)
    return nv_name(TPM_ALG_SHA256, area.marshal())


class _Attributes:
    """``with _attributes_refused(): ...``: TPM_RC_ATTRIBUTES, naming nvIndex (handle 2) or no
    position; Part 3 §31 gives the code, and the reference code sometimes omits the handle."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            raise AssertionError("expected TPM_RC_ATTRIBUTES, but the command succeeded")
        if not issubclass(exc_type, TSS2_Exception):
            return False
        rc = int(exc.rc)
        assert rc in (TPM_RC_ATTRIBUTES, TPM_RC_ATTRIBUTES + RC_H2), \
            f"expected TPM_RC_ATTRIBUTES (nvIndex), got {rc_name(rc)}"
        return True


_attributes_refused = _Attributes


@pytest.mark.spec("TPM 2.0 Part 3 §31.3 NV_DefineSpace, §31.6 NV_ReadPublic, §31.5 NV_Write, "
                  "§31.13 NV_Read, §31.4 NV_UndefineSpace")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_NV_ReadPublic", "cc:TPM2_NV_UndefineSpace")
@verifies("NV_DefineSpace", "NV_Write", "NV_Read", "NV_ReadPublic", "NV_UndefineSpace")
def test_ordinary_index_write_read_name_undefine(tpm, raw):
    defined = _public(0, size=16)
    nv = _define(tpm, 0, size=16)
    public, name = tpm.nv_read_public(nv)
    assert bytes(name) == _software_name(defined, written=False)
    tpm.nv_write(nv, b"0123456789", 3, ESYS_TR.OWNER)
    public, name = tpm.nv_read_public(nv)
    assert public.nvPublic.attributes & TPMA_NV.WRITTEN
    assert bytes(name) == _software_name(defined, written=True)
    assert bytes(tpm.nv_read(nv, 10, 3, ESYS_TR.OWNER)) == b"0123456789"
    tpm.nv_undefine_space(nv, ESYS_TR.OWNER)
    rc, _ = raw(0x169, struct.pack(">I", BASE))  # NV_ReadPublic: index gone
    assert rc == 0x18B, hex(rc)  # TPM_RC_HANDLE (handle 1)


@pytest.mark.spec("TPM 2.0 Part 3 §31.5 NV_Write, §31.13 NV_Read in blocks of the chip's "
                  "TPM_PT_NV_BUFFER_MAX, over an index larger than one block")
@pytest.mark.requirement(*REQ)
@needs("pt:nv_buffer_max>=16", "pt:nv_index_max>=32")
@verifies("NV_Write", "NV_Read")
def test_large_index_in_nv_buffer_max_blocks(tpm, caps):
    block = caps.nv_buffer_max
    size = min(caps.nv_index_max, 2 * block + 16)  # more than one block where the chip allows
    data = bytes((i * 7 + 3) & 0xFF for i in range(size))
    nv = _define(tpm, 13, size=size)
    for offset in range(0, size, block):
        tpm.nv_write(nv, data[offset:offset + block], offset, ESYS_TR.OWNER)
    read = b"".join(bytes(tpm.nv_read(nv, min(block, size - offset), offset, ESYS_TR.OWNER))
                    for offset in range(0, size, block))
    assert read == data


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


@pytest.mark.spec("TPM 2.0 Part 3 §31.8 NV_Increment (counter index); §31.5 NV_Write on a "
                  "counter is TPM_RC_ATTRIBUTES")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_NV_Increment", "pt:nv_counters_avail>=1")
@verifies("NV_Increment")
def test_counter_index(tpm):
    counter = _define(tpm, 4, TPM2_NT.COUNTER)
    tpm.nv_increment(counter, ESYS_TR.OWNER)
    first = struct.unpack(">Q", bytes(tpm.nv_read(counter, 8, 0, ESYS_TR.OWNER)))[0]
    tpm.nv_increment(counter, ESYS_TR.OWNER)
    assert struct.unpack(">Q", bytes(tpm.nv_read(counter, 8, 0, ESYS_TR.OWNER)))[0] == first + 1
    with _attributes_refused():  # NV_Write on a counter
        tpm.nv_write(counter, b"\x00" * 8, 0, ESYS_TR.OWNER)


@pytest.mark.spec("TPM 2.0 Part 3 §31.10 NV_SetBits (bit field index)")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_NV_SetBits")
@verifies("NV_SetBits")
def test_bits_index(tpm):
    bits = _define(tpm, 5, TPM2_NT.BITS)
    tpm.nv_set_bits(bits, 0x5, ESYS_TR.OWNER)
    tpm.nv_set_bits(bits, 0x100, ESYS_TR.OWNER)
    assert struct.unpack(">Q", bytes(tpm.nv_read(bits, 8, 0, ESYS_TR.OWNER)))[0] == 0x105


@pytest.mark.spec("TPM 2.0 Part 3 §31.9 NV_Extend (extend index): H(old || data)")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_NV_Extend", "alg:sha256")
@verifies("NV_Extend")
def test_extend_index(tpm):
    ext = _define(tpm, 6, TPM2_NT.EXTEND, size=32)
    tpm.nv_extend(ext, b"measurement", ESYS_TR.OWNER)
    expected = hashlib.sha256(bytes(32) + b"measurement").digest()
    assert bytes(tpm.nv_read(ext, 32, 0, ESYS_TR.OWNER)) == expected
    tpm.nv_extend(ext, b"second", ESYS_TR.OWNER)
    expected = hashlib.sha256(expected + b"second").digest()
    assert bytes(tpm.nv_read(ext, 32, 0, ESYS_TR.OWNER)) == expected


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.8/§31.9/§31.10 on an ordinary index is TPM_RC_ATTRIBUTES")
@pytest.mark.requirement(*REQ)
@pytest.mark.parametrize("cmd", [pytest.param(c, marks=needs(f"cc:TPM2_{c}"))
                                 for c in ("NV_Increment", "NV_SetBits", "NV_Extend")])
def test_increment_setbits_extend_on_ordinary_rejected(tpm, cmd):
    nv = _define(tpm, 7)
    with _attributes_refused():
        if cmd == "NV_Increment":
            tpm.nv_increment(nv, ESYS_TR.OWNER)
        elif cmd == "NV_SetBits":
            tpm.nv_set_bits(nv, 1, ESYS_TR.OWNER)
        else:
            tpm.nv_extend(nv, b"x", ESYS_TR.OWNER)


@pytest.mark.spec("TPM 2.0 Part 3 §31.7 NV_WriteLock, §31.11 WriteDefine, §31.14 NV_ReadLock")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_NV_WriteLock", "cc:TPM2_NV_ReadLock")
@verifies("NV_WriteLock", "NV_ReadLock")
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


@pytest.mark.spec("TPM 2.0 Part 3 §31.7 NV_WriteLock of a WRITEDEFINE index: write-once")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_NV_WriteLock")
@verifies("NV_WriteLock")
def test_write_define_is_write_once(tpm, expect_rc):
    once = _define(tpm, 10, attrs=OWNER_RW | TPMA_NV.WRITEDEFINE)
    tpm.nv_write(once, b"12345678", 0, ESYS_TR.OWNER)
    tpm.nv_write_lock(once, ESYS_TR.OWNER)
    with expect_rc(0x148):  # TPM_RC_NV_LOCKED
        tpm.nv_write(once, b"x", 0, ESYS_TR.OWNER)
    assert bytes(tpm.nv_read(once, 8, 0, ESYS_TR.OWNER)) == b"12345678"
    public, _ = tpm.nv_read_public(once)
    assert public.nvPublic.attributes & TPMA_NV.WRITELOCKED


@pytest.mark.spec("TPM 2.0 Part 3 §31.11 TPM2_NV_GlobalWriteLock: every GLOBALLOCK index is "
                  "write-locked until the next TPM2_Startup(CLEAR)")
@pytest.mark.requirement(*REQ)
@pytest.mark.destructive  # also locks the board's own GLOBALLOCK indices until the next reset
@needs("cc:TPM2_NV_GlobalWriteLock")
@verifies("NV_GlobalWriteLock")
def test_global_write_lock(tpm, expect_rc):
    nv = _define(tpm, 9, attrs=OWNER_RW | TPMA_NV.GLOBALLOCK)
    plain = _define(tpm, 11)
    tpm.nv_write(nv, b"before!!", 0, ESYS_TR.OWNER)
    tpm.nv_global_write_lock(ESYS_TR.OWNER)
    with expect_rc(0x148):  # TPM_RC_NV_LOCKED
        tpm.nv_write(nv, b"x", 0, ESYS_TR.OWNER)
    assert bytes(tpm.nv_read(nv, 8, 0, ESYS_TR.OWNER)) == b"before!!"
    tpm.nv_write(plain, b"unlocked", 0, ESYS_TR.OWNER)  # an index without GLOBALLOCK


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.7 NV_WriteLock without WRITEDEFINE/WRITE_STCLEAR is "
                  "TPM_RC_ATTRIBUTES")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_NV_WriteLock", "cc:TPM2_NV_ReadLock")
def test_write_lock_not_lockable(tpm):
    nv = _define(tpm, 11)
    with _attributes_refused():
        tpm.nv_write_lock(nv, ESYS_TR.OWNER)
    with _attributes_refused():
        tpm.nv_read_lock(nv, ESYS_TR.OWNER)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §31.12 TPM2_NV_GlobalWriteLock with the endorsement "
                  "hierarchy is TPM_RC_HIERARCHY")
@pytest.mark.requirement(*REQ)
@needs("cc:TPM2_NV_GlobalWriteLock")
def test_global_write_lock_wrong_hierarchy(raw):
    rc, _ = raw(0x132, struct.pack(">I", 0x4000000B))
    assert rc in (0x184,), hex(rc)  # TPM_RC_VALUE (handle 1): not an owner/platform handle


@pytest.mark.spec("TPM 2.0 Part 3 §31.15 TPM2_NV_ChangeAuth (policy session with "
                  "PolicyCommandCode(NV_ChangeAuth)), PIN via authValue")
@pytest.mark.requirement("IEC62443-4-2:CR 1.5", *REQ)
@needs("cc:TPM2_NV_ChangeAuth", "cc:TPM2_PolicyCommandCode")
@verifies("NV_ChangeAuth")
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


@pytest.mark.spec("TPM 2.0 Part 3 §31.16 TPM2_NV_Certify: TPMS_NV_CERTIFY_INFO (Part 2 "
                  "§10.12.8) holds the software-computed index name, offset and contents")
@pytest.mark.requirement("IEC62443-4-2:CR 2.12", *REQ)
@needs("cc:TPM2_NV_Certify", "alg:ecc", "curve:nist_p256", "alg:ecdsa")
@verifies("NV_Certify")
def test_nv_certify(tpm, primary, expect_rc):
    defined = _public(14, size=8)
    nv = _define(tpm, 14, size=8)
    tpm.nv_write(nv, b"certify!", 0, ESYS_TR.OWNER)
    key, pub = primary("ecc256:ecdsa-sha256:null",
                       "userwithauth|sign|restricted|fixedtpm|fixedparent|sensitivedataorigin")
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL)
    attest, sig = tpm.nv_certify(key, nv, b"nonce", scheme, 5, 3, ESYS_TR.OWNER)
    verify(pub, bytes(attest), sig)
    info = parse_attest(attest)
    assert info.type == TPM2_ST.ATTEST_NV and bytes(info.extraData) == b"nonce"
    certified = info.attested.nv
    assert bytes(certified.indexName) == _software_name(defined, written=True)
    assert certified.offset == 3 and bytes(certified.nvContents) == b"tify!"
    with expect_rc(0x146):  # TPM_RC_NV_RANGE: offset + size beyond dataSize
        tpm.nv_certify(key, nv, b"", scheme, 9, 0, ESYS_TR.OWNER)


@pytest.mark.spec("TPM 2.0 Part 3 §31.2 TPM2_NV_UndefineSpaceSpecial (POLICY_DELETE index)")
@pytest.mark.requirement(*REQ)
@needs("hierarchy:platform", "cc:TPM2_NV_UndefineSpaceSpecial", "cc:TPM2_PolicyCommandCode")
@verifies("NV_UndefineSpaceSpecial")
def test_undefine_space_special(tpm, raw):
    policy = PolicyDigest(TPM_ALG_SHA256).command_code(TPM2_CC.NV_UndefineSpaceSpecial).value
    nv = _define(tpm, 15, attrs=TPMA_NV.PPWRITE | TPMA_NV.PPREAD | TPMA_NV.PLATFORMCREATE
                 | TPMA_NV.POLICY_DELETE, policy=policy, hierarchy=ESYS_TR.PLATFORM)
    with _attributes_refused():  # ordinary undefine of a POLICY_DELETE index (§31.4)
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
@needs("cc:TPM2_NV_WriteLock", "cc:TPM2_Shutdown")
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
