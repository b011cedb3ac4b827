"""CI's golden check is not circular: the checked-in golden file of the synthetic board
comes from the boot's description (``synthetic_reference``), and a wrong digest in
synthesis or a wrong replay fails it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from harness.attest import synth
from harness.attest.eventlog import parse_eventlog
from harness.attest.golden import evaluate, load_golden, restricted_to
from harness.attest.replay import replay
from tests.attest import synthetic_reference as ref

GOLDEN = Path(__file__).parents[2] / "suites" / "attestation" / "golden" / "synthetic-uefi.yaml"
BANKS = ["sha1", "sha256", "sha384"]


def test_checked_in_golden_file_is_the_reference_derivation():
    assert yaml.safe_load(GOLDEN.read_text()) == ref.golden_document()
    # two literal spot checks, so the reference itself cannot drift unnoticed
    doc = yaml.safe_load(GOLDEN.read_text())
    sep = next(m for m in doc["measurements"] if m["event_type"] == "EV_SEPARATOR")
    assert sep["digests"]["sha256"] == \
        "df3f619804a92fdb4057192dc43dd748ea778adc52bc498ce80524c014b81119"  # SHA-256(00000000)
    assert sep["digests"]["sha1"] == "9069ca78e7450a285173431b3e52c5c25299e473"


def test_synthesised_log_passes_the_checked_in_golden_file():
    log = parse_eventlog(synth.build_log(BANKS))
    result = evaluate(restricted_to(load_golden(GOLDEN), log.banks), log)
    failed = [(s.stage, s.details) for s in result.stages if not s.ok]
    assert not failed
    assert {s.stage for s in result.stages} >= {"crtm", "firmware", "option-rom", "secure-boot",
                                                "boot-loader", "unexpected events"}


def test_replay_of_the_synthesised_log_equals_the_reference_pcrs():
    rep = replay(parse_eventlog(synth.build_log(BANKS)))
    for bank in BANKS:
        assert rep.values[bank] == ref.pcr_values(bank), bank


def test_swtpm_measured_by_synthesis_holds_the_reference_pcrs(measured_tpm):
    for bank in BANKS:
        assert measured_tpm.chip[bank] == ref.pcr_values(bank), bank


def test_one_wrong_synthesised_digest_fails_the_golden_check(monkeypatch):
    right = synth.digests_for

    def one_wrong(event, banks):
        out = right(event, banks)
        if event.type_name == "EV_EFI_PLATFORM_FIRMWARE_BLOB":  # the option-ROM measurement
            out["sha256"] = hashlib.sha256(event.measured + b"!").digest()
        return out

    monkeypatch.setattr(synth, "digests_for", one_wrong)
    log = parse_eventlog(synth.build_log(BANKS))
    result = evaluate(restricted_to(load_golden(GOLDEN), log.banks), log)
    failed = {s.stage: s.details for s in result.stages if not s.ok}
    assert list(failed) == ["option-rom"]
    assert "event #3 (EV_EFI_PLATFORM_FIRMWARE_BLOB, PCR 2" in failed["option-rom"][0]
    assert "sha256 digest" in failed["option-rom"][0]
    # and the replay no longer gives the reference PCR 2
    assert replay(log).values["sha256"][2] != ref.pcr_values("sha256")[2]


def test_restricting_to_banks_the_log_lacks_is_an_error():
    from harness.attest.golden import GoldenError

    with pytest.raises(GoldenError, match="the log carries sm3_256"):
        restricted_to(load_golden(GOLDEN), ["sm3_256"])
