"""``tpmhil eventlog synth`` then ``tpmhil attest`` against an swtpm started by hand."""

from __future__ import annotations

import json

import pytest

from harness.cli.main import main
from harness.swtpm_process import SwtpmOptions, SwtpmProcess


@pytest.fixture(scope="module")
def swtpm_uri():
    process = SwtpmProcess(SwtpmOptions(banks=("sha1", "sha256", "sha384")))
    try:
        yield f"swtpm://127.0.0.1:{process.port}"
    finally:
        process.stop()


@pytest.fixture(scope="module")
def synthesized(swtpm_uri, tmp_path_factory):
    d = tmp_path_factory.mktemp("attest-cli")
    log, golden = d / "boot.log", d / "golden.yaml"
    assert main(["eventlog", "synth", "--tpm", swtpm_uri, "-o", str(log),
                 "--golden-out", str(golden)]) == 0
    return d, log, golden


def test_synth_then_attest_passes_and_writes_evidence(swtpm_uri, synthesized, capsys):
    d, log, golden = synthesized
    capsys.readouterr()
    rc = main(["attest", "--tpm", swtpm_uri, "--eventlog", str(log), "--golden", str(golden),
               "--results", str(d / "results")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "VERDICT: PASS" in out and "FAIL" not in out
    for stage in ("enrollment", "quote", "replay vs quote", "replay vs PCR_Read",
                  "golden: firmware", "parser cross-check"):
        assert stage in out
    (run,) = (d / "results").iterdir()
    ev = run / "evidence" / "attestation"
    for name in ("eventlog.bin", "quote.json", "ak_public.pem", "replay.csv", "events.csv",
                 "attestation.json"):
        assert (ev / name).stat().st_size > 0, name
    assert (ev / "eventlog.bin").read_bytes() == log.read_bytes()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["attestation"] == "PASS" and summary["outcomes"].get("failed", 0) == 0
    assert "BEGIN PUBLIC KEY" in (ev / "ak_public.pem").read_text()


def test_attest_names_a_changed_byte_and_exits_non_zero(swtpm_uri, synthesized, capsys, tmp_path):
    _d, log, _golden = synthesized
    from harness.attest.eventlog import read_eventlog

    parsed = read_eventlog(log)
    sep = next(e for e in parsed.events if e.type_name == "EV_SEPARATOR" and e.pcr == 3)
    data = bytearray(log.read_bytes())
    digest_at = sep.offset + 12 + 2 + 20 + 2  # pcr, type, count; sha1 entry; sha256 alg id
    data[digest_at + 7] ^= 0x80
    bad = tmp_path / "bad.log"
    bad.write_bytes(bytes(data))
    capsys.readouterr()
    rc = main(["attest", "--tpm", swtpm_uri, "--eventlog", str(bad),
               "--results", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "VERDICT: FAIL" in out
    assert f"event #{sep.index} (EV_SEPARATOR, PCR 3" in out


def test_malformed_log_is_one_clear_error(swtpm_uri, synthesized, capsys, tmp_path):
    _d, log, _golden = synthesized
    bad = tmp_path / "short.log"
    bad.write_bytes(log.read_bytes()[:200])
    capsys.readouterr()
    rc = main(["attest", "--tpm", swtpm_uri, "--eventlog", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("error:") == 1 and str(bad) in err and "offset 0x" in err


def test_synth_refuses_a_measured_tpm_then_reset_allows_it(swtpm_uri, synthesized, capsys):
    d, _log, _golden = synthesized
    capsys.readouterr()
    assert main(["eventlog", "synth", "--tpm", swtpm_uri, "-o", str(d / "again.log")]) == 2
    assert "not its reset value" in capsys.readouterr().err
    assert main(["eventlog", "synth", "--tpm", swtpm_uri, "--reset",
                 "-o", str(d / "again.log")]) == 0
    assert (d / "again.log").read_bytes() == (d / "boot.log").read_bytes()


def test_eventlog_show_lists_events_and_replayed_pcrs(synthesized, capsys):
    _d, log, _golden = synthesized
    capsys.readouterr()
    assert main(["eventlog", "show", str(log)]) == 0
    out = capsys.readouterr().out
    assert "banks sha1, sha256, sha384, 20 events" in out
    assert "EV_EFI_BOOT_SERVICES_APPLICATION" in out and "\\EFI\\BOOT\\BOOTX64.EFI" in out
    assert "sha256:" in out and out.count("\n  ") >= 20 + 24
