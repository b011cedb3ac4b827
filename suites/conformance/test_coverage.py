"""Command coverage: every command the chip advertises in
GetCapability(TPM_CAP_COMMANDS) (TPM 2.0 Part 3 §30.2) is exercised by a
passing positive test that verifies its result (``verifies`` marker) and a
passing negative test of this run, unless every test that would exercise it
was skipped on this target ("not run here", listed in the evidence).

This test opens the gate: it checks that the chip answers TPM_CAP_COMMANDS
with a command list, and hands that list to the session. The verdict needs
every other test of the run, including those on other pytest-xdist workers,
so it is computed where all their reports arrive, at the end of the session
(:mod:`tpm_hil_fixtures.coverage_gate`): printed in the summary, written to
``evidence/command_coverage.json`` and recorded in the results store as the
test ``suites/conformance::command_coverage``; missing coverage fails the run.
"""

import pytest

pytestmark = [pytest.mark.conformance]


@pytest.mark.spec("TPM 2.0 Part 3 §30.2 TPM2_GetCapability(TPM_CAP_COMMANDS)")
@pytest.mark.requirement("IEC62443-4-2:CR 3.3")
def test_command_coverage(caps):
    codes = caps.command_codes
    assert codes, "the chip advertised no commands in TPM_CAP_COMMANDS"
    assert all(0 < (c & 0xFFFF) for c in codes), [hex(c) for c in codes]
