"""PCR commands (TPM 2.0 Part 3 §22): Extend, Event, Reset, Read, SetAuthValue,
SetAuthPolicy, Allocate, with expected values from harness.reference.pcr."""

import hashlib
import struct

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPM2_SU
from tpm2_pytss.types import TPML_DIGEST_VALUES, TPML_PCR_SELECTION, TPMT_HA

from harness.reference import pcr as ref
from harness.reference.hashes import TPM_ALG_SHA256

pytestmark = [pytest.mark.conformance]
REQ = ("IEC62443-4-2:CR 3.4", "IEC62443-4-2:EDR 3.14")
BANKS = {"sha1": TPM2_ALG.SHA1, "sha256": TPM2_ALG.SHA256, "sha384": TPM2_ALG.SHA384,
         "sha512": TPM2_ALG.SHA512}
TPM_PT_PCR_EXTEND_L0 = 0x00000001
TPM_PT_PCR_RESET_L0 = 0x00000002
TPM_PT_PCR_AUTH = 0x00000014


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


@pytest.mark.spec("TPM 2.0 Part 3 §22.2 PCR_Extend (all banks), §22.4 PCR_Read")
@pytest.mark.requirement(*REQ)
def test_extend_every_bank(tpm, identity):
    banks = [b for b in identity.pcr_banks if b in BANKS]
    before = {b: _read(tpm, b, 8) for b in banks}
    digests = TPML_DIGEST_VALUES([TPMT_HA(hashAlg=BANKS[b]) for b in banks])
    for i, b in enumerate(banks):
        setattr(digests.digests[i].digest, b, hashlib.new(b, b"measure").digest())
    tpm.pcr_extend(ESYS_TR.PCR8, digests)
    for b in banks:
        expected = hashlib.new(b, before[b] + hashlib.new(b, b"measure").digest()).digest()
        assert _read(tpm, b, 8) == expected, b


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §22.2 PCR_Extend of a PCR handle beyond the implemented "
                  "PCRs is TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_extend_unimplemented_pcr(raw_pw):
    params = struct.pack(">IH", 1, TPM_ALG_SHA256) + bytes(32)
    rc, _ = raw_pw(0x182, [0x0000001F], params)
    assert rc == 0x184, hex(rc)  # TPM_RC_VALUE (handle 1)


@pytest.mark.spec("TPM 2.0 Part 3 §22.3 TPM2_PCR_Event")
@pytest.mark.requirement(*REQ)
def test_event_digests_and_extends(tpm, identity):
    before = _read(tpm, "sha256", 9)
    out = tpm.pcr_event(ESYS_TR.PCR9, b"an event")
    got = {int(d.hashAlg): d for d in out}
    assert bytes(got[int(TPM2_ALG.SHA256)].digest.sha256) == hashlib.sha256(b"an event").digest()
    assert _read(tpm, "sha256", 9) == ref.event(TPM_ALG_SHA256, before, b"an event")


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §22.3 TPM2_PCR_Event with over 1024 bytes is TPM_RC_SIZE")
@pytest.mark.requirement(*REQ)
def test_event_oversized(raw_pw):
    rc, _ = raw_pw(0x13C, [9], struct.pack(">H", 1025) + b"e" * 1025)
    assert rc == 0x095 + 0x140, hex(rc)  # TPM_RC_SIZE (parameter 1)


@pytest.mark.spec("TPM 2.0 Part 3 §22.8 TPM2_PCR_Reset of a locality-0 resettable PCR")
@pytest.mark.requirement(*REQ)
def test_reset_resettable_pcr(tpm):
    resettable = _pcr_property(tpm, TPM_PT_PCR_RESET_L0)
    assert 16 in resettable, f"PCR 16 (debug) must be resettable at locality 0: {resettable}"
    tpm.pcr_event(ESYS_TR.PCR16, b"x")
    assert _read(tpm, "sha256", 16) != bytes(32)
    tpm.pcr_reset(ESYS_TR.PCR16)
    assert _read(tpm, "sha256", 16) == ref.initial(TPM_ALG_SHA256)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §22.8 TPM2_PCR_Reset of PCR 0 at locality 0 is TPM_RC_LOCALITY")
