"""Satisfying an EK's authPolicy (TCG EK Credential Profile 2.x, §B.6 policies).

Low-range templates (L-1 RSA 2048, L-2 ECC P-256) carry PolicyA:
PolicySecret(TPM_RH_ENDORSEMENT). High-range templates (H-1...H-7) carry
PolicyB = PolicyOR(PolicyA, PolicyC), where PolicyC is PolicyAuthorizeNV of
the profile's EK policy NV index; the verifier satisfies the PolicyA branch:
PolicySecret(TPM_RH_ENDORSEMENT), then PolicyOR over both branch digests.

PolicyA is computed by :class:`harness.reference.policy.PolicyDigest`
(TPM 2.0 Part 3 §23.4 PolicySecret); PolicyC is the profile's published
constant per hash, and the OR of both (§23.6) is checked against the EK's
authPolicy before the session is built.
"""

from __future__ import annotations

from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_SE
from tpm2_pytss.types import TPML_DIGEST, TPMT_SYM_DEF

from harness.errors import HarnessError
from harness.reference.hashes import alg_id
from harness.reference.names import handle_name
from harness.reference.policy import PolicyDigest

TPM_RH_ENDORSEMENT = 0x4000000B

# TCG EK Credential Profile: PolicyC = PolicyAuthorizeNV(EK policy NV index), per hash.
POLICY_C = {
    "sha256": bytes.fromhex("3767e2edd43ff45a3a7e1eaefcef78643dca964632e7aad82c673a30d8633fde"),
    "sha384": bytes.fromhex("d6032ce61f2fb3c240eb3cf6a33237ef2b6a16f4293c22b455e261cffd217ad5"
                            "b4947c2d73e63005eed2dc2b3593d165"),
    "sha512": bytes.fromhex("589ee1e146544716e8deafe6db247b01b81e9f9c7dd16b814aa159138749105f"
                            "ba5388dd1dea702f35240c184933121e2c61b8f50d3ef91393a49a38c3f73fc8"),
}


def policy_a(hash_name: str) -> bytes:
    """PolicySecret(TPM_RH_ENDORSEMENT) with empty policyRef (Part 3 §23.4)."""
    return PolicyDigest(alg_id(hash_name)).secret(handle_name(TPM_RH_ENDORSEMENT)).value


def policy_or(hash_name: str, branches: list[bytes]) -> bytes:
    """PolicyOR over ``branches`` from a fresh session (Part 3 §23.6)."""
    return PolicyDigest(alg_id(hash_name)).or_(branches).value


def ek_policy_session(esapi, hash_name: str, auth_policy: bytes) -> ESYS_TR:
    """A policy session that satisfies an EK whose authPolicy is ``auth_policy``.

    Raises:
        HarnessError: the EK's policy is neither PolicyA nor PolicyB of the profile.
    """
    if hash_name not in POLICY_C:
        raise HarnessError(f"EK nameAlg {hash_name} has no EK Credential Profile policy")
    a = policy_a(hash_name)
    if auth_policy == a:
        branches = None
    elif auth_policy == policy_or(hash_name, [a, POLICY_C[hash_name]]):
        branches = [a, POLICY_C[hash_name]]
    else:
        raise HarnessError(f"the EK's authPolicy {auth_policy.hex()[:16]}... is not a TCG EK "
                           "Credential Profile policy (PolicySecret(endorsement) or its OR with "
                           "PolicyAuthorizeNV); cannot use this EK")
    session = esapi.start_auth_session(
        tpm_key=ESYS_TR.NONE, bind=ESYS_TR.NONE, session_type=TPM2_SE.POLICY,
        symmetric=TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL), auth_hash=TPM2_ALG(alg_id(hash_name)))
    try:
        esapi.policy_secret(ESYS_TR.ENDORSEMENT, session, b"", b"", b"", 0)
        if branches:
            esapi.policy_or(session, TPML_DIGEST(branches))
    except BaseException:
        esapi.flush_context(session)
        raise
    return session
