"""``--json`` on every command that prints a verdict: stdout holds one JSON document and
nothing else (json.loads of all of stdout), the human lines go to stderr."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.swtpm_process import SwtpmOptions, SwtpmProcess

REPO = Path(__file__).resolve().parents[2]


def test_run_json_is_the_summary_and_pytest_output_goes_to_stderr(cli, tmp_path):
    done = cli.run(["run", "--tpm", "swtpm", "--results", str(tmp_path), "--run-id", "j",
                    "--no-report", "-k", "random", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    doc = cli.only_json(done)
    assert doc["verdict"] == "PASS" and doc["exit_code"] == 0 and doc["outcomes"]["passed"] >= 5
    assert Path(doc["results_folder"]) == tmp_path / "j"
    assert "passed" in done.stderr and "tpmhil run: swtpm ->" in done.stderr  # pytest's own lines


def test_probe_json(cli, tmp_path):
    done = cli.run(["probe", "--json"], tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = cli.only_json(done)
    assert doc["manufacturer"] == "IBM" and doc["profile"] == "swtpm"


def test_audit_json(cli, tmp_path):
    done = cli.run(["audit", "--tpm", "swtpm", "--results", str(tmp_path), "--skip",
                    "nonce_timing", "--skip", "reference_probes", "--json"], tmp_path)
    doc = cli.only_json(done)
    assert done.returncode == doc["exit_code"] == 1  # a skipped check is never a pass
    assert doc["verdict"].startswith("INCOMPLETE") and "ek_credentials" in done.stderr


def test_diff_and_trend_json(cli, two_runs, tmp_path):
    a, b = two_runs
    done = cli.run(["diff", str(a), str(b), "--json", "--no-plots"], tmp_path)
    assert done.returncode == 0, done.stderr
    doc = cli.only_json(done)
    assert doc["verdict"] == "no regression" and doc["exit_code"] == 0
    assert [r["run_id"] for r in doc["run_a"]] == ["A"] and doc["run_b"][0]["chip_model"]
    assert doc["warnings"] == [] and doc["new_failures"] == [] and doc["plot"] is None
    assert "A (baseline):" in done.stderr and "verdict: no regression" in done.stderr
    trend = cli.run(["trend", str(a), str(b), "--period", "run", "--json", "--no-plots"], tmp_path)
    assert trend.returncode == 0, trend.stderr
    rows = cli.only_json(trend)["rows"]
    assert sorted(r["period"] for r in rows) == ["A", "B"]
    assert all(r["pass_rate"] == 1.0 and r["commands"] > 0 for r in rows)


def test_report_then_verify_json(cli, two_runs, tmp_path):
    key = tmp_path / "lab.pem"
    built = cli.run(["report", str(two_runs[0]), "-o", str(tmp_path / "pkg"), "--no-pdf",
                     "--no-allure", "--new-lab-key", str(key), "--json"], tmp_path)
    assert built.returncode == 0, built.stderr
    package = cli.only_json(built)
    assert Path(package["package"]) == tmp_path / "pkg" and package["signer"]["kind"] == "ed25519"
    assert sum(package["requirements"].values()) > 0 and "evidence package:" in built.stderr
    done = cli.run(["verify", str(tmp_path / "pkg"), "--key", str(tmp_path / "lab.pub.pem"),
                    "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    doc = cli.only_json(done)
    assert doc["verdict"] == "OK" and doc["origin_checked"] and doc["signature_ok"]
    (tmp_path / "pkg" / "summary.html").write_text("tampered")
    unpinned = cli.run(["verify", str(tmp_path / "pkg"), "--json"], tmp_path)
    doc = cli.only_json(unpinned)
    assert unpinned.returncode == doc["exit_code"] == 1 and doc["verdict"] == "FAILED"
    assert "summary.html" in doc["changed"] + doc["added"]


@pytest.fixture(scope="module")
def own_swtpm():
    process = SwtpmProcess(SwtpmOptions(banks=("sha256",)))
    try:
        yield f"swtpm://127.0.0.1:{process.port}"
    finally:
        process.stop()


def test_attest_json(cli, own_swtpm, tmp_path):
    log, golden = tmp_path / "boot.log", tmp_path / "golden.yaml"
    synth = cli.run(["eventlog", "synth", "--tpm", own_swtpm, "-o", str(log), "--golden-out",
                     str(golden)], tmp_path, timeout=120)
    assert synth.returncode == 0, synth.stderr
    done = cli.run(["attest", "--tpm", own_swtpm, "--eventlog", str(log), "--golden", str(golden),
                    "--results", str(tmp_path / "results"), "--json"], tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    doc = cli.only_json(done)
    assert doc["verdict"] == "PASS" and doc["exit_code"] == 0
    names = {s["name"]: s["status"] for s in doc["stages"]}
    assert "enrollment" in names and "quote" in names and "FAIL" not in names.values()
    assert Path(doc["evidence"]).is_dir() and "VERDICT: PASS" in done.stderr


SIM_RIG = """\
    instruments:
      chamber: {driver: watlow-f4t, address: 'modbus-tcp://192.0.2.1', simulate: {ramp_c_per_min: 60, time_scale: 120, natural_freq: 0.1}}
      psu: {driver: rigol-dp8xx, address: 'TCPIP::192.0.2.2::5025::SOCKET', nominal_v: 3.3, simulate: {}}
    """


def test_campaign_json(cli, tmp_path):
    (tmp_path / "rig.yaml").write_text(textwrap.dedent(SIM_RIG))
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(textwrap.dedent(f"""\
        name: json-test
        rig: rig.yaml
        target: swtpm
        suites: ['{REPO}/suites/functional/test_random.py']
        defaults: {{dwell_s: 0.5, band_c: 1.0, stable_timeout_s: 60, voltage_v: 3.3}}
        points: [{{temperature_c: 25}}]
        coupling: {{enabled: false}}
        telemetry: {{interval_s: 0.3}}
        point_timeout_s: 240
        """))
    done = cli.run(["campaign", str(campaign), "--results", str(tmp_path / "results"),
                    "--efp-rounds", "1", "--json"], tmp_path, timeout=400)
    doc = cli.only_json(done)
    assert done.returncode == doc["exit_code"], done.stderr
    assert doc["campaign"] == "json-test" and doc["verdict"] and len(doc["points"]) == 1
    assert doc["points"][0]["tests"] >= 5 and Path(doc["results_folder"]).is_dir()


def test_eventlog_ima_json(cli, tmp_path):
    from tests.attest import ima_lists as il

    entries = il.sample(il.boot_aggregate([bytes(32)] * 10, "sha256"))
    listing = tmp_path / "ascii_runtime_measurements"
    listing.write_text("\n".join(m.ascii("sha1") for m in entries) + "\n")
    done = cli.run(["eventlog", "ima", str(listing), "--json"], tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    doc = cli.only_json(done)
    assert doc["verdict"] == "PASS" and doc["measurements"] == len(entries)
    assert doc["pcr10"]["sha1"] == il.pcr10(entries, "sha1").hex()
    assert "VERDICT: PASS" in done.stderr


def test_run_places_json_is_the_fan_out_summary(cli, tmp_path):
    """Two places on a real local labgrid coordinator and exporter, each serving an swtpm."""
    from harness.lab.testbed import LocalLab

    with LocalLab(tmp_path / "lab") as lab:
        lab.start_coordinator()
        lab.start_exporter("host1", {p: lab.serve(p, "swtpm") for p in ("board-a", "board-b")})
        done = cli.run(["run", "--places", "board-", "--results", str(tmp_path / "results"),
                        "--run-id", "fan", "-k", "random", "--json"], tmp_path, timeout=400,
                       env={"LG_COORDINATOR": lab.address})
    assert done.returncode == 0, done.stderr
    doc = cli.only_json(done)
    assert doc["exit_code"] == 0 and Path(doc["results_folder"]) == tmp_path / "results" / "fan"
    assert {p: v["verdict"] for p, v in doc["places"].items()} == {"board-a": "PASS",
                                                                  "board-b": "PASS"}
    assert "2 place(s)" in done.stderr
