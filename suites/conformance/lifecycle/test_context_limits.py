"""Context management limits (TPM 2.0 Part 3 §28; Part 2 §6.13 TPM_PT_HR_*):
the TPM holds at least TPM_PT_HR_TRANSIENT_MIN objects and TPM_PT_HR_LOADED_MIN
sessions, refuses the next with TPM_RC_OBJECT_MEMORY / TPM_RC_SESSION_MEMORY,
and a saved context frees its slot until it is loaded again."""

import struct

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPM2_SE
from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_SYM_DEF

from harness.tpm import properties

pytestmark = [pytest.mark.conformance]
verifies = pytest.mark.verifies
REQ = ("IEC62443-4-2:CR 7.2", "IEC62443-4-2:CR 7.1")
TPM_RC_OBJECT_MEMORY = 0x902
TPM_RC_SESSION_MEMORY = 0x903
SIGN = "userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin"


def _prop(tpm, prop: int) -> int:
    more, data = tpm.get_capability(TPM2_CAP.TPM_PROPERTIES, prop, 1)
    p = data.data.tpmProperties[0]
    assert int(p.property) == prop
    return int(p.value)


def _key(tpm):
    public = TPM2B_PUBLIC.parse("ecc256:ecdsa-sha256:null", objectAttributes=SIGN)
    handle, _, _, _, _ = tpm.create_primary(None, public, ESYS_TR.OWNER)
    return handle


@pytest.mark.needs("hierarchy:owner")
@verifies("ContextSave", "ContextLoad", "FlushContext")
@pytest.mark.spec("TPM 2.0 Part 3 §28.2-§28.4 ContextSave/Load/Flush; Part 2 §6.13 "
                  "TPM_PT_HR_TRANSIENT_MIN, TPM_PT_HR_TRANSIENT_AVAIL")
@pytest.mark.requirement(*REQ)
def test_object_slots(tpm, expect_rc):
    minimum = _prop(tpm, properties.HR_TRANSIENT_MIN)
    available = _prop(tpm, properties.HR_TRANSIENT_AVAIL)
    assert available >= minimum >= 3, f"TRANSIENT_MIN {minimum}, AVAIL {available}"
    handles = [_key(tpm) for _ in range(available)]
    with expect_rc(TPM_RC_OBJECT_MEMORY):
        _key(tpm)
    _, name, _ = tpm.read_public(handles[0])
    saved = tpm.context_save(handles[0])
    tpm.flush_context(handles[0])
    extra = _key(tpm)  # the freed slot is usable
    with expect_rc(TPM_RC_OBJECT_MEMORY):
        tpm.context_load(saved)
    tpm.flush_context(extra)
    loaded = tpm.context_load(saved)
    _, loaded_name, _ = tpm.read_public(loaded)
    assert bytes(loaded_name) == bytes(name), "the loaded context is another object"


@verifies("ContextSave")
@pytest.mark.spec("TPM 2.0 Part 2 §6.13 TPM_PT_HR_LOADED_MIN; Part 3 §11.1 StartAuthSession "
                  "beyond the loaded-session slots is TPM_RC_SESSION_MEMORY")
@pytest.mark.requirement(*REQ)
def test_session_slots(tpm, expect_rc):
    minimum = _prop(tpm, properties.HR_LOADED_MIN)
    available = _prop(tpm, properties.HR_LOADED_AVAIL)
    assert available >= minimum >= 3
    sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL)
    sessions = [tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC, sym,
                                       TPM2_ALG.SHA256) for _ in range(available)]
    with expect_rc(TPM_RC_SESSION_MEMORY):
        tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC, sym, TPM2_ALG.SHA256)
    tpm.context_save(sessions[0])  # a saved session frees its slot
    tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.HMAC, sym, TPM2_ALG.SHA256)


@pytest.mark.negative
@verifies("FlushContext")
@pytest.mark.spec("TPM 2.0 Part 3 §28.4 FlushContext of a handle that is not loaded is "
                  "TPM_RC_HANDLE; of a permanent handle TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_flush_context_errors(raw):
    rc, _ = raw(0x165, struct.pack(">I", 0x80000002))
    assert rc == 0x08B + 0x140, hex(rc)  # TPM_RC_HANDLE (parameter 1)
    rc, _ = raw(0x165, struct.pack(">I", 0x40000001))
    assert rc == 0x084 + 0x140, hex(rc)  # TPM_RC_VALUE (parameter 1)
