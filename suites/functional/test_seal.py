"""Seal under a PCR policy, unseal only while the PCRs hold: TPM 2.0 Part 3
§12.1 Create, §23.7 PolicyPCR, §23.15 PolicyGetDigest, §12.7 Unseal."""

import hashlib

import pytest
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_SE
from tpm2_pytss.types import (
    TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE, TPML_DIGEST_VALUES, TPML_PCR_SELECTION,
    TPMS_SENSITIVE_CREATE, TPMT_HA, TPMT_SYM_DEF,
)

from harness import secrets
from harness.reference import pcr
from harness.reference.hashes import TPM_ALG_SHA256
from harness.reference.policy import PolicyDigest
from suites.functional.pcrs import debug_pcr, handle

# The debug PCR (16 or 23, suites.functional.pcrs) is reset before and after each test.
pytestmark = [pytest.mark.functional,
              pytest.mark.needs("hierarchy:owner", "bank:sha256", "alg:ecc", "curve:nist_p256",
                                "alg:aes", "alg:cfb", "aes:128", "alg:keyedhash",
                                "cc:TPM2_PCR_Reset", "cc:TPM2_PolicyPCR", "cc:TPM2_Unseal")]

SECRET = b"disk-unlock-key-0123456789abcdef"
secrets.register(SECRET, "sealed data")   # contract 4: scrubbed from every artefact, even on failure


@pytest.fixture
def index(tpm):
    """The debug PCR (16 or 23), reset before and after the test."""
    chosen = debug_pcr(tpm)
    tpm.pcr_reset(handle(chosen))
    yield chosen
    tpm.pcr_reset(handle(chosen))


def _pcr(tpm, index: int) -> bytes:
    _, _, digests = tpm.pcr_read(f"sha256:{index}")
    return bytes(digests.digests[0])


def _extend(tpm, index: int, data: bytes) -> None:
    ha = TPMT_HA(hashAlg=TPM2_ALG.SHA256)
    ha.digest.sha256 = hashlib.sha256(data).digest()
    tpm.pcr_extend(handle(index), TPML_DIGEST_VALUES([ha]))


def _expected_policy(tpm, index: int) -> bytes:
    """PolicyPCR over the debug PCR (sha256) at its current value, computed in software."""
    selection = TPML_PCR_SELECTION.parse(f"sha256:{index}").marshal()
    return PolicyDigest(TPM_ALG_SHA256).pcr(selection, pcr.composite(TPM_ALG_SHA256,
                                                                     [_pcr(tpm, index)])).value


def _policy_session(tpm):
    sym = TPMT_SYM_DEF(algorithm=TPM2_ALG.AES)
    sym.keyBits.aes = 128
    sym.mode.aes = TPM2_ALG.CFB
    return tpm.start_auth_session(ESYS_TR.NONE, ESYS_TR.NONE, TPM2_SE.POLICY, sym,
                                  TPM2_ALG.SHA256)


def _seal(tpm, policy: bytes):
    srk_public = TPM2B_PUBLIC.parse(
        "ecc256:aes128cfb",
        objectAttributes="userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin")
    srk, _, _, _, _ = tpm.create_primary(None, srk_public, ESYS_TR.OWNER)
    sealed_public = TPM2B_PUBLIC.parse("keyedhash", objectAttributes="fixedtpm|fixedparent")
    sealed_public.publicArea.authPolicy = policy
    sensitive = TPM2B_SENSITIVE_CREATE(TPMS_SENSITIVE_CREATE(data=SECRET))
    private, public, _, _, _ = tpm.create(srk, sensitive, sealed_public)
    return tpm.load(srk, private, public)


@pytest.mark.spec("TPM 2.0 Part 3 §23.7 TPM2_PolicyPCR, §12.7 TPM2_Unseal")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", "IEC62443-4-2:CR 4.1")
@pytest.mark.verifies("PolicyPCR", "PolicyGetDigest", "Unseal")
def test_seal_unseal_under_pcr_policy(tpm, index):
    _extend(tpm, index, b"trusted boot stage")
    expected_policy = _expected_policy(tpm, index)
    item = _seal(tpm, expected_policy)
    session = _policy_session(tpm)
    tpm.policy_pcr(session, b"", f"sha256:{index}")
    assert bytes(tpm.policy_get_digest(session)) == expected_policy, \
        "PolicyGetDigest differs from the policy computed in software"
    assert bytes(tpm.unseal(item, session1=session)) == SECRET


@pytest.mark.negative
@pytest.mark.spec("TPM 2.0 Part 3 §12.7: a policy digest that does not match is TPM_RC_POLICY_FAIL")
@pytest.mark.requirement("IEC62443-4-2:CR 3.4", "IEC62443-4-2:CR 4.1")
def test_unseal_fails_after_pcr_changes(tpm, index, expect_rc):
    _extend(tpm, index, b"trusted boot stage")
    item = _seal(tpm, _expected_policy(tpm, index))
    _extend(tpm, index, b"unexpected component")  # the board booted something else
    session = _policy_session(tpm)
    tpm.policy_pcr(session, b"", f"sha256:{index}")
    with expect_rc(0x99D):  # TPM_RC_POLICY_FAIL (session 1)
        tpm.unseal(item, session1=session)
