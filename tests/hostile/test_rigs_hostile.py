"""Hostile and careless rig and campaign files: the supply and the chamber never
leave the safety envelope, whatever the file or the code path says.

Instruments here are the simulators speaking the real wire protocols (SCPI
over a loopback socket, Modbus TCP), so "nothing reached the instrument" is
checked on the simulator's own record of what it received.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rigs.campaign.model import MAX_POINTS, load_campaign
from rigs.campaign.verdict import EXIT, campaign_verdict, is_harness_error
from rigs.errors import RigConfigError
from rigs.safety import Envelope, SafetyError
from rigs.setup import Rig, load_setup
from rigs.sims.physics import ThermalPlant
from rigs.sims.scpi_supply_sim import ScpiSupplySim
from rigs.sims.watlow_sim import WatlowF4TSim

TPMHIL = str(Path(sys.executable).parent / "tpmhil")
RIG = """\
    instruments:
      chamber: {driver: watlow-f4t, address: 'modbus-tcp://192.0.2.1', simulate: {}}
      psu: {driver: keysight-e36xx, address: 'TCPIP::192.0.2.2::5025::SOCKET', nominal_v: 3.3, simulate: {}}
    """


def campaign_file(tmp_path: Path, body: str, rig: str = RIG) -> Path:
    (tmp_path / "rig.yaml").write_text(textwrap.dedent(rig))
    path = tmp_path / "campaign.yaml"
    path.write_text(textwrap.dedent("""\
        name: hostile
        rig: rig.yaml
        target: swtpm
        suites: [suites/functional/test_random.py]
        """) + textwrap.dedent(body))
    return path


def tpmhil(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([TPMHIL, *argv], capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- load time: every value a campaign can command -------------------------------------------

@pytest.mark.parametrize("body, match", [
    # the reproductions: 30 V nominal and 40 V brown-out under a 4.0 V limit, NaN limit
    ("points: [{temperature_c: 25}]\nsafety: {max_voltage_v: 4.0}\n", r"nominal_v: 30 V is outside"),
    ("points: [{temperature_c: 25, events: [{brown_out: {level_v: 40, duration_s: 0.1}}]}]\n"
     "safety: {max_voltage_v: 4.0}\n", r"brown_out\.level_v: 40 V is outside"),
    ("points: [{temperature_c: 25, voltage_v: 50}]\nsafety: {max_voltage_v: .nan}\n",
     r"safety\.max_voltage_v: nan is not a finite number"),
    ("points: [{temperature_c: 25, voltage_v: .nan}]\n", r"voltage_v: nan is not a finite number"),
    ("points: [{temperature_c: .inf}]\n", r"temperature_c: inf is not a finite number"),
    ("points: [{temperature_c: -.inf}]\n", r"temperature_c: -inf is not a finite number"),
    ("points: [{temperature_c: 25, ramp_c_per_min: .nan}]\n", r"ramp_c_per_min: nan"),
    ("points: [{temperature_c: 25, events: [{power_cycle: {off_s: .inf}}]}]\n", r"off_s: inf"),
    ("points: [{temperature_c: 25, events: [{power_cycle: {off_s: 3600}}]}]\n", r"off_s: 3600 s is outside"),
    ("points: [{temperature_c: 25}]\nsafety: {min_temperature_c: 50, max_temperature_c: 10}\n",
     r"min_temperature_c 50.* must be below"),
    ("points: [{temperature_c: 25}]\nsafety: {max_temperature_c: .nan}\n", r"max_temperature_c: nan"),
])
def test_campaign_values_outside_the_envelope_are_load_errors(tmp_path, body, match):
    rig = RIG.replace("nominal_v: 3.3", "nominal_v: 30") if "nominal_v: 30" in match else RIG
    with pytest.raises(RigConfigError, match=match):
        load_campaign(campaign_file(tmp_path, body, rig))


@pytest.mark.parametrize("field, value, match", [
    ("nominal_v", ".nan", "not a finite number"),
    ("current_limit_a", ".inf", "not a finite number"),
    ("ovp_v", "-1", "must be above 0"),
    ("nominal_v", "'3.3'", "expected a number"),
    ("timeout_s", ".nan", "not a finite number"),
])
def test_rig_setup_numbers_must_be_finite(tmp_path, field, value, match):
    rig = tmp_path / "rig.yaml"
    rig.write_text(textwrap.dedent(RIG).replace("nominal_v: 3.3", f"nominal_v: 3.3, {field}: {value}")
                   if field != "nominal_v" else textwrap.dedent(RIG).replace("3.3", value))
    with pytest.raises(RigConfigError, match=match):
        load_setup(rig)


def test_nominal_above_the_overvoltage_protection_is_refused(tmp_path):
    rig = tmp_path / "rig.yaml"
    rig.write_text(textwrap.dedent(RIG).replace("nominal_v: 3.3", "nominal_v: 5.0, ovp_v: 4.2"))
    with pytest.raises(SafetyError, match="not below ovp_v"):
        load_setup(rig)


def test_cli_reports_a_nan_rig_in_one_line_without_touching_anything(tmp_path):
    path = campaign_file(tmp_path, "points: [{temperature_c: 25, voltage_v: 50}]\n"
                                   "safety: {max_voltage_v: .nan}\n")
    proc = tpmhil("campaign", str(path), "--results", str(tmp_path / "results"))
    assert_one_line_error(proc, "safety.max_voltage_v", "not a finite number")
    assert not (tmp_path / "results").exists()


# -- driver layer: the guard refuses before a byte goes out -----------------------------------

@pytest.fixture
def guarded_rig(tmp_path):
    plant = ThermalPlant(ramp_c_per_min=60, time_scale=120, natural_freq=0.1, noise_c=0.0)
    with WatlowF4TSim([plant]) as chamber, ScpiSupplySim("keysight-e36xx") as psu:
        (tmp_path / "rig.yaml").write_text(textwrap.dedent(f"""\
            instruments:
              chamber: {{driver: watlow-f4t, address: '{chamber.address}'}}
              psu: {{driver: keysight-e36xx, address: '{psu.address}', nominal_v: 3.3}}
            """))
        rig = Rig(load_setup(tmp_path / "rig.yaml"),
                  Envelope(min_temperature_c=-40, max_temperature_c=125, max_voltage_v=4.0)).open()
        try:
            yield rig, psu, plant
        finally:
            rig.close()


def _volt_commands(psu: ScpiSupplySim) -> list[str]:
    return [r for r in psu.requests if r.upper().startswith("VOLT ")]


@pytest.mark.parametrize("volts", [30.0, 4.01, -1.0, math.nan, math.inf, -math.inf])
def test_guard_refuses_a_set_point_outside_the_envelope(guarded_rig, volts):
    rig, psu, _ = guarded_rig
    rig.supply.set_voltage(3.3)
    before = _volt_commands(psu)
    with pytest.raises(SafetyError, match="set_voltage"):
        rig.supply.set_voltage(volts)
    assert _volt_commands(psu) == before  # nothing reached the supply
    assert psu.plants[0].set_v == pytest.approx(3.3)


@pytest.mark.parametrize("level", [40.0, math.nan])
def test_guard_refuses_a_brown_out_level_outside_the_envelope(guarded_rig, level):
    rig, psu, _ = guarded_rig
    rig.supply.set_voltage(3.3)
    before = _volt_commands(psu)
    with pytest.raises(SafetyError, match="brown_out level_v"):
        rig.supply.brown_out(level, 0.01)
    assert _volt_commands(psu) == before


def test_guard_lets_a_brown_out_inside_the_envelope_through(guarded_rig):
    rig, psu, _ = guarded_rig
    rig.supply.set_voltage(3.3)
    rig.supply.brown_out(1.8, 0.01)
    assert _volt_commands(psu)[-2:] == ["VOLT 1.8000", "VOLT 3.3000"]


def test_guard_refuses_nan_current_limit_and_power_cycle_time(guarded_rig):
    rig, psu, _ = guarded_rig
    before = list(psu.requests)
    with pytest.raises(SafetyError):
        rig.supply.set_current_limit(math.nan)
    with pytest.raises(SafetyError):
        rig.supply.power_cycle(math.inf)
    with pytest.raises(SafetyError):
        rig.supply.set_ovp(math.nan)
    assert psu.requests == before


def test_guard_hides_driver_calls_that_would_bypass_it(guarded_rig):
    rig, _, _ = guarded_rig
    with pytest.raises(AttributeError, match="bypasses the safety envelope"):
        rig.supply.apply(30.0, 1.0)


@pytest.mark.parametrize("celsius", [500.0, -100.0, math.nan, math.inf])
def test_guard_refuses_a_chamber_set_point_outside_the_envelope(guarded_rig, celsius):
    rig, _, plant = guarded_rig
    rig.chamber.set_temperature(25.0)
    with pytest.raises(SafetyError, match="set_temperature|ramp_to"):
        rig.chamber.set_temperature(celsius)
    with pytest.raises(SafetyError):
        rig.chamber.ramp_to(celsius, 10.0)
    assert plant.set_point_c == pytest.approx(25.0)


def test_guard_refuses_a_nan_ramp_rate(guarded_rig):
    rig, _, plant = guarded_rig
    rig.chamber.set_temperature(25.0)
    with pytest.raises(SafetyError, match="ramp rate"):
        rig.chamber.ramp_to(30.0, math.nan)
    assert plant.set_point_c == pytest.approx(25.0)


def test_rig_refuses_a_nominal_voltage_above_the_envelope(tmp_path):
    (tmp_path / "rig.yaml").write_text(textwrap.dedent(RIG).replace("3.3", "30"))
    with pytest.raises(SafetyError, match="nominal_v: 30 V is outside"):
        Rig(load_setup(tmp_path / "rig.yaml"), Envelope(max_voltage_v=4.0))


# -- file shapes: bombs, encodings, names, quotes ---------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


def test_yaml_alias_bomb_is_refused_before_it_expands(tmp_path):
    path = tmp_path / "campaign.yaml"
    path.write_text(BOMB)
    with pytest.raises(RigConfigError, match="expands to more than"):
        load_campaign(path)
    assert_one_line_error(tpmhil("campaign", str(path)), "expands to more than")


def test_recursive_alias_is_refused(tmp_path):
    path = tmp_path / "campaign.yaml"
    path.write_text("name: &n [*n]\n")
    with pytest.raises(RigConfigError, match="recursive alias"):
        load_campaign(path)


def test_oversized_and_endless_yaml_files_are_not_read_whole(tmp_path):
    with pytest.raises(RigConfigError, match="larger than"):
        load_setup("/dev/zero")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (9 * 1024 * 1024))
    with pytest.raises(RigConfigError, match="larger than"):
        load_setup(big)


def test_non_utf8_file_is_one_line(tmp_path):
    path = tmp_path / "campaign.yaml"
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(RigConfigError, match="not UTF-8"):
        load_campaign(path)
    assert_one_line_error(tpmhil("campaign", str(path)), "not UTF-8")


def test_point_explosion_is_refused_with_a_clear_error(tmp_path):
    temps = list(range(-40, 60))
    volts = [round(3.0 + i * 0.001, 3) for i in range(100)]
    body = f"points: [{{temperature_c: {temps}, voltage_v: {volts}, repetitions: 1000}}]\n"
    with pytest.raises(RigConfigError, match=f"more than {MAX_POINTS} points"):
        load_campaign(campaign_file(tmp_path, body))


def test_unbalanced_quotes_in_a_suite_string_are_one_line(tmp_path):
    path = campaign_file(tmp_path, "points: [{temperature_c: 25}]\n")
    path.write_text(path.read_text().replace("[suites/functional/test_random.py]",
                                             "[\"suites/functional/test_random.py -k 'oops\"]"))
    with pytest.raises(RigConfigError, match="cannot split into arguments"):
        load_campaign(path)
    assert_one_line_error(tpmhil("campaign", str(path)), "cannot split into arguments")


@pytest.mark.parametrize("name", ["../../escaped", "/etc/cron.d/x", "a/b", ".hidden", "..", ""])
def test_campaign_name_cannot_escape_the_results_base(tmp_path, name):
    path = campaign_file(tmp_path, "points: [{temperature_c: 25}]\n")
    path.write_text(path.read_text().replace("name: hostile", f"name: {name!r}"))
    with pytest.raises(RigConfigError, match="is not a plain name"):
        load_campaign(path)
    proc = tpmhil("campaign", str(path), "--results", str(tmp_path / "results"))
    assert_one_line_error(proc, "is not a plain name")
    assert not (tmp_path / "results").exists()


def test_resume_refuses_an_ordinary_run_folder(tmp_path):
    from harness.results.run_folder import RunFolder

    folder = RunFolder.create(tmp_path / "results", "plain-run")
    folder.close()
    path = campaign_file(tmp_path, "points: [{temperature_c: 25}]\n")
    before = _meta(folder.path)
    proc = tpmhil("campaign", str(path), "--resume", str(folder.path))
    assert_one_line_error(proc, "not a campaign's")
    assert _meta(folder.path) == before and before["kind"] == '"run"'
    assert not (folder.path / "env_state.json").exists()


def _meta(folder: Path) -> dict[str, str]:
    import sqlite3

    with sqlite3.connect(f"file:{folder / 'store.sqlite'}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT key, value FROM meta"))


def test_resume_refuses_a_folder_without_a_store(tmp_path):
    path = campaign_file(tmp_path, "points: [{temperature_c: 25}]\n")
    proc = tpmhil("campaign", str(path), "--resume", str(tmp_path))
    assert_one_line_error(proc, "not a results folder")


# -- campaign verdicts (issue 17) ---------------------------------------------------------------

@pytest.mark.parametrize("outcome, message, harness", [
    ("failed", "AttributeError: 'NoneType' object has no attribute 'manufacturer'", True),
    ("failed", "TypeError: unsupported operand type(s) for +: 'NoneType' and 'int'", True),
    ("error", "fixture 'identity' not found", True),
    ("error", "harness.errors.ConfigError: no chip profile", True),
    ("failed", "AssertionError: assert 1 == 0", False),
    ("failed", "tpm2_pytss.TSS2_Exception.TSS2_Exception: tpm:error(2.0): commands not being accepted because of a TPM failure", False),
    ("error", "harness.errors.TpmTimeoutError: TPM2_Startup did not answer", False),
    ("failed", "assert b'' == b'\\x00'", False),
    ("error", "fixtures/plugin.py:234: AssertionError", True),
    ("error", "assert None is not None", True),
    ("error", "Failed: not run: the chip entered failure mode during t::x (TPM_RC_FAILURE)", False),
])
def test_harness_errors_are_told_from_chip_failures(outcome, message, harness):
    assert is_harness_error(outcome, message) is harness


def test_campaign_exit_code_follows_the_printed_verdict():
    assert campaign_verdict(0, 0, 0, 10) == "PASS" and EXIT["PASS"] == 0
    assert campaign_verdict(1, 0, 0, 10) == "FAIL" and EXIT["FAIL"] == 1
    assert campaign_verdict(0, 2, 0, 10) == "FAIL"
    assert campaign_verdict(0, 0, 3, 10) == "INCOMPLETE" and EXIT["INCOMPLETE"] == 2
    assert campaign_verdict(0, 2, 3, 10) == "FAIL"  # a real finding wins over harness errors


FAST_RIG = """\
    instruments:
      chamber: {driver: watlow-f4t, address: 'modbus-tcp://192.0.2.1', simulate: {ramp_c_per_min: 120, time_scale: 240, natural_freq: 0.1, noise_c: 0.0}}
      psu: {driver: keysight-e36xx, address: 'TCPIP::192.0.2.2::5025::SOCKET', nominal_v: 3.3, simulate: {}}
    """


def test_campaign_run_exits_with_its_verdict_and_keeps_harness_errors_apart(tmp_path):
    """A real campaign on simulated instruments and a spawned swtpm: an assertion failing at
    the nominal point makes it FAIL with exit 1; an AttributeError on ``identity`` being None
    at a stressed point (100 °C, beyond the rated 85 °C) is a harness error, not a chip one."""
    (tmp_path / "test_nominal.py").write_text("def test_chip_answer():\n    assert 1 == 2\n")
    (tmp_path / "test_stressed.py").write_text(
        "def test_identity_bug():\n    identity = None\n    assert identity.manufacturer\n")
    path = campaign_file(tmp_path, f"""\
        defaults: {{dwell_s: 0, band_c: 2.0, stable_timeout_s: 60, voltage_v: 3.3}}
        points:
          - {{temperature_c: 25, suites: ['{tmp_path / "test_nominal.py"}']}}
          - {{temperature_c: 100, suites: ['{tmp_path / "test_stressed.py"}']}}
        efp: {{rated_c: [-40, 85]}}
        coupling: {{enabled: false}}
        safety: {{max_temperature_c: 120, max_voltage_v: 4.0}}
        telemetry: {{interval_s: 0.3}}
        point_timeout_s: 120
        """, FAST_RIG)
    proc = tpmhil("campaign", str(path), "--results", str(tmp_path / "results"), "--efp-rounds", "1",
                  timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    verdict_line = [line for line in proc.stdout.splitlines() if line.startswith("verdict ")]
    assert verdict_line and verdict_line[0].startswith("verdict FAIL"), proc.stdout + proc.stderr
    assert proc.returncode == 1
    import json

    (summary_file,) = (tmp_path / "results").glob("*/summary.json")
    summary = json.loads(summary_file.read_text())
    assert summary["verdict"] == "FAIL"
    assert summary["nominal_point_test_failures"] == 1
    assert summary["stressed_point_test_failures"] == 0
    assert summary["harness_errors"] == 1


def test_drivers_themselves_refuse_non_finite_numbers():
    """Belt and braces below the guard: a driver used on its own never formats NaN."""
    from rigs.drivers.scpi_supply import ScpiSupply
    from rigs.drivers.watlow_f4t import WatlowF4T

    plant = ThermalPlant(noise_c=0.0)
    with ScpiSupplySim("rigol-dp8xx") as sim, WatlowF4TSim([plant]) as chamber_sim:
        psu = ScpiSupply("psu", sim.address, model="rigol-dp8xx")
        chamber = WatlowF4T("chamber", chamber_sim.address)
        try:
            before = list(sim.requests)
            for call in (lambda: psu.set_voltage(math.nan), lambda: psu.apply(math.inf, 0.1),
                         lambda: psu.set_current_limit(math.nan), lambda: psu.set_ovp(-math.inf)):
                with pytest.raises(SafetyError, match="not a finite number"):
                    call()
            assert sim.requests == before
            set_point = plant.set_point_c
            with pytest.raises(SafetyError):
                chamber.set_temperature(math.nan)
            assert plant.set_point_c == set_point
        finally:
            psu.close()
            chamber.close()


def test_campaign_with_no_available_target_is_a_set_up_error(tmp_path):
    path = campaign_file(tmp_path, "points: [{temperature_c: 25}]\n")
    path.write_text(path.read_text().replace("target: swtpm", "target: 'swtpm?bogus=1'"))
    proc = tpmhil("campaign", str(path), "--results", str(tmp_path / "results"))
    assert_one_line_error(proc, "no campaign target is available", "bogus")
    assert not (tmp_path / "results").exists()
