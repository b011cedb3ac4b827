"""Hierarchy administration (TPM 2.0 Part 3 §24): HierarchyChangeAuth,
HierarchyControl, SetPrimaryPolicy, Clear/ClearControl, ChangePPS/ChangeEPS;
and platform-only commands PP_Commands (§26.2), SetAlgorithmSet (§26.3).

Every test that succeeds with one of them changes hierarchy state (auth, policy,
enables, seeds, the algorithm set), so it is ``destructive`` even where it restores
what it can; the refusals change nothing and run on boards too, each only where the
hierarchy it names is usable (``needs("hierarchy:...")``: enabled, auth known).
Tests that change the endorsement seed run last (see conftest) because they
invalidate the EK certificates."""

import struct

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPM2_CC, TPM2_SE, TPMA_NV
from tpm2_pytss.types import (
    TPM2B_NV_PUBLIC, TPM2B_PUBLIC, TPMS_NV_PUBLIC, TPMT_SYM_DEF,
)

from tpm2_pytss import TSS2_Exception

from harness.reference.hashes import TPM_ALG_SHA256
from harness.tpm import properties as PT
from harness.tpm.names import command_code
from harness.reference.policy import PolicyDigest

pytestmark = [pytest.mark.conformance]
verifies = pytest.mark.verifies
destructive = pytest.mark.destructive


def needs(*hierarchies: str):
    return pytest.mark.needs(*(f"hierarchy:{h}" for h in hierarchies))
REQ = ("IEC62443-4-2:CR 1.5", "IEC62443-4-2:CR 2.1", "FIPS140-3:zeroisation")
STORAGE = "userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin"


def _srk(tpm, hierarchy=ESYS_TR.OWNER):
    public = TPM2B_PUBLIC.parse("ecc256:aes128cfb", objectAttributes=STORAGE)
    handle, out, _, _, _ = tpm.create_primary(None, public, hierarchy)
    tpm.flush_context(handle)
    return out.marshal()


@destructive
@needs("owner")
@verifies("HierarchyChangeAuth")
@pytest.mark.spec("TPM 2.0 Part 3 §24.8 TPM2_HierarchyChangeAuth")
@pytest.mark.requirement(*REQ)
def test_hierarchy_change_auth(tpm, expect_rc, hierarchy_auth):
    lab = hierarchy_auth.get_auth("owner")  # restored at the end: the lab's value or empty
    tpm.hierarchy_change_auth(ESYS_TR.OWNER, b"owner-pass")
    try:
        tpm.tr_set_auth(ESYS_TR.OWNER, lab)
        with expect_rc(0x9A2):  # TPM_RC_BAD_AUTH (session 1): hierarchy auth is not DA-protected
            _srk(tpm)
        tpm.tr_set_auth(ESYS_TR.OWNER, b"owner-pass")
        _srk(tpm)
    finally:
        tpm.tr_set_auth(ESYS_TR.OWNER, b"owner-pass")
        tpm.hierarchy_change_auth(ESYS_TR.OWNER, lab)
        tpm.tr_set_auth(ESYS_TR.OWNER, lab)


@needs("owner")
@verifies("HierarchyChangeAuth")
@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §24.8 HierarchyChangeAuth longer than the nameAlg digest "
                  "is TPM_RC_SIZE")
@pytest.mark.requirement(*REQ)
def test_hierarchy_change_auth_too_long(raw_pw, caps):
    size = caps.max_digest + 1  # TPM2B_AUTH holds at most the largest digest (Part 2 §10.4.3)
    rc, _ = raw_pw(0x129, [0x40000001], struct.pack(">H", size) + b"a" * size)
    assert rc == 0x095 + 0x140, hex(rc)  # TPM_RC_SIZE (parameter 1)


@destructive
@needs("platform", "endorsement")
@verifies("HierarchyControl")
@pytest.mark.spec("TPM 2.0 Part 3 §24.5 TPM2_HierarchyControl (disable, then re-enable, "
                  "the endorsement hierarchy)")
@pytest.mark.requirement(*REQ)
def test_hierarchy_control(tpm, expect_rc):
    tpm.hierarchy_control(ESYS_TR.PLATFORM, ESYS_TR.ENDORSEMENT, False)
    try:
        with expect_rc(0x085 + 0x100):  # TPM_RC_HIERARCHY (handle 1)
            _srk(tpm, ESYS_TR.ENDORSEMENT)
    finally:
        tpm.hierarchy_control(ESYS_TR.PLATFORM, ESYS_TR.ENDORSEMENT, True)
    _srk(tpm, ESYS_TR.ENDORSEMENT)


