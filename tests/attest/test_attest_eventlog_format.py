"""The event log reader: round trip, and one clear error for every kind of damage."""

from __future__ import annotations

import struct

import pytest

from harness.attest import synth
from harness.attest.crosscheck import crosscheck
from harness.attest.eventlog import (EventLogError, encode_event, encode_eventlog, encode_spec_id,
                                     parse_eventlog, read_eventlog)
from harness.attest.replay import replay

BANKS = ["sha1", "sha256", "sha384"]


@pytest.fixture(scope="module")
def good() -> bytes:
    return synth.build_log(BANKS)


def test_synthetic_log_round_trips(good):
    log = parse_eventlog(good)
    assert log.banks == BANKS
    assert [e.index for e in log.events] == list(range(1, len(log.events) + 1))
    assert log.pcrs() == list(range(8))
    assert encode_eventlog(log) == good
    types = {e.type_name for e in log.events}
    assert {"EV_S_CRTM_VERSION", "EV_EFI_PLATFORM_FIRMWARE_BLOB2", "EV_EFI_PLATFORM_FIRMWARE_BLOB",
            "EV_EFI_VARIABLE_DRIVER_CONFIG", "EV_SEPARATOR",
            "EV_EFI_BOOT_SERVICES_APPLICATION"} <= types
    # PFP: one separator in each of PCRs 0-7
    assert sorted(e.pcr for e in log.events if e.type_name == "EV_SEPARATOR") == list(range(8))


def test_tpm2_eventlog_agrees_with_our_reader(good, tmp_path):
    path = tmp_path / "good.log"
    path.write_bytes(good)
    log = parse_eventlog(good, str(path))
    cc = crosscheck(path, log, replay(log))
    assert cc.ran and cc.ok, cc.detail


def test_crosscheck_reports_a_disagreement(good, tmp_path):
    other = parse_eventlog(good)
    other.events[3].digests["sha256"] = bytes(32)
    path = tmp_path / "good.log"
    path.write_bytes(good)
    cc = crosscheck(path, other, replay(other))
    assert cc.ran and not cc.ok
    assert "event #4" in cc.differences[0] and "sha256" in cc.differences[0]


def _one_error(data: bytes) -> str:
    with pytest.raises(EventLogError) as info:
        parse_eventlog(data, "board.log")
    text = str(info.value)
    assert text.startswith("event log board.log: ")
    return text


@pytest.mark.parametrize("cut", [0, 3, 30, 60, 71, 80, 100, 150, 300, -1])
def test_truncated_log_names_offset(good, cut):
    data = good[:cut] if cut >= 0 else good[:-1]
    text = _one_error(data)
    if cut == 0:
        assert "empty" in text
    else:
        assert "truncated" in text and "offset 0x" in text


def test_truncated_event_data_names_the_event(good):
    log = parse_eventlog(good)
    last = log.events[-1]
    text = _one_error(good[:-3])
    assert f"event #{last.index} (EV_EFI_ACTION, PCR 5) at offset 0x{last.offset:x}" in text
    assert "event data" in text


def test_event_size_larger_than_file(good):
    log = parse_eventlog(good)
    e = log.events[0]
    size_at = e.offset + 12 + sum(2 + len(d) for d in e.digests.values())
    data = bytearray(good)
    struct.pack_into("<I", data, size_at, 10_000)
    text = _one_error(bytes(data))
    assert "event #1 (EV_S_CRTM_VERSION, PCR 0)" in text and "truncated" in text


def test_digest_count_differs_from_spec_id():
    data = encode_spec_id(BANKS) + encode_event(0, 4, {"sha256": bytes(32)}, b"\0" * 4)
    text = _one_error(data)
    assert "event #1 (EV_SEPARATOR, PCR 0)" in text and "carries 1 digests" in text


def test_unknown_digest_algorithm_in_event():
    event = struct.pack("<III", 0, 4, 1) + struct.pack("<H", 0x0099) + bytes(32) + \
        struct.pack("<I", 4) + bytes(4)
    text = _one_error(encode_spec_id(["sha256"]) + event)
    assert "event #1" in text and "0x0099" in text and "does not declare" in text


def test_spec_id_with_wrong_digest_size():
    data = bytearray(encode_spec_id(["sha256"]))
    # the sha256 size field follows the algorithm id 0x000b in the Spec ID event
    i = data.index(b"\x0b\x00\x20\x00")
    data[i + 2] = 31
    text = _one_error(bytes(data))
    assert "sha256 with digest size 31" in text and "header" in text


def test_log_without_spec_id_event03_is_read_as_sha1_format():
    """PFP §10.2.1: without a "Spec ID Event03" header every entry is a TCG_PCR_EVENT."""
    body = b"not a spec id event"
    data = struct.pack("<II", 0, 3) + bytes(20) + struct.pack("<I", len(body)) + body
    log = parse_eventlog(data, "board.log")
    assert log.format == "sha1" and log.banks == ["sha1"]
    assert [(e.index, e.pcr, e.type_name, e.data) for e in log.events] == \
        [(0, 0, "EV_NO_ACTION", body)]
    assert replay(log).values == {"sha1": {}}  # EV_NO_ACTION is never extended


def test_damaged_crypto_agile_header_says_how_it_was_read(good):
    data = bytearray(good)
    struct.pack_into("<I", data, 4, 8)  # header eventType EV_S_CRTM_VERSION
    text = _one_error(bytes(data))
    assert "read as a SHA-1 (TCG_PCR_EVENT) log" in text and "event #1" in text


def test_wrong_spec_id_event_size(good):
    data = bytearray(good)
    (size,) = struct.unpack_from("<I", data, 28)
    struct.pack_into("<I", data, 28, size + 4)
    text = _one_error(bytes(data))
    assert "header" in text and "wrong eventSize" in text


def test_missing_file_is_one_error(tmp_path):
    with pytest.raises(EventLogError, match="cannot read"):
        read_eventlog(tmp_path / "absent.log")


def test_startup_locality_event_sets_pcr0_initial_value():
    """PFP §10.4.5.3: an H-CRTM / locality-3 start makes PCR 0 begin at 00..03."""
    from harness.attest.eventlog import hash_bytes

    locality = encode_event(0, 3, {"sha256": bytes(32)}, b"StartupLocality\x00\x03")
    sep = encode_event(0, 4, {"sha256": hash_bytes("sha256", bytes(4))}, bytes(4))
    log = parse_eventlog(encode_spec_id(["sha256"]) + locality + sep)
    assert log.startup_locality() == 3
    rep = replay(log)
    start = bytes(31) + b"\x03"
    assert rep.values["sha256"][0] == hash_bytes("sha256", start + hash_bytes("sha256", bytes(4)))
    assert len(rep.history["sha256"][0]) == 1  # EV_NO_ACTION is logged, never extended
