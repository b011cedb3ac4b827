"""Chip identity renders the same everywhere and never carries raw control bytes."""

from __future__ import annotations

import json

from harness.cli.main import main
from harness.identity import vendor_text


def test_vendor_text_is_printable_or_hex():
    assert vendor_text(b"SW  " + b" TPM" + bytes(8)) == "SW   TPM"
    assert vendor_text(bytes([1, 3, 3, 2, 1, 2, 0, 0]) + bytes(8)) == "0x010303020102"
    assert vendor_text(b"SLB9673\x00" + bytes(8)) == "SLB9673"


def test_st33_probe_json_has_printable_vendor_raw_hex_and_stripped_maker(capfd):
    rc = main(["probe", "--tpm", "spi+sim://st33ktpm", "--json"])
    doc = json.loads(capfd.readouterr().out)
    assert rc == 0
    assert doc["manufacturer"] == "STM"
    assert all(0x20 <= ord(c) < 0x7F for c in doc["vendor"]), doc["vendor"]
    assert doc["vendor"] == "0x" + bytes.fromhex(doc["vendor_hex"]).replace(b"\0", b"").hex()
    assert len(doc["vendor_hex"]) == 32


def test_swtpm_firmware_is_the_audit_rendering_in_probe(capfd):
    from harness.audit.checks import decoded_firmware
    from harness.identity import ChipIdentity

    rc = main(["probe", "--tpm", "swtpm", "--json"])
    doc = json.loads(capfd.readouterr().out)
    assert rc == 0
    fields = {k: doc[k] for k in ChipIdentity.__dataclass_fields__ if k in doc}
    ident = ChipIdentity(**fields)
    assert doc["firmware"] == decoded_firmware(ident, "libtpms").text == ident.firmware
    assert doc["firmware"] == f"{doc['firmware_version_1']:08x}.{doc['firmware_version_2']:08x}"
