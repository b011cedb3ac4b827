"""The synthetic boot, written down from its description, not from ``synth.py``.

docs/attestation.md lists what the synthetic board measures; this module
re-derives every event's data and digest from that description with
``struct``/``hashlib`` only (it imports nothing from the harness), so the
checked-in golden file and the PCR values it implies do not come from the
code that writes the log. A bug in synthesis or in replay makes them differ.

Content (PFP §10.4 event structures):

* PCR 0 EV_S_CRTM_VERSION: UTF-16LE "tpm-hil synthetic CRTM 1.0" with its NUL;
  digest = H(data).
* PCR 0 EV_EFI_PLATFORM_FIRMWARE_BLOB2: description "Fv(tpm-hil synthetic main FV)",
  base 0xFF000000, 64 KiB; digest = H(firmware image).
* PCR 2 EV_EFI_PLATFORM_FIRMWARE_BLOB: base 0xFE000000, 16 KiB option-ROM driver.
* PCR 7 EV_EFI_VARIABLE_DRIVER_CONFIG: SecureBoot=01, PK (64 B), KEK (64 B) in the
  EFI global variable GUID; db (96 B), dbx (48 B) in the image security database
  GUID; digest = H(UEFI_VARIABLE_DATA).
* PCR 7 EV_SEPARATOR 00000000, PCR 4 EV_EFI_ACTION "Calling EFI Application from
  Boot Option", EV_SEPARATOR 00000000 in PCRs 0-6, PCR 4
  EV_EFI_BOOT_SERVICES_APPLICATION \\EFI\\BOOT\\BOOTX64.EFI (32 KiB at 0x7E000000),
  PCR 5 EV_EFI_ACTION "Exit Boot Services Invocation" and "... Returned with Success".
* An image of N bytes labelled L is SHA-256(L || counter as 4 big-endian bytes) for
  counter 0, 1, ... concatenated and cut to N bytes; a variable of N bytes named V
  is the image of N bytes labelled V.
"""

from __future__ import annotations

import hashlib
import struct
import uuid

GLOBAL = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
SECURITY_DB = uuid.UUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
BANKS = ("sha1", "sha256", "sha384", "sha512")


def image(label: str, size: int) -> bytes:
    out = b"".join(hashlib.sha256(label.encode() + i.to_bytes(4, "big")).digest()
                   for i in range((size + 31) // 32))
    return out[:size]


def _var(guid: uuid.UUID, name: str, value: bytes) -> bytes:
    return guid.bytes_le + struct.pack("<QQ", len(name), len(value)) + name.encode("utf-16-le") \
        + value


def events() -> list[tuple[str, int, str, bytes]]:
    """(stage, pcr, event type, measured bytes) in boot order."""
    sep = bytes(4)
    out = [("crtm", 0, "EV_S_CRTM_VERSION", "tpm-hil synthetic CRTM 1.0\x00".encode("utf-16-le")),
           ("firmware", 0, "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
            image("tpm-hil synthetic firmware volume", 65536)),
           ("option-rom", 2, "EV_EFI_PLATFORM_FIRMWARE_BLOB",
            image("tpm-hil synthetic option ROM driver", 16384))]
    for guid, name, value in ((GLOBAL, "SecureBoot", b"\x01"), (GLOBAL, "PK", image("PK", 64)),
                              (GLOBAL, "KEK", image("KEK", 64)),
                              (SECURITY_DB, "db", image("db", 96)),
                              (SECURITY_DB, "dbx", image("dbx", 48))):
        out.append(("secure-boot", 7, "EV_EFI_VARIABLE_DRIVER_CONFIG", _var(guid, name, value)))
    out.append(("separators", 7, "EV_SEPARATOR", sep))
    out.append(("boot-manager", 4, "EV_EFI_ACTION", b"Calling EFI Application from Boot Option"))
    out += [("separators", pcr, "EV_SEPARATOR", sep) for pcr in range(7)]
    out.append(("boot-loader", 4, "EV_EFI_BOOT_SERVICES_APPLICATION",
                image("tpm-hil synthetic boot loader BOOTX64.EFI", 32768)))
    out += [("exit-boot-services", 5, "EV_EFI_ACTION", text) for text in
            (b"Exit Boot Services Invocation", b"Exit Boot Services Returned with Success")]
    return out


def golden_document() -> dict:
    entries = []
    for stage, pcr, etype, measured in events():
        entry = {"stage": stage, "pcr": pcr, "event_type": etype,
                 "digests": {b: hashlib.new(b, measured).hexdigest() for b in BANKS}}
        if etype == "EV_S_CRTM_VERSION":
            entry["description"] = "^tpm-hil synthetic CRTM"
        entries.append(entry)
    return {"board": "synthetic-uefi", "strict": True, "measurements": entries}


def pcr_values(bank: str) -> dict[int, bytes]:
    """PCRs 0-7 after the synthetic boot, replayed with hashlib from zeros."""
    size = hashlib.new(bank).digest_size
    pcrs = {p: bytes(size) for p in range(8)}
    for _stage, pcr, _etype, measured in events():
        pcrs[pcr] = hashlib.new(bank, pcrs[pcr] + hashlib.new(bank, measured).digest()).digest()
    return pcrs
