"""PCR commands (TPM 2.0 Part 3 §22): Extend, Event, Reset, Read, SetAuthValue,
SetAuthPolicy, Allocate, with expected values from harness.reference.pcr.

Board safety: extends go to a PCR the chip lets locality 0 reset (TPM_PT_PCR_RESET_L0,
PC Client: 16 and 23), which the test resets afterwards; extending any other PCR, the
PCR auth/policy tests and PCR_Allocate (a TPM Reset) are ``destructive``."""

import hashlib
import struct

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPM2_CC, TPM2_SE, TPM2_SU
from tpm2_pytss.types import (TPML_DIGEST_VALUES, TPML_PCR_SELECTION, TPMS_PCR_SELECTION,
                              TPMT_HA, TPMT_SYM_DEF)

from harness.identity import list_pcr_banks
from harness.reference import pcr as ref
from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.policy import PolicyDigest
from harness.tpm import properties as PT

pytestmark = [pytest.mark.conformance, pytest.mark.needs("bank:sha256")]
verifies = pytest.mark.verifies
REQ = ("IEC62443-4-2:CR 3.4", "IEC62443-4-2:EDR 3.14")
BANKS = {"sha1": TPM2_ALG.SHA1, "sha256": TPM2_ALG.SHA256, "sha384": TPM2_ALG.SHA384,
         "sha512": TPM2_ALG.SHA512}
TPM_PT_PCR_EXTEND_L0 = 0x00000001
TPM_PT_PCR_RESET_L0 = 0x00000002
TPM_PT_PCR_POLICY = 0x00000013
TPM_PT_PCR_AUTH = 0x00000014
DEBUG_PCRS = (16, 23)  # PC Client PTP: resettable from locality 0


def _read(tpm, bank: str, index: int) -> bytes:
    _, _, values = tpm.pcr_read(TPML_PCR_SELECTION.parse(f"{bank}:{index}"))
    return bytes(values[0])


