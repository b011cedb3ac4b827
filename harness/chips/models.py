"""Virtual ST33KTPM (SPI and I2C) and SLB9673 (I2C), built from chip profiles."""

from __future__ import annotations

from harness.chip_profile import ChipProfile, load_profile
from harness.chips.faults import FaultPlan
from harness.chips.fifo import Backend
from harness.chips.i2c_chip import VirtualI2cChip
from harness.chips.personality import Personality, personality_from_profile
from harness.chips.spi_chip import VirtualSpiChip
from harness.errors import ConfigError, ProfileError

VirtualChip = VirtualSpiChip | VirtualI2cChip

#: Short chip names -> profile per bus.
MODELS: dict[str, dict[str, str]] = {
    "st33ktpm": {"spi": "st33ktpm2x", "i2c": "st33ktpm2i"},
    "st33ktpm2x": {"spi": "st33ktpm2x", "i2c": "st33ktpm2i"},
    "st33ktpm2i": {"i2c": "st33ktpm2i"},
    "slb9673": {"i2c": "slb9673"},
}


def chip_profile(name: str, bus: str) -> ChipProfile:
    """The profile of virtual chip ``name`` on ``bus``.

    Raises:
        ConfigError: unknown chip, or a chip that does not exist on that bus.
    """
    key = name.lower()
    if key in MODELS:
        per_bus = MODELS[key]
        if bus not in per_bus:
            raise ConfigError(f"virtual chip {name!r} has no {bus.upper()} variant "
                              f"(it is a {'/'.join(b.upper() for b in per_bus)} part)")
        profile = load_profile(per_bus[bus])
    else:
        try:
            profile = load_profile(name)
        except ProfileError:
            raise ConfigError(f"unknown virtual chip {name!r} (known: {', '.join(MODELS)}, "
                              "or a profile with a tis: section)") from None
    for key in ("vid", "did"):
        if key not in profile.tis:
            raise ConfigError(f"chip profile {profile.source}: field 'tis.{key}' is required "
                              "for a virtual chip")
    return profile


def chip_personality(profile: ChipProfile) -> Personality | None:
    """The part's personality from its profile (None: the profile has none, and the
    virtual chip presents the backing swtpm as it is).

    Raises:
        ConfigError: a broken ``personality:`` section, naming the profile.
    """
    if not profile.personality:
        return None
    try:
        return personality_from_profile(profile.name, profile.personality)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"chip profile {profile.source}: personality: {exc}") from None


def make_chip(bus: str, profile: ChipProfile, backend: Backend, faults: FaultPlan | None = None,
              guard_us: int | None = None) -> VirtualChip:
    """A register-level virtual chip of ``profile`` on ``bus`` (``spi`` or ``i2c``)."""
    if bus == "spi":
        return VirtualSpiChip(profile.tis, backend, faults)
    if bus == "i2c":
        return VirtualI2cChip(profile.tis, backend, faults, guard_us=guard_us)
    raise ConfigError(f"unknown bus {bus!r} (spi or i2c)")
