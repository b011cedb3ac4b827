"""The SHA-1 event log format (TCG_PCR_EVENT throughout, TPM 1.2-style).

Firmware that logs for a TPM 1.2, or a TPM 2.0 in the
``EFI_TCG2_EVENT_LOG_FORMAT_TCG_1_2`` format (older industrial boards,
option-ROM and Windows captures), writes every entry as a ``TCG_PCR_EVENT``
(PFP §10.2.1; TCG EFI Protocol Specification §5.1), little-endian:

    pcrIndex u32, eventType u32, digest[20] (SHA-1), eventSize u32, event[eventSize]

Such a log may begin with an EV_NO_ACTION "Spec ID Event00"
(``TCG_PCClientSpecIDEventStruct``, PC Client Implementation Specification for
Conventional BIOS 1.21) or "Spec ID Event02" (EFI Protocol 1.22); that entry,
like every EV_NO_ACTION, is logged but never extended. Entries are numbered
from the start of the file, the first being #0.
"""

from __future__ import annotations

import struct

from harness.attest.eventlog import (EV_NO_ACTION, MAX_EVENT_SIZE, SHA1_FORMAT, Event, EventLog,
                                     SpecId, _Reader, event_type_name)

LEGACY_SIGNATURES = (b"Spec ID Event00\x00", b"Spec ID Event02\x00")
SHA1_ALG = (0x0004, 20)
_HEADER = struct.Struct("<II20sI")


def _legacy_spec_id(first: Event | None) -> SpecId:
    """The SpecId of a SHA-1 log: its Spec ID Event00/02 fields when present (decoded
    loosely: the structure is never extended, so a short one is only a label)."""
    if first is not None and first.event_type == EV_NO_ACTION and \
            first.data[:16] in LEGACY_SIGNATURES:
        body = first.data[16:]
        platform = struct.unpack_from("<I", body)[0] if len(body) >= 4 else 0
        minor, major, errata = (body[4], body[5], body[6]) if len(body) >= 7 else (2, 1, 0)
        uintn = body[7] if len(body) >= 8 and first.data[:16].endswith(b"02\x00") else 0
        return SpecId(platform, (major, minor, errata), uintn, (SHA1_ALG,), b"",
                      first.data[:16])
    return SpecId(0, (1, 2, 0), 0, (SHA1_ALG,), b"", b"")


def parse_sha1_log(r: _Reader) -> EventLog:
    """Read every TCG_PCR_EVENT of ``r``'s data (called by ``parse_eventlog``).

    Raises:
        EventLogError: naming the event, its offset and what is wrong.
    """
    note = "read as a SHA-1 (TCG_PCR_EVENT) log: the first event is not a 'Spec ID Event03'"
    events: list[Event] = []
    index = 0
    while r.pos < len(r.data):
        offset = r.pos
        where = f"event #{index} at offset 0x{offset:x}"
        if len(r.data) - offset < _HEADER.size:
            raise r.fail(where, f"truncated: a TCG_PCR_EVENT header needs {_HEADER.size} bytes "
                                f"but only {len(r.data) - offset} remain ({note})")
        pcr, etype, digest, size = _HEADER.unpack_from(r.data, offset)
        where = f"event #{index} ({event_type_name(etype)}, PCR {pcr}) at offset 0x{offset:x}"
        if pcr > 23 and etype != EV_NO_ACTION:
            raise r.fail(where, f"pcrIndex {pcr} is not a PCR (0-23) ({note})")
        r.pos += _HEADER.size
        if size > MAX_EVENT_SIZE:
            raise r.fail(where, f"eventSize {size} is implausible (file is {len(r.data)} bytes; "
                                f"{note})")
        if size > len(r.data) - r.pos:
            raise r.fail(where, f"truncated: event data needs {size} bytes at offset "
                                f"0x{r.pos:x} but only {len(r.data) - r.pos} remain "
                                f"(file is {len(r.data)} bytes; {note})")
        data = r.take(size, where, "event data")
        events.append(Event(index, offset, pcr, etype, {"sha1": digest}, data))
        index += 1
    return EventLog(spec_id=_legacy_spec_id(events[0] if events else None), events=events,
                    source=r.source, header_pcr=events[0].pcr if events else 0,
                    format=SHA1_FORMAT)