def _pcr_property(tpm, prop: int) -> list[int]:
    more, data = tpm.get_capability(TPM2_CAP.PCR_PROPERTIES, prop, 1)
    props = data.data.pcrProperties
    if props.count == 0 or int(props.pcrProperty[0].tag) != prop:
        return []
    select = bytes(props.pcrProperty[0].pcrSelect)[: props.pcrProperty[0].sizeofSelect]
    return [i for i in range(len(select) * 8) if select[i // 8] & (1 << (i % 8))]


@pytest.fixture
def debug_pcr(tpm):
    """A PCR locality 0 may extend and reset (16 or 23); reset again after the test, so
    the board keeps what its firmware measured."""
    resettable = set(_pcr_property(tpm, TPM_PT_PCR_RESET_L0))
    extendable = set(_pcr_property(tpm, TPM_PT_PCR_EXTEND_L0))
    usable = [p for p in DEBUG_PCRS if p in resettable and p in extendable]
    if not usable:
        pytest.skip(f"chip lets locality 0 reset none of PCR {DEBUG_PCRS} "
                    f"(TPM_PT_PCR_RESET_L0 {sorted(resettable)})")
    pcr = usable[0]
    yield pcr
    tpm.pcr_reset(getattr(ESYS_TR, f"PCR{pcr}"))


@verifies("PCR_Extend", "PCR_Read")
@pytest.mark.spec("TPM 2.0 Part 3 §22.2 PCR_Extend (all banks), §22.4 PCR_Read")
@pytest.mark.requirement(*REQ)
def test_extend_every_bank(tpm, caps, debug_pcr):
    banks = [b for b in sorted(caps.banks) if b in BANKS and caps.banks[b]]
    before = {b: _read(tpm, b, debug_pcr) for b in banks}
    digests = TPML_DIGEST_VALUES([TPMT_HA(hashAlg=BANKS[b]) for b in banks])
    for i, b in enumerate(banks):
        setattr(digests.digests[i].digest, b, hashlib.new(b, b"measure").digest())
    tpm.pcr_extend(getattr(ESYS_TR, f"PCR{debug_pcr}"), digests)
    for b in banks:
        expected = hashlib.new(b, before[b] + hashlib.new(b, b"measure").digest()).digest()
        assert _read(tpm, b, debug_pcr) == expected, b


@pytest.mark.negative
@verifies("PCR_Extend")
@pytest.mark.spec("TPM 2.0 Part 3 §22.2 PCR_Extend of a PCR handle beyond the implemented "
                  "PCRs (TPM_PT_PCR_COUNT) is TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_extend_unimplemented_pcr(raw_pw, caps):
    count = caps.prop(PT.PCR_COUNT) or 24
    params = struct.pack(">IH", 1, TPM_ALG_SHA256) + bytes(32)
    rc, _ = raw_pw(0x182, [count], params)
    assert rc == 0x184, hex(rc)  # TPM_RC_VALUE (handle 1)


@verifies("PCR_Event")
@pytest.mark.spec("TPM 2.0 Part 3 §22.3 TPM2_PCR_Event")
@pytest.mark.requirement(*REQ)
def test_event_digests_and_extends(tpm, debug_pcr):
    before = _read(tpm, "sha256", debug_pcr)
    out = tpm.pcr_event(getattr(ESYS_TR, f"PCR{debug_pcr}"), b"an event")
    got = {int(d.hashAlg): d for d in out}
    assert bytes(got[int(TPM2_ALG.SHA256)].digest.sha256) == hashlib.sha256(b"an event").digest()
    assert _read(tpm, "sha256", debug_pcr) == ref.event(TPM_ALG_SHA256, before, b"an event")


@pytest.mark.negative
@verifies("PCR_Event")
@pytest.mark.spec("TPM 2.0 Part 3 §22.3 TPM2_PCR_Event with over 1024 bytes (TPM2B_EVENT, "
                  "Part 2 §10.4.7) is TPM_RC_SIZE")
@pytest.mark.requirement(*REQ)
def test_event_oversized(raw_pw, tpm):
    before = _read(tpm, "sha256", 16)
    rc, _ = raw_pw(0x13C, [16], struct.pack(">H", 1025) + b"e" * 1025)
    assert rc == 0x095 + 0x140, hex(rc)  # TPM_RC_SIZE (parameter 1)
    assert _read(tpm, "sha256", 16) == before


@verifies("PCR_Reset")
@pytest.mark.spec("TPM 2.0 Part 3 §22.8 TPM2_PCR_Reset of a locality-0 resettable PCR")
@pytest.mark.requirement(*REQ)
def test_reset_resettable_pcr(tpm, debug_pcr):
    handle = getattr(ESYS_TR, f"PCR{debug_pcr}")
    tpm.pcr_event(handle, b"x")
    assert _read(tpm, "sha256", debug_pcr) != ref.initial(TPM_ALG_SHA256)
    tpm.pcr_reset(handle)
    assert _read(tpm, "sha256", debug_pcr) == ref.initial(TPM_ALG_SHA256)


@pytest.mark.negative
@verifies("PCR_Reset")
@pytest.mark.spec("TPM 2.0 Part 3 §22.8 TPM2_PCR_Reset of PCR 0 at locality 0 is TPM_RC_LOCALITY")
@pytest.mark.requirement(*REQ)
def test_reset_pcr0_refused(tpm, expect_rc):
    before = _read(tpm, "sha256", 0)
    with expect_rc(0x907):  # TPM_RC_LOCALITY
        tpm.pcr_reset(ESYS_TR.PCR0)
    assert _read(tpm, "sha256", 0) == before


def _auth_pcr(tpm, group_property: int) -> tuple[int, object, int]:
    group = _pcr_property(tpm, group_property)
    if not group:
        pytest.skip(f"the chip has no PCR in that group (TPM_PT_PCR 0x{group_property:02x})")
    pcr = group[0]
    locality = 0 if pcr in _pcr_property(tpm, TPM_PT_PCR_EXTEND_L0) else 1
    return pcr, getattr(ESYS_TR, f"PCR{pcr}"), locality


def _event_at(tpm, tpm_raw, handle, locality: int, data: bytes, **sessions) -> None:
    if locality:
        tpm_raw.set_locality(locality)  # PC Client: PCR 20-22 extend from locality 1+
    try:
        tpm.pcr_event(handle, data, **sessions)
    finally:
        if locality:
            tpm_raw.set_locality(0)


@pytest.mark.destructive
@verifies("PCR_SetAuthValue")
@pytest.mark.spec("TPM 2.0 Part 3 §22.7 TPM2_PCR_SetAuthValue: the PCR then takes that "
                  "authValue (extending a non-resettable PCR: destructive)")
@pytest.mark.requirement("IEC62443-4-2:CR 1.5", *REQ)
def test_pcr_auth_value(tpm, tpm_raw):
    pcr, handle, locality = _auth_pcr(tpm, TPM_PT_PCR_AUTH)
    before = _read(tpm, "sha256", pcr)
    tpm.pcr_set_auth_value(handle, b"pcrpass")
    try:
        tpm.tr_set_auth(handle, b"pcrpass")
        _event_at(tpm, tpm_raw, handle, locality, b"with auth")
    finally:
        tpm.tr_set_auth(handle, b"pcrpass")
        tpm.pcr_set_auth_value(handle, b"")
        tpm.tr_set_auth(handle, b"")
    assert _read(tpm, "sha256", pcr) == ref.event(TPM_ALG_SHA256, before, b"with auth")


@pytest.mark.destructive
@pytest.mark.needs("hierarchy:platform")
@verifies("PCR_SetAuthPolicy")
@pytest.mark.spec("TPM 2.0 Part 3 §22.6 TPM2_PCR_SetAuthPolicy: a policy session meeting the "
                  "new policy then authorizes PCR_Event (extending a non-resettable PCR: "
                  "destructive); the empty policy is restored")
@pytest.mark.requirement("IEC62443-4-2:CR 1.5", *REQ)
def test_pcr_auth_policy(tpm, tpm_raw):
    pcr, handle, locality = _auth_pcr(tpm, TPM_PT_PCR_POLICY)
    policy = PolicyDigest(TPM_ALG_SHA256).command_code(TPM2_CC.PCR_Event).value
    before = _read(tpm, "sha256", pcr)
    tpm.pcr_set_auth_policy(policy, TPM2_ALG.SHA256, handle, ESYS_TR.PLATFORM)
    try:
        session = tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY,
                                         TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), TPM2_ALG.SHA256)
        tpm.policy_command_code(session, TPM2_CC.PCR_Event)
        assert bytes(tpm.policy_get_digest(session)) == policy
        _event_at(tpm, tpm_raw, handle, locality, b"by policy", session1=session)
    finally:
        tpm.pcr_set_auth_policy(b"", TPM2_ALG.NULL, handle, ESYS_TR.PLATFORM)
    assert _read(tpm, "sha256", pcr) == ref.event(TPM_ALG_SHA256, before, b"by policy")


@pytest.mark.negative
@verifies("PCR_SetAuthValue")
@pytest.mark.spec("TPM 2.0 Part 3 §22.7 PCR_SetAuthValue of a PCR outside the auth group is "
                  "TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_pcr_set_auth_value_refused(tpm, expect_rc):
    with expect_rc(0x084):  # TPM_RC_VALUE: PCR 0 is in no authValue group
        tpm.pcr_set_auth_value(ESYS_TR.PCR0, b"x")


@pytest.mark.negative
@pytest.mark.needs("hierarchy:owner")
@verifies("PCR_SetAuthPolicy")
@pytest.mark.spec("TPM 2.0 Part 3 §22.6 PCR_SetAuthPolicy needs platform auth: the owner "
                  "handle is TPM_RC_VALUE (handle 1)")
@pytest.mark.requirement(*REQ)
def test_pcr_set_auth_policy_refused(raw_pw):
    params = struct.pack(">HHI", 0, TPM2_ALG.NULL, 16)
    rc, _ = raw_pw(0x12C, [0x40000001], params)  # owner instead of platform
    assert rc == 0x184, hex(rc)


def _selection(banks: list[str], every: list[str]) -> TPML_PCR_SELECTION:
    """All PCRs of ``banks``; the other banks of ``every`` listed with no PCRs (a bank
    left out of the list keeps its allocation, Part 3 §22.5)."""
    out = []
    for bank in every:
        sel = TPMS_PCR_SELECTION(hash=BANKS[bank], sizeofSelect=3)
        for i in range(3):
            sel.pcrSelect[i] = 0xFF if bank in banks else 0
        out.append(sel)
    return TPML_PCR_SELECTION(out)


def _allocate(tpm, power_cycle, banks: list[str], every: list[str]) -> dict[str, int]:
    """Allocate ``banks`` (all PCRs each), TPM Reset, return the banks now active."""
    selection = _selection(banks, every)
    ok, max_pcr, needed, available = tpm.pcr_allocate(selection, ESYS_TR.PLATFORM)
    assert ok and max_pcr >= 24 and needed <= available, (ok, max_pcr, needed, available)
    tpm.shutdown(TPM2_SU.CLEAR)
    power_cycle()
    tpm.startup(TPM2_SU.CLEAR)
    return list_pcr_banks(tpm)


@pytest.mark.destructive
@pytest.mark.needs("hierarchy:platform")
@verifies("PCR_Allocate")
@pytest.mark.spec("TPM 2.0 Part 3 §22.5 TPM2_PCR_Allocate: after the next TPM Reset the "
                  "banks are as allocated (TPM_CAP_PCRS); a pending allocation makes "
                  "Shutdown(STATE) TPM_RC_TYPE (§9.4); the original allocation is restored")
@pytest.mark.requirement(*REQ)
def test_pcr_allocate_changes_banks(tpm, power_cycle, caps, expect_rc):
    original = sorted(b for b, n in list_pcr_banks(tpm).items() if n and b in BANKS)
    implemented = [b for b in BANKS if b in caps.algorithms]
    if len(original) > 1:
        changed = [b for b in original if b != original[-1] or b == "sha256"][:len(original) - 1]
    else:
        extra = [b for b in implemented if b not in original]
        if not extra:
            pytest.skip(f"chip implements no hash besides {original} to allocate a bank for")
        changed = original + extra[:1]
    every = sorted(set(original) | set(changed))
    tpm.pcr_allocate(_selection(changed, every), ESYS_TR.PLATFORM)
    with expect_rc(0x08A + 0x140):  # TPM_RC_TYPE (parameter 1): allocation pending
        tpm.shutdown(TPM2_SU.STATE)
    try:
        now = _allocate(tpm, power_cycle, changed, every)
        assert sorted(b for b, n in now.items() if n and b in BANKS) == sorted(changed)
    finally:
        restored = _allocate(tpm, power_cycle, original, every)
    assert sorted(b for b, n in restored.items() if n and b in BANKS) == original


@pytest.mark.negative
@verifies("PCR_Allocate")
@pytest.mark.spec("TPM 2.0 Part 3 §22.5 TPM2_PCR_Allocate with owner authorization is "
                  "TPM_RC_VALUE (platform only)")
@pytest.mark.requirement(*REQ)
def test_pcr_allocate_needs_platform(raw_pw):
    rc, _ = raw_pw(0x12B, [0x40000001], struct.pack(">I", 0))
    assert rc == 0x184, hex(rc)
