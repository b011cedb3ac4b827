"""TCG event logs: reader and encoder for both formats firmware writes.

The crypto-agile format (TPM 2.0) is read here; the SHA-1 format
(``TCG_PCR_EVENT`` throughout, TPM 1.2-style) in
:mod:`harness.attest.eventlog_sha1`. A log is crypto-agile when its first
event is an EV_NO_ACTION carrying a "Spec ID Event03" (PFP §10.4.5.1);
anything else is read as a SHA-1 log (the rule tpm2_eventlog and
go-attestation apply too).

Crypto-agile format (TCG PC Client Platform Firmware Profile, PFP §10.2; the same layout
U-Boot's measured boot and Linux's ``binary_bios_measurements`` use), all
integers **little-endian** (unlike TPM commands):

* one ``TCG_PCR_EVENT`` header: pcrIndex u32, eventType u32 (EV_NO_ACTION),
  a 20-byte zero digest, eventSize u32, and as event the
  ``TCG_EfiSpecIDEvent`` ("Spec ID Event03") that declares every digest
  algorithm (bank) the log carries and its digest size;
* then ``TCG_PCR_EVENT2`` entries: pcrIndex u32, eventType u32,
  ``TPML_DIGEST_VALUES`` (count u32, then hashAlg u16 + digest per bank),
  eventSize u32, event data.

Every structural fault raises one :class:`EventLogError` naming the file,
the event number and the byte offset, so a broken log never turns into a
confusing replay verdict.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.reference.hashes import ALG_IDS, ALGORITHMS, alg_name

SPEC_ID_SIGNATURE = b"Spec ID Event03\x00"
STARTUP_LOCALITY_SIGNATURE = b"StartupLocality\x00"
MAX_EVENT_SIZE = 16 * 1024 * 1024  # far beyond any real event; guards absurd sizes
MAX_LOG_SIZE = 64 * 1024 * 1024  # firmware logs are kilobytes; refuse to read more
CRYPTO_AGILE, SHA1_FORMAT = "crypto-agile", "sha1"


_EFI = 0x80000000
EVENT_TYPES: dict[int, str] = {
    0x00: "EV_PREBOOT_CERT", 0x01: "EV_POST_CODE", 0x02: "EV_UNUSED", 0x03: "EV_NO_ACTION",
    0x04: "EV_SEPARATOR", 0x05: "EV_ACTION", 0x06: "EV_EVENT_TAG", 0x07: "EV_S_CRTM_CONTENTS",
    0x08: "EV_S_CRTM_VERSION", 0x09: "EV_CPU_MICROCODE", 0x0A: "EV_PLATFORM_CONFIG_FLAGS",
    0x0B: "EV_TABLE_OF_DEVICES", 0x0C: "EV_COMPACT_HASH", 0x0D: "EV_IPL",
    0x0E: "EV_IPL_PARTITION_DATA", 0x0F: "EV_NONHOST_CODE", 0x10: "EV_NONHOST_CONFIG",
    0x11: "EV_NONHOST_INFO", 0x12: "EV_OMIT_BOOT_DEVICE_EVENTS", 0x13: "EV_POST_CODE2",
    _EFI + 0x01: "EV_EFI_VARIABLE_DRIVER_CONFIG", _EFI + 0x02: "EV_EFI_VARIABLE_BOOT",
    _EFI + 0x03: "EV_EFI_BOOT_SERVICES_APPLICATION", _EFI + 0x04: "EV_EFI_BOOT_SERVICES_DRIVER",
    _EFI + 0x05: "EV_EFI_RUNTIME_SERVICES_DRIVER", _EFI + 0x06: "EV_EFI_GPT_EVENT",
    _EFI + 0x07: "EV_EFI_ACTION", _EFI + 0x08: "EV_EFI_PLATFORM_FIRMWARE_BLOB",
    _EFI + 0x09: "EV_EFI_HANDOFF_TABLES", _EFI + 0x0A: "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
    _EFI + 0x0B: "EV_EFI_HANDOFF_TABLES2", _EFI + 0x0C: "EV_EFI_VARIABLE_BOOT2",
    _EFI + 0x0D: "EV_EFI_GPT_EVENT2", _EFI + 0x10: "EV_EFI_HCRTM_EVENT",
    _EFI + 0xE0: "EV_EFI_VARIABLE_AUTHORITY", _EFI + 0xE1: "EV_EFI_SPDM_FIRMWARE_BLOB",
    _EFI + 0xE2: "EV_EFI_SPDM_FIRMWARE_CONFIG",
}
EVENT_TYPE_CODES = {name: code for code, name in EVENT_TYPES.items()}
EV_NO_ACTION = 0x03


class EventLogError(HarnessError):
    """The event log is malformed; the message names the file, event and offset."""


def event_type_name(code: int) -> str:
    """TCG name of an event type, or ``EV_0x...`` for a vendor/unknown one."""
    return EVENT_TYPES.get(code, f"EV_0x{code:08x}")


def event_type_code(name_or_code: str | int) -> int:
    """Event type code from a TCG name (``EV_SEPARATOR``) or a number."""
    if isinstance(name_or_code, int):
        return name_or_code
    text = name_or_code.strip()
    if text in EVENT_TYPE_CODES:
        return EVENT_TYPE_CODES[text]
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"unknown event type {name_or_code!r}") from None


def hash_bytes(bank: str, data: bytes) -> bytes:
    """Digest of ``data`` with the bank's hash (hashlib names match the bank names)."""
    return hashlib.new(bank, data).digest()


