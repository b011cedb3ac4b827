"""TPM hash algorithms: the harness's one table of ids, names and digest sizes
(TCG Algorithm Registry; TPM 2.0 Part 2 §6.3).

Names are hashlib's (``sha256``, ``sha3_256``), which are also the PCR bank
names of tpm2-tools and of the event-log code.
"""

from __future__ import annotations

import hashlib

TPM_ALG_SHA1 = 0x0004
TPM_ALG_SHA256 = 0x000B
TPM_ALG_SHA384 = 0x000C
TPM_ALG_SHA512 = 0x000D

# TCG Algorithm Registry: id -> (name, digest size).
ALGORITHMS: dict[int, tuple[str, int]] = {
    TPM_ALG_SHA1: ("sha1", 20),
    TPM_ALG_SHA256: ("sha256", 32),
    TPM_ALG_SHA384: ("sha384", 48),
    TPM_ALG_SHA512: ("sha512", 64),
    0x0012: ("sm3_256", 32),
    0x0027: ("sha3_256", 32),
    0x0028: ("sha3_384", 48),
    0x0029: ("sha3_512", 64),
}
ALG_IDS: dict[str, int] = {name: alg for alg, (name, _size) in ALGORITHMS.items()}


def alg_name(alg: int) -> str:
    """Name of a hash algorithm id (``0x000B`` -> ``sha256``), ``alg_0x....`` if unknown."""
    return ALGORITHMS[alg][0] if alg in ALGORITHMS else f"alg_0x{int(alg):04x}"


def alg_id(name: str) -> int:
    """``"sha256"`` -> ``0x000B``.

    Raises:
        ValueError: ``name`` is not a hash algorithm of the table.
    """
    try:
        return ALG_IDS[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a TPM hash algorithm") from None


def hashlib_name(alg: int) -> str:
    """``0x000B`` -> ``"sha256"``.

    Raises:
        ValueError: ``alg`` is not a hash algorithm this module knows.
    """
    try:
        return ALGORITHMS[int(alg)][0]
    except KeyError:
        raise ValueError(f"TPM_ALG 0x{int(alg):04x} is not a supported hash algorithm") from None


def digest(alg: int, data: bytes) -> bytes:
    """``H_alg(data)``."""
    return hashlib.new(hashlib_name(alg), data).digest()


def digest_size(alg: int) -> int:
    """Digest size in bytes of the TPM hash algorithm ``alg``."""
    hashlib_name(alg)  # refuses an unknown id
    return ALGORITHMS[int(alg)][1]
