"""TPM names of objects, NV indices and permanent handles (TPM 2.0 Part 1 §16).

A name is ``nameAlg || H_nameAlg(public area)`` for objects and NV indices,
and the handle itself for permanent entities and sessions.
"""

from __future__ import annotations

import struct

from harness.reference.hashes import digest


def object_name(name_alg: int, public_area: bytes) -> bytes:
    """Name of an object from its marshalled TPMT_PUBLIC (Part 1 §16).

    Args:
        name_alg: the object's nameAlg (TPM_ALG id).
        public_area: the marshalled TPMT_PUBLIC (without the TPM2B size).
    """
    return struct.pack(">H", name_alg) + digest(name_alg, public_area)


def nv_name(name_alg: int, nv_public: bytes) -> bytes:
    """Name of an NV index from its marshalled TPMS_NV_PUBLIC (Part 1 §16)."""
    return struct.pack(">H", name_alg) + digest(name_alg, nv_public)


def handle_name(handle: int) -> bytes:
    """Name of a permanent handle or session: the 4-byte handle (Part 1 §16)."""
    return struct.pack(">I", handle)
