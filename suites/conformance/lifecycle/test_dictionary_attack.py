"""Dictionary-attack protection (TPM 2.0 Part 1 §19.8.6, Part 3 §25):
failure counter, lockout after maxTries, recovery over time, reset with
lockoutAuth, parameters read back with GetCapability.

The tests that provoke authorization failures count them on the chip's DA
counter and reset it with lockoutAuth, so they are ``destructive`` (a board's
counter is not theirs to reset); the refusals run everywhere."""

import time

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_CAP
from tpm2_pytss.types import TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE

pytestmark = [pytest.mark.conformance]
DA_TEST = [pytest.mark.destructive, pytest.mark.needs("hierarchy:lockout", "hierarchy:owner")]
REQ = ("IEC62443-4-2:CR 1.11", "IEC62443-4-2:CR 1.5")
TPM_PT_LOCKOUT_COUNTER = 0x20E
TPM_PT_MAX_AUTH_FAIL = 0x20F
TPM_PT_LOCKOUT_INTERVAL = 0x210
TPM_PT_LOCKOUT_RECOVERY = 0x211
TPM_RC_AUTH_FAIL_S1 = 0x98E
TPM_RC_LOCKOUT = 0x921
RECOVERY_WAIT_S = 20.0


def _props(tpm) -> dict[int, int]:
    more, data = tpm.get_capability(TPM2_CAP.TPM_PROPERTIES, TPM_PT_LOCKOUT_COUNTER, 4)
    return {int(p.property): int(p.value) for p in data.data.tpmProperties}


def _da_key(tpm):
    """A sealed object WITHOUT noDA, so its authorization failures count."""
    sensitive = TPM2B_SENSITIVE_CREATE()
    sensitive.sensitive.userAuth = b"right"
    sensitive.sensitive.data = b"secret"
    public = TPM2B_PUBLIC.parse("keyedhash", objectAttributes="userwithauth|fixedtpm|fixedparent")
    parent, _, _, _, _ = tpm.create_primary(None, TPM2B_PUBLIC.parse(
        "ecc256:aes128cfb", objectAttributes="userwithauth|restricted|decrypt|fixedtpm|"
        "fixedparent|sensitivedataorigin"), ESYS_TR.OWNER)
    priv, pub, _, _, _ = tpm.create(parent, sensitive, public)
    return tpm.load(parent, priv, pub)


@pytest.fixture
def da_params(tpm):
    """Set maxTries=3, recoveryTime=1 s, lockoutRecovery=0; restore afterwards."""
    old = _props(tpm)
    tpm.dictionary_attack_lock_reset(ESYS_TR.LOCKOUT)
    tpm.dictionary_attack_parameters(3, 1, 0, ESYS_TR.LOCKOUT)
    yield
    tpm.dictionary_attack_lock_reset(ESYS_TR.LOCKOUT)
    tpm.dictionary_attack_parameters(old[TPM_PT_MAX_AUTH_FAIL], old[TPM_PT_LOCKOUT_INTERVAL],
                                     old[TPM_PT_LOCKOUT_RECOVERY], ESYS_TR.LOCKOUT)


@pytest.mark.verifies("DictionaryAttackParameters", "DictionaryAttackLockReset")
@pytest.mark.spec("TPM 2.0 Part 3 §25.3 DictionaryAttackParameters, §25.2 "
                  "DictionaryAttackLockReset; Part 1 §19.8.6 lockout")
@pytest.mark.requirement(*REQ)
@DA_TEST[0]
@DA_TEST[1]
def test_lockout_after_max_tries_and_reset(tpm, da_params, expect_rc):
    props = _props(tpm)
    assert (props[TPM_PT_MAX_AUTH_FAIL], props[TPM_PT_LOCKOUT_INTERVAL],
            props[TPM_PT_LOCKOUT_RECOVERY]) == (3, 1, 0)
    key = _da_key(tpm)
    tpm.tr_set_auth(key, b"wrong")
    for i in range(3):
        with expect_rc(TPM_RC_AUTH_FAIL_S1):
            tpm.unseal(key)
        assert _props(tpm)[TPM_PT_LOCKOUT_COUNTER] == i + 1
    tpm.tr_set_auth(key, b"right")
    with expect_rc(TPM_RC_LOCKOUT):  # locked out: even the right auth is refused
        tpm.unseal(key)
    tpm.dictionary_attack_lock_reset(ESYS_TR.LOCKOUT)
    assert _props(tpm)[TPM_PT_LOCKOUT_COUNTER] == 0
    assert bytes(tpm.unseal(key)) == b"secret"


@pytest.mark.slow
@pytest.mark.spec("TPM 2.0 Part 1 §19.8.6: the failure counter decrements every recoveryTime")
@pytest.mark.requirement(*REQ)
@DA_TEST[0]
@DA_TEST[1]
def test_failure_counter_recovers_over_time(tpm, da_params, expect_rc):
    key = _da_key(tpm)
    tpm.tr_set_auth(key, b"wrong")
    with expect_rc(TPM_RC_AUTH_FAIL_S1):
        tpm.unseal(key)
    assert _props(tpm)[TPM_PT_LOCKOUT_COUNTER] == 1
    deadline = time.monotonic() + RECOVERY_WAIT_S  # bounded: recoveryTime is 1 s
    while _props(tpm)[TPM_PT_LOCKOUT_COUNTER] != 0:
        assert time.monotonic() < deadline, "failure counter did not decrement within 20 s"
        time.sleep(0.25)


@pytest.mark.negative
@pytest.mark.needs("hierarchy:owner")
@pytest.mark.verifies("DictionaryAttackParameters", "DictionaryAttackLockReset")
@pytest.mark.spec("TPM 2.0 Part 3 §25.2/§25.3 need lockoutAuth: owner is TPM_RC_VALUE")
@pytest.mark.requirement(*REQ)
def test_da_commands_need_lockout(raw_pw):
    import struct
    rc, _ = raw_pw(0x139, [0x40000001])  # DictionaryAttackLockReset
    assert rc == 0x184, hex(rc)
    rc, _ = raw_pw(0x13A, [0x40000001], struct.pack(">III", 3, 1, 0))
    assert rc == 0x184, hex(rc)
