"""Firmware version decoding per manufacturer, tested against the catalogue's versions."""

from __future__ import annotations

import pytest

from harness.audit import firmware
from harness.audit.catalogue import BUNDLED, load_catalogue
from harness.chip_profile import available_profiles, load_profile
from harness.errors import ConfigError


@pytest.mark.parametrize("rule,fv1,fv2,text", [
    ("major16.minor16", 0x00490004, 0, "73.4"),          # ST33TPHF2ESPI 73.4
    ("major16.minor16", 0x004A0040, 0x12345678, "74.64"),  # FV2 not part of ST's version
    ("ifx", 0x0007003D, 0x000AE100, "7.61.2785.0"),       # Infineon 7.61.2785.0
    ("ifx", 0x00850020, 0x00000000, "133.32.0.0"),
    ("nuvoton", 0x00010003, 0x00020008, "1.3.2.8"),       # NPCT65x 1.3.2.8
    ("nuvoton", 0x00010003, 0x00020014, "1.3.2.20"),
    ("libtpms", 0x20191023, 0x00163636, "20191023.00163636"),
])
def test_decode_known_words(rule, fv1, fv2, text):
    assert firmware.decode(fv1, fv2, rule).text == text


def _catalogue_versions():
    for adv in load_catalogue(BUNDLED).advisories:
        for rng in adv.affected:
            for v in (*rng.versions, rng.min, rng.max, rng.fixed):
                if v is not None:
                    yield pytest.param(adv.firmware_format, v, id=f"{adv.firmware_format}-{'.'.join(map(str, v))}")


@pytest.mark.parametrize("rule,version", list(_catalogue_versions()))
def test_every_catalogue_version_survives_its_rule(rule, version):
    fv1, fv2 = firmware.encode(version, rule)
    decoded = firmware.decode(fv1, fv2, rule)
    assert firmware.compare(decoded.parts, version) == 0
    assert decoded.text.startswith(".".join(map(str, version)))


def test_comparison_is_at_the_catalogue_precision():
    assert firmware.compare((7, 61, 2785, 0), (7, 61)) == 0
    assert firmware.compare((7, 62, 0, 0), (7, 61)) == 1
    assert firmware.compare((4, 9), (4, 33)) == -1  # numeric, not text, comparison
    assert firmware.compare((1, 3, 2, 8), (1, 3, 2, 20)) == -1


def test_unknown_rule_is_named():
    with pytest.raises(ConfigError, match="unknown firmware_format 'bcd'"):
        firmware.decode(1, 2, "bcd")


def test_every_bundled_profile_names_a_known_rule():
    for name in available_profiles():
        assert load_profile(name).firmware_format in firmware.formats(), name
    assert load_profile("slb9673").firmware_format == "ifx"
    assert load_profile("st33ktpm2x").firmware_format == "major16.minor16"
    assert load_profile("swtpm").firmware_format == "libtpms"


def test_manufacturer_default_when_no_profile():
    assert firmware.format_for("IFX") == "ifx"
    assert firmware.format_for("NTC") == "nuvoton"
    assert firmware.format_for("STM") == "major16.minor16"
    assert firmware.format_for("XYZ") == "major16.minor16"
    assert firmware.format_for("IFX", "libtpms") == "libtpms"
