"""Transports against a real swtpm: logging, bounds, malformed input, power cycles."""

import struct
import time

import pytest

from harness.errors import ResponseFormatError, TargetError, TpmTimeoutError, TransportError
from harness.targets.registry import open_target
from harness.tpm.durations import CommandDurations
from harness.tpm.wire import build_command
from harness.transports.mssim import MssimTransport
from harness.transports.base import TpmWarningError, WarningResend
from harness.transports.swtpm import SwtpmTransport
from harness.transports.tcti import open_esapi

GET_RANDOM_8 = build_command(0x17B, b"\x00\x08")


def test_exchange_is_checked_and_logged(transport):
    response = transport.exchange(GET_RANDOM_8)
    assert response[:2] == b"\x80\x01" and len(response) == 20
    (record,) = transport.log.drain()
    assert record.command == "TPM2_GetRandom"
    assert (record.cmd_size, record.rsp_size, record.rc) == (12, 20, 0)
    assert record.rc_name == "TPM_RC_SUCCESS" and record.error == ""
    assert 0 < record.duration_s < 5


def test_esapi_runs_over_the_transport_and_every_command_is_logged(transport):
    esapi = open_esapi(transport)
    try:
        assert len(esapi.get_random(16)) == 16
        esapi.get_capability(6, 0x100, 1)  # TPM_CAP_TPM_PROPERTIES
    finally:
        esapi.close()
    names = [r.command for r in transport.log.drain()]
    assert names == ["TPM2_GetRandom", "TPM2_GetCapability"]


def test_error_response_code_is_decoded(transport):
    response = transport.exchange(build_command(0x17B, b""))  # missing parameter
    assert int.from_bytes(response[6:10], "big") == 0x1DA
    assert transport.log.drain()[-1].rc_name == "TPM_RC_INSUFFICIENT (parameter 1)"


def test_hung_tpm_gives_a_bounded_timeout(swtpm, frozen):
    fast = CommandDurations(bounds={"short": 0.2, "medium": 0.2, "long": 0.2, "long_long": 0.2})
    t = SwtpmTransport("127.0.0.1", swtpm.port, durations=fast, link_margin_s=0.3)
    try:
        with frozen(swtpm):
            start = time.monotonic()
            with pytest.raises(TpmTimeoutError) as exc:
                t.exchange(GET_RANDOM_8)
            elapsed = time.monotonic() - start
        assert elapsed < 3.0, f"timeout took {elapsed:.1f} s for a 0.5 s bound"
        assert "TPM2_GetRandom got no response within 0.500 s" in str(exc.value)
        record = t.log.drain()[-1]
        assert record.rc == -1 and record.rc_name == "NO_RESPONSE" and "no response" in record.error
    finally:
        t.close()


