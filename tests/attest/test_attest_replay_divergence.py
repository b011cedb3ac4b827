"""Replay against PCR values a real TPM computed: every kind of log damage is caught and named."""

from __future__ import annotations

import pytest

from harness.attest import synth
from harness.attest.golden import evaluate, parse_golden
from harness.attest.replay import compare, format_table

N_EVENTS = len(synth.synthetic_events())
BANKS = ("sha1", "sha256", "sha384")


def test_synthetic_boot_replays_to_the_chip(measured_tpm):
    report = compare(measured_tpm.log(), measured_tpm.chip, active_banks=measured_tpm.active)
    assert report.ok, report.divergences
    assert len(report.rows) == 8 * 3
    assert not report.data_errors
    assert "NO" not in format_table(report)


@pytest.mark.parametrize("bank", BANKS)
@pytest.mark.parametrize("position", range(N_EVENTS))
def test_one_changed_byte_in_any_digest_names_the_event(measured_tpm, position, bank):
    log = measured_tpm.log()
    event = log.events[position]
    digest = bytearray(event.digests[bank])
    digest[position % len(digest)] ^= 0x01
    event.digests[bank] = bytes(digest)
    report = compare(log, measured_tpm.chip, active_banks=measured_tpm.active)
    assert not report.ok
    assert report.first_event is not None and report.first_event.index == event.index
    assert f"first divergent event #{event.index} (" in report.divergences[0]
    assert f"PCR {event.pcr} {bank}:" in report.divergences[0]
    # the other banks of that PCR still match: the message says the bank is at fault
    bad = [(r.bank, r.pcr) for r in report.rows if not r.ok]
    assert bad == [(bank, event.pcr)]


@pytest.mark.parametrize("position", range(N_EVENTS))
def test_missing_event_is_caught(measured_tpm, position):
    log = measured_tpm.log()
    removed = log.events.pop(position)
    report = compare(log, measured_tpm.chip, active_banks=measured_tpm.active)
    assert not report.ok
    assert all(f"PCR {removed.pcr} " in d for d in report.divergences)
    assert {r.pcr for r in report.rows if not r.ok} == {removed.pcr}
    if removed.pcr in {e.pcr for e in log.events}:
        assert report.first_event is not None and report.first_event.pcr == removed.pcr
    else:  # the only event of its PCR: the chip's PCR is not at its reset value
        assert "the log has no event for it" in report.divergences[0]


def test_reordered_events_in_one_pcr_are_caught(measured_tpm):
    log = measured_tpm.log()
    pk = next(i for i, e in enumerate(log.events) if b"P\x00K\x00" in e.data)
    log.events[pk], log.events[pk + 1] = log.events[pk + 1], log.events[pk]
    report = compare(log, measured_tpm.chip, active_banks=measured_tpm.active)
    assert not report.ok
    assert {r.pcr for r in report.rows if not r.ok} == {7}
    assert report.divergences[0].startswith("PCR 7 ")


def test_extra_event_is_named_as_never_extended(measured_tpm):
    log = measured_tpm.log()
    extra = log.events[-1]
    log.events.append(type(extra)(extra.index + 1, extra.offset + 100, extra.pcr,
                                  extra.event_type, dict(extra.digests), extra.data))
    report = compare(log, measured_tpm.chip, active_banks=measured_tpm.active)
    assert not report.ok
    assert f"first divergent event #{extra.index + 1} " in report.divergences[0]
    assert "extra, missing or reordered" in report.divergences[0]


def test_wrong_bank_values_are_caught_per_bank(measured_tpm):
    """The sha1 digests come from a different boot: only the sha1 bank diverges."""
    log = measured_tpm.log()
    for e in log.events:
        e.digests["sha1"] = bytes(reversed(e.digests["sha1"]))
    report = compare(log, measured_tpm.chip, active_banks=measured_tpm.active)
    assert not report.ok
    assert {r.bank for r in report.rows if not r.ok} == {"sha1"}
    assert all(r.ok for r in report.rows if r.bank != "sha1")
    assert "banks sha256, sha384" in " ".join(report.divergences) or \
        "checks against its data" in " ".join(report.divergences) or \
        "not the hash of the event data" in " ".join(report.divergences)


def test_bank_the_chip_does_not_have_is_a_divergence(measured_tpm):
    log = synth.build_log(["sha256", "sha512"])
    from harness.attest.eventlog import parse_eventlog

    report = compare(parse_eventlog(log), measured_tpm.chip, active_banks=measured_tpm.active)
    assert not report.ok
    assert any("bank sha512" in d and "no active sha512" in d for d in report.divergences)


def test_event_data_that_lies_about_its_digest_is_flagged(measured_tpm):
    """Digest kept (so PCRs still match) but the separator's data changed."""
    log = measured_tpm.log()
    sep = next(e for e in log.events if e.type_name == "EV_SEPARATOR")
    sep.data = b"\xff\xff\xff\xff"
    report = compare(log, measured_tpm.chip, active_banks=measured_tpm.active)
    assert report.ok  # the PCRs cannot see it...
    assert report.data_errors and report.data_errors[0].event.index == sep.index  # ...this does
    assert f"event #{sep.index}" in report.data_errors[0].message()


def test_golden_file_gives_a_verdict_per_stage_and_names_the_event(measured_tpm):
    log = measured_tpm.log()
    golden = parse_golden(synth.golden_document(list(BANKS)))
    result = evaluate(golden, log)
    assert result.ok and {s.stage for s in result.stages} >= {"crtm", "firmware", "boot-loader"}
    app = next(e for e in log.events if e.type_name == "EV_EFI_BOOT_SERVICES_APPLICATION")
    app.digests["sha384"] = bytes(48)
    result = evaluate(golden, log)
    failed = [s for s in result.stages if not s.ok]
    assert [s.stage for s in failed] == ["boot-loader"]
    assert any(f"event #{app.index} " in d and "sha384" in d for d in failed[0].details)
