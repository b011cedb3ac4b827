"""TPM2_Sign with a known P-256 key, and the signing nonce recovered from it.

The raw TPM2_Sign command (TPM 2.0 Part 3 §20.2) the nonce-timing check times,
its response parser, and nonce recovery from a signature and the known key:

* ECDSA (Part 1 §C.4.3 / FIPS 186-4 §6.4): s = k^-1 (z + r d)  ->  k = s^-1 (z + r d) mod n
* ECSchnorr (Part 1 §C.4.4, libtpms): s = k + r d  ->  k = s - r d mod n

The known key below is a public test value, not a secret.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.asymmetric import ec

from harness.errors import ResponseFormatError

#: NIST P-256 group order.
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
#: The audit's fixed, public test key (TPM-Fail template phase uses a known key).
KNOWN_D = 0x5A11AD17B0A7D1E5C0FFEE0DDBA11F00D5EEDC0DE0123456789ABCDEF0123457

TPM_CC_SIGN = 0x0000015D
TPM_ALG_SHA256 = 0x000B
SCHEMES = {"ecdsa": 0x0018, "ecschnorr": 0x001C}
_TPM_RS_PW = 0x40000009
_TPM_ST_HASHCHECK = 0x8024
_TPM_RH_NULL = 0x40000007



def leading_zero_bits(k: int, bits: int = 256) -> int:
    return bits - k.bit_length()


def build_sign_command(key_handle: int, digest: bytes, scheme: str) -> bytes:
    """TPM2_Sign (Part 3 §20.2) with a password session and a NULL ticket."""
    auth = struct.pack(">IHBH", _TPM_RS_PW, 0, 0, 0)
    params = (struct.pack(">H", len(digest)) + digest
              + struct.pack(">HH", SCHEMES[scheme], TPM_ALG_SHA256)
              + struct.pack(">HIH", _TPM_ST_HASHCHECK, _TPM_RH_NULL, 0))
    body = struct.pack(">I", key_handle) + struct.pack(">I", len(auth)) + auth + params
    return struct.pack(">HII", 0x8002, 10 + len(body), TPM_CC_SIGN) + body


def parse_sign_command(command: bytes) -> tuple[int, bytes, int]:
    """(key handle, digest, signature scheme) from a TPM2_Sign command with sessions."""
    handle, auth_size = struct.unpack_from(">II", command, 10)
    off = 18 + auth_size
    (dlen,) = struct.unpack_from(">H", command, off)
    digest = command[off + 2: off + 2 + dlen]
    (scheme,) = struct.unpack_from(">H", command, off + 2 + dlen)
    return handle, digest, scheme


def parse_sign_response(response: bytes) -> tuple[int, int, int]:
    """(sigAlg, r, s) from a successful TPM2_Sign response with sessions (TPMT_SIGNATURE)."""
    try:
        off = 14  # header + parameterSize
        sig_alg, _hash = struct.unpack_from(">HH", response, off)
        off += 4
        (rlen,) = struct.unpack_from(">H", response, off)
        r = int.from_bytes(response[off + 2: off + 2 + rlen], "big")
        off += 2 + rlen
        (slen,) = struct.unpack_from(">H", response, off)
        s = int.from_bytes(response[off + 2: off + 2 + slen], "big")
    except struct.error as exc:
        raise ResponseFormatError(f"TPM2_Sign response too short for an EC signature: {exc}",
                                  "TPM2_Sign") from None
    return sig_alg, r, s


def recover_nonce(scheme: int | str, digest: bytes, r: int, s: int, d: int = KNOWN_D) -> int:
    """The signing nonce k, from the signature and the known private key."""
    n = P256_N
    if scheme in (SCHEMES["ecdsa"], "ecdsa"):
        z = int.from_bytes(digest[:32], "big")
        return pow(s, -1, n) * (z + r * d) % n
    if scheme in (SCHEMES["ecschnorr"], "ecschnorr"):
        return (s - r * d) % n
    raise ValueError(f"nonce recovery not implemented for scheme {scheme!r}")


def nonce_consistent(scheme: str, digest: bytes, r: int, k: int) -> bool:
    """Whether a recovered k really produced r (so the recovery formula is right).

    ECDSA: r = x(kG) mod n. ECSchnorr (libtpms): r = SHA-256(x(kG) || digest) mod n.
    """
    if not 0 < k < P256_N:
        return False
    x = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers().x
    if scheme == "ecdsa":
        return x % P256_N == r
    import hashlib

    e = int.from_bytes(hashlib.sha256(x.to_bytes(32, "big") + digest).digest(), "big")
    return r in (e, e % P256_N)
