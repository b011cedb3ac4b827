"""Policy digests computed in software (TPM 2.0 Part 3 §23).

:class:`PolicyDigest` replays policy commands the way the TPM updates a
trial session's policyDigest, so a test can compare the result with
TPM2_PolicyGetDigest and seal objects to a policy without asking the chip.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from harness.reference.hashes import digest, digest_size

# TPM_CC values (TPM 2.0 Part 2 §6.5.2).
CC_POLICY_NV = 0x149
CC_POLICY_SECRET = 0x151
CC_POLICY_SIGNED = 0x160
CC_POLICY_AUTHORIZE = 0x16A
CC_POLICY_AUTH_VALUE = 0x16B
CC_POLICY_COMMAND_CODE = 0x16C
CC_POLICY_COUNTER_TIMER = 0x16D
CC_POLICY_CP_HASH = 0x16E
CC_POLICY_LOCALITY = 0x16F
CC_POLICY_NAME_HASH = 0x170
CC_POLICY_OR = 0x171
CC_POLICY_PCR = 0x17F
CC_POLICY_PHYSICAL_PRESENCE = 0x187
CC_POLICY_DUPLICATION_SELECT = 0x188
CC_POLICY_NV_WRITTEN = 0x18F
CC_POLICY_TEMPLATE = 0x190
CC_POLICY_AUTHORIZE_NV = 0x192


def _u32(value: int) -> bytes:
    return struct.pack(">I", value)


class PolicyDigest:
    """A policyDigest being built, starting from all zeros.

    Args:
        hash_alg: the session's hash algorithm (TPM_ALG id).
    """

    def __init__(self, hash_alg: int) -> None:
        self.hash_alg = hash_alg
        self.value = bytes(digest_size(hash_alg))

    def _extend(self, data: bytes) -> "PolicyDigest":
        self.value = digest(self.hash_alg, self.value + data)
        return self

    def _update(self, cc: int, name: bytes, ref: bytes) -> "PolicyDigest":
        # PolicyUpdate (Part 3 §23.2.3): H(H(old || cc || name) || ref).
        self._extend(_u32(cc) + name)
        return self._extend(ref)

    def auth_value(self) -> "PolicyDigest":
        """TPM2_PolicyAuthValue (§23.17)."""
        return self._extend(_u32(CC_POLICY_AUTH_VALUE))

    def password(self) -> "PolicyDigest":
        """TPM2_PolicyPassword (§23.18): the same digest as PolicyAuthValue."""
        return self._extend(_u32(CC_POLICY_AUTH_VALUE))

    def command_code(self, code: int) -> "PolicyDigest":
        """TPM2_PolicyCommandCode (§23.11)."""
        return self._extend(_u32(CC_POLICY_COMMAND_CODE) + _u32(code))

    def pcr(self, pcr_selection: bytes, pcr_digest: bytes) -> "PolicyDigest":
        """TPM2_PolicyPCR (§23.7) with the marshalled TPML_PCR_SELECTION."""
        return self._extend(_u32(CC_POLICY_PCR) + pcr_selection + pcr_digest)

    def or_(self, branches: Iterable[bytes]) -> "PolicyDigest":
        """TPM2_PolicyOR (§23.6): the digest is reset before hashing."""
        self.value = bytes(len(self.value))
        return self._extend(_u32(CC_POLICY_OR) + b"".join(branches))

    def secret(self, auth_name: bytes, policy_ref: bytes = b"") -> "PolicyDigest":
        """TPM2_PolicySecret (§23.4)."""
        return self._update(CC_POLICY_SECRET, auth_name, policy_ref)

    def signed(self, key_name: bytes, policy_ref: bytes = b"") -> "PolicyDigest":
        """TPM2_PolicySigned (§23.3)."""
        return self._update(CC_POLICY_SIGNED, key_name, policy_ref)

    def authorize(self, key_name: bytes, policy_ref: bytes = b"") -> "PolicyDigest":
        """TPM2_PolicyAuthorize (§23.16): reset, then PolicyUpdate."""
        self.value = bytes(len(self.value))
        return self._update(CC_POLICY_AUTHORIZE, key_name, policy_ref)

    def nv(self, nv_name: bytes, operand_b: bytes, offset: int, operation: int) -> "PolicyDigest":
        """TPM2_PolicyNV (§23.9)."""
        args = digest(self.hash_alg, operand_b + struct.pack(">HH", offset, operation))
        return self._extend(_u32(CC_POLICY_NV) + args + nv_name)

    def counter_timer(self, operand_b: bytes, offset: int, operation: int) -> "PolicyDigest":
        """TPM2_PolicyCounterTimer (§23.10)."""
        args = digest(self.hash_alg, operand_b + struct.pack(">HH", offset, operation))
        return self._extend(_u32(CC_POLICY_COUNTER_TIMER) + args)

    def locality(self, locality: int) -> "PolicyDigest":
        """TPM2_PolicyLocality (§23.8)."""
        return self._extend(_u32(CC_POLICY_LOCALITY) + bytes([locality]))

    def cp_hash(self, cp_hash: bytes) -> "PolicyDigest":
        """TPM2_PolicyCpHash (§23.13)."""
        return self._extend(_u32(CC_POLICY_CP_HASH) + cp_hash)

    def name_hash(self, name_hash: bytes) -> "PolicyDigest":
        """TPM2_PolicyNameHash (§23.14)."""
        return self._extend(_u32(CC_POLICY_NAME_HASH) + name_hash)

    def physical_presence(self) -> "PolicyDigest":
        """TPM2_PolicyPhysicalPresence (§23.12)."""
        return self._extend(_u32(CC_POLICY_PHYSICAL_PRESENCE))

    def nv_written(self, written: bool) -> "PolicyDigest":
        """TPM2_PolicyNvWritten (§23.21)."""
        return self._extend(_u32(CC_POLICY_NV_WRITTEN) + bytes([1 if written else 0]))

    def template(self, template_hash: bytes) -> "PolicyDigest":
        """TPM2_PolicyTemplate (§23.22)."""
        return self._extend(_u32(CC_POLICY_TEMPLATE) + template_hash)

    def duplication_select(self, object_name: bytes, new_parent_name: bytes,
                           include_object: bool) -> "PolicyDigest":
        """TPM2_PolicyDuplicationSelect (§23.15)."""
        obj = object_name if include_object else b""
        return self._extend(_u32(CC_POLICY_DUPLICATION_SELECT) + obj + new_parent_name
                            + bytes([1 if include_object else 0]))

    def authorize_nv(self, nv_name: bytes) -> "PolicyDigest":
        """TPM2_PolicyAuthorizeNV (§23.23): reset, then extend with the NV name."""
        self.value = bytes(len(self.value))
        return self._extend(_u32(CC_POLICY_AUTHORIZE_NV) + nv_name)


def approved_policy_hash(hash_alg: int, approved_policy: bytes, policy_ref: bytes) -> bytes:
    """aHash signed for TPM2_PolicyAuthorize: ``H(approvedPolicy || policyRef)``."""
    return digest(hash_alg, approved_policy + policy_ref)


def signed_auth_hash(hash_alg: int, nonce_tpm: bytes, expiration: int, cp_hash: bytes,
                     policy_ref: bytes) -> bytes:
    """aHash signed for TPM2_PolicySigned (§23.3):
    ``H(nonceTPM || expiration || cpHashA || policyRef)``."""
    return digest(hash_alg, nonce_tpm + struct.pack(">i", expiration) + cp_hash + policy_ref)
