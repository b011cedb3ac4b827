"""SHA-1 and crypto-agile logs shaped like real firmware's: our reader and replay agree
with an independent hashlib replay and with ``tpm2_eventlog``, value by value.

The logs are built in ``realworld_logs`` (public captures may not be committed;
``test_attest_real_captures.py`` reads them from a folder the lab names).
"""

from __future__ import annotations

import pytest

from harness.attest.crosscheck import crosscheck, run_tpm2_eventlog
from harness.attest.describe import describe_event
from harness.attest.eventlog import (SHA1_FORMAT, EventLogError, encode_eventlog, parse_eventlog,
                                     read_eventlog)
from harness.attest.replay import compare, replay
from tests.attest import realworld_logs as rw

CASES = {
    "sha1-uefi": (lambda: rw.encode_sha1(rw.uefi_boot()), rw.uefi_boot, ["sha1"]),
    "sha1-ebs-missing": (lambda: rw.encode_sha1(rw.uefi_boot(with_ebs=False)),
                         lambda: rw.uefi_boot(with_ebs=False), ["sha1"]),
    "sha1-no-option-rom": (lambda: rw.encode_sha1(rw.uefi_boot(option_rom=False)),
                           lambda: rw.uefi_boot(option_rom=False), ["sha1"]),
    "agile-uefi": (lambda: rw.encode_agile(rw.uefi_boot(), ["sha1", "sha256", "sha384"]),
                   rw.uefi_boot, ["sha1", "sha256", "sha384"]),
    "agile-ebs-missing": (lambda: rw.encode_agile(rw.uefi_boot(with_ebs=False), ["sha256"]),
                          lambda: rw.uefi_boot(with_ebs=False), ["sha256"]),
}


def _tpm2_eventlog_values(path) -> tuple[list[tuple[int, dict[str, bytes]]], dict]:
    doc = run_tpm2_eventlog(path)
    events = [(int(e["PCRIndex"]), {str(d["AlgorithmId"]): bytes.fromhex(str(d["Digest"]))
                                    for d in e["Digests"]})
              for e in doc["events"] if isinstance(e, dict) and "Digests" in e]
    pcrs = {str(bank): {int(p): (v.to_bytes(rw.ALG[str(bank)][1], "big") if isinstance(v, int)
                                 else bytes.fromhex(str(v)[2:]))
                        for p, v in values.items()}
            for bank, values in doc["pcrs"].items()}
    return events, pcrs


@pytest.mark.parametrize("case", sorted(CASES))
def test_replay_equals_hashlib_and_tpm2_eventlog_value_by_value(case, tmp_path):
    build, events_of, banks = CASES[case]
    data, events = build(), events_of()
    path = tmp_path / f"{case}.log"
    path.write_bytes(data)
    log = read_eventlog(path)
    assert log.format == (SHA1_FORMAT if case.startswith("sha1") else "crypto-agile")
    assert log.banks == banks and len(log.events) == len(events)
    assert encode_eventlog(log) == data
    rep = replay(log)
    their_events, their_pcrs = _tpm2_eventlog_values(path)
    assert len(their_events) == len(log.events)
    for mine, (pcr, digests), built in zip(log.events, their_events, events):
        assert mine.pcr == pcr == built.pcr, mine.label()
        for bank in banks:
            assert mine.digests[bank] == digests[bank] == built.digest(bank), mine.label()
    for bank in banks:
        want = rw.expected_pcrs(events, bank)
        assert rep.values[bank] == want
        assert their_pcrs[bank] == want, f"tpm2_eventlog {bank}"
    cc = crosscheck(path, log, rep)
    assert cc.ran and cc.ok, cc.detail
    # replaying against the values an independent replay computed judges every PCR equal
    report = compare(log, {b: rw.expected_pcrs(events, b) for b in banks}, "hashlib replay")
    assert report.ok, report.divergences


def test_sha1_log_events_are_numbered_from_zero_and_described():
    log = parse_eventlog(rw.encode_sha1(rw.uefi_boot()), "board.log")
    assert [e.index for e in log.events] == list(range(len(log.events)))
    assert log.events[0].offset == 0 and log.events[0].type_name == "EV_S_CRTM_VERSION"
    rom = next(e for e in log.events if e.type_name == "EV_EFI_BOOT_SERVICES_DRIVER")
    assert rom.pcr == 2 and "65536 bytes" in describe_event(rom)
    app = next(e for e in log.events if e.type_name == "EV_EFI_BOOT_SERVICES_APPLICATION")
    assert "\\EFI\\ubuntu\\shimx64.efi" in describe_event(app)