@needs("owner")
@verifies("HierarchyControl")
@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §24.5 HierarchyControl: the owner cannot enable the platform "
                  "hierarchy (TPM_RC_AUTH_TYPE)")
@pytest.mark.requirement(*REQ)
def test_hierarchy_control_owner_on_platform(tpm, expect_rc):
    with expect_rc(0x124):  # TPM_RC_AUTH_TYPE
        tpm.hierarchy_control(ESYS_TR.OWNER, ESYS_TR.PLATFORM, True)


@destructive
@needs("owner")
@verifies("SetPrimaryPolicy")
@pytest.mark.spec("TPM 2.0 Part 3 §24.6 TPM2_SetPrimaryPolicy (owner policy satisfied by a "
                  "policy session)")
@pytest.mark.requirement(*REQ)
def test_set_primary_policy(tpm):
    policy = PolicyDigest(TPM_ALG_SHA256).command_code(TPM2_CC.CreatePrimary).value
    tpm.set_primary_policy(ESYS_TR.OWNER, policy, TPM2_ALG.SHA256)
    try:
        s = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                                   TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
        tpm.policy_command_code(s, TPM2_CC.CreatePrimary)
        public = TPM2B_PUBLIC.parse("ecc256:aes128cfb", objectAttributes=STORAGE)
        tpm.create_primary(None, public, ESYS_TR.OWNER, session1=s)
    finally:
        tpm.set_primary_policy(ESYS_TR.OWNER, b"", TPM2_ALG.NULL)


@needs("owner")
@verifies("SetPrimaryPolicy")
@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §24.6 SetPrimaryPolicy: a digest that is not the hash's size "
                  "is TPM_RC_SIZE")
@pytest.mark.requirement(*REQ)
def test_set_primary_policy_wrong_size(tpm, expect_rc):
    with expect_rc(0x095 + 0x140):  # TPM_RC_SIZE (parameter 1)
        tpm.set_primary_policy(ESYS_TR.OWNER, b"\x01" * 20, TPM2_ALG.SHA256)


@destructive
@needs("lockout", "platform", "owner", "endorsement")
@verifies("Clear", "ClearControl")
@pytest.mark.spec("TPM 2.0 Part 3 §24.6 TPM2_Clear: owner seed changes, owner NV removed, "
                  "endorsement seed kept; §24.7 ClearControl")
@pytest.mark.requirement(*REQ)
def test_clear_and_clear_control(tpm, expect_rc, raw):
    nv_public = TPM2B_NV_PUBLIC(TPMS_NV_PUBLIC(
        nvIndex=0x01500200, nameAlg=TPM2_ALG.SHA256, dataSize=4,
        attributes=TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD))
    tpm.nv_define_space(b"", nv_public, ESYS_TR.OWNER)
    srk, ek = _srk(tpm), _srk(tpm, ESYS_TR.ENDORSEMENT)
    tpm.clear_control(ESYS_TR.LOCKOUT, True)
    try:
        with expect_rc(0x120):  # TPM_RC_DISABLED
            tpm.clear(ESYS_TR.LOCKOUT)
    finally:
        tpm.clear_control(ESYS_TR.PLATFORM, False)
    tpm.clear(ESYS_TR.LOCKOUT)
    assert _srk(tpm) != srk, "Clear must change the storage primary seed"
    assert _srk(tpm, ESYS_TR.ENDORSEMENT) == ek, "Clear must keep the endorsement seed"
    rc, _ = raw(0x169, struct.pack(">I", 0x01500200))
    assert rc == 0x18B, f"owner NV index survived Clear ({rc:#x})"


@needs("owner")
@verifies("Clear")
@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §24.6 TPM2_Clear with owner authorization is TPM_RC_VALUE "
                  "(lockout or platform only)")
@pytest.mark.requirement(*REQ)
def test_clear_with_owner_refused(raw_pw):
    rc, _ = raw_pw(0x126, [0x40000001])
    assert rc == 0x184, hex(rc)  # TPM_RC_VALUE (handle 1)


@needs("lockout")
@verifies("ClearControl")
@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §24.7 ClearControl: lockout cannot re-enable Clear "
                  "(TPM_RC_AUTH_FAIL)")
