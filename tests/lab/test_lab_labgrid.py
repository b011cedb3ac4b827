"""``labgrid://PLACE`` with a real coordinator and exporter on localhost."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import ConfigError, TargetError
from harness.lab.coordinator import Coordinator
from harness.lab.fanout import matching_places, run_places
from harness.lab.ingest import ingest, row_counts
from harness.lab.testbed import free_port
from harness.targets import open_target

# A run that acquires a place, reports, and holds it until a file appears.
HOLDER = """
import sys, time, pathlib
from harness.targets import open_target
from harness.errors import HarnessError
target = open_target(sys.argv[1])
try:
    target.open()
except HarnessError as exc:
    print("REFUSED", exc, flush=True)
    sys.exit(3)
print("HELD", flush=True)
release = pathlib.Path(sys.argv[2])
deadline = time.monotonic() + 120
while not release.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
target.close()
"""


def holder_of(lab, place: str) -> str | None:
    coordinator = Coordinator(lab.address)
    try:
        return coordinator.holder(place)
    finally:
        coordinator.close()


def spawn_holder(lab, place: str, release: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOLDER,
                             f"labgrid://{place}?coordinator={lab.address}", str(release)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_functional_suite_through_a_labgrid_place(lab, helpers):
    result = helpers.functional_suite(f"labgrid://board-a?coordinator={lab.address}")
    assert result.returncode == 0, result.stdout[-3000:]
    assert helpers.passed_count(result.stdout) >= 30
    assert "skipped" not in result.stdout.splitlines()[-1]
    assert holder_of(lab, "board-a") is None  # released at the end of the run


def test_target_finds_the_served_tpm_and_uses_lg_coordinator(lab, monkeypatch):
    monkeypatch.setenv("LG_COORDINATOR", lab.address)
    target = open_target("labgrid://board-b")
    try:
        target.open()
        info = target.describe()
        assert info["tpm"] == lab.served["board-b"].uri
        assert info["resource"] == "tpm"
        assert "+tpmhil-" in holder_of(lab, "board-b")
    finally:
        target.close()
    assert holder_of(lab, "board-b") is None


def test_two_concurrent_runs_cannot_both_hold_a_place(lab, tmp_path):
    release = tmp_path / "release"
    procs = [spawn_holder(lab, "board-a", release) for _ in range(2)]
    try:
        first_lines = [p.stdout.readline().strip() for p in procs]
    finally:
        release.touch()
    codes = [p.wait(timeout=60) for p in procs]
    outputs = [line + p.stdout.read() for line, p in zip(first_lines, procs)]
    for p in procs:
        p.stdout.close()
    held = [o for o in outputs if o.startswith("HELD")]
    refused = [o for o in outputs if o.startswith("REFUSED")]
    assert len(held) == 1 and len(refused) == 1, outputs
    assert "is held by" in refused[0] and "two runs never share a board" in refused[0]
    assert sorted(codes) == [0, 3]
    assert holder_of(lab, "board-a") is None


def test_a_run_killed_while_holding_is_released_on_the_next_acquire(lab, tmp_path):
    proc = spawn_holder(lab, "board-b", tmp_path / "never")
    assert proc.stdout.readline().startswith("HELD")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    dead = holder_of(lab, "board-b")
    assert dead and dead.endswith(f"+tpmhil-{proc.pid}")  # the coordinator still holds it for them
    target = open_target(f"labgrid://board-b?coordinator={lab.address}")
    try:
        target.open()  # sees the holder's process gone, releases from it, acquires
        assert holder_of(lab, "board-b") != dead
    finally:
        target.close()


def test_place_errors_name_the_problem(lab, monkeypatch):
    with pytest.raises(TargetError, match=r"'board-z' does not exist.*board-a, board-b"):
        open_target(f"labgrid://board-z?coordinator={lab.address}").open()
    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    with pytest.raises(ConfigError, match="LG_COORDINATOR"):
        open_target("labgrid://board-a")
    with pytest.raises(ConfigError, match="no labgrid place .* matches 'rack9'"):
        run_places("rack9", [], coordinator=lab.address)
    closed_port = free_port()
    with pytest.raises(TargetError, match=f"127.0.0.1:{closed_port}: cannot connect"):
        open_target(f"labgrid://board-a?coordinator=127.0.0.1:{closed_port}").open()


def test_places_fan_out_into_one_run(lab, tmp_path, pg_conn, helpers):
    out = helpers.run_tool(["tpmhil", "run", "--places", "board", "--results", str(tmp_path),
                            "-k", "random or pcr"], LG_COORDINATOR=lab.address)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 place(s)" in out.stdout
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for place in ("board-a", "board-b"):
        folder = run / "places" / place
        assert (folder / "store.sqlite").exists(), (run / "places" / f"{place}.log").read_text()
        summary = (folder / "summary.json").read_text()
        assert '"verdict": "PASS"' in summary
    assert '"board-a"' in (run / "summary.json").read_text()
    assert holder_of(lab, "board-a") is None and holder_of(lab, "board-b") is None
    assert matching_places("board-", lab.address) == ["board-a", "board-b"]
    # The lab database sees each place as a run of the fan-out.
    ingest([run], conn=pg_conn)
    rows = pg_conn.execute("SELECT run_id, place, parent_run, bus FROM runs ORDER BY run_id").fetchall()
    assert rows == [(f"{run.name}/{p}", p, run.name, "labgrid") for p in ("board-a", "board-b")]
    expected = sum(helpers.store_counts(run / "places" / p)["tests"] for p in ("board-a", "board-b"))
    assert row_counts(pg_conn)["tests"] == expected > 0
    # Naming the places folder (or one place) directly finds the same runs: nothing new.
    again = ingest([run / "places", run / "places" / "board-a"], conn=pg_conn)
    assert again.runs == [f"{run.name}/board-a", f"{run.name}/board-b", f"{run.name}/board-a"]
    assert sum(again.added.values()) == 0


def test_lg_env_file_names_the_same_place(lab, tmp_path, monkeypatch):
    from harness.lab.lg_env import tpm_uri_from_lg_env

    monkeypatch.delenv("LG_COORDINATOR", raising=False)
    env_file = tmp_path / "board-b.yaml"
    env_file.write_text("targets:\n  main:\n    resources:\n      RemotePlace:\n"
                        f"        name: board-b\noptions:\n  coordinator_address: {lab.address}\n")
    uri = tpm_uri_from_lg_env(env_file)
    assert uri == f"labgrid://board-b?coordinator={lab.address}"
    target = open_target(uri)
    try:
        target.open()
        assert target.describe()["tpm"] == lab.served["board-b"].uri
    finally:
        target.close()
    env_file.write_text("targets:\n  main:\n    resources: {}\n")
    with pytest.raises(ConfigError, match="exactly one RemotePlace"):
        tpm_uri_from_lg_env(env_file)


def test_exporter_example_is_valid_for_labgrid():
    """The shipped exporter example renders with labgrid's own template rules and
    every resource passes labgrid's own validation."""
    from labgrid import Target
    from labgrid.factory import target_factory
    from labgrid.remote.config import ResourceConfig

    example = Path(__file__).parents[2] / "harness" / "lab" / "examples" / "exporter-bench-host.yaml"
    config = ResourceConfig(str(example), {"env": {}, "isolated": False,
                                           "hostname": "bench-host-1", "name": "bench-host-1"})
    made = {}
    for group, resources in config.data.items():
        target = Target(group)
        for name, params in resources.items():
            if name == "location":
                continue
            params = dict(params)
            cls = params.pop("cls", name)
            made[f"{group}/{name}"] = type(target_factory.make_resource(target, cls, name, params)).__name__
    assert made["st33-spi-01/tpm"] == made["slb9673-i2c-01/tpm"] == "NetworkService"
    assert made["st33-spi-01/psu"] == "PyVISADevice"
    assert made["st33-spi-01/mains"] == "NetworkPowerPort"
    assert made["slb9673-i2c-01/chamber-run"] == "ModbusTCPCoil"
