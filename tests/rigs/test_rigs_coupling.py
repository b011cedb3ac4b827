"""SIMULATION coupling model and the EFP/EFT check, on a real spawned swtpm."""

from __future__ import annotations

import json

import pytest

from harness.errors import ConfigError
from harness.targets import open_target
from harness.transports.coupled import Conditions, error_probabilities, wrap_transport
from rigs.campaign.efp_check import run_efp_check


@pytest.fixture(scope="module")
def swtpm_transport():
    target = open_target("swtpm")
    yield target.open()
    target.close()


def _state(path, **values):
    path.write_text(json.dumps({"simulation": True, "seed": 3, **values}))
    return path


def test_model_is_quiet_in_range_and_degrades_past_it():
    assert error_probabilities(Conditions(temperature_c=25.0)) == (0.0, 0.0, 0.0)
    retry, silent, failure = error_probabilities(Conditions(temperature_c=100.0))
    assert retry > 0.3 and silent > 0 and failure > 0
    assert error_probabilities(Conditions(temperature_c=25.0, voltage_v=3.0, nominal_voltage_v=3.3))[0] > 0


def test_state_must_declare_simulation(tmp_path, swtpm_transport):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"temperature_c": 25}))
    with pytest.raises(ConfigError, match="simulation"):
        wrap_transport(swtpm_transport, path)


def test_in_range_every_answer_is_correct(tmp_path, swtpm_transport):
    t = wrap_transport(swtpm_transport, _state(tmp_path / "s.json", temperature_c=25.0))
    result = run_efp_check(t, rounds=2)
    assert result.counts == {"correct": 6, "no_answer": 0, "wrong": 0}


def test_fail_safe_chip_out_of_range_stops_but_never_lies(tmp_path, swtpm_transport):
    t = wrap_transport(swtpm_transport, _state(tmp_path / "s.json", temperature_c=110.0))
    result = run_efp_check(t, rounds=6)
    assert result.counts["no_answer"] > 0 and result.counts["wrong"] == 0
    assert result.verdict == "PASS"
    assert any(x.rc_name == "NO_RESPONSE" or x.rc == 0x101 for x in t.log.drain())


def test_efp_check_catches_a_chip_that_answers_wrongly(tmp_path, swtpm_transport):
    t = wrap_transport(swtpm_transport, _state(tmp_path / "s.json", temperature_c=100.0,
                                              fault_model="corrupting"))
    result = run_efp_check(t, rounds=6)
    assert result.verdict == "FAIL" and result.counts["wrong"] > 0


def test_brown_out_resets_the_chip(tmp_path, swtpm_transport):
    path = _state(tmp_path / "s.json", temperature_c=25.0)
    t = wrap_transport(swtpm_transport, path)
    assert run_efp_check(t, rounds=1).verdict == "PASS"
    _state(path, temperature_c=25.0, power_epoch=1)
    import os
    os.utime(path, (1, 1))  # a new mtime even within the same clock tick
    result = run_efp_check(t, rounds=2)
    assert t.resets == 1
    assert result.counts["no_answer"] >= 1 and result.counts["wrong"] == 0  # TPM_RC_INITIALIZE first


def test_on_a_virtual_chip_the_bus_itself_retries(tmp_path):
    """Past the range the virtual SPI chip holds wait-state storms; the real
    TIS transport code retries and counts them."""
    target = open_target("spi+sim://st33ktpm")
    try:
        path = _state(tmp_path / "s.json", temperature_c=25.0)
        t = wrap_transport(target.open(), path)
        assert t.fault_plan is not None
        assert run_efp_check(t, rounds=1).verdict == "PASS"
        # inside the range the model injects nothing (a busy host may still cost a wait state)
        assert t.fault_plan.injected.get("wait_storm", 0) == 0
        t.log.drain()
        _state(path, temperature_c=95.0)
        import os
        os.utime(path, (2, 2))
        result = run_efp_check(t, rounds=4)
        rows = t.log.drain()
        assert t.fault_plan.injected["wait_storm"] > 0
        assert sum(x.retries for x in rows) >= t.fault_plan.injected["wait_storm"] // 2
        assert result.counts["wrong"] == 0
    finally:
        target.close()
