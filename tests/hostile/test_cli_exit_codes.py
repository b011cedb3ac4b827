"""Exit codes as the README promises (0 pass, 1 fail, 2 usage or set-up error), one line
per error, no traceback, nothing recorded or signed as a chip FAIL for a set-up error,
and no pytest child left behind when ``tpmhil run`` is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.cli.cmd_run import exit_code
from harness.results.run_folder import RunFolder
from harness.results.store import TestRecord

TPMHIL = str(Path(sys.executable).parent / "tpmhil")


def tpmhil(*argv: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TPMHIL_TARGET"}
    return subprocess.run([TPMHIL, *argv], capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("argv, needle", [
    (["--tpm", "swtpm://127.0.0.1:1"], "cannot connect"),
    (["--chip-profile", "no-such-chip"], "no chip profile named 'no-such-chip'"),
    (["--tpm", "swtpm?chip=no-such-chip"], "no chip profile named 'no-such-chip'"),
    (["--tpm", "swtpm?bogus=1"], "unknown parameter 'bogus'"),
    (["--tpm", "swtpm://"], "expected swtpm://HOST:PORT"),
    (["--tpm", "device:///dev/no-such-tpm"], "no-such-tpm"),
    (["--run-id", "../../escaped"], "is not a plain name"),
    (["--run-id", "/tmp/abs"], "is not a plain name"),
])
def test_set_up_errors_exit_2_before_anything_is_recorded(tmp_path, argv, needle):
    results = tmp_path / "results"
    proc = tpmhil("run", "--results", str(results), "--no-report", *argv)
    assert needle in proc.stderr, proc.stderr
    if "\n" not in proc.stderr.strip():
        assert_one_line_error(proc, needle)
    else:  # target string errors list the accepted forms after the one error line
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not results.exists() or not any(results.iterdir())


def test_run_id_that_exists_is_refused(tmp_path):
    (tmp_path / "results" / "taken").mkdir(parents=True)
    assert_one_line_error(tpmhil("run", "--results", str(tmp_path / "results"), "--run-id", "taken"),
                          "already exists")


def test_no_tests_collected_is_a_set_up_error(tmp_path):
    proc = tpmhil("run", "--results", str(tmp_path), "--no-report", "--run-id", "empty",
                  "-k", "no_such_test_name_anywhere")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr
    assert "no tests were collected" in proc.stderr and "Traceback" not in proc.stderr


def test_pytest_usage_error_is_exit_2(tmp_path):
    proc = tpmhil("run", "--results", str(tmp_path), "--no-report", "--run-id", "usage",
                  "--", "--no-such-pytest-option")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr
    assert "pytest refused its command line" in proc.stderr


@pytest.mark.parametrize("pytest_code, verdict, expected", [
    (0, "PASS", 0), (1, "FAIL", 1), (0, "NO TESTS RAN", 2), (2, "PASS", 2), (3, "FAIL", 2),
    (4, "NO TESTS RAN", 2), (5, "NO TESTS RAN", 2), (-9, "PASS", 2),
])
def test_exit_code_table(pytest_code, verdict, expected, capsys):
    assert exit_code(pytest_code, verdict) == expected


def _children(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopped_run_leaves_no_pytest_child(tmp_path, signum):
    env = {k: v for k, v in os.environ.items() if k != "TPMHIL_TARGET"}
    proc = subprocess.Popen([TPMHIL, "run", "--results", str(tmp_path), "--no-report",
                             "--run-id", "killed", "--suite", "all"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        pytest_children: list[psutil.Process] = []
        while time.monotonic() < deadline and not pytest_children:
            pytest_children = [c for c in _children(proc.pid)
                               if "pytest" in " ".join(c.cmdline())]
            time.sleep(0.2)
        assert pytest_children, "tpmhil run never started its pytest child"
        time.sleep(2.0)  # let the child get going
        os.kill(proc.pid, signum)
        proc.wait(timeout=60)
        gone, alive = psutil.wait_procs(pytest_children, timeout=30)
        assert not alive, f"pytest child(ren) still running after {signum.name}: {alive}"
        assert proc.returncode == 130
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unexpected_exception_is_one_line_exit_2(tmp_path):
    folder = RunFolder.create(tmp_path / "runs", "r1")
    now = time.time()
    folder.store.add_test(TestRecord(nodeid="t::a", outcome="passed", duration_s=0.1,
                                     started=now, finished=now))
    folder.summarize({"pytest_exit_code": 0})
    folder.close()
    # pandas cannot write the CSV: an OSError nobody anticipated in the command
    proc = tpmhil("trend", str(tmp_path / "runs"), "--csv", str(tmp_path / "no" / "such" / "dir.csv"))
    assert_one_line_error(proc, "unexpected", "OSError")


def test_usage_errors_are_exit_2_without_traceback(tmp_path):
    for argv in (["trend", "--by", "colour", str(tmp_path)], ["ingest", str(tmp_path / "nope")],
                 ["diff", str(tmp_path / "a"), str(tmp_path / "b")],
                 ["serve", "--listen", "2321"], ["campaign", str(tmp_path / "none.yaml")]):
        proc = tpmhil(*argv)
        assert_one_line_error(proc)


@pytest.mark.parametrize("argv", [
    ["trend", "--days", "nan", "."], ["diff", "a", "b", "--alpha", "inf"],
    ["diff", "a", "b", "--min-ms=-1"], ["serve", "--lease", "nan"],
    ["serve", "--idle-timeout=-inf"], ["gateway", "--serial", "serial+sim://", "--duration", "nan"],
])
def test_non_finite_numbers_on_the_command_line_are_usage_errors(argv):
    proc = tpmhil(*argv)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "finite number" in proc.stderr


def test_a_target_lost_after_the_check_is_a_set_up_error_not_a_chip_fail(tmp_path, capsys):
    """Every test errored at set-up because the target could not be opened (e.g. a labgrid
    place taken between the check and pytest): exit 2, verdict SET-UP ERROR, no report signed."""
    import json

    from harness.cli.cmd_run import finish

    folder = RunFolder.create(tmp_path / "results", "lost")
    now = time.time()
    for name in ("t::a", "t::b"):
        folder.store.add_test(TestRecord(
            nodeid=name, outcome="error", duration_s=0.0, started=now, finished=now,
            message="harness.errors.TargetError: labgrid place board-a is acquired by ci-host-2"))
    path = folder.path
    assert finish(folder, 1, build_report=True) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "set-up error" in err and "acquired by ci-host-2" in err
    summary = json.loads((path / "summary.json").read_text())
    assert summary["verdict"] == "SET-UP ERROR"
    assert not list(tmp_path.rglob("manifest.json")) and not list(tmp_path.rglob("*.sig"))


def test_a_chip_error_in_every_test_is_still_a_fail(tmp_path, capsys):
    from harness.cli.cmd_run import finish

    folder = RunFolder.create(tmp_path / "results", "chip")
    now = time.time()
    folder.store.add_test(TestRecord(nodeid="t::a", outcome="error", duration_s=0.0, started=now,
                                     finished=now, message="TSS2_Exception: tpm:error(2.0): failure"))
    assert finish(folder, 1, build_report=False) == 1
