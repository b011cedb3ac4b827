"""TPM names of objects, NV indices and permanent handles (TPM 2.0 Part 1 §16).

A name is ``nameAlg || H_nameAlg(public area)`` for objects and NV indices
(computed by tpm2-pytss: ``TPMT_PUBLIC.get_name()``,
``TPMS_NV_PUBLIC.get_name()``), and the handle itself for permanent entities
and sessions.
"""

from __future__ import annotations

import struct

from tpm2_pytss.types import TPM2B_NV_PUBLIC, TPM2B_PUBLIC, TPMS_NV_PUBLIC, TPMT_PUBLIC


def _area(cls, wrapper, area):
    """``area`` as a ``cls`` (TPMT_PUBLIC / TPMS_NV_PUBLIC): from marshalled bytes (all of
    them), from the TPM2B around it, or as given."""
    if isinstance(area, wrapper):
        return area.publicArea if cls is TPMT_PUBLIC else area.nvPublic
    if isinstance(area, cls):
        return area
    data = bytes(area)
    try:
        out, used = cls.unmarshal(data)
    except Exception as exc:  # the TSS unmarshaller raises several kinds
        raise ValueError(f"not a marshalled {cls.__name__}: {exc}") from None
    if used != len(data):
        raise ValueError(f"{len(data) - used} bytes after the marshalled {cls.__name__}")
    return out


def _name(name_alg: int, area) -> bytes:
    if int(area.nameAlg) != int(name_alg):
        raise ValueError(f"nameAlg 0x{int(area.nameAlg):04x} of the public area is not the "
                         f"expected 0x{int(name_alg):04x}")
    return bytes(area.get_name())


def object_name(name_alg: int, public_area) -> bytes:
    """Name of an object (Part 1 §16): ``nameAlg || H(marshalled TPMT_PUBLIC)``.

    Args:
        name_alg: the object's nameAlg (TPM_ALG id), checked against the area's.
        public_area: the marshalled TPMT_PUBLIC (without the TPM2B size), a
            ``TPMT_PUBLIC`` or a ``TPM2B_PUBLIC``.

    Raises:
        ValueError: not a whole TPMT_PUBLIC, or another nameAlg.
    """
    return _name(name_alg, _area(TPMT_PUBLIC, TPM2B_PUBLIC, public_area))


def nv_name(name_alg: int, nv_public) -> bytes:
    """Name of an NV index (Part 1 §16) from its marshalled TPMS_NV_PUBLIC (or the
    ``TPMS_NV_PUBLIC`` / ``TPM2B_NV_PUBLIC``).

    Raises:
        ValueError: not a whole TPMS_NV_PUBLIC, or another nameAlg.
    """
    return _name(name_alg, _area(TPMS_NV_PUBLIC, TPM2B_NV_PUBLIC, nv_public))


def handle_name(handle: int) -> bytes:
    """Name of a permanent handle or session: the 4-byte handle (Part 1 §16)."""
    return struct.pack(">I", handle)
