"""Human-readable descriptions of event data (what golden patterns match on).

Decodes the event structures of the PC Client Platform Firmware Profile that
matter for a verdict: UEFI_VARIABLE_DATA (§10.3.3), UEFI_IMAGE_LOAD_EVENT
(§10.3.4), UEFI_PLATFORM_FIRMWARE_BLOB(2) (§10.3.5), and text events
(CRTM version in UTF-16, EFI actions, separators). Anything else is shown as
printable text or hex. Decoding never raises: a description is a label, the
digests are what is verified.
"""

from __future__ import annotations

import struct
import uuid

from harness.attest.eventlog import Event


def _text(data: bytes) -> str:
    if len(data) >= 2 and len(data) % 2 == 0 and data[1::2].count(0) >= len(data) // 2 - 1:
        try:
            return data.decode("utf-16-le").rstrip("\x00")
        except UnicodeDecodeError:
            pass
    stripped = data.rstrip(b"\x00")
    if stripped and all(32 <= b < 127 or b in (9, 10, 13) for b in stripped):
        return stripped.decode("ascii")
    return data.hex() if len(data) <= 64 else data[:64].hex() + "..."


def _variable(data: bytes) -> str:
    guid = uuid.UUID(bytes_le=data[:16])
    name_len, data_len = struct.unpack_from("<QQ", data, 16)
    name = data[32:32 + 2 * name_len].decode("utf-16-le")
    return f"{name} ({guid}, {data_len} bytes)"


def _devpath_file(devpath: bytes) -> str:
    pos, parts = 0, []
    while pos + 4 <= len(devpath):
        typ, sub, length = struct.unpack_from("<BBH", devpath, pos)
        if length < 4:
            break
        if typ == 0x04 and sub == 0x04:
            parts.append(devpath[pos + 4:pos + length].decode("utf-16-le").rstrip("\x00"))
        if typ == 0x7F:
            break
        pos += length
    return "".join(parts)


def describe_event(event: Event) -> str:
    """A one-line description of the event's data."""
    name, data = event.type_name, event.data
    try:
        if name in ("EV_EFI_VARIABLE_DRIVER_CONFIG", "EV_EFI_VARIABLE_BOOT",
                    "EV_EFI_VARIABLE_BOOT2", "EV_EFI_VARIABLE_AUTHORITY"):
            return _variable(data)
        if name == "EV_EFI_PLATFORM_FIRMWARE_BLOB2":
            size = data[0]
            base, length = struct.unpack_from("<QQ", data, 1 + size)
            return f"{_text(data[1:1 + size])} @0x{base:x}+0x{length:x}"
        if name == "EV_EFI_PLATFORM_FIRMWARE_BLOB":
            base, length = struct.unpack_from("<QQ", data)
            return f"blob @0x{base:x}+0x{length:x}"
        if name in ("EV_EFI_BOOT_SERVICES_APPLICATION", "EV_EFI_BOOT_SERVICES_DRIVER",
                    "EV_EFI_RUNTIME_SERVICES_DRIVER"):
            _loc, length, _link, dp_len = struct.unpack_from("<QQQQ", data)
            path = _devpath_file(data[32:32 + dp_len])
            return f"{path or 'image'} ({length} bytes)"
        if name == "EV_SEPARATOR":
            value = struct.unpack_from("<I", data)[0] if len(data) >= 4 else None
            return {0: "separator", 0xFFFFFFFF: "separator (error)"}.get(value, _text(data))
    except (struct.error, UnicodeDecodeError, ValueError, IndexError):
        pass
    return _text(data)
