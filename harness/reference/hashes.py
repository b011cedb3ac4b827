"""TPM hash algorithm identifiers mapped to hashlib (TPM 2.0 Part 2 §6.3)."""

from __future__ import annotations

import hashlib

TPM_ALG_SHA1 = 0x0004
TPM_ALG_SHA256 = 0x000B
TPM_ALG_SHA384 = 0x000C
TPM_ALG_SHA512 = 0x000D

_NAMES = {TPM_ALG_SHA1: "sha1", TPM_ALG_SHA256: "sha256", TPM_ALG_SHA384: "sha384",
          TPM_ALG_SHA512: "sha512"}


def hashlib_name(alg: int) -> str:
    """``0x000B`` -> ``"sha256"``.

    Raises:
        ValueError: ``alg`` is not a hash algorithm this module knows.
    """
    try:
        return _NAMES[int(alg)]
    except KeyError:
        raise ValueError(f"TPM_ALG 0x{int(alg):04x} is not a supported hash algorithm") from None


def digest(alg: int, data: bytes) -> bytes:
    """``H_alg(data)``."""
    return hashlib.new(hashlib_name(alg), data).digest()


def digest_size(alg: int) -> int:
    """Digest size in bytes of the TPM hash algorithm ``alg``."""
    return hashlib.new(hashlib_name(alg)).digest_size
