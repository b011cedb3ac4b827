"""``tpmhil audit`` end to end on spawned swtpms."""

from __future__ import annotations

import json
import sqlite3

from harness.cli.main import main


def _run(capsys, *argv):
    rc = main(["audit", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _only_folder(base):
    (folder,) = [p for p in base.iterdir() if p.is_dir()]
    return folder


def test_clean_swtpm_passes_and_shows_identity_and_firmware(tmp_path, capsys):
    # Floor 20 µs/bit: reachable within the budget on a loaded CI host.
    rc, out, err = _run(capsys, "--tpm", "swtpm", "--budget-s", "240", "--floor-us", "20",
                        "--results", str(tmp_path))
    assert rc == 0, out + err
    assert "chip        IBM (0x49424d00) 'SW   TPM'" in out
    assert "firmware    20191023.00163636 (rule libtpms" in out
    for check in ("advisories", "ek_credentials", "roca", "nonce_timing:ecdsa",
                  "nonce_timing:ecschnorr", "reference_probes"):
        assert f"PASS         {check}" in out, out
    assert "verdict       PASS  (evidence" in out  # every check ran and passed
    folder = _only_folder(tmp_path)
    audit = json.loads((folder / "audit.json").read_text())
    assert audit["verdict"] == "PASS"
    assert audit["firmware"]["text"] == "20191023.00163636"
    assert (folder / "evidence" / "nonce_timing.png").stat().st_size > 10_000
    assert json.loads((folder / "summary.json").read_text())["audit"] == "PASS"
    with sqlite3.connect(folder / "store.sqlite") as db:
        rows = dict(db.execute("SELECT nodeid, outcome FROM tests"))
        signs = db.execute("SELECT COUNT(*) FROM exchanges WHERE command = 'TPM2_Sign'").fetchone()[0]
    assert rows["audit::roca"] == "passed" and rows["audit::reference_probes"] == "passed"
    # Security figures (contract 5): one file per check, figures behind each verdict.
    security = folder / "evidence" / "security"
    docs = {p.name: json.loads(p.read_text()) for p in security.glob("*.json")}
    assert set(docs) == {"advisories.json", "ek_credentials.json", "roca.json",
                         "nonce_timing-ecdsa.json", "nonce_timing-ecschnorr.json",
                         "reference_probes.json"}
    assert all(d["verdict"] == "pass" and d["simulation"] is False for d in docs.values())
    timing = docs["nonce_timing-ecdsa.json"]
    assert timing["plots"] == ["evidence/nonce_timing.png"]
    assert timing["figures"]["p_value"]["value"] > 1e-5
    assert timing["figures"]["floor_us_per_bit"]["value"] == 20.0
    assert signs >= timing["figures"]["samples"]["value"] >= 400
    assert docs["roca.json"]["figures"]["keys_tested"]["value"] >= 4
    assert docs["reference_probes.json"]["figures"]["probes_sent"]["value"] >= 4
    assert docs["ek_credentials.json"]["figures"]["certs_checked"]["value"] == 2
    assert "figures: samples=" in out  # the figures are on screen too


def test_leaking_target_exits_non_zero(tmp_path, capsys):
    rc, out, _ = _run(capsys, "--tpm", "swtpm", "--results", str(tmp_path),
                      "--simulate-nonce-leak", "80", "--skip", "roca", "--skip", "reference_probes",
                      "--skip", "ek_credentials")
    assert rc == 1
    assert "[SIMULATED NONCE LEAK]" in out
    assert "FAIL         nonce_timing:ecdsa     leaks" in out
    assert "NOT RUN      roca" in out  # a skipped check is shown as not run, never as passed
    assert "verdict       WEAKNESS FOUND" in out
    security = _only_folder(tmp_path) / "evidence" / "security"
    timing = json.loads((security / "nonce_timing-ecdsa.json").read_text())
    assert timing["simulation"] is True and timing["reason"].startswith("SIMULATION")
    assert "--simulate-nonce-leak" in timing["simulation_reason"]
    assert json.loads((security / "roca.json").read_text())["verdict"] == "not run"


def test_checks_not_run_make_the_audit_incomplete(tmp_path, capsys):
    """3 of 5 checks not run: INCOMPLETE and exit 1, never PASS."""
    rc, out, _ = _run(capsys, "--tpm", "swtpm", "--results", str(tmp_path), "--skip", "roca",
                      "--skip", "nonce_timing", "--skip", "reference_probes")
    assert rc == 1
    assert "PASS         advisories" in out and "PASS         ek_credentials" in out
    assert "verdict       INCOMPLETE (roca not run; nonce_timing not run; reference_probes not run)" in out
    folder = _only_folder(tmp_path)
    assert json.loads((folder / "audit.json").read_text())["verdict"].startswith("INCOMPLETE")
    docs = {p.stem: json.loads(p.read_text())["verdict"]
            for p in (folder / "evidence" / "security").glob("*.json")}
    assert docs == {"advisories": "pass", "ek_credentials": "pass", "roca": "not run",
                    "nonce_timing": "not run", "reference_probes": "not run"}


def test_timing_budget_is_reported_when_it_runs_out(tmp_path, capsys):
    rc, out, _ = _run(capsys, "--tpm", "swtpm", "--results", str(tmp_path), "--budget-s", "4",
                      "--floor-us", "0.001", "--skip", "roca", "--skip", "reference_probes",
                      "--skip", "ek_credentials")
    assert rc == 1
    assert "INCOMPLETE   nonce_timing:ecdsa     incomplete: budget 2 s reached after" in out
    assert "could resolve effects >= " in out
    assert "verdict       INCOMPLETE" in out


def test_broken_lab_catalogue_is_one_clear_error(tmp_path, capsys):
    lab = tmp_path / "lab.yaml"
    lab.write_text("advisories:\n  - {id: L-1, title: t, manufacturer: IBM, check: roca, "
                   "affected: [{max: '1.x'}]}\n")
    rc, out, err = _run(capsys, "--tpm", "swtpm", "--advisories", str(lab), "--results", str(tmp_path))
    assert rc == 2
    assert f"advisory catalogue {lab}: entry 0 (L-1): field 'affected[0].max'" in err
    assert out == ""


def test_lab_catalogue_entry_matching_the_chip_fails_the_audit(tmp_path, capsys):
    lab = tmp_path / "lab.yaml"
    lab.write_text("catalogue_version: lab-1\nadvisories:\n"
                   "  - {id: LAB-SWTPM-1, title: lab finding on libtpms builds, manufacturer: IBM,\n"
                   "     firmware_format: libtpms, check: none,\n"
                   "     affected: [{versions: ['0x20191023.0x00163636']}]}\n")
    rc, out, _ = _run(capsys, "--tpm", "swtpm", "--advisories", str(lab), "--results", str(tmp_path),
                      "--skip", "roca", "--skip", "nonce_timing", "--skip", "reference_probes",
                      "--skip", "ek_credentials")
    assert rc == 1
    assert "FAIL         advisories" in out and "LAB-SWTPM-1" in out
    assert "lab-1 (lab.yaml)" in out


def test_a_check_that_breaks_off_is_an_error_not_a_pass(tmp_path, capsys, monkeypatch):
    from harness.audit import checks
    from harness.errors import TransportError

    def broken(esapi, identity=None):
        raise TransportError("TPM2_CreatePrimary got no response within 5.000 s", "TPM2_CreatePrimary")

    monkeypatch.setattr(checks, "check_roca", broken)
    rc, out, _ = _run(capsys, "--tpm", "swtpm", "--results", str(tmp_path), "--skip", "nonce_timing",
                      "--skip", "reference_probes", "--skip", "ek_credentials")
    assert rc == 1
    assert "ERROR        roca" in out and "TPM2_CreatePrimary got no response" in out
    verdict = next(line for line in out.splitlines() if line.startswith("verdict"))
    assert verdict.startswith("verdict       INCOMPLETE (") and "roca ERROR" in verdict


def test_json_mode_prints_only_json_on_stdout(tmp_path, capsys):
    rc, out, err = _run(capsys, "--tpm", "swtpm", "--results", str(tmp_path), "--json",
                        "--skip", "roca", "--skip", "nonce_timing", "--skip", "reference_probes")
    assert rc == 1
    doc = json.loads(out)  # nothing but the document
    assert doc["exit_code"] == 1 and doc["verdict"].startswith("INCOMPLETE")
    assert {d["check"]: d["verdict"] for d in doc["security"]}["ek_credentials"] == "pass"
    assert doc["results"] == str(_only_folder(tmp_path))
    assert "verdict       INCOMPLETE" in err  # the screen went to stderr
