"""Command coverage: every command the chip advertises in
GetCapability(TPM_CAP_COMMANDS) (TPM 2.0 Part 3 §30.2) is exercised by a
passing positive test that verifies its result (``verifies`` marker) and a
passing negative test of this run, unless every test that would exercise it
was skipped on this target ("not run here", listed in the evidence).

The test runs last (see conftest) and waits, bounded, for the other tests of
the run to finish, including those on other pytest-xdist workers. It writes
``evidence/command_coverage.json`` into the results folder when there is one.
"""

import json
from pathlib import Path

import pytest

from suites.conformance import coverage

pytestmark = [pytest.mark.conformance]

WAIT_S = 600.0


@pytest.mark.spec("TPM 2.0 Part 3 §30.2 TPM2_GetCapability(TPM_CAP_COMMANDS)")
@pytest.mark.requirement("IEC62443-4-2:CR 3.3")
def test_command_coverage(request, caps, results):
    here = Path(__file__).resolve().parent  # only conformance tests write the ledger
    others = {i.nodeid for i in request.session.items
              if i.nodeid != request.node.nodeid and Path(str(i.fspath)).resolve().is_relative_to(here)}
    ledger = coverage.ledger_path()
    entries = coverage.wait_for_tests(ledger, others, WAIT_S)
    ledger.unlink(missing_ok=True)  # every other conformance test has finished
    cov = coverage.CommandCoverage.from_ledger(sorted(caps.command_codes), entries)
    report = cov.to_dict()
    if results is not None:
        results.evidence_dir.mkdir(parents=True, exist_ok=True)
        (results.evidence_dir / "command_coverage.json").write_text(json.dumps(report, indent=2))
    print(f"command coverage: {report['positive_covered']}/{report['advertised']} positive, "
          f"{report['negative_covered']}/{report['advertised']} negative; not run here: "
          f"{', '.join(report['not_run_here']) or 'none'}")
    problems = []
    if cov.missing_positive:
        problems.append(f"{len(cov.missing_positive)} advertised commands have no passing "
                        f"positive test that verifies the result (@pytest.mark.verifies): "
                        f"{', '.join(cov.missing_positive)}")
    if cov.missing_negative:
        problems.append(f"{len(cov.missing_negative)} advertised commands have no passing "
                        f"negative test: {', '.join(cov.missing_negative)}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)
