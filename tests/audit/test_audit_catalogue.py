"""Advisory catalogue: every entry looked up at affected and fixed versions;
schema errors name file, entry and field; a lab file merges without code."""

from __future__ import annotations

import textwrap

import pytest

from harness.audit import firmware
from harness.audit.catalogue import BUNDLED, CatalogueError, load_catalogue, load_catalogues

CAT = load_catalogue(BUNDLED)
VERSIONED = [a for a in CAT.advisories if not a.behaviour_only]


def _status(adv, version):
    """Look a chip of this advisory's manufacturer up at ``version``."""
    fv1, fv2 = firmware.encode(version, adv.firmware_format)
    hits = [m for m in CAT.lookup(adv.manufacturer, "", fv1, fv2) if m.advisory is adv]
    return hits[0].status if hits else "not listed"


def _cases():
    for adv in VERSIONED:
        for rng in adv.affected:
            for v in rng.versions:
                yield pytest.param(adv, v, "affected", id=f"{adv.id}-{adv.product}-{v}")
            for v in (rng.min, rng.max):
                if v is not None:
                    yield pytest.param(adv, v, "affected", id=f"{adv.id}-{adv.product}-{v}")
            if rng.fixed is not None:
                yield pytest.param(adv, rng.fixed, "fixed", id=f"{adv.id}-{adv.product}-fixed-{rng.fixed}")


@pytest.mark.parametrize("adv,version,expected", list(_cases()))
def test_lookup_at_listed_versions(adv, version, expected):
    assert _status(adv, version) == expected


def test_issue_versions_are_all_in_the_catalogue():
    """The vendors' tables exactly as published (issue 10)."""
    def entry(product):
        (adv,) = [a for a in VERSIONED if a.product == product]
        return {(tuple(".".join(map(str, v)) for v in r.versions), ".".join(map(str, r.fixed)))
                for r in adv.affected}
    assert entry("ST33TPHF2ESPI") == {(("71.0", "71.4", "71.12"), "71.16"),
                                      (("73.0", "73.4"), "73.20"), (("73.8",), "73.64")}
    assert entry("ST33TPHF2EI2C") == {(("73.5",), "73.21"), (("73.9",), "73.65")}
    assert entry("ST33TPHF20SPI") == {(("74.0", "74.4"), "74.20"), (("74.8", "74.16"), "74.64")}
    assert entry("ST33TPHF20I2C") == {(("74.5",), "74.21"), (("74.9",), "74.65")}
    assert entry("NPCT65x") == {(("1.3.0.1", "1.3.1.0", "1.3.2.8"), "1.3.2.20")}
    (roca,) = [a for a in VERSIONED if a.id == "CVE-2017-15361"]
    assert {".".join(map(str, r.max)) for r in roca.affected} == {
        "4.33", "4.42", "5.61", "6.42", "7.61", "133.32"}
    behaviour = {a.id for a in CAT.advisories if a.behaviour_only}
    assert behaviour == {"CVE-2023-1017", "CVE-2023-1018", "CVE-2025-2884"}


@pytest.mark.parametrize("version,expected", [
    ((4, 33, 1234, 0), "affected"), ((4, 34), "not listed"), ((4, 39), "not listed"),
    ((4, 40), "affected"), ((4, 42, 7, 1), "affected"), ((4, 43), "not listed"),
    ((5, 62), "not listed"), ((6, 43), "not listed"), ((7, 62), "not listed"),
    ((7, 85, 4555, 0), "not listed"), ((133, 32), "affected"), ((133, 33), "not listed"),
])
def test_roca_ranges_between_and_past_the_lines(version, expected):
    (roca,) = [a for a in VERSIONED if a.id == "CVE-2017-15361"]
    assert _status(roca, version) == expected


@pytest.mark.parametrize("product,version,expected", [
    ("ST33TPHF2ESPI", (71, 8), "not listed"),  # between listed versions, not in ST's table
    ("ST33TPHF2ESPI", (73, 64), "fixed"), ("ST33TPHF2ESPI", (73, 70), "fixed"),
    ("ST33TPHF20SPI", (74, 16), "affected"), ("ST33TPHF20SPI", (74, 20), "fixed"),
    ("NPCT65x", (1, 3, 2, 19), "not listed"), ("NPCT65x", (1, 3, 2, 20), "fixed"),
])
def test_versions_around_the_fixes(product, version, expected):
    (adv,) = [a for a in VERSIONED if a.product == product]
    assert _status(adv, version) == expected


def test_other_manufacturer_does_not_match():
    fv1, fv2 = firmware.encode((73, 4), "major16.minor16")
    assert not [m for m in CAT.lookup("IFX", "", fv1, fv2) if m.status != "behavioural"]


