"""Event logs shaped like real firmware's, built byte by byte in the tests.

Public captures (go-attestation ``attest/testdata``, keylime) may not be
committed here, so these builders write logs with the same kinds of content:
SHA-1 (TCG_PCR_EVENT) logs with and without a "Spec ID Event00" header,
crypto-agile logs, EFI variables, boot options with device paths, option-ROM
drivers (EV_EFI_BOOT_SERVICES_DRIVER with a PCI device path in PCR 2), a GPT
event, handoff tables, grub-style EV_IPL events and a log whose
ExitBootServices events are missing (a kernel that reads the log before
ExitBootServices, as in go-attestation's ``ebs_event_missing_eventlog``).

Everything is encoded here with ``struct`` and ``hashlib`` only (no harness
import), and :func:`expected_pcrs` replays with ``hashlib`` only, so the
harness's reader and replay are checked against an independent computation.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from dataclasses import dataclass

EFI_GLOBAL = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
EFI_IMAGE_DB = uuid.UUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
EFI_CERT_X509 = uuid.UUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
ACPI_TABLE_GUID = uuid.UUID("8868e871-e4f1-11d3-bc22-0080c73c8881")
T = {"EV_POST_CODE": 1, "EV_NO_ACTION": 3, "EV_SEPARATOR": 4, "EV_ACTION": 5,
     "EV_S_CRTM_VERSION": 8, "EV_CPU_MICROCODE": 9, "EV_IPL": 0x0D,
     "EV_EFI_VARIABLE_DRIVER_CONFIG": 0x80000001, "EV_EFI_VARIABLE_BOOT": 0x80000002,
     "EV_EFI_BOOT_SERVICES_APPLICATION": 0x80000003, "EV_EFI_BOOT_SERVICES_DRIVER": 0x80000004,
     "EV_EFI_GPT_EVENT": 0x80000006, "EV_EFI_ACTION": 0x80000007,
     "EV_EFI_PLATFORM_FIRMWARE_BLOB": 0x80000008, "EV_EFI_HANDOFF_TABLES": 0x80000009,
     "EV_EFI_VARIABLE_AUTHORITY": 0x800000E0}
ALG = {"sha1": (0x0004, 20), "sha256": (0x000B, 32), "sha384": (0x000C, 48),
       "sha512": (0x000D, 64)}


@dataclass(frozen=True)
class Ev:
    pcr: int
    type: str
    data: bytes
    measured: bytes | None = None  # what was hashed; None: the event data itself

    def digest(self, bank: str) -> bytes:
        if self.type == "EV_NO_ACTION":
            return bytes(ALG[bank][1])
        return hashlib.new(bank, self.data if self.measured is None else self.measured).digest()


def blob(label: str, size: int) -> bytes:
    out = b""
    while len(out) < size:
        out += hashlib.sha512(label.encode() + len(out).to_bytes(4, "little")).digest()
    return out[:size]


def utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def variable(guid: uuid.UUID, name: str, value: bytes) -> bytes:
    return guid.bytes_le + struct.pack("<QQ", len(name), len(value)) + utf16(name) + value


# --- UEFI device paths (UEFI 2.10 §10.3) ---
def dp_acpi_pciroot(uid: int = 0) -> bytes:
    return struct.pack("<BBHII", 2, 1, 12, 0x0A0341D0, uid)


def dp_pci(device: int, function: int) -> bytes:
    return struct.pack("<BBHBB", 1, 1, 6, function, device)


def dp_hd(partition: int, start: int, size: int, guid: uuid.UUID) -> bytes:
    return struct.pack("<BBHIQQ", 4, 1, 42, partition, start, size) + guid.bytes_le + b"\x02\x02"


def dp_file(path: str) -> bytes:
    name = utf16(path + "\x00")
    return struct.pack("<BBH", 4, 4, 4 + len(name)) + name


def dp_offset(start: int, end: int) -> bytes:  # PIWG relative offset range, option ROMs
    return struct.pack("<BBHIQQ", 4, 8, 24, 0, start, end)


DP_END = b"\x7f\xff\x04\x00"


def image_load(base: int, length: int, devpath: bytes) -> bytes:
    return struct.pack("<QQQQ", base, length, 0, len(devpath)) + devpath


def load_option(description: str, devpath: bytes) -> bytes:
    """EFI_LOAD_OPTION (UEFI 2.10 §3.1.3): Boot#### variable contents."""
    return struct.pack("<IH", 1, len(devpath)) + utf16(description + "\x00") + devpath


