"""What the report says about campaigns and failures: readable events, the harness's own reason."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from reports.campaign_view import events_rows, harness_reason
from reports.provenance_view import printable, run_facts
from reports.run_data import load_run

CATCH_ALL = "tpm2_pytss.TSS2_Exception.TSS2_Exception: tcti:Catch all for all errors not otherwise specified"


def test_vague_tss_message_gives_way_to_the_harness_reason() -> None:
    timeout = "spi+sim://st33ktpm: TPM2_GetRandom got no response within 1.750 s"
    assert harness_reason(CATCH_ALL, "", ["", timeout]).startswith(timeout)
    assert harness_reason(CATCH_ALL, "", [timeout]).endswith(f"(reported as: {CATCH_ALL})")
    longrepr = f"E   {CATCH_ALL}\nE   AssertionError: chip is in failure mode after the test\n"
    assert harness_reason("fixtures/plugin.py:215: AssertionError", longrepr, []).startswith(
        "AssertionError: chip is in failure mode after the test")
    assert harness_reason("AssertionError: expected 8 bytes", "", [timeout]) == "AssertionError: expected 8 bytes"
    assert harness_reason(CATCH_ALL, "", []) == CATCH_ALL      # nothing better recorded: kept


def test_events_read_in_utc_and_words() -> None:
    events = pd.DataFrame([{"t": 1795984000.5, "kind": "brown_out", "point_id": "p5",
                            "detail": json.dumps({"level_v": 1.8, "t_end": 1795984001.0, "chip_reset": True})}])
    (row,) = events_rows(events, {"p5": "100 °C, brown-out"})
    assert row["time"].endswith(" UTC") and row["kind"] == "brown out" and row["point"] == "100 °C, brown-out"
    assert row["detail"] == "level v = 1.8; t end = 2026-11-29 20:26:41 UTC; chip reset = yes"


def test_binary_vendor_strings_and_secret_named_lists_in_inputs(run_dir, tmp_path) -> None:
    copy = shutil.copytree(run_dir, tmp_path / run_dir.name)
    ident = json.loads((copy / "identity.json").read_text())
    (copy / "identity.json").write_text(json.dumps({**ident, "vendor": "\x01\x03\x03\x02"}))
    target = json.loads((copy / "target.json").read_text())
    (copy / "target.json").write_text(json.dumps({**target, "hierarchy_auth_set": []}))
    run = load_run(copy)                       # a secret-named list member no longer breaks the JSON
    assert run.target["uri"] == "swtpm"
    assert run_facts(run)["chip"] == "IBM firmware 20191023.00163636"
    assert printable("SW \x00 TPM\n") == "SW TPM"


def test_bare_location_message_takes_the_assertion_line() -> None:
    longrepr = ">           assert caps is not None\nE           assert None is not None\n\nfixtures/plugin.py:215: AssertionError"
    assert harness_reason("fixtures/plugin.py:215: AssertionError", longrepr, []) == \
        "AssertionError: assert None is not None (reported as: fixtures/plugin.py:215: AssertionError)"


def test_measured_conditions_keep_their_margins() -> None:
    from reports.campaign_view import measured_text

    amps = {"unit": "A", "mean": 0.0368, "min": 0.035, "max": 0.039, "samples": 40}
    assert measured_text(amps) == "36.8 mA (35.0..39.0, 40 samples)"
    volts = {"unit": "V", "mean": 2.97, "min": 2.965, "max": 2.974, "samples": 12}
    assert measured_text(volts).startswith("2.97 V (2.96..2.97")   # not "3.0 V"
    temp = {"unit": "degC", "mean": 85.04, "min": 84.9, "max": 85.2, "samples": 3}
    assert measured_text(temp) == "85.0 °C (84.9..85.2, 3 samples)"
