"""Software computations that the suites check the chip against.

Each function computes independently, with hashlib and ``cryptography``,
what a correct TPM must return, so a verdict never rests on the chip's own
word. Structures are marshalled per TPM 2.0 Part 2 (big-endian).
"""

from __future__ import annotations

import hashlib
import struct

from cryptography.hazmat.primitives import serialization

HASH_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}
TPM_ALG = {"sha1": 0x0004, "sha256": 0x000B, "sha384": 0x000C, "sha512": 0x000D}
TPM_CC_POLICY_PCR = 0x0000017F
TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018


def pcr_extend(old: bytes, data_digest: bytes, bank: str) -> bytes:
    """PCR_Extend: new = H(old || digest) (Part 1 §17.2)."""
    return hashlib.new(bank, old + data_digest).digest()


def pcr_selection(bank: str, pcrs: list[int], size_of_select: int = 3) -> bytes:
    """Marshalled TPML_PCR_SELECTION with one TPMS_PCR_SELECTION."""
    bits = bytearray(size_of_select)
    for p in pcrs:
        bits[p // 8] |= 1 << (p % 8)
    return struct.pack(">IHB", 1, TPM_ALG[bank], size_of_select) + bytes(bits)


def pcr_composite_digest(values: list[bytes], hash_name: str = "sha256") -> bytes:
    """Digest of the selected PCR values in selection order (Part 3 §18.4, §23.7)."""
    return hashlib.new(hash_name, b"".join(values)).digest()


def policy_pcr(bank: str, pcrs: list[int], values: list[bytes], policy_hash: str = "sha256",
               old: bytes | None = None) -> bytes:
    """policyDigest after TPM2_PolicyPCR (Part 3 §23.7)."""
    old = old if old is not None else bytes(HASH_SIZES[policy_hash])
    pcr_digest = pcr_composite_digest(values, policy_hash)
    return hashlib.new(
        policy_hash,
        old + struct.pack(">I", TPM_CC_POLICY_PCR) + pcr_selection(bank, pcrs) + pcr_digest,
    ).digest()


def public_key(tpm2b_public) -> object:
    """The ``cryptography`` public key of a TPM2B_PUBLIC/TPMT_PUBLIC."""
    pem = tpm2b_public.to_pem()
    return serialization.load_pem_public_key(pem)


def parse_quote(attest: bytes) -> dict:
    """Parse a marshalled TPMS_ATTEST of a quote (Part 2 §10.12.12)."""
    off = 0

    def take(n: int) -> bytes:
        nonlocal off
        out = attest[off:off + n]
        if len(out) != n:
            raise ValueError(f"TPMS_ATTEST truncated at offset {off}")
        off += n
        return out

    def tpm2b() -> bytes:
        (n,) = struct.unpack(">H", take(2))
        return take(n)

    magic, typ = struct.unpack(">IH", take(6))
    signer = tpm2b()
    extra = tpm2b()
    clock, reset_count, restart_count, safe = struct.unpack(">QIIB", take(17))
    firmware = struct.unpack(">Q", take(8))[0]
    (count,) = struct.unpack(">I", take(4))
    selections = []
    for _ in range(count):
        alg, size = struct.unpack(">HB", take(3))
        bits = take(size)
        pcrs = [i for i in range(size * 8) if bits[i // 8] & (1 << (i % 8))]
        selections.append((alg, pcrs))
    pcr_digest = tpm2b()
    if off != len(attest):
        raise ValueError(f"TPMS_ATTEST has {len(attest) - off} trailing bytes")
    return {
        "magic": magic, "type": typ, "qualified_signer": signer, "extra_data": extra,
        "clock": clock, "reset_count": reset_count, "restart_count": restart_count,
        "safe": bool(safe), "firmware_version": firmware, "selections": selections,
        "pcr_digest": pcr_digest,
    }


def tpm_public_from_key(key, object_attributes: int) -> object:
    """A TPM2B_PUBLIC for a ``cryptography`` public key, as LoadExternal takes it.

    ECC coordinates are written at the full size of the curve: tpm2-pytss's
    ``from_pem`` drops leading zero bytes (about 1 key in 170 on P-256), and a
    TPM rejects such a point with TPM_RC_KEY.
    """
    from tpm2_pytss.types import TPM2B_PUBLIC

    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    public = TPM2B_PUBLIC.from_pem(pem, symmetric=None, scheme=None)
    public.publicArea.objectAttributes = object_attributes
    numbers = getattr(key, "public_numbers", lambda: None)()
    if numbers is not None and hasattr(numbers, "x"):
        size = (key.curve.key_size + 7) // 8
        public.publicArea.unique.ecc.x = numbers.x.to_bytes(size, "big")
        public.publicArea.unique.ecc.y = numbers.y.to_bytes(size, "big")
    return public
