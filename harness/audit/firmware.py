"""Firmware version decoding per manufacturer.

TPM 2.0 Part 2 §6.13 (TPM_PT_FIRMWARE_VERSION_1/2) leaves the meaning of the
two 32-bit words to the vendor. Each rule below turns the two words into a
version tuple and the text the vendor's advisories use, so that a catalogue
entry such as "ST33TPHF2ESPI 73.4 fixed in 73.20" can be compared with what a
chip reports. The rule name lives in the chip profile's ``firmware_format``
field; chips without a bundled profile fall back to :data:`MANUFACTURER_FORMATS`.

Rules:
    ``major16.minor16``: FV1 = major << 16 | minor (STMicroelectronics: 73.4 is
        0x00490004). FV2 is not part of the public version.
    ``ifx``: Infineon: FV1 = major << 16 | minor, FV2 = build << 8 | patch,
        shown as major.minor.build.patch (7.85.4555.0); advisories cite
        major.minor.
    ``nuvoton``: four 16-bit fields, FV1 high.low then FV2 high.low
        (1.3.2.8 is FV1 0x00010003, FV2 0x00020008).
    ``libtpms``: swtpm/libtpms: FV1 and FV2 are build stamps, shown in hex
        (20191023.00163636).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness.errors import ConfigError

Version = tuple[int, ...]


@dataclass(frozen=True)
class FirmwareVersion:
    """A decoded firmware version.

    Attributes:
        parts: numeric components, most significant first.
        text: the version as the vendor writes it.
        rule: the decoding rule used.
    """

    parts: Version
    text: str
    rule: str


def _major_minor(fv1: int, fv2: int) -> Version:
    return (fv1 >> 16, fv1 & 0xFFFF)


def _ifx(fv1: int, fv2: int) -> Version:
    return (fv1 >> 16, fv1 & 0xFFFF, (fv2 >> 8) & 0xFFFF, fv2 & 0xFF)


def _nuvoton(fv1: int, fv2: int) -> Version:
    return (fv1 >> 16, fv1 & 0xFFFF, fv2 >> 16, fv2 & 0xFFFF)


def _libtpms(fv1: int, fv2: int) -> Version:
    return (fv1, fv2)


_DECODERS: dict[str, tuple[Callable[[int, int], Version], Callable[[Version], str]]] = {
    "major16.minor16": (_major_minor, lambda p: ".".join(map(str, p))),
    "ifx": (_ifx, lambda p: ".".join(map(str, p))),
    "nuvoton": (_nuvoton, lambda p: ".".join(map(str, p))),
    "libtpms": (_libtpms, lambda p: f"{p[0]:08x}.{p[1]:08x}"),
}

#: Default rule per TPM_PT_MANUFACTURER, for chips without a bundled profile.
MANUFACTURER_FORMATS = {"IFX": "ifx", "STM": "major16.minor16", "NTC": "nuvoton",
                        "IBM": "libtpms"}


def formats() -> list[str]:
    """Names of the known decoding rules."""
    return sorted(_DECODERS)


def format_for(manufacturer: str, profile_format: str | None = None) -> str:
    """The rule to use: the profile's when given, else the manufacturer default."""
    if profile_format:
        return profile_format
    return MANUFACTURER_FORMATS.get(manufacturer.strip(), "major16.minor16")


def decode(fv1: int, fv2: int, rule: str) -> FirmwareVersion:
    """Decode TPM_PT_FIRMWARE_VERSION_1/2 with the named rule.

    Raises:
        ConfigError: the rule is unknown.
    """
    try:
        split, show = _DECODERS[rule]
    except KeyError:
        raise ConfigError(f"unknown firmware_format {rule!r} (known: {', '.join(formats())})") from None
    parts = split(fv1 & 0xFFFFFFFF, fv2 & 0xFFFFFFFF)
    return FirmwareVersion(parts, show(parts), rule)


def encode(version: Version, rule: str) -> tuple[int, int]:
    """The (FV1, FV2) words a chip using ``rule`` reports for ``version``.

    The inverse of :func:`decode`, missing trailing parts taken as 0; used to
    test the rules against the versions the advisories name.
    """
    p = tuple(version) + (0,) * 4
    if rule == "major16.minor16":
        return (p[0] << 16 | p[1], 0)
    if rule == "ifx":
        return (p[0] << 16 | p[1], p[2] << 8 | p[3])
    if rule == "nuvoton":
        return (p[0] << 16 | p[1], p[2] << 16 | p[3])
    if rule == "libtpms":
        return (p[0], p[1])
    raise ConfigError(f"unknown firmware_format {rule!r} (known: {', '.join(formats())})")


def parse_version(text: str) -> Version:
    """``"73.20"`` -> ``(73, 20)``; a part may be hex (``"0x20191023.0x163636"``).

    Raises:
        ValueError: not a dotted sequence of decimal (or 0x-hex) numbers.
    """
    parts = str(text).strip().split(".")
    out = []
    for p in parts:
        try:
            out.append(int(p, 16) if p.lower().startswith("0x") else int(p) if p.isdigit() else None)
        except ValueError:
            out.append(None)
    if not parts or None in out:
        raise ValueError(f"not a dotted decimal version: {text!r}")
    return tuple(out)


def compare(chip: Version, bound: Version) -> int:
    """Compare a chip version with a catalogue version at the catalogue's precision.

    A catalogue writes "7.61"; a chip reporting 7.61.2785.0 is that version.
    Returns -1, 0 or 1 like a three-way comparison.
    """
    head = tuple(chip[: len(bound)]) + (0,) * max(0, len(bound) - len(chip))
    return (head > bound) - (head < bound)