def test_garbage_answer_is_a_format_error(garbage_server):
    server = garbage_server(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    t = SwtpmTransport("127.0.0.1", server.port)
    try:
        with pytest.raises(ResponseFormatError, match="TPM2_GetRandom: response tag 0x4854"):
            t.exchange(GET_RANDOM_8)
    finally:
        t.close()


def test_short_answer_then_close_is_a_transport_error(garbage_server):
    server = garbage_server(bytes.fromhex("8001000000"))
    t = SwtpmTransport("127.0.0.1", server.port, link_margin_s=0.5,
                       durations=CommandDurations(bounds={"short": 0.1, "medium": 0.1, "long": 0.1,
                                                          "long_long": 0.1}))
    try:
        with pytest.raises(TransportError, match="5 of 10 bytes"):
            t.exchange(GET_RANDOM_8)
    finally:
        t.close()


def test_unreachable_target_names_the_endpoint():
    with pytest.raises(TargetError, match="cannot connect to 127.0.0.1:1"):
        SwtpmTransport("127.0.0.1", 1, connect_timeout_s=1)


def test_power_cycle_requires_startup_again(transport):
    transport.power_cycle()
    response = transport.exchange(GET_RANDOM_8)
    assert int.from_bytes(response[6:10], "big") == 0x100  # TPM_RC_INITIALIZE
    assert int.from_bytes(transport.exchange(build_command(0x144, b"\x00\x00"))[6:10], "big") == 0
    assert transport.exchange(GET_RANDOM_8)[6:10] == bytes(4)


def test_locality_reaches_swtpm(transport):
    transport.set_locality(2)
    try:
        # PCR_Reset of PCR 20 is allowed from locality 2 (PC Client PFP, PCR attributes).
        body = (20).to_bytes(4, "big") + bytes.fromhex("00000009400000090000010000")
        rc = int.from_bytes(transport.exchange(build_command(0x13D, body, tag=0x8002))[6:10], "big")
        assert rc == 0, f"PCR_Reset(20) from locality 2 returned 0x{rc:x}"
    finally:
        transport.set_locality(0)
    rc = int.from_bytes(transport.exchange(build_command(0x13D, body, tag=0x8002))[6:10], "big")
    assert rc == 0x907  # TPM_RC_LOCALITY from locality 0


def test_mssim_transport_against_bridged_swtpm(mssim_bridge):
    t = MssimTransport("127.0.0.1", mssim_bridge.port)
    try:
        esapi = open_esapi(t)
        assert len(esapi.get_random(12)) == 12
        esapi.close()
        t.power_cycle()
        assert mssim_bridge.signals[-3:] == [2, 1, 11]
        assert int.from_bytes(t.exchange(GET_RANDOM_8)[6:10], "big") == 0x100
        t.exchange(build_command(0x144, b"\x00\x00"))
    finally:
        t.close()


def test_spawned_target_leaves_no_process():
    target = open_target("swtpm?ekcert=0")
    target.open()
    pid = target.process.pid
    target.close()
    time.sleep(0.1)
    import os
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_spawned_swtpm_dies_with_a_killed_harness():
    """No process is left behind even when the harness itself is SIGKILLed."""
    import os
    import subprocess
    import sys

    code = ("from harness.swtpm_process import SwtpmProcess; import time; "
            "p = SwtpmProcess(); print(p.pid, flush=True); time.sleep(120)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        assert open(f"/proc/{pid}/comm").read().strip() == "swtpm"
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z":
            return
        time.sleep(0.05)
    pytest.fail(f"swtpm {pid} outlived its killed parent")


@pytest.mark.parametrize("warning, name", [(0x922, "TPM_RC_RETRY"), (0x908, "TPM_RC_YIELDED"),
                                           (0x90A, "TPM_RC_TESTING")])
def test_a_tpm_that_asks_for_resends_forever_fails_within_the_bound(garbage_server, warning, name):
    """Each resend is its own log record; past the bound one error names the command."""
    server = garbage_server(struct.pack(">HII", 0x8001, 10, warning))
    t = SwtpmTransport("127.0.0.1", server.port)
    t.warning_resend = WarningResend(max_resends=5, max_total_s=5.0)
    try:
        start = time.monotonic()
        with pytest.raises(TpmWarningError, match=rf"TPM2_GetRandom was answered {name} x6 "
                                                  r"and still not executed after 5 resends"):
            t.exchange(GET_RANDOM_8)
        assert time.monotonic() - start < 5
        records = t.log.drain()
        assert [r.rc for r in records] == [warning] * 6
        assert [r.command for r in records] == ["TPM2_GetRandom"] * 6
    finally:
        t.close()


def test_resend_time_bound_applies_before_the_count(garbage_server):
    server = garbage_server(struct.pack(">HII", 0x8001, 10, 0x90A))
    t = SwtpmTransport("127.0.0.1", server.port)
    t.warning_resend = WarningResend(max_total_s=0.5)
    try:
        start = time.monotonic()
        with pytest.raises(TpmWarningError, match=r"bound: 64 resends / 0.5 s"):
            t.exchange(GET_RANDOM_8)
        assert time.monotonic() - start < 1.0
    finally:
        t.close()


def test_warnings_pass_through_when_resending_is_off(garbage_server):
    server = garbage_server(struct.pack(">HII", 0x8001, 10, 0x922))
    t = SwtpmTransport("127.0.0.1", server.port)
    t.warning_resend = None
    try:
        assert int.from_bytes(t.exchange(GET_RANDOM_8)[6:10], "big") == 0x922
        assert len(t.log.drain()) == 1
    finally:
        t.close()
