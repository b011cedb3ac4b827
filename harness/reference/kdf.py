"""Key derivation functions of TPM 2.0 Part 1 §11.4.10 (KDFa, KDFe).

KDFa is SP 800-108 counter mode with HMAC; KDFe is the SP 800-56A
concatenation KDF. Both are used to check chip behaviour that depends on
derived keys: parameter encryption, credential blobs, duplication.
"""

from __future__ import annotations

import hmac
import struct

from harness.reference.hashes import digest, digest_size, hashlib_name


def _label(label: bytes) -> bytes:
    # Part 1 §11.4.10.2: the label is used with its terminating zero octet.
    return label if label.endswith(b"\x00") else label + b"\x00"


def kdfa(hash_alg: int, key: bytes, label: bytes, context_u: bytes, context_v: bytes,
         bits: int) -> bytes:
    """KDFa (TPM 2.0 Part 1 §11.4.10.2).

    ``K(i) = HMAC(key, [i]_32 || label || 00 || contextU || contextV || [bits]_32)``

    Args:
        hash_alg: TPM_ALG id of the HMAC hash.
        key: the HMAC key.
        label: label, without or with its terminating zero.
        context_u: first context value.
        context_v: second context value.
        bits: number of bits to produce.

    Returns:
        ``ceil(bits / 8)`` bytes; leading bits beyond ``bits`` are masked off.
    """
    fixed = _label(label) + context_u + context_v + struct.pack(">I", bits)
    return sp800_108_counter(hash_alg, key, fixed, bits)


def sp800_108_counter(hash_alg: int, key: bytes, fixed_input: bytes, bits: int) -> bytes:
    """SP 800-108 KDF in counter mode, HMAC PRF, 32-bit counter before the fixed input.

    This is the engine of KDFa; it is tested on its own against the NIST CAVP
    KBKDF vectors.
    """
    name = hashlib_name(hash_alg)
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        out += hmac.new(key, struct.pack(">I", counter) + fixed_input, name).digest()
    return _trim(out, bits)


def kdfe(hash_alg: int, z: bytes, label: bytes, party_u: bytes, party_v: bytes,
         bits: int) -> bytes:
    """KDFe (TPM 2.0 Part 1 §11.4.10.3), the SP 800-56A concatenation KDF.

    ``K(i) = H([i]_32 || Z || label || 00 || partyUInfo || partyVInfo)``
    """
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        out += digest(hash_alg, struct.pack(">I", counter) + z + _label(label) + party_u
                      + party_v)
    return _trim(out, bits)


def _trim(out: bytes, bits: int) -> bytes:
    nbytes = (bits + 7) // 8
    out = bytearray(out[:nbytes])
    if bits % 8:
        out[0] &= (1 << (bits % 8)) - 1
    return bytes(out)


__all__ = ["kdfa", "kdfe", "sp800_108_counter", "digest_size"]
