"""IMA judged live: an swtpm measured by the synthetic boot and then by an IMA list in
PCR 10; ``tpmhil attest --ima-list`` quotes PCR 10 and judges it by the list."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.attest import pcrs as pcr_ops
from harness.attest import synth
from harness.attest.eventlog import encode_eventlog
from harness.cli.main import main
from harness.results.exchange_log import ExchangeLog
from harness.swtpm_process import SwtpmOptions, SwtpmProcess
from harness.transports.swtpm import SwtpmTransport
from harness.transports.tcti import open_esapi
from tests.attest import ima_lists as il


@pytest.fixture(scope="module")
def ima_board(tmp_path_factory):
    d = tmp_path_factory.mktemp("ima-live")
    process = SwtpmProcess(SwtpmOptions(banks=("sha1", "sha256")))
    try:
        transport = SwtpmTransport("127.0.0.1", process.port, log=ExchangeLog())
        esapi = open_esapi(transport)
        try:
            log = synth.synthesize(esapi)
            boot = pcr_ops.read_pcrs(esapi, ["sha256"], list(range(10)))["sha256"]
            ima = il.sample(il.boot_aggregate([boot[p] for p in range(10)], "sha256"))
            for m in ima:
                pcr_ops.extend(esapi, 10, {b: m.extend_digest(b) for b in ("sha1", "sha256")})
        finally:
            esapi.close()
            transport.close()
        (d / "boot.log").write_bytes(encode_eventlog(log))
        (d / "ascii_runtime_measurements").write_text("\n".join(m.ascii() for m in ima) + "\n")
        (d / "allow.yaml").write_text(yaml.safe_dump(il.allowlist(ima)))
        yield f"swtpm://127.0.0.1:{process.port}", d
    finally:
        process.stop()


def _attest(uri, d, capsys, allowlist):
    capsys.readouterr()
    rc = main(["attest", "--tpm", uri, "--eventlog", str(d / "boot.log"), "--ima-list",
               str(d / "ascii_runtime_measurements"), "--ima-allowlist", str(allowlist),
               "--results", str(d / "results")])
    return rc, capsys.readouterr().out


def test_live_attestation_judges_pcr10_by_the_ima_list(ima_board, capsys):
    uri, d = ima_board
    rc, out = _attest(uri, d, capsys, d / "allow.yaml")
    assert rc == 0, out
    for stage in ("quote", "replay vs quote", "replay vs PCR_Read", "ima: template hashes",
                  "ima: replay vs PCR 10", "ima: boot_aggregate", "ima: allowlist"):
        line = next(ln for ln in out.splitlines() if f" {stage} " in ln)
        assert line.split()[0] == "PASS", line
    run = sorted((d / "results").iterdir())[-1]
    ev = run / "evidence" / "attestation"
    assert json.loads((ev / "ima.json").read_text())["entries"] == 8
    assert (ev / "inputs" / "ascii_runtime_measurements").read_bytes() == \
        (d / "ascii_runtime_measurements").read_bytes()


def test_live_changed_file_hash_fails_naming_the_file(ima_board, capsys, tmp_path):
    uri, d = ima_board
    allow = yaml.safe_load((d / "allow.yaml").read_text())
    allow["files"]["/usr/sbin/plc-runtime"] = ["sha256:" + "11" * 32]
    (tmp_path / "allow.yaml").write_text(yaml.safe_dump(allow))
    rc, out = _attest(uri, d, capsys, tmp_path / "allow.yaml")
    assert rc == 1
    line = next(ln for ln in out.splitlines() if " ima: allowlist " in ln)
    assert line.split()[0] == "FAIL" and "/usr/sbin/plc-runtime: sha256:" in line
