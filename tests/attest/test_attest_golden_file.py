"""Golden files: a bad field is one clear error naming file and field; options parse strictly."""

from __future__ import annotations

import pytest
import yaml

from harness.attest import synth
from harness.attest.eventlog import parse_eventlog
from harness.attest.golden import GoldenError, evaluate, load_golden, parse_golden
from harness.cli.cmd_attest import parse_pcr_list
from harness.errors import ConfigError


def _write(tmp_path, doc) -> str:
    path = tmp_path / "board.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return str(path)


@pytest.mark.parametrize("doc, field", [
    ("board: [unclosed", "not valid YAML"),
    ({"measurements": [{"pcr": 0, "event_type": "EV_SEPARATOR"}]}, "board"),
    ({"board": "b", "measurements": []}, "measurements"),
    ({"board": "b", "measurements": [{"pcr": 24, "event_type": "EV_SEPARATOR"}]},
     "measurements[0].pcr"),
    ({"board": "b", "measurements": [{"pcr": 0, "event_type": "EV_BOGUS"}]},
     "measurements[0].event_type"),
    ({"board": "b", "measurements": [{"pcr": 0, "digests": {"sha256": "zz"}}]},
     "measurements[0].digests.sha256"),
    ({"board": "b", "measurements": [{"pcr": 0, "description": "("}]},
     "measurements[0].description"),
    ({"board": "b", "measurements": [{"pcr": 0, "pcrr": 1}]}, "measurements[0]"),
    ({"board": "b", "measurements": [{"pcr": 0}]}, "measurements[0]"),
])
def test_bad_golden_file_names_file_and_field(tmp_path, doc, field):
    path = _write(tmp_path, doc)
    with pytest.raises(GoldenError) as info:
        load_golden(path)
    assert str(info.value).startswith(f"golden file {path}: ")
    assert field in str(info.value)


def test_description_pattern_and_strict_mode():
    log = parse_eventlog(synth.build_log(["sha256"]))
    doc = {"board": "b", "strict": True, "measurements": [
        {"stage": "crtm", "pcr": 0, "event_type": "EV_S_CRTM_VERSION",
         "description": "^other vendor CRTM"}]}
    result = evaluate(parse_golden(doc), log)
    verdicts = {s.stage: s for s in result.stages}
    assert not verdicts["crtm"].ok and "tpm-hil synthetic CRTM" in verdicts["crtm"].details[0]
    assert not verdicts["unexpected events"].ok  # the firmware blob and separator of PCR 0
    assert any("EV_EFI_PLATFORM_FIRMWARE_BLOB2" in d for d in verdicts["unexpected events"].details)


def test_missing_stage_is_reported():
    log = parse_eventlog(synth.build_log(["sha256"]))
    doc = {"board": "b", "measurements": [
        {"stage": "shim", "pcr": 14, "event_type": "EV_IPL"}]}
    (stage,) = evaluate(parse_golden(doc), log).stages
    assert not stage.ok and "not in the log" in stage.details[0]


def test_pcr_list_parsing():
    assert parse_pcr_list("0-3,7, 14") == [0, 1, 2, 3, 7, 14]
    for bad in ("0-24", "x", "5-2", ","):
        with pytest.raises(ConfigError, match="--pcrs"):
            parse_pcr_list(bad)
