"""``tpmhil`` as a user runs it, in subprocesses, against real swtpms."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


TPMHIL = [sys.executable, "-m", "harness.cli.main"]


def _run(args, timeout=300, **kw):
    return subprocess.run(TPMHIL + args, capture_output=True, text=True, timeout=timeout, **kw)


def test_run_writes_a_results_folder_with_a_verdict(tmp_path):
    done = _run(["run", "--results", str(tmp_path), "--run-id", "r1", "--no-report",
                 "-k", "random or capability"])
    assert done.returncode == 0, done.stdout + done.stderr
    folder = tmp_path / "r1"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["verdict"] == "PASS" and summary["outcomes"]["passed"] >= 10
    assert summary["exchanges"]["count"] > 100
    assert summary["chip"]["manufacturer"] == "IBM"
    for name in ("junit.xml", "command_log.csv", "identity.json", "target.json", "profile.yaml",
                 "store.sqlite"):
        assert (folder / name).exists(), name
    assert any((folder / "allure-results").glob("*-result.json"))
    assert "PASS:" in done.stdout and "functional/test_random" in done.stdout


def test_probe_prints_identity():
    done = _run(["probe", "--json"], timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["manufacturer"] == "IBM" and data["family"] == "2.0"
    assert "0x01c00002" in data["ek_certificates"] and data["profile"] == "swtpm"


def test_bad_target_is_one_clear_error():
    done = _run(["run", "--tpm", "i2c//dev/i2c-1", "--no-report"], timeout=60)
    assert done.returncode == 2
    assert "tpmhil run: error:" in done.stderr and "accepted target strings" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_suite_is_one_clear_error(tmp_path):
    done = _run(["run", "--suite", "nonesuch", "--results", str(tmp_path)], timeout=60)
    assert done.returncode == 2 and "unknown suite 'nonesuch'" in done.stderr


def test_hung_tpm_fails_bounded(tmp_path):
    """A stopped swtpm: the run ends with failures naming the timeout, not a hang."""
    from harness.swtpm_process import SwtpmProcess

    profile = tmp_path / "fast.yaml"
    text = (Path(__file__).parents[2] / "harness/profiles/swtpm.yaml").read_text()
    text = text.replace("durations_ms: {short: 5000, medium: 10000, long: 20000, long_long: 120000}",
                        "durations_ms: {short: 300, medium: 300, long: 300, long_long: 300}")
    profile.write_text(text)
    proc = SwtpmProcess()
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        done = _run(["run", "--tpm", f"swtpm://127.0.0.1:{proc.port}", "--chip-profile",
                     str(profile), "--results", str(tmp_path), "--run-id", "hung", "--no-report",
                     "-k", "random"], timeout=240)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "got no response within 1.300 s" in done.stdout
    summary = json.loads((tmp_path / "hung" / "summary.json").read_text())
    assert summary["verdict"] == "FAIL"
