"""PCR arithmetic (TPM 2.0 Part 1 §17): extend and composite digests."""

from __future__ import annotations

from collections.abc import Iterable

from harness.reference.hashes import digest, digest_size


def initial(hash_alg: int, value: int = 0) -> bytes:
    """A PCR after TPM2_Startup(CLEAR): all zero (or all 0xFF for some PCRs)."""
    return bytes([value]) * digest_size(hash_alg)


def extend(hash_alg: int, old: bytes, measurement_digest: bytes) -> bytes:
    """TPM2_PCR_Extend: ``new = H(old || digest)`` (Part 3 §22.2)."""
    return digest(hash_alg, old + measurement_digest)


def event(hash_alg: int, old: bytes, event_data: bytes) -> bytes:
    """TPM2_PCR_Event: extend with ``H(eventData)`` (Part 3 §22.3)."""
    return extend(hash_alg, old, digest(hash_alg, event_data))


def composite(hash_alg: int, values: Iterable[bytes]) -> bytes:
    """Digest of the concatenated PCR values in selection order, as used by
    TPM2_Quote (pcrDigest) and TPM2_PolicyPCR (Part 3 §18.4, §23.7)."""
    return digest(hash_alg, b"".join(values))


def selection_bitmap(pcrs: Iterable[int], size: int = 3) -> bytes:
    """The ``pcrSelect`` bitmap of a TPMS_PCR_SELECTION (Part 2 §10.6.2)."""
    bitmap = bytearray(size)
    for pcr in pcrs:
        bitmap[pcr // 8] |= 1 << (pcr % 8)
    return bytes(bitmap)
