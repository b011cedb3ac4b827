"""A campaign killed mid-point resumes with nothing lost or duplicated; a
silent instrument puts the rig in a safe state, recorded with its reason."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.results.run_folder import RunFolder
from rigs.campaign.model import load_campaign
from rigs.campaign.runner import CampaignRunner
from rigs.errors import CampaignAbort
from rigs.sims.physics import ThermalPlant
from rigs.sims.scpi_supply_sim import ScpiSupplySim
from rigs.sims.watlow_sim import WatlowF4TSim

REPO = Path(__file__).resolve().parents[2]
SELECTION = f"{REPO}/suites/functional/test_random.py"


def _campaign(tmp_path: Path, rig: str, points: str, extra: str = "") -> Path:
    (tmp_path / "rig.yaml").write_text(textwrap.dedent(rig))
    path = tmp_path / "campaign.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: resume-test
        rig: rig.yaml
        target: swtpm
        suites: ['{SELECTION}']
        defaults: {{dwell_s: 0.5, band_c: 1.0, stable_timeout_s: 60, voltage_v: 3.3}}
        points: {points}
        coupling: {{enabled: false}}
        telemetry: {{interval_s: 0.3}}
        point_timeout_s: 240
        """) + extra)
    return path


SIM_RIG = """\
    instruments:
      chamber: {driver: watlow-f4t, address: 'modbus-tcp://192.0.2.1', simulate: {ramp_c_per_min: 60, time_scale: 120, natural_freq: 0.1}}
      psu: {driver: rigol-dp8xx, address: 'TCPIP::192.0.2.2::5025::SOCKET', nominal_v: 3.3, simulate: {}}
    """


def _rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_kill_mid_point_then_resume_loses_and_duplicates_nothing(tmp_path):
    path = _campaign(tmp_path, SIM_RIG, "[{temperature_c: 25}, {temperature_c: 40}, {temperature_c: 30}]")
    base = tmp_path / "results"
    cmd = [str(Path(sys.executable).parent / "tpmhil"), "campaign", str(path), "--results", str(base),
           "--efp-rounds", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = None
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:  # wait until point 2 has written some tests
            found = list(base.glob("*/store.sqlite"))
            if found:
                db = found[0]
                try:
                    started = _rows(db, "SELECT COUNT(*) FROM tests WHERE point_id LIKE 'p001%' "
                                        "AND nodeid LIKE '%test_random%'")[0][0] >= 1
                except sqlite3.OperationalError:  # the store is still being created
                    started = False
                if started:
                    break
            assert proc.poll() is None, "campaign ended before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("point 2 never started writing tests")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert dict(_rows(db, "SELECT point_id, status FROM points")) == {
        "p000_T25_V3.3": "done", "p001_T40_V3.3": "running"}
    before_p0 = _rows(db, "SELECT COUNT(*), (SELECT COUNT(*) FROM exchanges WHERE point_id='p000_T25_V3.3'), "
                          "(SELECT COUNT(*) FROM telemetry WHERE point_id='p000_T25_V3.3') "
                          "FROM tests WHERE point_id='p000_T25_V3.3'")[0]
    time.sleep(0.5)  # the pytest child dies with the runner: nothing more is written
    partial = _rows(db, "SELECT COUNT(*) FROM tests WHERE point_id='p001_T40_V3.3'")[0][0]
    assert partial == _rows(db, "SELECT COUNT(*) FROM tests WHERE point_id='p001_T40_V3.3'")[0][0]

    done = subprocess.run(cmd + ["--resume", str(db.parent)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    statuses = dict(_rows(db, "SELECT point_id, status FROM points"))
    assert set(statuses.values()) == {"done"} and len(statuses) == 3
    after_p0 = _rows(db, "SELECT COUNT(*), (SELECT COUNT(*) FROM exchanges WHERE point_id='p000_T25_V3.3'), "
                         "(SELECT COUNT(*) FROM telemetry WHERE point_id='p000_T25_V3.3') "
                         "FROM tests WHERE point_id='p000_T25_V3.3'")[0]
    assert after_p0 == before_p0  # the completed point is untouched
    per_point = _rows(db, "SELECT point_id, COUNT(*), COUNT(DISTINCT nodeid) FROM tests GROUP BY point_id")
    counts = {pid: (n, distinct) for pid, n, distinct in per_point}
    assert len(counts) == 3
    assert {n for n, _ in counts.values()} == {before_p0[0]}  # same tests at every point, once each
    assert all(n == distinct for n, distinct in counts.values())
    assert _rows(db, "SELECT COUNT(*) FROM events WHERE kind='point_restarted'")[0][0] == 1
    assert _rows(db, "SELECT COUNT(*) FROM exchanges WHERE point_id='p001_T40_V3.3'")[0][0] > 0
    assert (db.parent / "campaign_vs_temperature.png").stat().st_size > 0
    assert "p001_T40_V3.3" in (db.parent / "campaign_conditions.csv").read_text()


def test_silent_chamber_mid_campaign_leads_to_recorded_safe_state(tmp_path):
    plant = ThermalPlant(ramp_c_per_min=60, time_scale=120, natural_freq=0.1, noise_c=0.0)
    with WatlowF4TSim([plant]) as chamber, ScpiSupplySim("keysight-e36xx") as psu:
        rig = f"""\
            instruments:
              chamber: {{driver: watlow-f4t, address: '{chamber.address}', timeout_s: 0.5}}
              psu: {{driver: keysight-e36xx, address: '{psu.address}', nominal_v: 3.3, timeout_s: 0.5}}
            """
        path = _campaign(tmp_path, rig, "[{temperature_c: 30, dwell_s: 60}]")
        folder = RunFolder.create(tmp_path / "results", "safe", kind="campaign")
        runner = CampaignRunner(load_campaign(path), folder, out=open(os.devnull, "w"), efp_rounds=1)

        import threading

        def go_silent() -> None:
            while not (folder.path / "store.sqlite").exists() or not _rows(
                    folder.path / "store.sqlite", "SELECT 1 FROM points WHERE status='running'"):
                time.sleep(0.05)
            time.sleep(1.0)
            chamber.silent = True

        threading.Thread(target=go_silent, daemon=True).start()
        with pytest.raises(CampaignAbort, match="safe state.*'chamber'"):
            runner.run()
        assert not psu.plants[0].on  # supply switched off
        events = folder.store.query("SELECT detail FROM events WHERE kind='safe_state'")
        assert len(events) == 1 and "'chamber'" in events[0][0] and "output off" in events[0][0]
        assert folder.store.query("SELECT status FROM points") == [("aborted",)]
        folder.close()


def test_a_selection_that_cannot_run_stops_the_campaign_safely(tmp_path):
    path = _campaign(tmp_path, SIM_RIG, "[{temperature_c: 25}]")
    path.write_text(path.read_text().replace(SELECTION, str(tmp_path / "no_such_test_file.py")))
    folder = RunFolder.create(tmp_path / "results", "bad-selection", kind="campaign")
    runner = CampaignRunner(load_campaign(path), folder, out=open(os.devnull, "w"), efp_rounds=1)
    with pytest.raises(CampaignAbort, match=r"no_such_test_file\.py.*exited 4"):
        runner.run()
    detail = folder.store.query("SELECT detail FROM events WHERE kind='safe_state'")
    assert len(detail) == 1 and "output off" in detail[0][0]
    assert folder.store.query("SELECT status FROM points") == [("aborted",)]
    folder.close()
