"""What a part refuses before executing a command, with the code the spec gives.

See :mod:`harness.chips.personality`. Each check reads only what it must
(header, handle count from the backend's TPMA_CC, the authorization area's
size, then the parameters) and gives up silently on anything it cannot
follow: the backing swtpm then answers as it would.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from harness.chips import public_area as PA
from harness.tpm import properties as PT

if TYPE_CHECKING:
    from harness.chips.personality import Personality

RC_BAD_TAG, RC_COMMAND_SIZE, RC_COMMAND_CODE = 0x01E, 0x142, 0x143
RC_HASH, RC_VALUE, RC_SCHEME, RC_SIZE, RC_SYMMETRIC, RC_CURVE = (
    0x083, 0x084, 0x092, 0x095, 0x096, 0x0A6)
RC_P = 0x040

CC_CONTEXT_LOAD = 0x161
CC_CREATE_PRIMARY, CC_CREATE, CC_CREATE_LOADED = 0x131, 0x153, 0x191
CC_LOAD_EXTERNAL, CC_IMPORT, CC_TEST_PARMS, CC_ECC_PARAMETERS = 0x167, 0x156, 0x18A, 0x178
CC_NV_WRITE, CC_NV_EXTEND, CC_NV_READ = 0x137, 0x136, 0x14E
CC_PCR_READ, CC_PCR_ALLOCATE, CC_HASH, CC_HASH_SEQUENCE_START = 0x17E, 0x12B, 0x17D, 0x186
# Commands whose first parameter is a TPM2B_AUTH / TPM2B_DIGEST / TPM2B_NONCE: at most
# sizeof(TPMU_HA) of the part (its TPM_PT_MAX_DIGEST), else TPM_RC_SIZE + P1 (Part 2
# §10.4: the buffer of these TPM2Bs is a TPMU_HA). HierarchyChangeAuth, NV_DefineSpace,
# NV_ChangeAuth, ObjectChangeAuth, PCR_SetAuthValue, HMAC_Start, HashSequenceStart,
# StartAuthSession (nonceCaller).
_FIRST_PARAM_DIGEST = {0x129, 0x12A, 0x13B, 0x150, 0x183, 0x15B, 0x186, 0x176}
# Commands whose first parameter is a TPM2B_DATA (qualifyingData): at most sizeof(TPMT_HA)
# = 2 + TPM_PT_MAX_DIGEST (Part 2 §10.4.3). GetCommandAuditDigest, Certify, CertifyCreation,
# GetTime, GetSessionAuditDigest, Quote, NV_Certify, CertifyX509 (reserved).
_FIRST_PARAM_DATA = {0x133, 0x148, 0x14A, 0x14C, 0x14D, 0x158, 0x184, 0x197}


def rc_response(rc: int) -> bytes:
    return struct.pack(">HII", 0x8001, 10, rc)


def _rc(code: int, param: int) -> int:
    """A format-one code for parameter ``param`` (Part 2 §6.6.3: TPM_RC_P + TPM_RC_n)."""
    return code | RC_P | (param << 8)


class Refusals:
    """The part's checks; ``handles`` maps each TPM_CC the backend has to its cHandles."""

    def __init__(self, personality: "Personality", handles: dict[int, int]) -> None:
        self.p = personality
        self.handles = handles

    def check(self, command: bytes) -> int:
        """The response code the part gives before executing ``command`` (0: none)."""
        if len(command) < 10:
            return 0
        tag, size, cc = struct.unpack_from(">HII", command)
        if tag not in (0x8001, 0x8002):
            return RC_BAD_TAG  # Part 3 §5.2 (libtpms 0.9 answers TPM_RC_VALUE here)
        if size > self.p.max_command_size and cc != CC_CONTEXT_LOAD:
            # ContextLoad carries the backend's (libtpms) context blob, larger than the
            # part's own; it is bounded by TPM_PT_MAX_OBJECT_CONTEXT instead.
            return RC_COMMAND_SIZE
        if not self.p.implements(cc) or cc not in self.handles:
            return RC_COMMAND_CODE
        try:
            return self._check_parameters(command, tag, cc)
        except (struct.error, IndexError):
            return 0  # malformed: let the backend give its own answer

    def _params_at(self, command: bytes, tag: int, cc: int) -> int:
        pos = 10 + 4 * self.handles[cc]
        if tag == 0x8002:
            pos += 4 + struct.unpack_from(">I", command, pos)[0]
        return pos

    def _first_parameter_encrypted(self, command: bytes, tag: int, cc: int) -> bool:
        """Whether a session has TPMA_SESSION.decrypt (bit 5): the first parameter's
        buffer (not its size) is then ciphertext (Part 1, session-based encryption)."""
        if tag != 0x8002:
            return False
        pos = 10 + 4 * self.handles[cc]
        end = pos + 4 + struct.unpack_from(">I", command, pos)[0]
        pos += 4
        while pos < end:
            pos = PA.skip_tpm2b(command, pos + 4)      # sessionHandle, nonce
            if command[pos] & 0x20:
                return True
            pos = PA.skip_tpm2b(command, pos + 1)      # attributes, hmac
        return False

    def _check_parameters(self, command: bytes, tag: int, cc: int) -> int:
        pos = self._params_at(command, tag, cc)
        digest_max = self.p.properties.get(PT.MAX_DIGEST)
        if cc in _FIRST_PARAM_DIGEST and digest_max is not None:
            n = struct.unpack_from(">H", command, pos)[0]
            if n > digest_max:
                return _rc(RC_SIZE, 1)
            if cc != CC_HASH_SEQUENCE_START:
                return 0
        if cc in _FIRST_PARAM_DATA and digest_max is not None:
            n = struct.unpack_from(">H", command, pos)[0]
            return _rc(RC_SIZE, 1) if n > digest_max + 2 else 0
        if (cc in (CC_CREATE_PRIMARY, CC_CREATE, CC_CREATE_LOADED) and digest_max is not None
                and not self._first_parameter_encrypted(command, tag, cc)):
            # inSensitive: TPM2B_SENSITIVE_CREATE { size, userAuth (TPM2B_AUTH), data }
            if struct.unpack_from(">H", command, pos + 2)[0] > digest_max:
                return _rc(RC_SIZE, 1)
        if cc in (CC_CREATE_PRIMARY, CC_CREATE, CC_CREATE_LOADED, CC_LOAD_EXTERNAL, CC_IMPORT):
            facts = PA.parse_public(command, PA.skip_tpm2b(command, pos))
            return self._check_public(facts, 2)
        if cc == CC_TEST_PARMS:
            return self._check_public(PA.parse_public_parms(command, pos), 1)
        if cc == CC_ECC_PARAMETERS:
            curve = struct.unpack_from(">H", command, pos)[0]
            return 0 if curve in self.p.curve_ids else _rc(RC_CURVE, 1)
        if cc in (CC_PCR_READ, CC_PCR_ALLOCATE):
            # TPML_PCR_SELECTION: each TPMS_PCR_SELECTION.hash is a TPMI_ALG_HASH.
            count = struct.unpack_from(">I", command, pos)[0]
            pos += 4
            for _ in range(min(count, 16)):
                alg, size = struct.unpack_from(">HB", command, pos)
                if alg not in self.p.hash_ids:
                    return _rc(RC_HASH, 1)
                pos += 3 + size
            return 0
        if cc == CC_HASH:  # data (TPM2B_MAX_BUFFER), hashAlg (TPMI_ALG_HASH)
            alg = struct.unpack_from(">H", command, PA.skip_tpm2b(command, pos))[0]
            return _rc(RC_HASH, 2) if alg not in self.p.hash_ids else 0
        if cc == CC_HASH_SEQUENCE_START:  # auth, hashAlg (TPMI_ALG_HASH+: NULL allowed)
            alg = struct.unpack_from(">H", command, PA.skip_tpm2b(command, pos))[0]
            return _rc(RC_HASH, 2) if alg not in self.p.hash_ids | {PA.ALG_NULL} else 0
        if cc in (CC_NV_WRITE, CC_NV_EXTEND):
            n = struct.unpack_from(">H", command, pos)[0]
            return _rc(RC_SIZE, 1) if n > self.p.nv_buffer_max else 0
        if cc == CC_NV_READ:
            n = struct.unpack_from(">H", command, pos)[0]
            return _rc(RC_VALUE, 1) if n > self.p.nv_buffer_max else 0
        return 0

    def _check_public(self, f: PA.PublicFacts | None, param: int) -> int:
        """The first field, in unmarshalling order, that the part cannot take."""
        if f is None:
            return 0
        p = self.p
        if f.name_alg is not None and f.name_alg != PA.ALG_NULL and f.name_alg not in p.hash_ids:
            return _rc(RC_HASH, param)
        if f.symmetric not in (None, PA.ALG_NULL) and f.symmetric not in p.algorithm_ids:
            return _rc(RC_SYMMETRIC, param)
        if f.scheme not in (None, PA.ALG_NULL) and f.scheme not in p.algorithm_ids:
            return _rc(RC_SCHEME, param)
        if f.scheme_hash is not None and f.scheme_hash not in p.hash_ids:
            return _rc(RC_HASH, param)
        if f.rsa_bits is not None and p.rsa_key_sizes and f.rsa_bits not in p.rsa_key_sizes:
            return _rc(RC_VALUE, param)
        if f.curve is not None and f.curve not in p.curve_ids:
            return _rc(RC_CURVE, param)
        return 0
