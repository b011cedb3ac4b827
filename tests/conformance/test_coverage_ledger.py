"""suites.conformance.coverage: ledger entries and the coverage computed from them."""

import json

from harness.results.exchange_log import Exchange
from suites.conformance import coverage


def _ex(code: int, rc: int, test: str = "t") -> Exchange:
    return Exchange(0, 0.0, test, code, "", 10, 10, rc, "", 0.001, 0, 0, 0, 0, "")


def test_entries_and_coverage():
    entries = [
        coverage.entry("a", "passed", False, [_ex(0x17B, 0), _ex(0x17B, 0)],
                       verifies=("TPM2_GetRandom",)),
        coverage.entry("b", "passed", True, [_ex(0x17B, 0x1C4), _ex(0x17D, 0x95)]),
        coverage.entry("c", "failed", False, [_ex(0x17D, 0)]),  # failed: no credit
        coverage.entry("d", "passed", False, [_ex(0x17D, 0x95)]),  # not negative
        coverage.entry("e", "passed", False, [_ex(0x17D, 0)]),  # success not verified
    ]
    # an entry crosses from an xdist worker to the controller as JSON-like data
    entries = [json.loads(json.dumps(e)) for e in entries]
    assert entries[0]["commands"] == [[0x17B, 0]]  # one per (command, rc)
    cov = coverage.CommandCoverage.from_ledger([0x17B, 0x17D, 0x12D], entries)
    assert cov.missing_positive == ["TPM2_PP_Commands", "TPM2_Hash"]  # by command code
    assert cov.missing_negative == ["TPM2_PP_Commands"]
    report = cov.to_dict()
    assert report["positive_covered"] == 1 and report["negative_covered"] == 2
    hash_row = [r for r in report["commands"] if r["command"] == "TPM2_Hash"][0]
    assert hash_row["unverified_successes"] == ["e"] and hash_row["positive_tests"] == []
    json.dumps(report)


def test_skipped_declaring_tests_are_not_run_here_not_failed():
    reason = "destructive: swtpm://127.0.0.1:1 is not a disposable target"
    entries = [
        coverage.entry("clear", "skipped", False, [], verifies=("TPM2_Clear",), reason=reason),
        coverage.entry("clear_neg", "skipped", True, [], verifies=("TPM2_Clear",),
                       reason=reason),
        coverage.entry("random_skipped", "skipped", False, [], verifies=("TPM2_GetRandom",),
                       reason="whatever"),
        coverage.entry("random", "passed", False, [_ex(0x17B, 0)],
                       verifies=("TPM2_GetRandom",)),
        coverage.entry("random_fails", "failed", False, [_ex(0x17B, 0)],
                       verifies=("TPM2_GetRandom",)),
    ]
    cov = coverage.CommandCoverage.from_ledger([0x126, 0x17B], entries)
    assert cov.missing_positive == [] and cov.missing_negative == ["TPM2_GetRandom"]
    report = cov.to_dict()
    assert report["not_run_here"] == {"TPM2_Clear": {"positive": [f"clear: {reason}"],
                                                     "negative": [f"clear_neg: {reason}"]}}
    assert report["positive_covered"] == 1 and report["positive_not_run_here"] == 1


def test_unreachable_positive_needs_a_negative():
    entries = [coverage.entry("n", "passed", True, [_ex(0x12D, 0x990)])]
    cov = coverage.CommandCoverage.from_ledger([0x12D], entries)
    assert cov.missing_positive == [] and "TPM2_PP_Commands" in cov.exempt_positive


def test_gate_record_is_named_after_the_suite_folder():
    from tpm_hil_fixtures.coverage_gate import record_nodeid

    assert (record_nodeid("suites/conformance/test_coverage.py::test_command_coverage")
            == "suites/conformance::command_coverage")