@dataclass(frozen=True)
class SpecId:
    """The TCG_EfiSpecIDEvent of the log header (PFP §10.4.5.1)."""

    platform_class: int
    spec_version: tuple[int, int, int]  # major, minor, errata
    uintn_size: int
    algorithms: tuple[tuple[int, int], ...]  # (algorithm id, digest size) in log order
    vendor_info: bytes = b""
    signature: bytes = SPEC_ID_SIGNATURE  # "Spec ID Event00"/"02" in a SHA-1 log, or b""

    @property
    def banks(self) -> list[str]:
        return [alg_name(a) for a, _ in self.algorithms]


@dataclass
class Event:
    """One TCG_PCR_EVENT2 entry (or TCG_PCR_EVENT in a SHA-1 log).

    Attributes:
        index: position in the log counted from the file's first entry as #0: in
            a crypto-agile log the header is #0 and the first TCG_PCR_EVENT2 #1
            (tpm2_eventlog's EventNum); in a SHA-1 log the first event is #0.
        offset: byte offset of the entry in the file.
        pcr: PCR index extended.
        event_type: TCG event type code.
        digests: bank name -> digest, in the order the log lists them.
        data: the event data.
    """

    index: int
    offset: int
    pcr: int
    event_type: int
    digests: dict[str, bytes]
    data: bytes

    @property
    def type_name(self) -> str:
        return event_type_name(self.event_type)

    @property
    def extends(self) -> bool:
        """EV_NO_ACTION events are logged but never extended (PFP §10.4.5)."""
        return self.event_type != EV_NO_ACTION

    def label(self) -> str:
        """``event #3 (EV_SEPARATOR, PCR 7, offset 0x1f4)``: how errors name an event."""
        return f"event #{self.index} ({self.type_name}, PCR {self.pcr}, offset 0x{self.offset:x})"


@dataclass
class EventLog:
    """A parsed event log (``format``: ``crypto-agile`` or ``sha1``).

    In a SHA-1 log ``spec_id`` declares the one sha1 bank (its ``signature``
    is the "Spec ID Event00"/"Event02" the log starts with, or empty), and
    every entry, the first included, is in ``events``.
    """

    spec_id: SpecId
    events: list[Event] = field(default_factory=list)
    source: str = "<bytes>"
    header_pcr: int = 0
    format: str = CRYPTO_AGILE

    @property
    def banks(self) -> list[str]:
        return self.spec_id.banks

    def pcrs(self) -> list[int]:
        """PCR indices that the log extends, ascending."""
        return sorted({e.pcr for e in self.events if e.extends})

    def startup_locality(self) -> int:
        """Locality of a StartupLocality EV_NO_ACTION event (PFP §10.4.5.3), else 0."""
        for e in self.events:
            if e.event_type == EV_NO_ACTION and e.pcr == 0 and \
                    e.data.startswith(STARTUP_LOCALITY_SIGNATURE) and len(e.data) >= 17:
                return e.data[16]
        return 0


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.source, self.pos = data, source, 0

    def fail(self, where: str, problem: str) -> EventLogError:
        return EventLogError(f"event log {self.source}: {where}: {problem}")

    def take(self, n: int, where: str, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self.fail(where, f"truncated: {what} needs {n} bytes at offset 0x{self.pos:x} "
                                   f"but only {len(self.data) - self.pos} remain "
                                   f"(file is {len(self.data)} bytes)")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self, where: str, what: str) -> int:
        return self.take(1, where, what)[0]

    def u16(self, where: str, what: str) -> int:
        return struct.unpack("<H", self.take(2, where, what))[0]

    def u32(self, where: str, what: str) -> int:
        return struct.unpack("<I", self.take(4, where, what))[0]


