"""Probes for flaws of the TCG reference library, sent as raw command bytes.

* CVE-2023-1017 / CVE-2023-1018 (TCG Errata 1.4 for Library 1.59 §2.6.1):
  CryptParameterDecryption (Part 4) trusted the size field of the first
  command parameter when a session has the ``decrypt`` attribute, and
  decrypted that many bytes in place: an out-of-bounds write and read. The
  probe starts an HMAC session with AES-128-CFB (TPM2_StartAuthSession, Part 3
  §11.1) and sends TPM2_Hash (Part 3 §15.4) through it with a first parameter
  whose size exceeds the parameter area, or whose size field is cut short.
  A correct HMAC over the malformed parameters lets the command reach the
  decryption; a consistent control command through the same kind of session
  must succeed, proving the path is reached.
* CVE-2025-2884 (libtpms CVE-2025-49133): CryptHmacSign did not check the
  signing scheme against the key: a keyed-hash key with a NULL scheme asked by
  TPM2_Sign (Part 3 §20.2) to sign with an ECDSA or RSASSA scheme read out of
  bounds.

A fixed chip answers each probe with an error code and stays fully working:
TPM2_GetTestResult is success, TPM2_GetRandom answers, and a fresh key signs
a digest that verifies in software. A vulnerable chip may crash or hang; the
probes are destructive and a rig's power supply can recover the chip.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass, field

from harness.audit import raw
from harness.errors import HarnessError, TransportError
from harness.tpm.names import rc_name
from harness.tpm.wire import TPM_ST_SESSIONS, build_command

CC_START_AUTH_SESSION = 0x176
CC_FLUSH_CONTEXT = 0x165
CC_HASH = 0x17D
CC_SIGN = 0x15D
CC_GET_TEST_RESULT = 0x17C
CC_GET_RANDOM = 0x17B
TPM_RH_NULL = 0x40000007
TPM_RS_PW = 0x40000009
ALG_SHA256, ALG_AES, ALG_CFB, ALG_NULL = 0x000B, 0x0006, 0x0043, 0x0010
ALG_ECDSA, ALG_RSASSA, ALG_HMAC = 0x0018, 0x0014, 0x0005
SESSION_CONTINUE, SESSION_DECRYPT = 0x01, 0x20

#: Base codes a fixed TPM answers the parameter-decryption probes with.
SIZE_ERRORS = {"TPM_RC_SIZE", "TPM_RC_INSUFFICIENT", "TPM_RC_COMMAND_SIZE"}
#: Base codes a fixed TPM answers the HMAC-scheme probes with.
SCHEME_ERRORS = {"TPM_RC_SCHEME", "TPM_RC_KEY", "TPM_RC_ATTRIBUTES", "TPM_RC_VALUE"}


@dataclass
class ProbeResult:
    """One probe: what was sent, what came back, and whether the chip survived."""

    advisory: str
    name: str
    rc: int | None
    rc_name: str
    expected: bool
    healthy: bool
    health_detail: str
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.expected and self.healthy

    def to_dict(self) -> dict:
        return {**self.__dict__, "ok": self.ok}


def _rc(response: bytes) -> int:
    return struct.unpack_from(">I", response, 6)[0]


def _base(name: str) -> str:
    return name.split(" ")[0]


def start_hmac_session(transport) -> tuple[int, bytes, bytes]:
    """TPM2_StartAuthSession: unbound, unsalted HMAC session with AES-128-CFB.

    Returns (session handle, nonceCaller, nonceTPM).
    """
    nonce_caller = os.urandom(16)
    body = (struct.pack(">II", TPM_RH_NULL, TPM_RH_NULL)
            + struct.pack(">H", 16) + nonce_caller + struct.pack(">H", 0)
            + struct.pack(">BHHHH", 0x00, ALG_AES, 128, ALG_CFB, ALG_SHA256))
    rsp = raw.exchange(transport, build_command(CC_START_AUTH_SESSION, body))
    if _rc(rsp) != 0:
        raise HarnessError(f"TPM2_StartAuthSession (HMAC, AES-128-CFB) failed: {rc_name(_rc(rsp))}")
    handle = struct.unpack_from(">I", rsp, 10)[0]
    (n,) = struct.unpack_from(">H", rsp, 14)
    return handle, nonce_caller, rsp[16:16 + n]


def flush(transport, handle: int) -> None:
    """TPM2_FlushContext (Part 3 §28.4); errors are ignored (already gone)."""
    try:
        raw.exchange(transport, build_command(CC_FLUSH_CONTEXT, struct.pack(">I", handle)))
    except TransportError:
        pass


def decrypt_session_command(code: int, params: bytes, session: int, nonce_caller: bytes,
                            nonce_tpm: bytes) -> bytes:
    """A handle-less command with one HMAC session carrying ``decrypt``.

    The session HMAC (Part 1 §19.6.5) is keyed by sessionKey || authValue,
    both empty for an unbound, unsalted session used for no authorization,
    over cpHash || nonceCaller || nonceTPM || sessionAttributes; cpHash covers
    the parameters exactly as sent, malformed or not.
    """
    attrs = SESSION_CONTINUE | SESSION_DECRYPT
    cp_hash = hashlib.sha256(struct.pack(">I", code) + params).digest()
    mac = hmac.new(b"", cp_hash + nonce_caller + nonce_tpm + bytes([attrs]), hashlib.sha256).digest()
    auth = (struct.pack(">IH", session, len(nonce_caller)) + nonce_caller + bytes([attrs])
            + struct.pack(">H", len(mac)) + mac)
    return build_command(code, struct.pack(">I", len(auth)) + auth + params, TPM_ST_SESSIONS)


def _hash_params(declared: int, data: bytes) -> bytes:
    return struct.pack(">H", declared) + data + struct.pack(">HI", ALG_SHA256, TPM_RH_NULL)


#: name -> parameter area of TPM2_Hash (consistent control first).
DECRYPT_PROBES = {
    "control: consistent 16-byte parameter": _hash_params(16, b"\xA5" * 16),
    "size 1024 declared, 16 bytes present": _hash_params(1024, b"\xA5" * 16),
    "size 0xFFFF declared, 16 bytes present": _hash_params(0xFFFF, b"\xA5" * 16),
    "size field cut to 1 byte": b"\x04",
}


def _send_through_decrypt_session(transport, params: bytes) -> int:
    session, nonce_caller, nonce_tpm = start_hmac_session(transport)
    try:
        rsp = raw.exchange(transport, decrypt_session_command(CC_HASH, params, session, nonce_caller,
                                                         nonce_tpm))
        return _rc(rsp)
    finally:
        flush(transport, session)


def hmac_key_public(scheme_null: bool = True) -> bytes:
    """TPMT_PUBLIC of a keyed-hash key whose scheme is NULL (Part 2 §12.2.3.3).

    A NULL scheme needs both ``sign`` and ``decrypt`` (Part 2 §8.3.3.1); the
    scheme is then chosen by each TPM2_Sign, which is the CVE-2025-2884 path.
    """
    # sign, decrypt, userWithAuth, sensitiveDataOrigin, fixedParent, fixedTPM (Part 2 §8.3)
    attrs = (1 << 18) | (1 << 17) | (1 << 6) | (1 << 5) | (1 << 4) | (1 << 1)
    scheme = struct.pack(">H", ALG_NULL) if scheme_null else struct.pack(">HH", ALG_HMAC, ALG_SHA256)
    return (struct.pack(">HHI", 0x0008, ALG_SHA256, attrs) + struct.pack(">H", 0)  # KEYEDHASH, no policy
            + scheme + struct.pack(">H", 0))  # unique: empty


def create_hmac_key(transport) -> int:
    """TPM2_CreatePrimary (Part 3 §24.1) of a NULL-scheme keyed-hash key in TPM_RH_NULL."""
    public = hmac_key_public()
    in_sensitive = struct.pack(">HHH", 4, 0, 0)  # userAuth empty, data empty
    auth = struct.pack(">IHBH", TPM_RS_PW, 0, 0, 0)
    body = (struct.pack(">I", TPM_RH_NULL) + struct.pack(">I", len(auth)) + auth
            + in_sensitive + struct.pack(">H", len(public)) + public
            + struct.pack(">H", 0) + struct.pack(">I", 0))  # outsideInfo, creationPCR
    rsp = raw.exchange(transport, build_command(0x131, body, TPM_ST_SESSIONS))
    if _rc(rsp) != 0:
        raise HarnessError(f"TPM2_CreatePrimary of a keyed-hash signing key failed: {rc_name(_rc(rsp))}")
    return struct.unpack_from(">I", rsp, 10)[0]


def sign_with_scheme(transport, key: int, sig_alg: int, hash_alg: int = ALG_SHA256) -> int:
    auth = struct.pack(">IHBH", TPM_RS_PW, 0, 0, 0)
    params = (struct.pack(">H", 32) + os.urandom(32) + struct.pack(">HH", sig_alg, hash_alg)
              + struct.pack(">HIH", 0x8024, TPM_RH_NULL, 0))
    body = struct.pack(">I", key) + struct.pack(">I", len(auth)) + auth + params
    return _rc(raw.exchange(transport, build_command(CC_SIGN, body, TPM_ST_SESSIONS)))


HMAC_PROBES = {
    "control: HMAC key signs with HMAC-SHA256": ALG_HMAC,
    "HMAC key asked for ECDSA-SHA256": ALG_ECDSA,
    "HMAC key asked for RSASSA-SHA256": ALG_RSASSA,
}


def health_check(transport, esapi) -> tuple[bool, str]:
    """GetTestResult (Part 3 §10.4), GetRandom (§16.1), and a sign + software verify."""
    try:
        rsp = raw.exchange(transport, build_command(CC_GET_TEST_RESULT))
        if _rc(rsp) != 0:
            return False, f"TPM2_GetTestResult answered {rc_name(_rc(rsp))}"
        (outlen,) = struct.unpack_from(">H", rsp, 10)
        test_rc = struct.unpack_from(">I", rsp, 12 + outlen)[0]
        if test_rc != 0:
            return False, f"TPM2_GetTestResult reports testResult {rc_name(test_rc)}"
        rsp = raw.exchange(transport, build_command(CC_GET_RANDOM, struct.pack(">H", 16)))
        if _rc(rsp) != 0 or struct.unpack_from(">H", rsp, 10)[0] != 16:
            return False, f"TPM2_GetRandom(16) answered {rc_name(_rc(rsp))}"
        _sign_and_verify(esapi)
    except (TransportError, HarnessError) as exc:
        return False, f"chip not answering correctly: {exc}"
    except Exception as exc:  # TSS2_Exception, InvalidSignature
        return False, f"sign and verify failed: {type(exc).__name__}: {exc}"
    return True, "GetTestResult success, GetRandom(16) ok, ECDSA P-256 sign verified in software"


def _sign_and_verify(esapi) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature
    from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_ST, TPM2_RH, TPMA_OBJECT
    from tpm2_pytss.types import (TPM2B_DIGEST, TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE,
                                  TPMT_SIG_SCHEME, TPMT_TK_HASHCHECK)

    handle, public, *_ = esapi.create_primary(TPM2B_SENSITIVE_CREATE(),
                                              TPM2B_PUBLIC.parse(
        "ecc256:ecdsa-sha256", objectAttributes=TPMA_OBJECT.SIGN_ENCRYPT | TPMA_OBJECT.USERWITHAUTH
        | TPMA_OBJECT.FIXEDTPM | TPMA_OBJECT.FIXEDPARENT | TPMA_OBJECT.SENSITIVEDATAORIGIN),
        ESYS_TR.NULL)
    try:
        digest = hashlib.sha256(b"tpm-hil reference-library probe health check").digest()
        sig = esapi.sign(handle, TPM2B_DIGEST(digest), TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL),
                         TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL))
    finally:
        esapi.flush_context(handle)
    x = int.from_bytes(bytes(public.publicArea.unique.ecc.x), "big")
    y = int.from_bytes(bytes(public.publicArea.unique.ecc.y), "big")
    key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    r = int.from_bytes(bytes(sig.signature.ecdsa.signatureR), "big")
    s = int.from_bytes(bytes(sig.signature.ecdsa.signatureS), "big")
    key.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))


@dataclass
class ProbeRun:
    results: list[ProbeResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


def _one(transport, esapi, advisory: str, name: str, send, accept: set[str], control: bool) -> ProbeResult:
    try:
        rc = send()
    except TransportError as exc:
        healthy, detail = health_check(transport, esapi)
        return ProbeResult(advisory, name, None, "NO_RESPONSE", False, healthy, detail,
                           f"the chip did not answer the probe: {exc}")
    name_rc = rc_name(rc)
    expected = rc == 0 if control else (rc != 0 and _base(name_rc) in accept)
    healthy, detail = health_check(transport, esapi)
    note = "" if expected else (
        "control command failed: the probe path is not reached, the probes below prove nothing"
        if control else f"expected one of {', '.join(sorted(accept))}")
    return ProbeResult(advisory, name, rc, name_rc, expected, healthy, detail, note)


def run_probes(transport, esapi) -> ProbeRun:
    """Send every probe, each followed by a health check."""
    run = ProbeRun()
    for name, params in DECRYPT_PROBES.items():
        run.results.append(_one(transport, esapi, "CVE-2023-1017/CVE-2023-1018", name,
                                lambda p=params: _send_through_decrypt_session(transport, p),
                                SIZE_ERRORS, name.startswith("control")))
    key = create_hmac_key(transport)
    try:
        for name, alg in HMAC_PROBES.items():
            run.results.append(_one(transport, esapi, "CVE-2025-2884", name,
                                    lambda a=alg: sign_with_scheme(transport, key, a),
                                    SCHEME_ERRORS, name.startswith("control")))
    finally:
        flush(transport, key)
    return run