def test_behaviour_only_entries_match_every_chip():
    ids = {m.advisory.id for m in CAT.lookup("IBM", "SW   TPM", 0x20191023, 0x163636, "libtpms")}
    assert ids == {"CVE-2023-1017", "CVE-2023-1018", "CVE-2025-2884"}


def _write(tmp_path, text):
    path = tmp_path / "lab.yaml"
    path.write_text(textwrap.dedent(text))
    return path


GOOD_ENTRY = """\
    - id: LAB-2026-001
      title: lab finding
      manufacturer: STM
      product: ST33KTPM2X
      affected:
        - {versions: ["9.1"], fixed: "9.2"}
      check: none
"""


@pytest.mark.parametrize("body,needle", [
    ("advisories:\n  - id: X\n    title: t\n    manufacturer: STM\n    check: none\n    affected: [{versions: ['1.x']}]\n",
     "entry 0 (X): field 'affected[0].versions[0]': not a dotted decimal version"),
    ("advisories:\n  - id: X\n    title: t\n    manufacturer: STM\n    check: roca\n    colour: red\n    affected: [{max: '1.0'}]\n",
     "entry 0 (X): field 'colour': unknown field"),
    ("advisories:\n  - id: X\n    title: t\n    manufacturer: STM\n    check: roca\n",
     "entry 0 (X): field 'affected': is required unless behaviour_only"),
    ("advisories:\n  - id: X\n    title: t\n    manufacturer: STM\n    check: guess\n    affected: [{max: '1.0'}]\n",
     "entry 0 (X): field 'check': 'guess' is not one of"),
    ("advisories:\n  - id: X\n    title: t\n    check: roca\n    affected: [{max: '1.0'}]\n",
     "entry 0 (X): field 'manufacturer': is required"),
    ("advisories:\n  - id: X\n    title: t\n    manufacturer: STM\n    check: roca\n    affected: [{min: '2.0', max: '1.0'}]\n",
     "entry 0 (X): field 'affected[0]': min 2.0 is above max 1.0"),
    ("advisories:\n  - id: X\n    title: t\n    manufacturer: STM\n    check: roca\n    firmware_format: hex\n    affected: [{max: '1.0'}]\n",
     "entry 0 (X): field 'firmware_format': unknown rule 'hex'"),
    ("advisories:\n  - id: X\n    title: t\n    manufacturer: STM\n    check: roca\n    affected: [{max: 1}]\n",
     "entry 0 (X): field 'affected[0].max': expected str"),
    ("catalogue_version: 1\nadvisories: []\n", "field 'catalogue_version': expected str"),
    ("advisories: [1, 2]\n", "entry 0: expected a mapping"),
    ("advisories: [\n", "not valid YAML"),
])
def test_schema_errors_name_file_entry_and_field(tmp_path, body, needle):
    path = _write(tmp_path, body)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(path)
    assert str(path) in str(err.value)
    assert needle in str(err.value)


def test_second_entry_is_named_by_index(tmp_path):
    path = _write(tmp_path, "advisories:\n" + GOOD_ENTRY
                  + "    - {id: Y, title: t, manufacturer: STM, check: roca, affected: [{versions: []}]}\n")
    with pytest.raises(CatalogueError, match=r"entry 1 \(Y\): field 'affected\[0\]\.versions': empty list"):
        load_catalogue(path)


def test_lab_file_adds_and_replaces_entries(tmp_path):
    path = _write(tmp_path, "catalogue_version: lab-3\nadvisories:\n" + GOOD_ENTRY + """\
    - id: CVE-2019-16863
      title: "TPM-Fail, lab's reading"
      manufacturer: STM
      product: ST33TPHF2ESPI
      affected:
        - {versions: ["71.0", "71.4", "71.12", "71.14"], fixed: "71.16"}
      check: nonce_timing
""")
    cat = load_catalogues([path])
    assert cat.versions[str(path)] == "lab-3"
    assert len(cat.advisories) == len(CAT.advisories) + 1
    assert any("CVE-2019-16863" in r for r in cat.replaced)
    fv1, _ = firmware.encode((9, 1), "major16.minor16")
    assert [m.advisory.id for m in cat.lookup("STM", "", fv1, 0) if m.status == "affected"] == ["LAB-2026-001"]
    fv1, _ = firmware.encode((71, 14), "major16.minor16")
    assert [m.status for m in cat.lookup("STM", "", fv1, 0) if m.advisory.id == "CVE-2019-16863"] == ["affected"]
    fv1, _ = firmware.encode((71, 14), "major16.minor16")
    assert not [m for m in CAT.lookup("STM", "", fv1, 0) if m.status == "affected"]


def test_duplicate_entries_in_one_file_are_refused(tmp_path):
    path = _write(tmp_path, "advisories:\n" + GOOD_ENTRY + GOOD_ENTRY)
    with pytest.raises(CatalogueError, match=r"entry 1 \(LAB-2026-001\): field 'id': duplicates entry 0"):
        load_catalogue(path)