@pytest.mark.requirement(*REQ)
def test_clear_control_lockout_cannot_enable(tpm, expect_rc):
    with expect_rc(0x08E):  # TPM_RC_AUTH_FAIL
        tpm.clear_control(ESYS_TR.LOCKOUT, False)


@destructive
@needs("platform")
@verifies("ChangePPS")
@pytest.mark.spec("TPM 2.0 Part 3 §24.11 TPM2_ChangePPS: platform primary seed changes")
@pytest.mark.requirement(*REQ)
def test_change_pps(tpm):
    before = _srk(tpm, ESYS_TR.PLATFORM)
    tpm.change_pps(ESYS_TR.PLATFORM)
    assert _srk(tpm, ESYS_TR.PLATFORM) != before


@needs("owner")
@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §24.10/§24.11 ChangeEPS/ChangePPS need platform "
                  "authorization (TPM_RC_VALUE for owner)")
@pytest.mark.requirement(*REQ)
@pytest.mark.parametrize("name", [pytest.param(n, marks=verifies(n), id=n)
                                  for n in ("ChangeEPS", "ChangePPS")])
def test_change_seeds_need_platform(raw_pw, name):
    rc, _ = raw_pw(command_code(name), [0x40000001])
    assert rc == 0x184, hex(rc)


@destructive
@needs("platform", "endorsement")
@verifies("ChangeEPS")
@pytest.mark.endorsement_seed
@pytest.mark.spec("TPM 2.0 Part 3 §24.10 TPM2_ChangeEPS: endorsement primary seed changes")
@pytest.mark.requirement(*REQ)
def test_change_eps(tpm):
    before = _srk(tpm, ESYS_TR.ENDORSEMENT)
    tpm.change_eps(ESYS_TR.PLATFORM)
    assert _srk(tpm, ESYS_TR.ENDORSEMENT) != before


@destructive
@needs("platform")
@verifies("SetAlgorithmSet")
@pytest.mark.spec("TPM 2.0 Part 3 §26.3 TPM2_SetAlgorithmSet")
@pytest.mark.requirement(*REQ)
def test_set_algorithm_set(tpm, caps, expect_rc):
    def algorithm_set() -> int:
        more, data = tpm.get_capability(TPM2_CAP.TPM_PROPERTIES, PT.ALGORITHM_SET, 1)
        prop = data.data.tpmProperties[0]
        assert int(prop.property) == PT.ALGORITHM_SET
        return int(prop.value)

    before = algorithm_set()
    wanted = before ^ 1  # the meaning of each set is the vendor's (Part 2 §6.13)
    try:
        tpm.set_algorithm_set(wanted, ESYS_TR.PLATFORM)
    except TSS2_Exception as exc:
        pytest.skip(f"chip accepts no algorithm set other than {before} ({exc})")
    try:
        assert algorithm_set() == wanted
    finally:
        tpm.set_algorithm_set(before, ESYS_TR.PLATFORM)
    assert algorithm_set() == before


@needs("platform")
@verifies("PP_Commands")
@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §26.2 TPM2_PP_Commands needs physical presence: without it "
                  "TPM_RC_PP (session 1), and the PP list is unchanged")
@pytest.mark.requirement(*REQ)
def test_pp_commands_without_physical_presence(tpm, raw_pw):
    def pp_list():
        more, data = tpm.get_capability(TPM2_CAP.PP_COMMANDS, 0, 64)
        return sorted(int(c) for c in data.data.ppCommands)

    before = pp_list()
    rc, _ = raw_pw(0x12D, [0x4000000C], struct.pack(">III", 1, TPM2_CC.Clear, 0))
    assert rc == 0x090 + 0x900, hex(rc)  # TPM_RC_PP (session 1)
    assert pp_list() == before


@needs("owner")
@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §26.2/§26.3 PP_Commands and SetAlgorithmSet need platform "
                  "authorization (TPM_RC_VALUE for owner)")
@pytest.mark.requirement(*REQ)
@pytest.mark.parametrize("name, params", [
    pytest.param("PP_Commands", struct.pack(">II", 0, 0), marks=verifies("PP_Commands"),
                 id="PP_Commands"),
    pytest.param("SetAlgorithmSet", struct.pack(">I", 0), marks=verifies("SetAlgorithmSet"),
                 id="SetAlgorithmSet"),
])
def test_platform_commands_refuse_owner(raw_pw, name, params):
    rc, _ = raw_pw(command_code(name), [0x40000001], params)
    assert rc == 0x184, hex(rc)