def gpt_event(disk: uuid.UUID, parts: list[tuple[str, int, int]]) -> bytes:
    header = (b"EFI PART" + struct.pack("<IIII", 0x10000, 92, 0, 0) +
              struct.pack("<QQQQ", 1, 0x1FFFFF, 34, 0x1FFFDE) + disk.bytes_le +
              struct.pack("<QIII", 2, 128, 128, 0))
    entries = b""
    for i, (name, first, last) in enumerate(parts):
        entries += (uuid.UUID(int=0xC12A7328F81F11D2BA4B00A0C93EC93B).bytes_le
                    + uuid.UUID(int=i + 1).bytes_le + struct.pack("<QQQ", first, last, 0)
                    + utf16(name).ljust(72, b"\0"))
    return header + struct.pack("<Q", len(parts)) + entries


SEP = b"\x00\x00\x00\x00"


def uefi_boot(with_ebs: bool = True, option_rom: bool = True) -> list[Ev]:
    """A UEFI boot: CRTM, firmware volumes, microcode, handoff tables, Secure Boot
    configuration, an option ROM, boot options, separators, shim and grub, GPT."""
    esp = uuid.UUID("6a2b5f0e-8c61-4f4b-bd54-3ef6c9b8d0a1")
    disk_dp = dp_acpi_pciroot() + dp_pci(3, 0) + dp_hd(1, 2048, 204800, esp)
    ev = [
        Ev(0, "EV_S_CRTM_VERSION", utf16("1.21.0-industrial-board\x00")),
        Ev(0, "EV_EFI_PLATFORM_FIRMWARE_BLOB", struct.pack("<QQ", 0xFFC84000, 0x37C000),
           blob("main fv", 4096)),
        Ev(0, "EV_POST_CODE", b"POST CODE", blob("post code", 2048)),
        Ev(1, "EV_CPU_MICROCODE", b"microcode update", blob("ucode", 1024)),
        Ev(1, "EV_EFI_HANDOFF_TABLES", struct.pack("<Q", 1) + ACPI_TABLE_GUID.bytes_le
           + struct.pack("<Q", 0x7FBE5000), blob("acpi tables", 512)),
        Ev(7, "EV_EFI_VARIABLE_DRIVER_CONFIG", variable(EFI_GLOBAL, "SecureBoot", b"\x01")),
    ]
    for name, guid in (("PK", EFI_GLOBAL), ("KEK", EFI_GLOBAL), ("db", EFI_IMAGE_DB),
                       ("dbx", EFI_IMAGE_DB)):
        ev.append(Ev(7, "EV_EFI_VARIABLE_DRIVER_CONFIG", variable(guid, name, blob(name, 300))))
    if option_rom:  # a NIC's option ROM loaded from PCI 00:05.0, measured into PCR 2
        rom_dp = dp_acpi_pciroot() + dp_pci(5, 0) + dp_offset(0x10000, 0x1FFFF) + DP_END
        ev.append(Ev(2, "EV_EFI_BOOT_SERVICES_DRIVER", image_load(0x7E100000, 0x10000, rom_dp),
                     blob("nic option rom", 8192)))
        ev.append(Ev(7, "EV_EFI_VARIABLE_AUTHORITY", variable(
            EFI_IMAGE_DB, "db", EFI_CERT_X509.bytes_le + blob("vendor ca", 600))))
    ev.append(Ev(1, "EV_EFI_VARIABLE_BOOT", variable(EFI_GLOBAL, "BootOrder", b"\x01\x00\x00\x00"),
                 b"\x01\x00\x00\x00"))
    opt = load_option("ubuntu", disk_dp + dp_file("\\EFI\\ubuntu\\shimx64.efi") + DP_END)
    ev.append(Ev(1, "EV_EFI_VARIABLE_BOOT", variable(EFI_GLOBAL, "Boot0001", opt), opt))
    ev.append(Ev(4, "EV_EFI_ACTION", b"Calling EFI Application from Boot Option"))
    for pcr in range(8):
        ev.append(Ev(pcr, "EV_SEPARATOR", SEP))
    ev.append(Ev(5, "EV_EFI_GPT_EVENT", gpt_event(uuid.UUID(int=7), [("EFI System", 2048, 206847),
                                                                   ("root", 206848, 0x1FFFDE)])))
    for path, size in (("\\EFI\\ubuntu\\shimx64.efi", 0xE8000), ("\\EFI\\ubuntu\\grubx64.efi",
                                                                  0x1F0000)):
        ev.append(Ev(4, "EV_EFI_BOOT_SERVICES_APPLICATION",
                     image_load(0x7D000000, size, disk_dp + dp_file(path) + DP_END),
                     blob(path, 4096)))
    ev.append(Ev(7, "EV_EFI_VARIABLE_AUTHORITY", variable(EFI_GLOBAL, "MokListRT",
                                                          blob("mok", 200))))
    for line in (b"grub_cmd: set root=hd0,gpt2", b"kernel_cmdline: /vmlinuz root=/dev/sda2 ro"):
        ev.append(Ev(8, "EV_IPL", line + b"\x00", line))
    ev.append(Ev(9, "EV_IPL", utf16("/boot/vmlinuz\x00"), blob("vmlinuz", 4096)))
    if with_ebs:
        for text in (b"Exit Boot Services Invocation",
                     b"Exit Boot Services Returned with Success"):
            ev.append(Ev(5, "EV_EFI_ACTION", text))
    return ev