def _parse_spec_id(data: bytes, r: _Reader, where: str) -> SpecId:
    sub = _Reader(data, r.source)
    sig = sub.take(16, where, "Spec ID signature")
    if sig != SPEC_ID_SIGNATURE:
        raise r.fail(where, f"first event is not a 'Spec ID Event03' (signature {sig!r}); "
                            "not a crypto-agile log header")
    platform_class = sub.u32(where, "platformClass")
    minor, major, errata = sub.u8(where, "specVersionMinor"), sub.u8(where, "specVersionMajor"), \
        sub.u8(where, "specErrata")
    uintn = sub.u8(where, "uintnSize")
    count = sub.u32(where, "numberOfAlgorithms")
    if count == 0 or count > len(ALGORITHMS) * 2:
        raise r.fail(where, f"Spec ID event declares {count} digest algorithms")
    algs: list[tuple[int, int]] = []
    for i in range(count):
        alg = sub.u16(where, f"algorithm {i} id")
        size = sub.u16(where, f"algorithm {i} digest size")
        if alg in ALGORITHMS and ALGORITHMS[alg][1] != size:
            raise r.fail(where, f"Spec ID event declares {alg_name(alg)} with digest size {size}, "
                                f"the algorithm's size is {ALGORITHMS[alg][1]}")
        if size == 0 or size > 128:
            raise r.fail(where, f"Spec ID event declares algorithm 0x{alg:04x} with "
                                f"digest size {size}")
        if any(a == alg for a, _ in algs):
            raise r.fail(where, f"Spec ID event declares {alg_name(alg)} twice")
        algs.append((alg, size))
    vendor_size = sub.u8(where, "vendorInfoSize")
    vendor = sub.take(vendor_size, where, "vendorInfo")
    if sub.pos != len(data):
        raise r.fail(where, f"Spec ID event is {len(data)} bytes but its fields end at "
                            f"{sub.pos} (wrong eventSize)")
    return SpecId(platform_class, (major, minor, errata), uintn, tuple(algs), vendor)


def is_crypto_agile(data: bytes) -> bool:
    """True when the first TCG_PCR_EVENT is an EV_NO_ACTION "Spec ID Event03"."""
    return (len(data) >= 32 + len(SPEC_ID_SIGNATURE)
            and struct.unpack_from("<I", data, 4)[0] == EV_NO_ACTION
            and data[32:32 + len(SPEC_ID_SIGNATURE)] == SPEC_ID_SIGNATURE)


def parse_eventlog(data: bytes, source: str = "<bytes>") -> EventLog:
    """Parse an event log, crypto-agile or SHA-1 format.

    Args:
        data: the whole log file.
        source: a name for error messages (the file path).

    Raises:
        EventLogError: truncated data, a wrong size field, an algorithm the
            Spec ID event does not declare, or a missing Spec ID header.
    """
    r = _Reader(bytes(data), source)
    where = "header (TCG_PCR_EVENT at offset 0x0)"
    if not data:
        raise r.fail(where, "file is empty")
    if len(data) > MAX_LOG_SIZE:
        raise r.fail(where, f"file is {len(data)} bytes, more than any firmware log "
                            f"({MAX_LOG_SIZE} bytes)")
    if not is_crypto_agile(r.data):
        from harness.attest.eventlog_sha1 import parse_sha1_log

        return parse_sha1_log(r)
    header_pcr = r.u32(where, "pcrIndex")
    header_type = r.u32(where, "eventType")
    r.take(20, where, "SHA-1 digest")
    size = r.u32(where, "eventSize")
    if size > MAX_EVENT_SIZE:
        raise r.fail(where, f"eventSize {size} is implausible")
    spec_id = _parse_spec_id(r.take(size, where, "Spec ID event data"), r, where)
    sizes = dict(spec_id.algorithms)
    log = EventLog(spec_id=spec_id, source=source, header_pcr=header_pcr)
    index = 1  # the header is event #0, as tpm2_eventlog numbers it
    while r.pos < len(r.data):
        offset = r.pos
        where = f"event #{index} at offset 0x{offset:x}"
        pcr = r.u32(where, "pcrIndex")
        etype = r.u32(where, "eventType")
        where = f"event #{index} ({event_type_name(etype)}, PCR {pcr}) at offset 0x{offset:x}"
        if pcr > 31 and etype != EV_NO_ACTION:
            raise r.fail(where, f"pcrIndex {pcr} is not a PCR (0-23 on a PC Client TPM)")
        count = r.u32(where, "digest count")
        if count != len(sizes):
            raise r.fail(where, f"carries {count} digests, the Spec ID event declares "
                                f"{len(sizes)} banks ({', '.join(spec_id.banks)})")
        digests: dict[str, bytes] = {}
        for i in range(count):
            alg = r.u16(where, f"digest {i} algorithm")
            if alg not in sizes:
                raise r.fail(where, f"digest {i} uses algorithm 0x{alg:04x} ({alg_name(alg)}), "
                                    f"which the Spec ID event does not declare "
                                    f"({', '.join(spec_id.banks)})")
            bank = alg_name(alg)
            if bank in digests:
                raise r.fail(where, f"carries two {bank} digests")
            digests[bank] = r.take(sizes[alg], where, f"{bank} digest")
        event_size = r.u32(where, "eventSize")
        if event_size > MAX_EVENT_SIZE:
            raise r.fail(where, f"eventSize {event_size} is implausible "
                                f"(file is {len(r.data)} bytes)")
        event_data = r.take(event_size, where, "event data")
        log.events.append(Event(index, offset, pcr, etype, digests, event_data))
        index += 1
    return log


