"""The command-coverage gate runs where every test reports (xdist controller or the only
process): evidence, a store record and the exit status, without a shared ledger file."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GATE = "suites/conformance/test_coverage.py"
SOME = "suites/conformance/lifecycle/test_selftest_random.py"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TPMHIL_", "PYTEST_XDIST"))}
    env["TMPDIR"] = str(tmp_path)  # any ledger file would show up here
    return subprocess.run([sys.executable, "-m", "pytest", *args, "--tpm", "swtpm", "-q",
                           "-p", "no:cacheprovider", "--results", str(tmp_path / "run")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _coverage_rows(run: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(run / "store.sqlite")
    try:
        return conn.execute("SELECT nodeid, outcome, message FROM tests WHERE nodeid = "
                            "'suites/conformance::command_coverage'").fetchall()
    finally:
        conn.close()


def test_missing_coverage_fails_the_run_from_the_controller(tmp_path):
    done = _run(tmp_path, GATE, SOME, "-n", "2")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert " failed" not in done.stdout.splitlines()[-1]  # every test passed; the gate did not
    assert "FAILED command coverage:" in done.stdout
    rows = _coverage_rows(tmp_path / "run")
    assert len(rows) == 1 and rows[0][1] == "failed"  # the controller's verdict, once
    assert "no passing positive test" in rows[0][2] and "TPM2_Create" in rows[0][2]
    evidence = json.loads((tmp_path / "run" / "evidence" / "command_coverage.json").read_text())
    assert evidence["verdict"] == "fail" and evidence["advertised"] > 50
    assert evidence["tests"] >= 1
    assert "TPM2_GetRandom" not in evidence["missing_positive"]  # a worker's entry arrived
    assert not list(tmp_path.glob("tpmhil-coverage-*"))  # no ledger file, no polling


def test_no_gate_when_the_gate_test_is_not_selected(tmp_path):
    done = _run(tmp_path, SOME)
    assert done.returncode == 0, done.stdout[-3000:]
    assert _coverage_rows(tmp_path / "run") == []
    assert not (tmp_path / "run" / "evidence" / "command_coverage.json").exists()
