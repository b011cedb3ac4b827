"""suites.conformance.coverage: the ledger and the coverage computed from it."""

import json

import pytest

from harness.errors import HarnessError
from harness.results.exchange_log import Exchange
from suites.conformance import coverage


def _ex(code: int, rc: int, test: str = "t") -> Exchange:
    return Exchange(0, 0.0, test, code, "", 10, 10, rc, "", 0.001, 0, 0, 0, 0, "")


def test_ledger_round_trip_and_coverage(tmp_path):
    path = tmp_path / "ledger.jsonl"
    coverage.record_test(path, "a", "passed", False, [_ex(0x17B, 0), _ex(0x17B, 0)])
    coverage.record_test(path, "b", "passed", True, [_ex(0x17B, 0x1C4), _ex(0x17D, 0x95)])
    coverage.record_test(path, "c", "failed", False, [_ex(0x17D, 0)])  # failed: no credit
    coverage.record_test(path, "d", "passed", False, [_ex(0x17D, 0x95)])  # not negative
    entries = coverage.wait_for_tests(path, {"a", "b", "c", "d"}, 1.0)
    cov = coverage.CommandCoverage.from_ledger([0x17B, 0x17D, 0x12D], entries)
    assert cov.missing_positive == ["TPM2_PP_Commands", "TPM2_Hash"]  # by command code
    assert cov.missing_negative == ["TPM2_PP_Commands"]
    report = cov.to_dict()
    assert report["positive_covered"] == 1 and report["negative_covered"] == 2
    json.dumps(report)


def test_unreachable_positive_needs_a_negative(tmp_path):
    path = tmp_path / "ledger.jsonl"
    coverage.record_test(path, "n", "passed", True, [_ex(0x12D, 0x990)])
    cov = coverage.CommandCoverage.from_ledger([0x12D], coverage.read_ledger(path))
    assert cov.missing_positive == [] and "TPM2_PP_Commands" in cov.exempt_positive


def test_wait_is_bounded(tmp_path):
    with pytest.raises(HarnessError, match="did not finish"):
        coverage.wait_for_tests(tmp_path / "none.jsonl", {"x"}, 0.3)