def read_eventlog(path: str | Path) -> EventLog:
    """Read and parse an event log file (e.g. ``binary_bios_measurements``)."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:  # securityfs reports size 0: read up to the cap
            data = fh.read(MAX_LOG_SIZE + 1)
    except OSError as exc:
        raise EventLogError(f"event log {p}: cannot read: {exc.strerror or exc}") from exc
    return parse_eventlog(data, str(p))


# --- encoding (used by the synthetic writer and by tests that build bad logs) ---

def encode_spec_id(banks: list[str], vendor_info: bytes = b"", platform_class: int = 0,
                   spec_version: tuple[int, int, int] = (2, 0, 0), uintn_size: int = 2) -> bytes:
    """The TCG_PCR_EVENT header carrying a Spec ID Event03 for ``banks``.

    ``uintn_size`` counts UINT32 units (2: a 64-bit UEFI platform).
    """
    major, minor, errata = spec_version
    body = SPEC_ID_SIGNATURE + struct.pack("<IBBBBI", platform_class, minor, major, errata,
                                           uintn_size, len(banks))
    for bank in banks:
        alg = ALG_IDS[bank]
        body += struct.pack("<HH", alg, ALGORITHMS[alg][1])
    body += struct.pack("<B", len(vendor_info)) + vendor_info
    return struct.pack("<II", 0, EV_NO_ACTION) + b"\x00" * 20 + struct.pack("<I", len(body)) + body


def encode_event(pcr: int, event_type: int, digests: dict[str, bytes], data: bytes) -> bytes:
    """One TCG_PCR_EVENT2 entry; ``digests`` in the order of the Spec ID banks."""
    out = struct.pack("<III", pcr, event_type, len(digests))
    for bank, digest in digests.items():
        out += struct.pack("<H", ALG_IDS[bank]) + digest
    return out + struct.pack("<I", len(data)) + data


def encode_sha1_event(pcr: int, event_type: int, digest: bytes, data: bytes) -> bytes:
    """One TCG_PCR_EVENT entry of a SHA-1 log (PFP §10.2.1)."""
    if len(digest) != 20:
        raise ValueError(f"a TCG_PCR_EVENT digest is 20 bytes, got {len(digest)}")
    return struct.pack("<II", pcr, event_type) + digest + struct.pack("<I", len(data)) + data


def encode_eventlog(log: EventLog) -> bytes:
    """Serialize a (possibly edited) :class:`EventLog` back to bytes."""
    if log.format == SHA1_FORMAT:
        return b"".join(encode_sha1_event(e.pcr, e.event_type, e.digests["sha1"], e.data)
                        for e in log.events)
    sid = log.spec_id
    out = encode_spec_id(sid.banks, sid.vendor_info, sid.platform_class, sid.spec_version,
                         sid.uintn_size)
    for e in log.events:
        out += encode_event(e.pcr, e.event_type, e.digests, e.data)
    return out
