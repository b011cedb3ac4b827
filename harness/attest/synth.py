"""A synthetic but spec-conformant measured boot: the log and the matching PCRs.

CI has no firmware that measures itself into swtpm, so this module plays the
firmware: it builds the events a UEFI boot would log (PFP §10.4: Spec ID,
EV_S_CRTM_VERSION, EV_EFI_PLATFORM_FIRMWARE_BLOB2 / _BLOB, Secure Boot
EV_EFI_VARIABLE_DRIVER_CONFIG, EV_EFI_ACTION, EV_SEPARATOR in PCRs 0-7,
EV_EFI_BOOT_SERVICES_APPLICATION), computes each digest in every bank, and
extends the TPM with TPM2_PCR_Extend (all banks in one command) in log order.

The contents are deterministic, so a golden file written once for the
"synthetic-uefi" board type stays valid. Only PCRs 0-7 are used: PCR_Extend
from locality 0 may touch PCRs 0-15, not the DRTM PCRs 17-22.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from harness.attest import pcrs as pcr_ops
from harness.attest.eventlog import (EVENT_TYPE_CODES, EventLog, encode_event, encode_spec_id,
                                     hash_bytes, parse_eventlog)
from harness.attest.replay import reset_value
from harness.errors import HarnessError

BOARD_TYPE = "synthetic-uefi"
EFI_GLOBAL_VARIABLE = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
EFI_IMAGE_SECURITY_DATABASE = uuid.UUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
SYNTH_PCRS = tuple(range(8))
_SIZES = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}


@dataclass(frozen=True)
class SynthEvent:
    """One measurement: ``measured`` is what firmware hashed (the data itself
    for data-hashed types, the code image for blobs and applications)."""

    pcr: int
    type_name: str
    data: bytes
    measured: bytes
    stage: str


def _utf16(text: str, nul: bool = False) -> bytes:
    return (text + ("\x00" if nul else "")).encode("utf-16-le")


def _variable(guid: uuid.UUID, name: str, value: bytes) -> bytes:
    """UEFI_VARIABLE_DATA (PFP §10.3.3)."""
    return (guid.bytes_le + struct.pack("<QQ", len(name), len(value)) + _utf16(name) + value)


def _blob(base: int, length: int) -> bytes:
    """UEFI_PLATFORM_FIRMWARE_BLOB (PFP §10.3.5)."""
    return struct.pack("<QQ", base, length)


def _blob2(description: str, base: int, length: int) -> bytes:
    """UEFI_PLATFORM_FIRMWARE_BLOB2 (PFP §10.3.5.1)."""
    desc = description.encode("ascii")
    return struct.pack("<B", len(desc)) + desc + struct.pack("<QQ", base, length)


def _image_load(path: str, base: int, length: int) -> bytes:
    """UEFI_IMAGE_LOAD_EVENT with a media file-path device path (PFP §10.3.4)."""
    name = _utf16(path, nul=True)
    node = struct.pack("<BBH", 0x04, 0x04, 4 + len(name)) + name
    devpath = node + b"\x7f\xff\x04\x00"
    return struct.pack("<QQQQ", base, length, 0, len(devpath)) + devpath


def _payload(label: str, size: int) -> bytes:
    """Deterministic stand-in for a code image of ``size`` bytes."""
    seed = label.encode()
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hash_bytes("sha256", seed + counter.to_bytes(4, "big"))
        counter += 1
    return bytes(out[:size])


def synthetic_events() -> list[SynthEvent]:
    """The measurements of the synthetic board, in boot order."""
    fv = _payload("tpm-hil synthetic firmware volume", 64 * 1024)
    drv = _payload("tpm-hil synthetic option ROM driver", 16 * 1024)
    app = _payload("tpm-hil synthetic boot loader BOOTX64.EFI", 32 * 1024)
    crtm = _utf16("tpm-hil synthetic CRTM 1.0", nul=True)
    sep = b"\x00\x00\x00\x00"
    ev: list[SynthEvent] = [
        SynthEvent(0, "EV_S_CRTM_VERSION", crtm, crtm, "crtm"),
        SynthEvent(0, "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
                   _blob2("Fv(tpm-hil synthetic main FV)", 0xFF000000, len(fv)), fv, "firmware"),
        SynthEvent(2, "EV_EFI_PLATFORM_FIRMWARE_BLOB", _blob(0xFE000000, len(drv)), drv,
                   "option-rom"),
    ]
    for guid, name, value in (
        (EFI_GLOBAL_VARIABLE, "SecureBoot", b"\x01"),
        (EFI_GLOBAL_VARIABLE, "PK", _payload("PK", 64)),
        (EFI_GLOBAL_VARIABLE, "KEK", _payload("KEK", 64)),
        (EFI_IMAGE_SECURITY_DATABASE, "db", _payload("db", 96)),
        (EFI_IMAGE_SECURITY_DATABASE, "dbx", _payload("dbx", 48)),
    ):
        data = _variable(guid, name, value)
        ev.append(SynthEvent(7, "EV_EFI_VARIABLE_DRIVER_CONFIG", data, data, "secure-boot"))
    ev.append(SynthEvent(7, "EV_SEPARATOR", sep, sep, "separators"))
    action = b"Calling EFI Application from Boot Option"
    ev.append(SynthEvent(4, "EV_EFI_ACTION", action, action, "boot-manager"))
    for pcr in range(7):
        ev.append(SynthEvent(pcr, "EV_SEPARATOR", sep, sep, "separators"))
    ev.append(SynthEvent(4, "EV_EFI_BOOT_SERVICES_APPLICATION",
                         _image_load("\\EFI\\BOOT\\BOOTX64.EFI", 0x7E000000, len(app)), app,
                         "boot-loader"))
    for text in (b"Exit Boot Services Invocation", b"Exit Boot Services Returned with Success"):
        ev.append(SynthEvent(5, "EV_EFI_ACTION", text, text, "exit-boot-services"))
    return ev


def digests_for(event: SynthEvent, banks: list[str]) -> dict[str, bytes]:
    return {bank: hash_bytes(bank, event.measured) for bank in banks}


def build_log(banks: list[str], events: list[SynthEvent] | None = None) -> bytes:
    """The binary crypto-agile log of ``events`` in ``banks``."""
    unknown = [b for b in banks if b not in _SIZES]
    if unknown or not banks:
        raise HarnessError(f"synthetic log banks must be among {', '.join(_SIZES)}, "
                           f"got {', '.join(banks) or 'none'}")
    out = encode_spec_id(banks, vendor_info=b"tpm-hil synth")
    for e in events or synthetic_events():
        out += encode_event(e.pcr, EVENT_TYPE_CODES[e.type_name], digests_for(e, banks), e.data)
    return out


def check_reset_state(esapi, banks: list[str], pcrs: list[int]) -> None:
    """Refuse to measure into PCRs that already hold measurements.

    Raises:
        HarnessError: naming the first PCR that is not at its reset value.
    """
    values = pcr_ops.read_pcrs(esapi, banks, pcrs)
    for bank in banks:
        for pcr in pcrs:
            if values[bank][pcr] != reset_value(_SIZES[bank], pcr):
                raise HarnessError(
                    f"PCR {pcr} {bank} is {values[bank][pcr].hex()[:16]}..., not its reset "
                    "value: the TPM has already been measured since its last reset, so the "
                    "synthetic log would not replay to its PCRs. Restart the TPM "
                    "(swtpm: --reset power-cycles it) or use a fresh one.")


def synthesize(esapi, banks: list[str] | None = None) -> EventLog:
    """Extend the TPM with the synthetic boot and return the matching log.

    Args:
        esapi: ESAPI on the target TPM.
        banks: banks to log and extend; default: the chip's active banks
            among sha1/sha256/sha384/sha512.

    Returns:
        The parsed log (``encode_eventlog`` or :func:`build_log` give the bytes).
    """
    active = pcr_ops.active_banks(esapi)
    if banks is None:
        banks = [b for b in ("sha1", "sha256", "sha384", "sha512") if b in active]
    missing = [b for b in banks if b not in active]
    if missing:
        raise HarnessError(f"bank(s) {', '.join(missing)} are not active on the chip "
                           f"(active: {', '.join(active)})")
    events = synthetic_events()
    check_reset_state(esapi, banks, sorted({e.pcr for e in events}))
    data = build_log(banks, events)
    for e in events:
        pcr_ops.extend(esapi, e.pcr, digests_for(e, banks))
    return parse_eventlog(data, "<synthetic>")


def restart(esapi, transport) -> None:
    """Reboot the TPM cleanly: Shutdown(CLEAR), power cycle, Startup(CLEAR).

    The orderly shutdown matters: after a non-orderly one the TPM counts a
    dictionary-attack failure (Part 1 §19.8.6), and a few of those lock it out.
    """
    from tpm2_pytss import TSS2_Exception
    from tpm2_pytss.constants import TPM2_RC, TPM2_SU

    esapi.shutdown(TPM2_SU.CLEAR)
    transport.power_cycle()
    try:
        esapi.startup(TPM2_SU.CLEAR)
    except TSS2_Exception as exc:
        if exc.rc != TPM2_RC.INITIALIZE:  # a simulator that starts itself after a power cycle
            raise


def golden_document(banks: list[str]) -> dict:
    """A golden file (see :mod:`harness.attest.golden`) for the synthetic board."""
    stages: list[dict] = []
    for e in synthetic_events():
        entry: dict = {"stage": e.stage, "pcr": e.pcr, "event_type": e.type_name,
                       "digests": {b: hash_bytes(b, e.measured).hex() for b in banks}}
        if e.type_name == "EV_S_CRTM_VERSION":
            entry["description"] = "^tpm-hil synthetic CRTM"
        stages.append(entry)
    return {"board": BOARD_TYPE, "strict": True, "measurements": stages}
