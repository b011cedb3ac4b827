"""Offline attestation: evidence made on a spawned swtpm with the real tpm2-tools, the way
a lab collects it on a board (docs/attestation.md), verified on the "lab host" by
``tpmhil attest --offline``; each alteration fails with a named reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.attest import pcrs as pcr_ops
from harness.attest import synth
from harness.attest.eventlog import encode_eventlog
from harness.cli.main import main
from harness.results.exchange_log import ExchangeLog
from harness.swtpm_process import SwtpmOptions, SwtpmProcess, ca_root_certificates
from harness.transports.swtpm import SwtpmTransport
from harness.transports.tcti import open_esapi
from tests.attest import ima_lists as il

PCRS = "0,1,2,3,4,5,6,7,10"
GOLDEN = Path(__file__).parents[2] / "suites" / "attestation" / "golden" / "synthetic-uefi.yaml"


class Board:
    """tpm2-tools against the swtpm, as a shell on the board would run them."""

    def __init__(self, port: int, cwd: Path) -> None:
        self.env = {**os.environ, "TPM2TOOLS_TCTI": f"swtpm:host=127.0.0.1,port={port}"}
        self.cwd = cwd

    def run(self, *args: str) -> str:
        done = subprocess.run(args, cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
        # swtpm has no resource manager: drop what the tool left loaded (tpmrm0 does this)
        subprocess.run(["tpm2_flushcontext", "-t"], cwd=self.cwd, env=self.env,
                       capture_output=True, timeout=30)
        subprocess.run(["tpm2_flushcontext", "-s"], cwd=self.cwd, env=self.env,
                       capture_output=True, timeout=30)
        return done.stdout


def _activate(board: Board, cred: Path, out: str) -> None:
    # the session must survive until activatecredential: run the three without flushing
    for args in (["tpm2_startauthsession", "--policy-session", "-S", "session.ctx"],
                 ["tpm2_policysecret", "-S", "session.ctx", "-c", "e"],
                 ["tpm2_activatecredential", "-c", "ak.ctx", "-C", "ek.ctx", "-i", str(cred),
                  "-o", out, "-P", "session:session.ctx"]):
        done = subprocess.run(args, cwd=board.cwd, env=board.env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
    board.run("tpm2_flushcontext", "session.ctx")


@pytest.fixture(scope="module")
def evidence(tmp_path_factory):
    for tool in ("tpm2_createek", "tpm2_createak", "tpm2_quote", "tpm2_readpublic"):
        assert shutil.which(tool), f"{tool} is missing: the set-up installs tpm2-tools"
    root = tmp_path_factory.mktemp("offline")
    board_dir, lab = root / "board", root / "lab"
    board_dir.mkdir()
    process = SwtpmProcess(SwtpmOptions(banks=("sha1", "sha256", "sha384")))
    try:
        transport = SwtpmTransport("127.0.0.1", process.port, log=ExchangeLog())
        esapi = open_esapi(transport)
        try:  # firmware measures the synthetic boot, then the kernel's IMA measures files
            log = synth.synthesize(esapi)
            boot = pcr_ops.read_pcrs(esapi, ["sha256"], list(range(10)))["sha256"]
            ima = il.sample(il.boot_aggregate([boot[p] for p in range(10)], "sha256"))
            for m in ima:
                pcr_ops.extend(esapi, 10, {b: m.extend_digest(b)
                                           for b in ("sha1", "sha256", "sha384")})
        finally:
            esapi.close()
            transport.close()
        (board_dir / "binary_bios_measurements").write_bytes(encode_eventlog(log))
        (board_dir / "ascii_runtime_measurements").write_text(
            "\n".join(m.ascii() for m in ima) + "\n")
        (root / "allowlist.yaml").write_text(yaml.safe_dump(il.allowlist(ima)))
        board = Board(process.port, board_dir)
        board.run("tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub")
        board.run("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "rsa", "-g", "sha256",
                  "-s", "rsassa", "-u", "ak.pub", "-n", "ak.name", "-r", "ak.priv")
        board.run("tpm2_readpublic", "-c", "ak.ctx", "-o", "ak.pub", "-f", "tss")
        board.run("tpm2_getekcertificate", "-o", "ek.crt")
        # lab host: a credential for this AK, encrypted to the certificate's key, and a nonce
        assert main(["attest", "--make-challenge", str(lab), "--ek-cert",
                     str(board_dir / "ek.crt"), "--ak-public", str(board_dir / "ak.pub"),
                     "--ek-public", str(board_dir / "ek.pub")]) == 0
        nonce = (lab / "nonce.hex").read_text().strip()
        _activate(board, lab / "cred.out", "actcred.out")
        board.run("tpm2_quote", "-c", "ak.ctx", "-l", f"sha1:{PCRS}+sha256:{PCRS}+sha384:{PCRS}",
                  "-q", nonce, "-m", "quote.msg", "-s", "quote.sig", "-o", "quote.pcrs",
                  "-g", "sha256")
        # tpm2_quote -F values (tpm2-tools 5.4 has no "marshaled" yet: built in the test)
        board.run("tpm2_quote", "-c", "ak.ctx", "-l", f"sha1:{PCRS}+sha256:{PCRS}+sha384:{PCRS}",
                  "-q", nonce, "-m", "other.msg", "-s", "other.sig", "-o", "quote.pcrs.values",
                  "-F", "values", "-g", "sha256")
        # an ECDSA AK under the same EK, in its own folder with its own challenge
        ecc, ecc_lab = root / "board-ecc", root / "lab-ecc"
        ecc.mkdir()
        for name in ("ek.crt", "ek.pub", "ek.ctx", "binary_bios_measurements",
                     "ascii_runtime_measurements"):
            shutil.copy(board_dir / name, ecc / name)
        board_ecc = Board(process.port, ecc)
        board_ecc.run("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", "ecc", "-g",
                      "sha256", "-s", "ecdsa", "-u", "ak.pub", "-n", "ak.name", "-r", "ak.priv")
        assert main(["attest", "--make-challenge", str(ecc_lab), "--ek-cert", str(ecc / "ek.crt"),
                     "--ak-public", str(ecc / "ak.pub")]) == 0
        _activate(board_ecc, ecc_lab / "cred.out", "actcred.out")
        board_ecc.run("tpm2_quote", "-c", "ak.ctx", "-l", f"sha256:{PCRS}", "-q",
                      (ecc_lab / "nonce.hex").read_text().strip(), "-m", "quote1.msg",
                      "-s", "quote1.sig", "-o", "quote1.pcrs", "-g", "sha256")
        board_ecc.run("tpm2_quote", "-c", "ak.ctx", "-l",
                      f"sha1:{PCRS}+sha256:{PCRS}+sha384:{PCRS}", "-q",
                      (ecc_lab / "nonce.hex").read_text().strip(), "-m", "quote.msg",
                      "-s", "quote.sig", "-o", "quote.pcrs", "-g", "sha256")
        # the same TPM with tpm2_makecredential (run offline on the lab host, -T none)
        mc = root / "lab-tpm2-tools"
        mc.mkdir()
        (mc / "secret.bin").write_bytes(os.urandom(32))
        shutil.copy(board_dir / "ak.name", mc / "ak.name")
        subprocess.run(["openssl", "x509", "-inform", "der", "-in", str(board_dir / "ek.crt"),
                        "-pubkey", "-noout", "-out", str(mc / "ek.pem")], check=True, timeout=30)
        name_hex = (board_dir / "ak.name").read_bytes().hex()
        done = subprocess.run(["tpm2_makecredential", "-T", "none", "-u", str(mc / "ek.pem"),
                               "-G", "rsa", "-s", str(mc / "secret.bin"), "-n", name_hex,
                               "-o", str(mc / "cred.out")], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        _activate(board, mc / "cred.out", "actcred-tools.out")
    finally:
        process.stop()
    return root, board_dir, lab, nonce


def _verify(evidence_dir: Path, tmp_path: Path, capsys, *extra: str) -> tuple[int, str, Path]:
    capsys.readouterr()
    rc = main(["attest", "--offline", str(evidence_dir), "--results", str(tmp_path / "results"),
               *extra])
    out = capsys.readouterr()
    runs = list((tmp_path / "results").iterdir()) if (tmp_path / "results").exists() else []
    return rc, out.out + out.err, runs[0] if runs else tmp_path


def _copy(board_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "evidence"
    shutil.copytree(board_dir, dest)
    return dest


def _ca() -> list[str]:
    return [a for p in ca_root_certificates() for a in ("--ek-ca", str(p))]


def test_untouched_evidence_verifies_offline(evidence, tmp_path, capsys):
    _root, board_dir, lab, _nonce = evidence
    rc, out, run = _verify(board_dir, tmp_path, capsys, "--challenge", str(lab), "--golden",
                           str(GOLDEN), *_ca())
    assert rc == 0, out
    for stage in ("parser cross-check", "event data", "enrollment", "quote",
                  "PCR values vs quote", "replay vs quote", "replay vs quoted PCRs",
                  "golden: firmware", "ima: template hashes", "ima: replay vs PCR 10",
                  "ima: boot_aggregate"):
        assert f"PASS     {stage}" in out, (stage, out)
    assert "VERDICT: PASS" in out and "credential activated" in out
    ev = run / "evidence" / "attestation"
    for name in ("eventlog.bin", "quote.json", "ak_public.pem", "ak_public.tpm2b", "replay.csv",
                 "attestation.json", "inputs/quote.msg", "inputs/ek.crt"):
        assert (ev / name).stat().st_size > 0, name
    assert not (ev / "inputs" / "actcred.out").exists()  # the secret never becomes evidence
    summary = json.loads((run / "summary.json").read_text())
    assert summary["attestation"] == "PASS" and summary["mode"] == "offline"
    assert summary["outcomes"].get("failed", 0) == 0 and summary["outcomes"]["passed"] >= 8
    assert json.loads((ev / "attestation.json").read_text())["mode"] == "offline"
    chip = json.loads((run / "provenance.json").read_text())["chip"]
    assert chip["ek_public_sha256"] and chip["ek_certificate_serial"]


def test_binding_with_a_tpm2_makecredential_transcript(evidence, tmp_path, capsys):
    root, board_dir, _lab, nonce = evidence
    ev = _copy(board_dir, tmp_path)
    shutil.copy(ev / "actcred-tools.out", ev / "actcred.out")
    rc, out, run = _verify(ev, tmp_path, capsys, "--challenge", str(root / "lab-tpm2-tools"),
                           "--nonce", nonce)
    assert rc == 0, out
    assert "PASS     enrollment" in out
    doc = json.loads((run / "evidence" / "attestation" / "attestation.json").read_text())
    enrollment = next(s for s in doc["stages"] if s["name"] == "enrollment")
    assert any("tpm2_makecredential" in d for d in enrollment["details"])


def _sha256_digest_offset(ev: Path, index: int) -> int:
    from harness.attest.eventlog import read_eventlog

    event = read_eventlog(ev / "binary_bios_measurements").events[index - 1]
    assert event.index == index
    return event.offset + 12 + (2 + 20) + 2  # pcr, type, count; the sha1 entry; sha256 id


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("alter, stage, reason", [
    (lambda ev: _flip(ev / "quote.msg", 40), "quote",
     "the quote signature does not verify with the AK"),
    (lambda ev: _flip(ev / "quote.sig", 20), "quote",
     "the quote signature does not verify with the AK"),
    (lambda ev: _flip(ev / "quote.pcrs", 0x84 + 4 + 4 + 2 + 3), "PCR values vs quote",
     "the PCR values were altered"),
    (lambda ev: _flip(ev / "actcred.out", 0), "enrollment",
     "not the challenge's"),
    (lambda ev: _flip(ev / "binary_bios_measurements", -30), "event data",
     "event #20 (EV_EFI_ACTION, PCR 5"),
    (lambda ev: _flip(ev / "binary_bios_measurements", _sha256_digest_offset(ev, 18) + 5),
     "replay vs quote", "first divergent event #18 (EV_EFI_BOOT_SERVICES_APPLICATION, PCR 4"),
])
def test_each_alteration_fails_with_a_named_reason(evidence, tmp_path, capsys, alter, stage,
                                                   reason):
    _root, board_dir, lab, _nonce = evidence
    ev = _copy(board_dir, tmp_path)
    alter(ev)
    rc, out, _run = _verify(ev, tmp_path, capsys, "--challenge", str(lab))
    assert rc == 1, out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("FAIL") and
                f" {stage} " in ln)
    assert reason in line, out


def test_another_nonce_fails_naming_it(evidence, tmp_path, capsys):
    _root, board_dir, lab, nonce = evidence
    other = ("00" if nonce[:2] != "00" else "11") + nonce[2:]
    rc, out, _run = _verify(board_dir, tmp_path, capsys, "--challenge", str(lab), "--nonce",
                            other)
    assert rc == 1
    assert "is not the verifier's nonce" in out and "FAIL     quote" in out


def test_missing_file_and_missing_nonce_are_one_error(evidence, tmp_path, capsys):
    _root, board_dir, lab, _nonce = evidence
    ev = _copy(board_dir, tmp_path)
    (ev / "quote.sig").unlink()
    rc, out, _run = _verify(ev, tmp_path, capsys, "--challenge", str(lab))
    assert rc == 2 and out.count("error:") == 1 and "quote.sig" in out
    rc, out, _run = _verify(board_dir, tmp_path, capsys)
    assert rc == 2 and "--nonce" in out


def test_ima_list_judged_against_the_allowlist(evidence, tmp_path, capsys):
    root, board_dir, lab, _nonce = evidence
    rc, out, run = _verify(board_dir, tmp_path, capsys, "--challenge", str(lab),
                           "--ima-allowlist", str(root / "allowlist.yaml"))
    assert rc == 0, out
    assert "PASS     ima: allowlist" in out and "PASS     ima: replay vs PCR 10" in out
    doc = json.loads((run / "evidence" / "attestation" / "ima.json").read_text())
    assert doc["entries"] == 8 and doc["violations"] == 1 and doc["changed"] == []


def test_ima_allowlist_with_one_changed_file_hash_fails_naming_the_file(evidence, tmp_path,
                                                                          capsys):
    root, board_dir, lab, _nonce = evidence
    allow = yaml.safe_load((root / "allowlist.yaml").read_text())
    allow["files"]["/usr/bin/bash"] = ["sha256:" + "00" * 32]
    (tmp_path / "allow.yaml").write_text(yaml.safe_dump(allow))
    rc, out, _run = _verify(board_dir, tmp_path, capsys, "--challenge", str(lab),
                            "--ima-allowlist", str(tmp_path / "allow.yaml"))
    assert rc == 1
    line = next(ln for ln in out.splitlines() if "ima: allowlist" in ln)
    assert line.strip().startswith("FAIL") and "/usr/bin/bash: sha256:" in line
    assert "PASS     ima: replay vs PCR 10" in out  # the list itself is what the chip measured


def test_altered_ima_list_fails_template_hash_and_pcr10(evidence, tmp_path, capsys):
    _root, board_dir, lab, _nonce = evidence
    ev = _copy(board_dir, tmp_path)
    text = (ev / "ascii_runtime_measurements").read_text()
    line = next(ln for ln in text.splitlines() if "/usr/sbin/plc-runtime" in ln)
    parts = line.split()
    parts[3] = parts[3][:-2] + ("00" if parts[3][-2:] != "00" else "11")
    (ev / "ascii_runtime_measurements").write_text(text.replace(line, " ".join(parts)))
    rc, out, _run = _verify(ev, tmp_path, capsys, "--challenge", str(lab))
    assert rc == 1
    line = next(ln for ln in out.splitlines() if "ima: template hashes" in ln)
    assert line.split()[0] == "FAIL" and "IMA entry #3 (line 4, /usr/sbin/plc-runtime)" in line
    line = next(ln for ln in out.splitlines() if "ima: replay vs PCR 10" in ln)
    assert line.split()[0] == "FAIL" and "!= quoted PCR 10" in line


def _marshaled(values_file: Path) -> bytes:
    """tpm2-tools' -F marshaled layout (lib/pcr.c pcr_fwrite_marshaled): TPML_PCR_SELECTION,
    UINT32 count and TPML_DIGESTs (8 digests at most each), big-endian TPM wire format."""
    import struct

    data, sizes = values_file.read_bytes(), {"sha1": 20, "sha256": 32, "sha384": 48}
    pcrs = [int(p) for p in PCRS.split(",")]
    bits = bytes(sum(1 << (p - 8 * j) for p in pcrs if 8 * j <= p < 8 * j + 8) for j in range(3))
    out = struct.pack(">I", 3) + b"".join(struct.pack(">HB", alg, 3) + bits
                                          for alg in (0x0004, 0x000B, 0x000C))
    digests, pos = [], 0
    for bank in ("sha1", "sha256", "sha384"):
        for _p in pcrs:
            digests.append(data[pos:pos + sizes[bank]])
            pos += sizes[bank]
    chunks = [digests[i:i + 8] for i in range(0, len(digests), 8)]
    out += struct.pack(">I", len(chunks))
    for chunk in chunks:
        out += struct.pack(">I", len(chunk)) + b"".join(struct.pack(">H", len(d)) + d
                                                       for d in chunk)
    return out


@pytest.mark.parametrize("fmt", ["values", "marshaled"])
def test_other_pcr_file_formats(evidence, tmp_path, capsys, fmt):
    _root, board_dir, lab, _nonce = evidence
    ev = _copy(board_dir, tmp_path)
    (ev / "quote.pcrs").write_bytes((ev / "quote.pcrs.values").read_bytes() if fmt == "values"
                                    else _marshaled(ev / "quote.pcrs.values"))
    rc, out, _run = _verify(ev, tmp_path, capsys, "--challenge", str(lab))
    assert rc == 0, out
    assert f"quote.pcrs ({fmt}) hashes to the quote's pcrDigest" in out


def test_ecdsa_ak(evidence, tmp_path, capsys):
    root, _board_dir, _lab, _nonce = evidence
    rc, out, _run = _verify(root / "board-ecc", tmp_path, capsys, "--challenge",
                            str(root / "lab-ecc"), "--golden", str(GOLDEN))
    assert rc == 0, out
    line = next(ln for ln in out.splitlines() if " replay vs quoted PCRs " in ln)
    assert line.split()[0] == "PASS" and "24 PCR values in 3 banks" in line
    doc = json.loads(next((tmp_path / "results").iterdir()).joinpath(
        "evidence", "attestation", "quote.json").read_text())
    assert any("ecdsa-sha256 signature" in c["detail"] for c in doc["checks"])


def test_a_quote_lacking_a_bank_of_the_log_fails_the_selection(evidence, tmp_path, capsys):
    """sha1 and sha384 digests the quote does not cover are not attested."""
    root, _board_dir, _lab, _nonce = evidence
    ev = _copy(root / "board-ecc", tmp_path)
    for part in ("msg", "sig", "pcrs"):
        shutil.copy(ev / f"quote1.{part}", ev / f"quote.{part}")
    rc, out, _run = _verify(ev, tmp_path, capsys, "--challenge", str(root / "lab-ecc"))
    assert rc == 1
    line = next(ln for ln in out.splitlines() if ln.split()[:2] == ["FAIL", "quote"])
    assert "lacks sha1 PCR 0" in line and "every bank of the log" in line


def test_a_symlink_in_the_evidence_folder_is_refused(evidence, tmp_path, capsys):
    """The folder comes from the board: a link must not pull lab-host files into evidence."""
    _root, board_dir, lab, _nonce = evidence
    ev = _copy(board_dir, tmp_path)
    (ev / "ek.crt").unlink()
    (ev / "ek.crt").symlink_to("/etc/hostname")
    rc, out, _run = _verify(ev, tmp_path, capsys, "--challenge", str(lab))
    assert rc == 2 and out.count("error:") == 1 and "ek.crt is not a regular file" in out
