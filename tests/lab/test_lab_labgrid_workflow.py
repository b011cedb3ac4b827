"""labgrid the way labgrid users work: ``labgrid-client acquire`` first, then
``pytest --lg-env`` through labgrid's own driver; ``allow``; reservations.

Real coordinator, exporter and served swtpms on localhost (the ``lab`` fixture).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from getpass import getuser
from pathlib import Path

import pytest

from harness.lab.coordinator import Coordinator, labgrid_identity
from harness.lab.lg_env import tpm_uri_from_lg_env
from harness.targets import open_target

VENV_BIN = Path(sys.executable).parent


def labgrid_client(lab, place: str, *args: str, user: str | None = None) -> str:
    """``labgrid-client -p PLACE ARGS`` against the lab's coordinator, as ``user``."""
    env = {**os.environ, "LG_COORDINATOR": lab.address}
    if user:
        env["LG_USERNAME"] = user
    out = subprocess.run([str(VENV_BIN / "labgrid-client"), "-p", place, *args],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def holder_of(lab, place: str) -> str | None:
    coordinator = Coordinator(lab.address)
    try:
        return coordinator.holder(place)
    finally:
        coordinator.close()


def env_file(tmp_path: Path, lab, place: str, power_log: Path) -> Path:
    """A labgrid environment: the place, a power driver and tpm-hil's driver/strategy.

    The power driver is labgrid's ExternalPowerDriver; its commands record each
    call, so the test sees that power went through the place's driver."""
    path = tmp_path / f"{place}.yaml"
    path.write_text(
        "imports:\n  - harness.lab.labgrid_driver\n"
        "targets:\n  main:\n    resources:\n      RemotePlace:\n"
        f"        name: {place}\n"
        "    drivers:\n"
        "      ExternalPowerDriver:\n"
        f"        cmd_on: sh -c 'echo on >> {power_log}'\n"
        f"        cmd_off: sh -c 'echo off >> {power_log}'\n"
        f"        cmd_cycle: sh -c 'echo cycle >> {power_log}'\n"
        "      TpmHilDriver: {}\n"
        "      TpmHilStrategy: {}\n"
        f"options:\n  coordinator_address: {lab.address}\n")
    return path


def test_lg_env_with_the_driver_is_run_by_labgrid_on_a_place_the_user_acquired(
        lab, tmp_path, helpers):
    power_log = tmp_path / "power.log"
    env = env_file(tmp_path, lab, "board-a", power_log)
    assert tpm_uri_from_lg_env(env) == f"lgenv://{env.resolve()}"
    labgrid_client(lab, "board-a", "acquire")
    try:
        assert holder_of(lab, "board-a") == labgrid_identity()
        result = helpers.run_tool(["pytest", "suites", "-m", "functional", "--lg-env", str(env),
                                   "-q", "-p", "no:cacheprovider"], timeout=400)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
        assert helpers.passed_count(result.stdout) >= 30
        # The user's place stays theirs: tpm-hil neither acquired nor released it.
        assert holder_of(lab, "board-a") == labgrid_identity()
        # The strategy brought the board up through the place's power driver.
        assert power_log.read_text().split() == ["on"]
    finally:
        labgrid_client(lab, "board-a", "release")


def test_power_cycles_go_through_the_places_power_driver(lab, tmp_path):
    power_log = tmp_path / "power.log"
    env = env_file(tmp_path, lab, "board-b", power_log)
    labgrid_client(lab, "board-b", "acquire")
    target = open_target(tpm_uri_from_lg_env(env))
    try:
        transport = target.open()
        transport.power_cycle()
        assert power_log.read_text().split() == ["on", "cycle"]
        info = target.describe()
        assert info["power"] == "ExternalPowerDriver"
        assert info["tpm"] == lab.served["board-b"].uri
    finally:
        target.close()
        labgrid_client(lab, "board-b", "release")


def test_lg_env_refuses_a_place_the_user_does_not_hold(lab, tmp_path):
    from harness.errors import TargetError

    env = env_file(tmp_path, lab, "board-a", tmp_path / "power.log")
    target = open_target(tpm_uri_from_lg_env(env))
    try:
        with pytest.raises(TargetError, match="not acquired|acquire"):
            target.open()
    finally:
        target.close()
    assert holder_of(lab, "board-a") is None


def test_a_place_allowed_by_its_holder_is_used_and_left_to_them(lab):
    me = labgrid_identity()
    labgrid_client(lab, "board-b", "acquire", user="alice")
    try:
        holder = holder_of(lab, "board-b")
        assert holder.endswith("/alice")
        refused = open_target(f"labgrid://board-b?coordinator={lab.address}")
        with pytest.raises(Exception, match="held by"):
            refused.open()
        refused.close()
        labgrid_client(lab, "board-b", "allow", me, user="alice")
        target = open_target(f"labgrid://board-b?coordinator={lab.address}")
        try:
            target.open()
            assert target.describe()["acquired_by"] == "user"
        finally:
            target.close()
        assert holder_of(lab, "board-b") == holder  # still alice's
    finally:
        labgrid_client(lab, "board-b", "release", user="alice")


def test_a_busy_place_is_waited_for_through_a_reservation(lab):
    labgrid_client(lab, "board-a", "acquire", user="bob")
    seen_reservation: list[str] = []

    def release_later() -> None:
        # labgrid-client in a child process: this process's event loop belongs to the run.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not seen_reservation:
            listing = subprocess.run([str(VENV_BIN / "labgrid-client"), "reservations"],
                                     capture_output=True, text=True, timeout=30,
                                     env={**os.environ, "LG_COORDINATOR": lab.address}).stdout
            if "name=board-a" in listing and "waiting" in listing:
                seen_reservation.append(listing)
            time.sleep(0.3)
        labgrid_client(lab, "board-a", "release", user="bob")

    releaser = threading.Thread(target=release_later)
    releaser.start()
    target = open_target(f"labgrid://board-a?coordinator={lab.address}&wait=60")
    try:
        started = time.monotonic()
        target.open()
        assert time.monotonic() - started < 60
        assert "+tpmhil-" in holder_of(lab, "board-a")
    finally:
        target.close()
        releaser.join(timeout=60)
    assert seen_reservation, "the waiting run did not queue through a labgrid reservation"
    assert holder_of(lab, "board-a") is None


def test_a_wait_that_runs_out_names_the_holder(lab):
    from harness.errors import TargetError

    labgrid_client(lab, "board-b", "acquire", user="carol")
    try:
        target = open_target(f"labgrid://board-b?coordinator={lab.address}&wait=2")
        with pytest.raises(TargetError, match=r"held by .*/carol; still waiting after 2 s"):
            target.open()
        target.close()
    finally:
        labgrid_client(lab, "board-b", "release", user="carol")


def test_labgrid_identity_is_labgrids(monkeypatch):
    monkeypatch.delenv("LG_HOSTNAME", raising=False)
    monkeypatch.delenv("LG_USERNAME", raising=False)
    assert labgrid_identity() == f"{socket.gethostname()}/{getuser()}"
    monkeypatch.setenv("LG_USERNAME", "dave")
    assert labgrid_identity().endswith("/dave")


def test_env_example_names_tpm_hils_driver_for_labgrid():
    """The shipped environment example parses with labgrid's own config reader and
    is turned into an lgenv:// target (labgrid's objects, not just the place name)."""
    import yaml
    from labgrid.config import Config

    example = Path(__file__).parents[2] / "harness" / "lab" / "examples" / "env-st33-spi-01.yaml"
    config = Config(str(example))
    drivers = yaml.safe_load(example.read_text())["targets"]["main"]["drivers"]
    assert {"TpmHilDriver", "TpmHilStrategy", "NetworkPowerDriver"} <= set(drivers)
    assert config.get_imports()  # the driver module, as labgrid imports it
    assert tpm_uri_from_lg_env(example) == f"lgenv://{example.resolve()}"
