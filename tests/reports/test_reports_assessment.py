"""Verdicts per requirement from a real results folder (swtpm exchanges)."""

from __future__ import annotations

from reports.assessment import FAIL, NOT_COVERED, PASS, assess
from reports.catalogue import load_catalogue
from reports.redact import REDACTED, redact
from reports.run_data import load_runs


def _verdicts(run_dir):
    result = assess(load_catalogue(), load_runs([run_dir]))
    return result, {v.requirement.id: v for v in result.verdicts}


def test_verdicts_follow_the_tests(run_dir, facts) -> None:
    result, by_id = _verdicts(run_dir)
    assert by_id["FIPS140-3:self-tests"].verdict == PASS
    assert len(by_id["FIPS140-3:self-tests"].tests) == 2
    assert by_id["IEC62443-4-2:CR 4.2"].verdict == FAIL          # the NV read really failed
    assert by_id["FIPS140-3:approved-algorithms"].verdict == PASS  # by id and by the kat marker
    assert by_id["IEC62443-4-2:CR 4.3"].verdict == PASS            # kat marker + explicit id
    assert {t.via for t in by_id["IEC62443-4-2:CR 4.3"].tests} == {"requirement", "marker kat"}
    assert result.unknown_ids == {facts["unknown_req"]: ["suites/rng/test_random.py::test_no_repeats"]}


def test_requirement_without_tests_is_not_covered(run_dir) -> None:
    result, by_id = _verdicts(run_dir)
    assert by_id["IEC62443-4-2:CR 1.2"].verdict == NOT_COVERED
    assert by_id["IEC62443-4-2:CR 1.2"].tests == []
    # a skipped test is no evidence: still not covered, and says why
    da = by_id["IEC62443-4-2:CR 1.11"]
    assert da.verdict == NOT_COVERED and "1 skipped" in da.note
    assert result.totals()[PASS] + result.totals()[FAIL] + result.totals()[NOT_COVERED] == len(load_catalogue())


def test_environmental_requirements_carry_point_conditions(run_dir) -> None:
    _, by_id = _verdicts(run_dir)
    efp = by_id["FIPS140-3:efp-eft"]
    assert efp.verdict == PASS
    assert {(t.point_id, t.via) for t in efp.tests} == {("p01-cold", "marker environmental"),
                                                       ("p02-hot", "requirement")}
    cold, hot = efp.conditions
    assert cold["point_id"] == "p01-cold" and cold["params"]["temperature_C"] == -40.0
    assert cold["measured"]["temperature"]["min"] == -40.0
    assert cold["measured"]["voltage"]["samples"] == 5
    assert cold["passed"] == 1 and not cold["beyond_rated"]
    assert hot["beyond_rated"] and hot["events"] == ["efp_check", "power_cycle"]
    assert by_id["IEC62443-4-2:CR 7.4"].conditions == efp.conditions


def test_beyond_rated_range_is_not_judged_outside_efp(run_dir) -> None:
    _, by_id = _verdicts(run_dir)
    # the NV check really fails at p02-hot, but that point is beyond the rated range
    conf = by_id["IEC62443-4-2:CR 4.1"]
    assert [t.outcome for t in conf.tests] == ["failed"] and not conf.tests[0].judged
    assert conf.verdict == NOT_COVERED and "beyond the rated range" in conf.note
    # a power cycle at the point links its tests to CR 7.4, not judged there either
    recovery = {t.nodeid: t for t in by_id["IEC62443-4-2:CR 7.4"].tests}
    hot = recovery["suites/nv/test_nv_present.py::test_reserved_index_present[hot]"]
    assert hot.via == "event power_cycle at point" and not hot.judged
    assert by_id["IEC62443-4-2:CR 7.4"].verdict == PASS


def test_failure_text_is_redacted_when_loaded(run_dir, facts) -> None:
    (run,) = load_runs([run_dir])
    failed = run.tests[run.tests["outcome"] == "failed"].iloc[0]
    assert "TPM_RC_HANDLE" in failed["longrepr"] or "handle" in failed["longrepr"]
    assert facts["secret"] not in failed["longrepr"] and REDACTED in failed["longrepr"]


def test_redact_removes_pem_and_secret_assignments() -> None:
    text = ("auth_value = b'abc' size=3 ok\nhmac_key: 0011\n-----BEGIN EC PRIVATE KEY-----\nMHc\n"
            "-----END EC PRIVATE KEY-----\nmapping: kept")
    out = redact(text)
    assert "abc" not in out and "0011" not in out and "MHc" not in out
    assert "size=3 ok" in out and "mapping: kept" in out
