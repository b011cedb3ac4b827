"""Verdicts per requirement from a real results folder (swtpm exchanges)."""

from __future__ import annotations

from reports.assessment import (FAIL, INSUFFICIENT, NOT_COVERED, NOT_DEMONSTRATED, PASS,
                                PASS_DEVIATIONS, VERDICTS, assess)
from reports.catalogue import parse_catalogue
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
    assert sum(result.totals()[v] for v in VERDICTS) == len(load_catalogue())


def test_environmental_requirements_carry_point_conditions(run_dir) -> None:
    _, by_id = _verdicts(run_dir)
    efp = by_id["FIPS140-3:efp-eft"]
    assert efp.verdict == PASS
    assert {(t.point_id, t.via) for t in efp.tests} == {("p01-cold", "marker environmental"),
                                                       ("p02-hot", "requirement")}
    cold, hot = efp.conditions
    assert cold["point_id"] == "p01-cold" and cold["params"]["temperature_C"] == -40.0
    # measured over the suite window only: the ramp (20, 0, -20 °C) before it is left out
    assert cold["measured"]["temperature"]["min"] == -40.0
    assert cold["measured"]["temperature"]["max"] < -39.5
    assert abs(cold["measured"]["temperature"]["mean"] - -39.8) < 1e-6
    assert cold["measured"]["voltage"]["samples"] == 5 and cold["window"]["kind"] == "suite"
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


def test_known_deviation_reads_pass_with_deviations(run_dir) -> None:
    result, by_id = _verdicts(run_dir)
    v = by_id["IEC62443-4-2:CR 3.5"]
    assert v.verdict == PASS_DEVIATIONS and "1 known deviations" in v.note
    (dev,) = v.deviations
    assert dev.nodeid.endswith("test_bad_tag[0x8003]") and dev.outcome == "xfailed"
    assert dev.spec.startswith("TPM 2.0 Part 3 §5.2") and "TPM_RC_VALUE (0x084)" in dev.message
    assert dev.row_ref.startswith(f"data/{dev.run_id}/tests.csv#row=")
    assert {d.requirement_id for d in result.deviations} == {"IEC62443-4-2:CR 3.5", "IEC62443-4-2:CR 3.7"}


def _catalogue(tmp_path, entry: str):
    path = tmp_path / "cat.yaml"
    path.write_text("standards:\n  FIPS140-3:\n    title: t\n    groups: {g: G}\nrequirements:\n" + entry)
    return parse_catalogue(path)


def test_needs_excludes_partial_and_identity_rules(run_dir, tmp_path) -> None:
    runs = load_runs([run_dir])
    base = "  - id: 'FIPS140-3:self-tests'\n    group: g\n    title: t\n    text: x\n    rationale: r\n"
    def verdict(extra: str):
        return assess(_catalogue(tmp_path, base + extra), runs).verdicts[0]
    assert verdict("").verdict == PASS
    missing = verdict("    needs: [{what: 'DA lockout', tests: ['*test_lockout_after_max_tries*']}]\n")
    assert missing.verdict == INSUFFICIENT and missing.missing == ["DA lockout"]
    assert "missing: DA lockout" in missing.note
    met = verdict("    needs: [{what: 'self-test', tests: ['*::test_full_selftest']}]\n")
    assert met.verdict == PASS            # parameters are stripped before matching: [cold] counts
    assert verdict("    partial: true\n    limits: needs fault injection\n").verdict == INSUFFICIENT
    fips = verdict("    identity_requires: {fips_mode: true}\n")   # swtpm does not set the bit
    assert fips.verdict == NOT_DEMONSTRATED and "FIPS 140 mode bit" in fips.note
    excluded = verdict("    excludes: [{tests: ['suites/startup/*'], why: 'not evidence'}]\n")
    assert excluded.verdict == NOT_COVERED and all(t.excluded for t in excluded.tests)


def test_shipped_mapping_review() -> None:
    cat = load_catalogue()
    assert all(r.rationale for r in cat), "every requirement has a one-line rationale"
    assert cat.lookup("FIPS140-3:approved-mode").identity_requires == (("fips_mode", True),)
    assert cat.lookup("FIPS140-3:error-states").partial
    for rid in ("IEC62443-4-2:CR 1.11", "IEC62443-4-2:CR 1.5 RE(1)"):
        needs = cat.lookup(rid).needs
        assert len(needs) >= 2 and any("lockout" in n.what for n in needs), rid
    cr12 = cat.lookup("IEC62443-4-2:CR 1.2")
    assert any(x.matches("suites/conformance/sessions/test_policy_digests.py::test_policy_or")
               for x in cr12.excludes)
    wrong_auth = "suites/functional/test_nv.py::test_read_with_wrong_auth_fails"
    cr111 = cat.lookup("IEC62443-4-2:CR 1.11")
    assert [n.matches(wrong_auth) for n in cr111.needs].count(True) == 1   # one of three needs
