"""Reference-library probes (CVE-2023-1017/1018, CVE-2025-2884) on a real swtpm."""

from __future__ import annotations

import struct

import pytest

from harness.audit import refprobes
from harness.audit.checks import PASS, check_reference_probes


def test_fixed_chip_answers_every_probe_with_an_error_and_stays_healthy(audit_chip):
    outcome = check_reference_probes(audit_chip.transport, audit_chip.esapi)
    assert outcome.verdict == PASS, outcome.summary
    by_name = {d["name"]: d for d in outcome.details}
    # the consistent controls succeed: the decrypt-session path and HMAC signing are reached
    assert by_name["control: consistent 16-byte parameter"]["rc"] == 0
    assert by_name["control: HMAC key signs with HMAC-SHA256"]["rc"] == 0
    # libtpms 0.9.2-3.1+deb12u1 carries both fixes: exact codes
    assert by_name["size 1024 declared, 16 bytes present"]["rc_name"] == "TPM_RC_SIZE (session 1)"
    assert by_name["size 0xFFFF declared, 16 bytes present"]["rc_name"] == "TPM_RC_SIZE (session 1)"
    assert by_name["size field cut to 1 byte"]["rc_name"] == "TPM_RC_INSUFFICIENT (session 1)"
    assert by_name["HMAC key asked for ECDSA-SHA256"]["rc_name"] == "TPM_RC_SCHEME (parameter 2)"
    assert by_name["HMAC key asked for RSASSA-SHA256"]["rc_name"] == "TPM_RC_SCHEME (parameter 2)"
    assert all(d["healthy"] for d in outcome.details)


def test_probe_sessions_and_keys_are_flushed(audit_chip):
    from tpm2_pytss.constants import TPM2_CAP

    def count(first):
        _, data = audit_chip.esapi.get_capability(TPM2_CAP.HANDLES, first, 64)
        return data.data.handles.count

    before = (count(0x02000000), count(0x80000000))
    refprobes.run_probes(audit_chip.transport, audit_chip.esapi)
    assert (count(0x02000000), count(0x80000000)) == before


def test_decrypt_session_command_layout():
    cmd = refprobes.decrypt_session_command(refprobes.CC_HASH, b"\x00\x10" + b"\x00" * 22,
                                            0x02000000, b"\x01" * 16, b"\x02" * 16)
    tag, size, code = struct.unpack_from(">HII", cmd)
    assert (tag, size, code) == (0x8002, len(cmd), refprobes.CC_HASH)
    auth_size = struct.unpack_from(">I", cmd, 10)[0]
    assert auth_size == 4 + 2 + 16 + 1 + 2 + 32
    assert cmd[14 + 4 + 2 + 16] == refprobes.SESSION_CONTINUE | refprobes.SESSION_DECRYPT


@pytest.mark.parametrize("rc,control,expected", [
    (0, False, False),       # a malformed probe that succeeds: the size was not checked
    (0x2D2, False, True),    # TPM_RC_SCHEME (parameter 2): what a fixed chip answers
    (0x922, False, False),   # TPM_RC_RETRY is not an answer
    (0x2D2, True, False),    # a control command that fails proves nothing
    (0, True, True),
])
def test_verdict_rule(audit_chip, rc, control, expected):
    result = refprobes._one(audit_chip.transport, audit_chip.esapi, "CVE-X", "probe", lambda: rc,
                            refprobes.SCHEME_ERRORS, control)
    assert result.expected is expected
    assert result.healthy
    assert result.ok is expected


def test_dead_chip_fails_the_health_check(fresh_chip):
    healthy, _ = refprobes.health_check(fresh_chip.transport, fresh_chip.esapi)
    assert healthy
    fresh_chip.target.process.stop()
    healthy, detail = refprobes.health_check(fresh_chip.transport, fresh_chip.esapi)
    assert not healthy
    assert "not answering" in detail or "failed" in detail


def test_chip_asking_for_retries_is_not_judged_wrong():
    """A virtual ST33KTPM answering 20 % of commands TPM_RC_RETRY (Part 2 §6.6.3): the
    probes' raw commands go through Transport.exchange, which resends them, so the
    verdict is the same as on a chip that never asks."""
    from harness.targets.registry import open_target
    from harness.tpm.startup import ensure_started
    from harness.transports.tcti import open_esapi

    target = open_target("spi+sim://st33ktpm?faults=retry:0.2,seed:5")
    try:
        transport = target.open()
        esapi = open_esapi(transport)
        ensure_started(esapi)
        outcome = check_reference_probes(transport, esapi)
        retried = [x for x in transport.log.peek() if x.rc == 0x922]
        esapi.close()
    finally:
        target.close()
    assert outcome.verdict == PASS, outcome.summary
    assert len(retried) >= 5  # the chip did ask, and was answered by resending
