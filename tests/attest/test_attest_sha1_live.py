"""A SHA-1 (TCG_PCR_EVENT) log attested live: firmware that logs in the TPM 1.2 format
measured a real-world-shaped boot into an swtpm's SHA-1 bank; ``tpmhil attest`` passes,
and a wrong digest in the log is named with its offset and both values."""

from __future__ import annotations

import pytest

from harness.attest import pcrs as pcr_ops
from harness.cli.main import main
from harness.results.exchange_log import ExchangeLog
from harness.swtpm_process import SwtpmOptions, SwtpmProcess
from harness.transports.swtpm import SwtpmTransport
from harness.transports.tcti import open_esapi
from tests.attest import realworld_logs as rw


@pytest.fixture(scope="module")
def sha1_board(tmp_path_factory):
    d = tmp_path_factory.mktemp("sha1-live")
    process = SwtpmProcess(SwtpmOptions(banks=("sha1", "sha256")))
    events = [rw.spec_id_event00()] + rw.uefi_boot(with_ebs=False)
    try:
        transport = SwtpmTransport("127.0.0.1", process.port, log=ExchangeLog())
        esapi = open_esapi(transport)
        try:  # firmware writing the TPM 1.2-style log extends only the SHA-1 bank
            for e in events:
                if e.type != "EV_NO_ACTION":
                    pcr_ops.extend(esapi, e.pcr, {"sha1": e.digest("sha1")})
        finally:
            esapi.close()
            transport.close()
        (d / "sha1.log").write_bytes(rw.encode_sha1(events))
        yield f"swtpm://127.0.0.1:{process.port}", d, events
    finally:
        process.stop()


def test_sha1_log_attests_live(sha1_board, capsys):
    uri, d, _events = sha1_board
    capsys.readouterr()
    rc = main(["attest", "--tpm", uri, "--eventlog", str(d / "sha1.log"),
               "--results", str(d / "results")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "banks sha1" in out and "VERDICT: PASS" in out
    assert "PASS     replay vs quote" in out and "PASS     replay vs PCR_Read" in out
    # tpm2_eventlog cannot read a SHA-1 log opening with Spec ID Event00: said, not failed
    assert "NOT RUN  parser cross-check" in out


def test_sha1_log_with_a_wrong_digest_names_event_offset_and_digests(sha1_board, capsys):
    from harness.attest.eventlog import parse_eventlog

    uri, d, events = sha1_board
    log = parse_eventlog((d / "sha1.log").read_bytes())
    victim = next(e for e in log.events if e.type_name == "EV_EFI_BOOT_SERVICES_DRIVER")
    data = bytearray((d / "sha1.log").read_bytes())
    data[victim.offset + 8] ^= 0xFF  # first byte of its SHA-1 digest
    (d / "bad.log").write_bytes(bytes(data))
    capsys.readouterr()
    rc = main(["attest", "--tpm", uri, "--eventlog", str(d / "bad.log"),
               "--results", str(d / "results")])
    out = capsys.readouterr().out
    assert rc == 1
    line = next(ln for ln in out.splitlines() if "replay vs PCR_Read" in ln)
    assert f"event #{victim.index} (EV_EFI_BOOT_SERVICES_DRIVER, PCR 2, offset " \
           f"0x{victim.offset:x})" in line
    assert "PCR 2 sha1: replay" in line and "!= PCR_Read" in line
    assert bytes([data[victim.offset + 8]]).hex() in line  # the logged (wrong) digest