@pytest.mark.requirement(*REQ)
def test_reset_pcr0_refused(tpm, expect_rc):
    before = _read(tpm, "sha256", 0)
    with expect_rc(0x907):  # TPM_RC_LOCALITY
        tpm.pcr_reset(ESYS_TR.PCR0)
    assert _read(tpm, "sha256", 0) == before


@pytest.mark.spec("TPM 2.0 Part 3 §22.7 TPM2_PCR_SetAuthValue, §22.6 TPM2_PCR_SetAuthPolicy")
@pytest.mark.requirement("IEC62443-4-2:CR 1.5", *REQ)
def test_pcr_auth_value_and_policy(tpm, tpm_raw):
    group = _pcr_property(tpm, TPM_PT_PCR_AUTH)
    if not group:
        pytest.skip("the chip has no PCR with an authValue group (TPM_PT_PCR_AUTH)")
    pcr = group[0]
    handle = getattr(ESYS_TR, f"PCR{pcr}")
    locality = 0 if pcr in _pcr_property(tpm, TPM_PT_PCR_EXTEND_L0) else 1
    before = _read(tpm, "sha256", pcr)
    tpm.pcr_set_auth_value(handle, b"pcrpass")
    try:
        tpm.tr_set_auth(handle, b"pcrpass")
        if locality:
            tpm_raw.set_locality(locality)  # PC Client: PCR 20-22 extend from locality 1+
        tpm.pcr_event(handle, b"with auth")
    finally:
        if locality:
            tpm_raw.set_locality(0)
        tpm.pcr_set_auth_value(handle, b"")
        tpm.tr_set_auth(handle, b"")
    assert _read(tpm, "sha256", pcr) == ref.event(TPM_ALG_SHA256, before, b"with auth")
    tpm.pcr_set_auth_policy(b"\x11" * 32, TPM2_ALG.SHA256, handle, ESYS_TR.PLATFORM)
    tpm.pcr_set_auth_policy(b"", TPM2_ALG.NULL, handle, ESYS_TR.PLATFORM)


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §22.7 PCR_SetAuthValue of a PCR outside the auth group is "
                  "TPM_RC_VALUE; §22.6 SetAuthPolicy needs platform auth")
@pytest.mark.requirement(*REQ)
def test_pcr_set_auth_refused(tpm, raw_pw, expect_rc):
    with expect_rc(0x084):  # TPM_RC_VALUE: PCR 0 is in no authValue group
        tpm.pcr_set_auth_value(ESYS_TR.PCR0, b"x")
    params = struct.pack(">HHI", 0, TPM2_ALG.NULL, 16)
    rc, _ = raw_pw(0x12C, [0x40000001], params)  # owner instead of platform
    assert rc == 0x184, hex(rc)


@pytest.mark.destructive
@pytest.mark.spec("TPM 2.0 Part 3 §22.5 TPM2_PCR_Allocate (the current allocation, so no change)")
@pytest.mark.requirement(*REQ)
def test_pcr_allocate_current_banks(tpm, power_cycle, identity, expect_rc):
    banks = "+".join(f"{b}:all" for b in identity.pcr_banks if b in BANKS)
    ok, max_pcr, needed, available = tpm.pcr_allocate(TPML_PCR_SELECTION.parse(banks),
                                                      ESYS_TR.PLATFORM)
    assert ok and max_pcr >= 24 and needed <= available
    # A pending allocation needs a TPM Reset: Shutdown(STATE) is TPM_RC_TYPE (§9.4).
    with expect_rc(0x08A + 0x140):  # TPM_RC_TYPE (parameter 1)
        tpm.shutdown(TPM2_SU.STATE)
    tpm.shutdown(TPM2_SU.CLEAR)
    power_cycle()
    tpm.startup(TPM2_SU.CLEAR)
    _, _, values = tpm.pcr_read(TPML_PCR_SELECTION.parse(banks))
    assert len(values) > 0


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §22.5 TPM2_PCR_Allocate with owner authorization is "
                  "TPM_RC_VALUE (platform only)")
@pytest.mark.requirement(*REQ)
def test_pcr_allocate_needs_platform(raw_pw):
    rc, _ = raw_pw(0x12B, [0x40000001], struct.pack(">I", 0))
    assert rc == 0x184, hex(rc)
