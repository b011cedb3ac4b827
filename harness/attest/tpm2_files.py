"""Readers for the files tpm2-tools writes on a board, for offline verification.

Every file is hostile input: each reader caps what it reads, checks every
size field against the bytes that are there, and raises one
:class:`EvidenceFileError` naming the file and what is wrong.

* ``tpm2_quote -m``: the TPMS_ATTEST (raw; a TPM2B_ATTEST is accepted too);
* ``tpm2_quote -s`` (``-f tss``, the default): a TPMT_SIGNATURE;
* ``tpm2_quote -o`` with ``-F serialized`` (the default), ``marshaled`` or
  ``values``: the quoted PCR values (tpm2-tools ``lib/pcr.c``): *serialized*
  is the C structs TPML_PCR_SELECTION (132 bytes) + UINT32 count + count x
  TPML_DIGEST (532 bytes each), little-endian; *marshaled* the same in TPM
  wire format; *values* the digests only, in selection order;
* ``tpm2_createak -u`` / ``tpm2_readpublic -o`` (``-f tss``): a TPM2B_PUBLIC;
  PEM or DER SubjectPublicKeyInfo (``-f pem|der``) also work, without a name;
* the EK certificate (``tpm2_getekcertificate -o``, ``tpm2_nvread``): DER
  (NV padding after the certificate is ignored) or PEM;
* ``tpm2_makecredential -o``: magic 0xBADCC0DE, version 1, TPM2B_ID_OBJECT,
  TPM2B_ENCRYPTED_SECRET (big-endian);
* ``tpm2_quote -q`` takes the nonce as hex; files holding hex or raw bytes work.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from harness.errors import ConfigError
from harness.reference.hashes import ALG_IDS, ALGORITHMS, alg_name
from harness.reference.names import object_name
from harness.bounded_file import read_bounded

MAX_FILE = 1024 * 1024  # every tpm2-tools output here is a few kilobytes
CREDENTIAL_MAGIC = 0xBADCC0DE
_SEL_STRUCT, _SEL_ENTRIES = 8, 16          # TPMS_PCR_SELECTION (7 bytes, padded), entries
_SELECTION_BYTES = 4 + _SEL_STRUCT * _SEL_ENTRIES  # 132
_TPML_DIGEST_BYTES = 4 + 8 * (2 + 64)      # count + 8 x TPM2B_DIGEST{size, buffer[64]}


class EvidenceFileError(ConfigError):
    """An evidence file is missing, too large or not what tpm2-tools writes."""


def read_file(path: str | Path, what: str, limit: int = MAX_FILE) -> bytes:
    return read_bounded(path, limit, what, EvidenceFileError, allow_empty=False)


def read_attest(path: str | Path) -> bytes:
    """The TPMS_ATTEST of ``tpm2_quote -m`` (a TPM2B_ATTEST's size prefix is dropped)."""
    data = read_file(path, "quote message")
    if data[:4] == b"\xffTCG":
        return data
    if len(data) > 6 and data[2:6] == b"\xffTCG" and struct.unpack(">H", data[:2])[0] == \
            len(data) - 2:
        return data[2:]
    raise EvidenceFileError(f"quote message {path}: does not start with TPM_GENERATED_VALUE "
                            "(ff544347): not a TPMS_ATTEST written by tpm2_quote -m")


def read_signature(path: str | Path) -> bytes:
    """The TPMT_SIGNATURE of ``tpm2_quote -s`` (``-f tss``)."""
    data = read_file(path, "quote signature")
    if len(data) < 6 or struct.unpack(">H", data[:2])[0] not in (0x0014, 0x0016, 0x0018):
        raise EvidenceFileError(f"quote signature {path}: not a TPMT_SIGNATURE with an RSASSA, "
                                "RSAPSS or ECDSA scheme (collect it with tpm2_quote -s FILE "
                                "and the default -f tss)")
    return data


def _walk_selection(selection: list[tuple[str, list[int]]], digests: list[bytes], source: str
                    ) -> dict[str, dict[int, bytes]]:
    """Assign digests to (bank, PCR) in selection order, checking each digest's size."""
    out: dict[str, dict[int, bytes]] = {}
    slots = [(bank, pcr) for bank, pcrs in selection for pcr in sorted(pcrs)]
    if len(slots) != len(digests):
        raise EvidenceFileError(f"{source}: holds {len(digests)} PCR values, the quote "
                                f"selects {len(slots)}")
    for (bank, pcr), digest in zip(slots, digests):
        size = ALGORITHMS.get(ALG_IDS.get(bank, -1), ("", 0))[1]
        if len(digest) != size:
            raise EvidenceFileError(f"{source}: {bank} PCR {pcr} value is {len(digest)} "
                                    f"bytes, a {bank} digest is {size}")
        out.setdefault(bank, {})[pcr] = digest
    return out


def _selection_from(raw: list[tuple[int, bytes]]) -> list[tuple[str, list[int]]]:
    return [(alg_name(alg), [j * 8 + k for j, b in enumerate(bits) for k in range(8)
                             if b & (1 << k)]) for alg, bits in raw]


def _serialized(data: bytes, source: str) -> tuple[list, list[bytes]]:
    count = struct.unpack_from("<I", data)[0]
    if count > _SEL_ENTRIES:
        raise ValueError(f"selection count {count}")
    raw = []
    for i in range(count):
        alg, size = struct.unpack_from("<HB", data, 4 + i * _SEL_STRUCT)
        if size > 4:
            raise ValueError(f"sizeofSelect {size}")
        raw.append((alg, data[4 + i * _SEL_STRUCT + 3:4 + i * _SEL_STRUCT + 3 + size]))
    lists = struct.unpack_from("<I", data, _SELECTION_BYTES)[0]
    if len(data) != _SELECTION_BYTES + 4 + lists * _TPML_DIGEST_BYTES:
        raise ValueError("size")
    digests = []
    for j in range(lists):
        base = _SELECTION_BYTES + 4 + j * _TPML_DIGEST_BYTES
        n = struct.unpack_from("<I", data, base)[0]
        if n > 8:
            raise ValueError(f"TPML_DIGEST count {n}")
        for k in range(n):
            size = struct.unpack_from("<H", data, base + 4 + k * 66)[0]
            if size > 64:
                raise ValueError(f"digest size {size}")
            digests.append(data[base + 6 + k * 66:base + 6 + k * 66 + size])
    return _selection_from(raw), digests


def _marshaled(data: bytes, source: str) -> tuple[list, list[bytes]]:
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise ValueError("truncated")
        pos += n
        return data[pos - n:pos]

    count = struct.unpack(">I", take(4))[0]
    if count > _SEL_ENTRIES:
        raise ValueError(f"selection count {count}")
    raw = []
    for _ in range(count):
        alg, size = struct.unpack(">HB", take(3))
        raw.append((alg, take(size)))
    lists = struct.unpack(">I", take(4))[0]
    if lists > 64:
        raise ValueError(f"{lists} digest lists")
    digests = []
    for _ in range(lists):
        n = struct.unpack(">I", take(4))[0]
        if n > 8:
            raise ValueError(f"TPML_DIGEST count {n}")
        for _ in range(n):
            digests.append(take(struct.unpack(">H", take(2))[0]))
    if pos != len(data):
        raise ValueError("trailing bytes")
    return _selection_from(raw), digests


def parse_pcr_values(data: bytes, quoted: list[tuple[str, list[int]]], source: str
                     ) -> tuple[dict[str, dict[int, bytes]], str]:
    """PCR values of a ``tpm2_quote -o`` file; returns (bank -> PCR -> value, format).

    ``quoted`` is the selection from the (signature-checked) TPMS_ATTEST: a
    serialized or marshaled file must select the same PCRs, a values file is
    read in that order.
    """
    tried = []
    for name, reader in (("serialized", _serialized), ("marshaled", _marshaled)):
        try:
            selection, digests = reader(data, source)
        except (ValueError, struct.error) as exc:
            tried.append(f"{name}: {exc}")
            continue
        if selection != quoted:
            raise EvidenceFileError(f"{source}: selects {selection}, the quote {quoted}")
        return _walk_selection(selection, digests, source), name
    sizes = [ALGORITHMS.get(ALG_IDS.get(bank, -1), ("", 0))[1]
             for bank, pcrs in quoted for _p in pcrs]
    if sum(sizes) == len(data) and all(sizes):
        digests, pos = [], 0
        for size in sizes:
            digests.append(data[pos:pos + size])
            pos += size
        return _walk_selection(quoted, digests, source), "values"
    raise EvidenceFileError(f"{source}: {len(data)} bytes are neither a serialized or "
                            f"marshaled tpm2_quote PCR file ({'; '.join(tried)}) nor the "
                            f"{sum(sizes)} bytes of values the quote selects")


@dataclass
class PublicKey:
    """An AK or EK public key; ``public``/``name`` only from a TPM2B_PUBLIC."""

    key: object  # cryptography public key
    public: object | None = None  # tpm2_pytss TPM2B_PUBLIC
    name: bytes = b""
    name_alg: str = ""


def read_public(path: str | Path, what: str) -> PublicKey:
    """A TPM2B_PUBLIC (tpm2-tools ``-f tss``), or a PEM/DER public key."""
    from tpm2_pytss.types import TPM2B_PUBLIC

    data = read_file(path, what)
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            return PublicKey(serialization.load_pem_public_key(data))
        except ValueError as exc:
            raise EvidenceFileError(f"{what} {path}: not a PEM public key: {exc}") from exc
    if len(data) > 2 and struct.unpack(">H", data[:2])[0] == len(data) - 2:
        try:
            public, used = TPM2B_PUBLIC.unmarshal(data)
            if used != len(data):
                raise ValueError(f"{len(data) - used} bytes after the structure")
            area = public.publicArea
            key = serialization.load_pem_public_key(bytes(area.to_pem()))
        except Exception as exc:  # the TSS unmarshaller raises several kinds
            raise EvidenceFileError(f"{what} {path}: not a TPM2B_PUBLIC of an RSA or ECC key "
                                    f"({exc})") from exc
        try:
            name = object_name(int(area.nameAlg), area)
        except ValueError as exc:
            raise EvidenceFileError(f"{what} {path}: nameAlg 0x{int(area.nameAlg):04x} is not "
                                    f"supported ({exc})") from None
        return PublicKey(key, public, name, alg_name(int(area.nameAlg)))
    try:
        return PublicKey(serialization.load_der_public_key(data))
    except ValueError as exc:
        raise EvidenceFileError(f"{what} {path}: neither a TPM2B_PUBLIC (tpm2_readpublic -o, "
                                "-f tss) nor a PEM/DER public key") from exc


def read_certificate(path: str | Path) -> x509.Certificate:
    """The EK certificate, PEM or DER; bytes after the DER structure (NV padding) ignored."""
    data = read_file(path, "EK certificate")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        if len(data) >= 4 and data[0] == 0x30 and data[1] == 0x82:
            data = data[:4 + struct.unpack(">H", data[2:4])[0]]
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise EvidenceFileError(f"EK certificate {path}: not a PEM/DER X.509 certificate: "
                                f"{exc}") from exc


def read_credential(path: str | Path) -> tuple[bytes, bytes]:
    """(TPM2B_ID_OBJECT body, TPM2B_ENCRYPTED_SECRET body) of a tpm2_makecredential file
    (tpm2-pytss ``tools_to_credential``; every byte must belong to it)."""
    from tpm2_pytss.utils import tools_to_credential

    data = read_file(path, "credential")
    if len(data) < 12 or struct.unpack(">II", data[:8]) != (CREDENTIAL_MAGIC, 1):
        raise EvidenceFileError(f"credential {path}: no tpm2-tools header (magic 0xBADCC0DE, "
                                "version 1)")
    try:
        id_object, secret = (bytes(part) for part in tools_to_credential(data))
    except Exception as exc:  # the TSS unmarshaller raises several kinds
        raise EvidenceFileError(f"credential {path}: truncated or malformed TPM2B_ID_OBJECT / "
                                f"TPM2B_ENCRYPTED_SECRET: {(str(exc).splitlines() or [type(exc).__name__])[0]}"
                                ) from None
    extra = len(data) - (8 + 2 + len(id_object) + 2 + len(secret))
    if extra:
        raise EvidenceFileError(f"credential {path}: {extra} bytes after the secret")
    return id_object, secret


def write_credential(path: str | Path, id_object: bytes, encrypted_secret: bytes) -> None:
    """Write a credential the way tpm2_makecredential does (tpm2_activatecredential -i;
    tpm2-pytss ``credential_to_tools``)."""
    from tpm2_pytss.utils import credential_to_tools

    Path(path).write_bytes(credential_to_tools(id_object, encrypted_secret))


def parse_nonce(text_or_path: str) -> bytes:
    """A nonce as tpm2_quote -q takes it (hex), or a file holding hex or raw bytes."""
    text = text_or_path.strip()
    p = Path(text)
    if p.is_file():
        data = read_file(p, "nonce", 1024)
        try:
            return bytes.fromhex(data.decode("ascii").strip().removeprefix("0x"))
        except (UnicodeDecodeError, ValueError):
            return data
    try:
        value = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise EvidenceFileError(f"nonce {text!r}: neither hex nor a file") from None
    if not value:
        raise EvidenceFileError("nonce is empty")
    return value


def read_name(path: str | Path) -> bytes:
    """An object name from ``tpm2_createak -n`` (binary) or as hex text."""
    data = read_file(path, "name", 1024)
    try:
        text = data.decode("ascii").strip()
        if len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
            return bytes.fromhex(text)
    except UnicodeDecodeError:
        pass
    return data