def spec_id_event00(vendor: bytes = b"") -> Ev:
    """TCG_PCClientSpecIDEventStruct (PC Client Conventional BIOS 1.21 §11.3.4.1)."""
    body = b"Spec ID Event00\x00" + struct.pack("<IBBBBB", 0, 2, 1, 2, 0, len(vendor)) + vendor
    return Ev(0, "EV_NO_ACTION", body)


def encode_sha1(events: list[Ev]) -> bytes:
    return b"".join(struct.pack("<II", e.pcr, T[e.type]) + e.digest("sha1")
                    + struct.pack("<I", len(e.data)) + e.data for e in events)


def encode_agile(events: list[Ev], banks: list[str]) -> bytes:
    spec = b"Spec ID Event03\x00" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, len(banks))
    spec += b"".join(struct.pack("<HH", *ALG[b]) for b in banks) + b"\x00"
    out = struct.pack("<II", 0, 3) + bytes(20) + struct.pack("<I", len(spec)) + spec
    for e in events:
        out += struct.pack("<III", e.pcr, T[e.type], len(banks))
        out += b"".join(struct.pack("<H", ALG[b][0]) + e.digest(b) for b in banks)
        out += struct.pack("<I", len(e.data)) + e.data
    return out


def expected_pcrs(events: list[Ev], bank: str) -> dict[int, bytes]:
    """Replay with hashlib only: PCR = H(PCR || digest) from zeros, EV_NO_ACTION skipped."""
    pcrs: dict[int, bytes] = {}
    for e in events:
        if e.type == "EV_NO_ACTION":
            continue
        old = pcrs.get(e.pcr, bytes(ALG[bank][1]))
        pcrs[e.pcr] = hashlib.new(bank, old + e.digest(bank)).digest()
    return pcrs
