"""Every advertised command sent with its handle and parameter areas cut off.

TPM 2.0 Part 3 §5.3-§5.6: the TPM unmarshals the handle area, then the
authorization area, then the parameters; a buffer that ends early is
TPM_RC_INSUFFICIENT at the first field that cannot be read: ``handle 1`` for
commands with handles (TPMA_CC.cHandles > 0), ``parameter 1`` for commands
without. The command must not change TPM state.

This test alone touches every advertised library command with an error; the
area suites add the semantic negative tests. Vendor commands (TPMA_CC.V, Part 2
§8.9) keep their full code: they are listed, never sent, since their meaning is
the vendor's (a header-only vendor command may be a complete, valid command).
"""

import pytest
from tpm2_pytss.constants import TPM2_CAP

from harness.tpm.names import command_name, rc_name

pytestmark = [pytest.mark.conformance, pytest.mark.negative]

TPM_RC_INSUFFICIENT = 0x09A
TPM_RC_INITIALIZE = 0x100
RC_H1 = 0x100
RC_P1 = 0x140
TPM_ST_SESSIONS = 0x8002
CC_STARTUP = 0x144
NO_PARAMETER_COMMANDS = {0x17C: "GetTestResult", 0x181: "ReadClock"}


TPMA_CC_V = 0x20000000


def _commands(caps) -> dict[int, int]:
    """Library commands: {command code: TPMA_CC}, from every page of TPM_CAP_COMMANDS."""
    return {code: attrs for code, attrs in caps.command_attributes.items()
            if not code & TPMA_CC_V}


def _state(tpm) -> dict[int, int]:
    """Volatile TPM_PT_VAR properties (Part 2 §6.13): handle counts, lockout, audit."""
    more, data = tpm.get_capability(TPM2_CAP.TPM_PROPERTIES, 0x201, 21)
    props = data.data.tpmProperties
    return {int(props.tpmProperty[i].property): int(props.tpmProperty[i].value)
            for i in range(props.count)}


def expected_truncation_rc(code: int, attrs: int) -> int:
    """The response code the spec requires for a header-only command."""
    if code == CC_STARTUP:
        return TPM_RC_INITIALIZE  # §9.3: Startup after Startup, before any parsing
    handles = (attrs >> 25) & 0x7
    return TPM_RC_INSUFFICIENT + (RC_H1 if handles else RC_P1)


@pytest.mark.spec("TPM 2.0 Part 3 §5.3 handle area, §5.6 parameter area (TPM_RC_INSUFFICIENT)")
@pytest.mark.requirement("IEC62443-4-2:CR 3.5", "IEC62443-4-2:CR 3.7")
def test_every_command_rejects_truncated_buffer(tpm, raw, caps):
    commands = _commands(caps)
    if caps.vendor_commands:
        print("vendor commands (not sent): "
              + ", ".join(f"0x{c:08x}" for c in sorted(caps.vendor_commands)))
    before = _state(tpm)
    wrong = []
    for code, attrs in sorted(commands.items()):
        if code in NO_PARAMETER_COMMANDS:
            continue
        expected = expected_truncation_rc(code, attrs)
        rc, _ = raw(code)
        if rc != expected:
            wrong.append(f"{command_name(code)}: expected {rc_name(expected)}, got {rc_name(rc)}")
    assert not wrong, "; ".join(wrong)
    assert _state(tpm) == before, "a truncated command changed the TPM's volatile state"


@pytest.mark.spec("TPM 2.0 Part 3 §5.4 authorization area (authorizationSize missing)")
@pytest.mark.requirement("IEC62443-4-2:CR 3.5")
@pytest.mark.parametrize("code", [
    pytest.param(c, marks=pytest.mark.needs(f"cc:TPM2_{n}"), id=n)
    for c, n in sorted(NO_PARAMETER_COMMANDS.items())])
def test_parameterless_command_with_sessions_tag_but_no_auth_area(tpm, raw, code):
    rc, _ = raw(code, b"", TPM_ST_SESSIONS)
    assert rc == TPM_RC_INSUFFICIENT, rc_name(rc)
    rc, response = raw(code)  # and it still works when well formed
    assert rc == 0 and len(response) > 10
