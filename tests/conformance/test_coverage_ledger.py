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
    coverage.record_test(path, "a", "passed", False, [_ex(0x17B, 0), _ex(0x17B, 0)],
                         verifies=("TPM2_GetRandom",))
    coverage.record_test(path, "b", "passed", True, [_ex(0x17B, 0x1C4), _ex(0x17D, 0x95)])
    coverage.record_test(path, "c", "failed", False, [_ex(0x17D, 0)])  # failed: no credit
    coverage.record_test(path, "d", "passed", False, [_ex(0x17D, 0x95)])  # not negative
    coverage.record_test(path, "e", "passed", False, [_ex(0x17D, 0)])  # success not verified
    entries = coverage.wait_for_tests(path, {"a", "b", "c", "d", "e"}, 1.0)
    cov = coverage.CommandCoverage.from_ledger([0x17B, 0x17D, 0x12D], entries)
    assert cov.missing_positive == ["TPM2_PP_Commands", "TPM2_Hash"]  # by command code
    assert cov.missing_negative == ["TPM2_PP_Commands"]
    report = cov.to_dict()
    assert report["positive_covered"] == 1 and report["negative_covered"] == 2
    hash_row = [r for r in report["commands"] if r["command"] == "TPM2_Hash"][0]
    assert hash_row["unverified_successes"] == ["e"] and hash_row["positive_tests"] == []
    json.dumps(report)


def test_skipped_declaring_tests_are_not_run_here_not_failed(tmp_path):
    path = tmp_path / "ledger.jsonl"
    reason = "destructive: swtpm://127.0.0.1:1 is not a disposable target"
    coverage.record_test(path, "clear", "skipped", False, [], verifies=("TPM2_Clear",),
                         reason=reason)
    coverage.record_test(path, "clear_neg", "skipped", True, [], verifies=("TPM2_Clear",),
                         reason=reason)
    coverage.record_test(path, "random_skipped", "skipped", False, [],
                         verifies=("TPM2_GetRandom",), reason="whatever")
    coverage.record_test(path, "random", "passed", False, [_ex(0x17B, 0)],
                         verifies=("TPM2_GetRandom",))
    coverage.record_test(path, "random_fails", "failed", False, [_ex(0x17B, 0)],
                         verifies=("TPM2_GetRandom",))
    cov = coverage.CommandCoverage.from_ledger([0x126, 0x17B], coverage.read_ledger(path))
    assert cov.missing_positive == [] and cov.missing_negative == ["TPM2_GetRandom"]
    report = cov.to_dict()
    assert report["not_run_here"] == {"TPM2_Clear": {"positive": [f"clear: {reason}"],
                                                     "negative": [f"clear_neg: {reason}"]}}
    assert report["positive_covered"] == 1 and report["positive_not_run_here"] == 1


def test_unreachable_positive_needs_a_negative(tmp_path):
    path = tmp_path / "ledger.jsonl"
    coverage.record_test(path, "n", "passed", True, [_ex(0x12D, 0x990)])
    cov = coverage.CommandCoverage.from_ledger([0x12D], coverage.read_ledger(path))
    assert cov.missing_positive == [] and "TPM2_PP_Commands" in cov.exempt_positive


def test_wait_is_bounded(tmp_path):
    with pytest.raises(HarnessError, match="did not finish"):
        coverage.wait_for_tests(tmp_path / "none.jsonl", {"x"}, 0.3)
