"""Minimal DER encoding and TLV splitting (ITU-T X.690), enough to build the
partialCertificate of TPM2_CertifyX509 (TPM 2.0 Part 3 §18.8) and rebuild the
TBSCertificate from what the TPM adds."""

from __future__ import annotations


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    """One DER element: tag, definite length, value."""
    return bytes([tag]) + _length(len(value)) + value


def sequence(*items: bytes) -> bytes:
    """``SEQUENCE { items }``."""
    return tlv(0x30, b"".join(items))


def split(data: bytes) -> list[bytes]:
    """Split concatenated DER elements into whole TLVs (tag, length and value).

    Raises:
        ValueError: an element is truncated or uses an indefinite length.
    """
    out, i = [], 0
    while i < len(data):
        if i + 2 > len(data):
            raise ValueError(f"DER element truncated at offset {i}")
        first = data[i + 1]
        if first < 0x80:
            size, header = first, 2
        elif first == 0x80:
            raise ValueError(f"indefinite DER length at offset {i}")
        else:
            n = first & 0x7F
            size, header = int.from_bytes(data[i + 2:i + 2 + n], "big"), 2 + n
        end = i + header + size
        if end > len(data):
            raise ValueError(f"DER element at offset {i} runs past the end")
        out.append(data[i:end])
        i = end
    return out


def contents(element: bytes) -> bytes:
    """The value of one whole DER element."""
    first = element[1]
    header = 2 if first < 0x80 else 2 + (first & 0x7F)
    return element[header:]
