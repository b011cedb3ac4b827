"""Just enough TPMT_PUBLIC parsing for a virtual chip to refuse what its part lacks.

A virtual chip answers curves, key sizes and hash algorithms its part does
not implement the way the part's unmarshalling would (TPM 2.0 Part 2 interface
types: TPMI_ECC_CURVE -> TPM_RC_CURVE, TPMI_RSA_KEY_BITS -> TPM_RC_VALUE,
TPMI_ALG_HASH -> TPM_RC_HASH, TPMI_ALG_SYM_OBJECT -> TPM_RC_SYMMETRIC), with the
parameter number of the command parameter that carries the structure
(Part 2 §6.6.3, TPM_RC_P + TPM_RC_n). Everything else is left to the backing
swtpm: a field this parser cannot follow makes it give up (``None``), never
refuse.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

ALG_RSA, ALG_KEYEDHASH, ALG_ECC, ALG_SYMCIPHER = 0x0001, 0x0008, 0x0023, 0x0025
ALG_NULL = 0x0010
ALG_RSAES, ALG_ECDAA = 0x0015, 0x001A


@dataclass(frozen=True)
class PublicFacts:
    """The fields of a TPMT_PUBLIC / TPMT_PUBLIC_PARMS a part may not support."""

    type: int
    name_alg: int | None = None
    symmetric: int | None = None
    scheme: int | None = None
    scheme_hash: int | None = None
    rsa_bits: int | None = None
    curve: int | None = None


class _Reader:
    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def u16(self) -> int:
        value = struct.unpack_from(">H", self.data, self.pos)[0]
        self.pos += 2
        return value

    def u32(self) -> int:
        value = struct.unpack_from(">I", self.data, self.pos)[0]
        self.pos += 4
        return value

    def skip_tpm2b(self) -> None:
        self.pos += 2 + self.u16()


def _sym_def_object(r: _Reader) -> int:
    alg = r.u16()
    if alg != ALG_NULL:
        r.u16()  # keyBits
        r.u16()  # mode
    return alg


def _scheme(r: _Reader) -> tuple[int, int | None]:
    """TPMT_RSA_SCHEME / TPMT_ECC_SCHEME / TPMT_KEYEDHASH_SCHEME: (scheme, hashAlg)."""
    scheme = r.u16()
    if scheme in (ALG_NULL, ALG_RSAES):
        return scheme, None
    hash_alg = r.u16()
    if scheme == ALG_ECDAA:
        r.u16()  # count
    elif scheme == 0x000A:  # XOR: hashAlg + kdf
        r.u16()
    return scheme, hash_alg


def _parms(r: _Reader, type_: int, name_alg: int | None) -> PublicFacts:
    if type_ == ALG_RSA:
        sym = _sym_def_object(r)
        scheme, shash = _scheme(r)
        bits = r.u16()
        return PublicFacts(type_, name_alg, sym, scheme, shash, rsa_bits=bits)
    if type_ == ALG_ECC:
        sym = _sym_def_object(r)
        scheme, shash = _scheme(r)
        curve = r.u16()
        return PublicFacts(type_, name_alg, sym, scheme, shash, curve=curve)
    if type_ == ALG_KEYEDHASH:
        scheme, shash = _scheme(r)
        return PublicFacts(type_, name_alg, None, scheme, shash)
    if type_ == ALG_SYMCIPHER:
        return PublicFacts(type_, name_alg, _sym_def_object(r))
    return PublicFacts(type_, name_alg)


def parse_public(data: bytes, pos: int) -> PublicFacts | None:
    """A TPM2B_PUBLIC (or TPM2B_TEMPLATE holding a TPMT_PUBLIC) at ``pos``."""
    try:
        r = _Reader(data, pos)
        if r.u16() == 0:
            return None
        type_ = r.u16()
        name_alg = r.u16()
        r.u32()            # objectAttributes
        r.skip_tpm2b()     # authPolicy
        return _parms(r, type_, name_alg)
    except struct.error:
        return None


def parse_public_parms(data: bytes, pos: int) -> PublicFacts | None:
    """A TPMT_PUBLIC_PARMS (TPM2_TestParms) at ``pos``."""
    try:
        r = _Reader(data, pos)
        return _parms(r, r.u16(), None)
    except struct.error:
        return None


def skip_tpm2b(data: bytes, pos: int) -> int:
    """The position after the TPM2B at ``pos``."""
    return pos + 2 + struct.unpack_from(">H", data, pos)[0]