def test_sha1_log_with_spec_id_event00_header(tmp_path):
    """A TPM 1.2 BIOS log opening with "Spec ID Event00": the header is logged, not
    extended. tpm2_eventlog reads any EV_NO_ACTION first event as crypto-agile, so the
    value-by-value oracle is the same log without its header, which it does read."""
    events = rw.uefi_boot()
    with_header = rw.encode_sha1([rw.spec_id_event00(b"vendor")] + events)
    log = parse_eventlog(with_header, "event00.log")
    assert log.format == SHA1_FORMAT and log.spec_id.signature == b"Spec ID Event00\x00"
    assert log.spec_id.spec_version == (1, 2, 2) and not log.events[0].extends
    bare = tmp_path / "bare.log"
    bare.write_bytes(rw.encode_sha1(events))
    _their_events, their_pcrs = _tpm2_eventlog_values(bare)
    assert replay(log).values["sha1"] == their_pcrs["sha1"] == rw.expected_pcrs(events, "sha1")
    path = tmp_path / "event00.log"
    path.write_bytes(with_header)
    cc = crosscheck(path, log, replay(log))
    assert not cc.ran and "EV_NO_ACTION" in cc.detail  # said, not judged


def test_sha1_log_divergence_names_event_offset_and_both_digests():
    events = rw.uefi_boot()
    log = parse_eventlog(rw.encode_sha1(events), "board.log")
    chip = {"sha1": rw.expected_pcrs(events, "sha1")}
    victim = next(e for e in log.events if e.type_name == "EV_EFI_BOOT_SERVICES_DRIVER")
    victim.digests["sha1"] = bytes(20)  # firmware logged a digest it did not extend
    report = compare(log, chip, "PCR_Read")
    assert not report.ok and report.first_event is victim
    text = report.divergences[0]
    assert f"event #{victim.index} (EV_EFI_BOOT_SERVICES_DRIVER, PCR 2, offset 0x" in text
    assert "PCR 2 sha1: replay" in text and chip["sha1"][2].hex()[:16] in text
    # a missing event: the chip equals the replay up to the event before it
    log = parse_eventlog(rw.encode_sha1(events), "board.log")
    shorter = [e for e in events if e.type != "EV_EFI_VARIABLE_AUTHORITY" or e.pcr != 7
               or b"MokListRT" not in e.data.decode("utf-16-le", "ignore").encode()]
    report = compare(log, {"sha1": rw.expected_pcrs(shorter, "sha1")}, "PCR_Read")
    assert report.first_event.type_name == "EV_EFI_VARIABLE_AUTHORITY"
    assert "extra, missing or reordered" in report.divergences[0]


@pytest.mark.parametrize("damage, words", [
    (lambda d: d[:-5], ["truncated", "event data"]),
    (lambda d: d[:40], ["event #0", "truncated", "event data needs 48 bytes"]),
    (lambda d: d[:90], ["event #1 at offset 0x50", "TCG_PCR_EVENT header"]),
    (lambda d: d[:8] + b"\xff" * 4, ["truncated"]),
    (lambda d: (99).to_bytes(4, "little") + d[4:], ["event #0", "pcrIndex 99", "offset 0x0"]),
    (lambda d: d[:28] + (0xFFFFFFF0).to_bytes(4, "little") + d[32:], ["implausible"]),
])
def test_malformed_sha1_log_is_one_line_naming_event_and_offset(damage, words):
    data = damage(rw.encode_sha1(rw.uefi_boot()))
    with pytest.raises(EventLogError) as info:
        parse_eventlog(data, "board.log")
    text = str(info.value)
    assert text.startswith("event log board.log: event #") and "\n" not in text
    assert "offset 0x" in text and all(w in text for w in words), text


def test_startup_locality_3_log_agrees_with_tpm2_eventlog_by_its_rule(tmp_path):
    """A Boot Guard / H-CRTM style log (as keylime's test capture): an EV_NO_ACTION
    StartupLocality event with locality 3 makes PCR 0 start at 00..03 (PFP §10.4.5.3).
    tpm2_eventlog before 5.6 extended EV_NO_ACTION events and started from zeros; the
    cross-check recognises exactly that rule and still compares every digest."""
    import hashlib

    from harness.attest.crosscheck import tool_version

    locality = rw.Ev(0, "EV_NO_ACTION", b"StartupLocality\x00\x03")
    events = [locality] + rw.uefi_boot()
    path = tmp_path / "locality3.log"
    path.write_bytes(rw.encode_agile(events, ["sha1", "sha256"]))
    log = read_eventlog(path)
    value = bytes(31) + b"\x03"
    for e in events[1:]:
        if e.pcr == 0:
            value = hashlib.sha256(value + e.digest("sha256")).digest()
    assert replay(log).values["sha256"][0] == value
    cc = crosscheck(path, log, replay(log))
    assert cc.ran and cc.ok, cc.differences
    if tool_version() < (5, 6):
        assert "pre-5.6 rule" in cc.detail and "sha256 PCR 0" in cc.detail
    # a wrong digest is still a disagreement, not excused by the rule
    log.events[3].digests["sha256"] = bytes(32)
    cc = crosscheck(path, log, replay(log))
    assert cc.ran and not cc.ok


def test_eventlog_show_names_the_sha1_format(tmp_path, capsys):
    from harness.cli.main import main

    path = tmp_path / "sha1.log"
    path.write_bytes(rw.encode_sha1([rw.spec_id_event00()] + rw.uefi_boot()))
    capsys.readouterr()
    assert main(["eventlog", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "SHA-1 format (TCG_PCR_EVENT, Spec ID Event00), banks sha1" in out
    assert "EV_EFI_BOOT_SERVICES_DRIVER" in out and "sha1:" in out
