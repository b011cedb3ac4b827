"""Campaign analysis on a hand-built store: figures per condition, failures
joined with the conditions of their moment, plots written."""

from __future__ import annotations

import pytest

from harness.results.exchange_log import Exchange
from harness.results.store import ResultsStore, TelemetrySample
from harness.results.store import TestRecord as Verdict
from rigs.campaign.analysis import analyze


def _ex(seq: int, t: float, rc: int, dur: float, retries: int) -> Exchange:
    return Exchange(seq, t, "t", 0x17B, "GetRandom", 12, 44 if rc == 0 else 10, rc,
                    "x", dur, retries, 4, 56, 0, "" if rc >= 0 else "timeout")


def test_per_condition_figures_and_failure_join(tmp_path):
    store = ResultsStore(tmp_path)
    for seq, (pid, temp) in enumerate((("p000_T25", 25.0), ("p001_T95", 95.0))):
        store.start_point(pid, seq, pid, {"temperature_c": temp, "voltage_v": 3.3})
        base = 1000.0 + seq * 100
        store.add_telemetry([TelemetrySample(base, "chamber", "temperature", temp, "degC", pid),
                             TelemetrySample(base, "psu", "voltage", 3.3, "V", pid),
                             TelemetrySample(base + 50, "chamber", "temperature", temp + 1, "degC", pid)])
        rows = [_ex(i, base + 10 + i, 0, 0.001 * (i + 1), seq) for i in range(10)]
        if pid == "p001_T95":
            rows.append(_ex(10, base + 60, -1, 2.0, 3))
        store.add_exchanges(rows, worker=pid, point_id=pid)
        for i in range(4):
            outcome = "failed" if (pid == "p001_T95" and i < 3) else "passed"
            store.add_test(Verdict(f"t{i}", outcome, 0.1, base, base + 1, point_id=pid))
        store.add_event("efp_check", {"verdict": "PASS", "out_of_range": temp > 85}, pid)
        store.finish_point(pid)
    store.close()
    table = analyze(tmp_path)
    hot, cold = table.loc["p001_T95"], table.loc["p000_T25"]
    assert cold.pass_rate == 1.0 and hot.pass_rate == 0.25
    assert cold.latency_p50_ms == pytest.approx(5.5) and cold.retries == 0
    assert hot.retries == 13 and hot.no_response == 1 and bool(hot.out_of_range)
    assert cold.temperature_c == 25.0  # conditions at the exchanges' moments
    failures = (tmp_path / "campaign_failures.csv").read_text().splitlines()
    assert len(failures) == 2 and failures[1].endswith(",96.0,3.3")  # joined with 96 °C at t+60
    for name in ("campaign_vs_temperature.png", "campaign_vs_voltage.png", "campaign_telemetry.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_failures_csv_leaves_out_expected_negative_responses(tmp_path):
    import csv

    store = ResultsStore(tmp_path)
    store.start_point("p000", 0, "p000", {"temperature_c": 25.0})
    store.add_telemetry([TelemetrySample(1000.0, "chamber", "temperature", 25.0, "degC", "p000")])
    neg = Exchange(0, 1001.0, "neg", 0x17B, "GetRandom", 12, 10, 0x1D5, "x", 0.001, 0, 4, 56, 0, "")
    bad = Exchange(1, 1002.0, "broken", 0x17B, "GetRandom", 12, 10, 0x98E, "x", 0.001, 0, 4, 56, 0, "")
    store.add_exchanges([neg, bad], worker="p000", point_id="p000")
    store.add_test(Verdict("neg", "passed", 0.1, 1000.5, 1001.5, point_id="p000"))
    store.add_test(Verdict("broken", "failed", 0.1, 1001.5, 1002.5, point_id="p000"))
    store.finish_point("p000")
    store.close()
    analyze(tmp_path, plots=False)
    with open(tmp_path / "campaign_failures.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["test"] for r in rows] == ["broken"]   # the passing negative test's 0x1d5 is not listed
    assert rows[0]["test_outcome"] == "failed"
    assert rows[0]["rc_hex"] == "0x98e" and rows[0]["rc_name"] == "TPM_RC_AUTH_FAIL (session 1)"
