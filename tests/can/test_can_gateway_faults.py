"""Host transport against the gateway simulator and a real swtpm: sequence
rules, each injected fault recovered (or one command failing clearly), resets,
locality and gateway errors. Faulted runs use raw TPM commands so that each
exchange's outcome is visible in the transport's own log."""

from __future__ import annotations

import time

import pytest

from harness.can import protocol as p
from harness.can.faults import FaultTap
from harness.can.gateway import GatewaySimulator
from harness.can.isotp_link import CanSettings, IsoTpLink
from harness.can.transport import CanTransport
from harness.transports.swtpm import SwtpmTransport
from harness.errors import BusError, TpmTimeoutError
from harness.targets import open_target
from harness.swtpm_process import SwtpmOptions, SwtpmProcess

from .conftest import get_random_cmd, rc_of, startup_cmd

FD = "fd=1"
CLASSIC = "fd=0"


def _open(uri: str):
    target = open_target(uri)
    return target, target.open()


@pytest.mark.parametrize("mode", [CLASSIC, FD])
@pytest.mark.parametrize("fault", [
    "lose@2", "drop_cmd@2", "busy@2:3", "corrupt@2", "busoff@2:0.8", "fc_delay@2:0.3", "fc_delay@2:1.5",
    "lose_cf@2",
])
def test_fault_is_recovered(swtpm_backend, bus_name, mode, fault):
    target, t = _open(f"can://virtual/{bus_name}?{mode}&backend={swtpm_backend}&faults={fault}")
    try:
        for _ in range(4):
            response = t.exchange(get_random_cmd(32))
            assert rc_of(response) == 0 and len(response) == 10 + 2 + 32
        records = list(t.log)
        assert all(r.error == "" for r in records)
        gateway = target.bridge.simulator
        if fault.startswith(("fc_delay", "lose_cf")) and mode == FD:
            # FD carries these messages in single frames: no flow control to
            # delay; a "lost CF" is then the next single frame, also recovered.
            assert sum(r.retries for r in records) <= 1
        elif fault == "fc_delay@2:0.3":
            assert target.bridge.tap.delayed == 1  # late, within N_Bs: no retry needed
            assert records[1].retries == 0
        else:
            assert records[1].retries >= 1, f"{fault}: command 2 needed no recovery"
            assert gateway.faults.fired == [fault]
        assert gateway.stats["commands"] == 4  # executed once each: at-most-once
    finally:
        target.close()


def test_late_duplicate_response_is_dropped_as_stale(swtpm_backend, bus_name):
    target, t = _open(f"can://virtual/{bus_name}?backend={swtpm_backend}&faults=dup@1:0.2")
    try:
        first = t.exchange(get_random_cmd(16))
        # Once the gateway has queued the duplicate, it goes out before response 2.
        assert target.bridge.simulator._timers[0].finished.wait(10.0)
        second = t.exchange(get_random_cmd(16))
        assert rc_of(second) == 0 and second != first
        assert t.stats["stale"] == 1
    finally:
        target.close()


def test_long_bus_off_fails_one_command_clearly_then_recovers(swtpm_backend, bus_name):
    # Default command bounds (GetRandom is "short": 20 ms + 2.5 s link margin).
    target, t = _open(f"can://virtual/{bus_name}?backend={swtpm_backend}&faults=busoff@2:3.5")
    try:
        assert rc_of(t.exchange(get_random_cmd())) == 0
        with pytest.raises(TpmTimeoutError, match=r"TPM2_GetRandom got no response within .*retransmissions"):
            t.exchange(get_random_cmd())
        assert rc_of(t.exchange(get_random_cmd())) == 0  # the gateway is back
        errors = [r.error for r in t.log]
        assert errors[0] == "" and "no response" in errors[1] and errors[2] == ""
    finally:
        target.close()


@pytest.mark.parametrize("uri", ["serial+sim://?framing=slip", "serial+sim://?framing=cobs"])
@pytest.mark.parametrize("fault", ["lose@2", "corrupt@2", "busy@2:2", "drop_cmd@2"])
def test_serial_faults_recovered(swtpm_backend, uri, fault):
    target, t = _open(f"{uri}&backend={swtpm_backend}&faults={fault}")
    try:
        for _ in range(3):
            assert rc_of(t.exchange(get_random_cmd(8))) == 0
        assert list(t.log)[1].retries >= 1
        assert target.bridge.simulator.stats["commands"] == 3
    finally:
        target.close()


def test_ping_reset_power_cycle_and_locality(swtpm_backend, bus_name):
    target, t = _open(f"can://virtual/{bus_name}?fd=1&backend={swtpm_backend}")
    try:
        alive = t.ping()
        assert alive.version == p.VERSION and alive.can_power_cycle and not alive.executing
        t.reset_gateway()
        t.power_cycle()
        assert rc_of(t.exchange(get_random_cmd())) == 0x100  # TPM_RC_INITIALIZE: Startup needed
        assert rc_of(t.exchange(startup_cmd())) == 0
        t.set_locality(3)
        assert rc_of(t.exchange(get_random_cmd())) == 0
        assert target.bridge.simulator.backend.locality == 3
        assert list(t.log)[-1].locality == 3
        t.set_locality(0)
        assert rc_of(t.exchange(get_random_cmd())) == 0
    finally:
        target.close()


def test_gateway_error_when_the_tpm_behind_it_is_gone(bus_name):
    process = SwtpmProcess(SwtpmOptions(ek_certs=False))
    target, t = _open(f"can://virtual/{bus_name}?backend=swtpm://127.0.0.1:{process.port}")
    try:
        assert rc_of(t.exchange(get_random_cmd())) == 0
        process.stop()
        with pytest.raises(BusError, match="gateway answered the TPM command with ERROR BACKEND_FAILED"):
            t.exchange(get_random_cmd())
        assert t.stats["gateway_errors"] == 1
    finally:
        target.close()
        process.stop()


def test_no_gateway_on_the_bus_is_a_clear_error(bus_name):
    with pytest.raises(TpmTimeoutError, match="no answer from the gateway to PING"):
        open_target(f"can://virtual/{bus_name}?sim=0&retry=0.2").open()


class _SlowFirstCommand(SwtpmTransport):
    """swtpm whose first answer the gateway receives 3 s late (a chip stuck in a long operation)."""

    slow = True

    def _recv(self, deadline):
        response = super()._recv(deadline)
        if self.slow:
            self.slow = False
            time.sleep(3.0)
        return response


def test_abandoned_slow_command_then_busy_until_the_gateway_is_free(swtpm_backend, bus_name):
    port = int(swtpm_backend.split(":")[2].split("?")[0])
    backend = _SlowFirstCommand("127.0.0.1", port, link_margin_s=10.0)
    settings = CanSettings(channel=bus_name)
    tap = FaultTap()
    gateway = GatewaySimulator(IsoTpLink(settings.peer(), tap=tap), backend, tap=tap).start()
    host = CanTransport(settings, link_margin_s=2.0)  # GetRandom bound: 20 ms + 2 s
    try:
        host.ping()
        with pytest.raises(TpmTimeoutError, match="TPM2_GetRandom got no response"):
            host.exchange(get_random_cmd())
        response = host.exchange(get_random_cmd())  # rejected while the first finishes
        assert rc_of(response) == 0
        assert host.stats["busy"] >= 1 and host.stats["stale"] >= 1
        assert gateway.stats["commands"] == 2
    finally:
        host.close()
        gateway.stop()
        gateway.link.close()
        backend.close()


def test_gateway_answers_damaged_and_illegal_requests(swtpm_backend, bus_name):
    """What a gateway must answer to requests it cannot execute (section 4-5 of the spec)."""
    from harness.can.bridge import GatewayBridge, backend_target

    settings = CanSettings(channel=bus_name, fd=True, brs=True, data_length=64)
    bridge = GatewayBridge(backend_target(swtpm_backend)).start_can(settings)
    host = IsoTpLink(settings)

    def ask(wire: bytes) -> p.Message:
        host.send(wire)
        raw = host.recv(5.0)
        assert raw is not None, "gateway did not answer"
        return p.decode(raw)

    try:
        damaged = bytearray(p.encode(p.MessageType.COMMAND, 0x0102, get_random_cmd()))
        damaged[7] ^= 0x40
        answer = ask(bytes(damaged))
        assert (answer.type, answer.seq, answer.payload[0]) == (p.MessageType.ERROR, 0, p.ErrorCode.BAD_CRC)

        body = bytes([2, 0x01, 0x01, 0x03, 0]) + get_random_cmd()
        answer = ask(body + p.crc32(body).to_bytes(4, "big"))
        assert (answer.seq, answer.payload[0]) == (0x0103, p.ErrorCode.BAD_VERSION)

        answer = ask(p.encode(p.MessageType.RESPONSE, 0x0104, get_random_cmd()))
        assert (answer.seq, answer.payload[0]) == (0x0104, p.ErrorCode.BAD_TYPE)

        answer = ask(p.encode(p.MessageType.COMMAND, 0x0105, b"\x80\x01\x00"))
        assert (answer.seq, answer.payload[0]) == (0x0105, p.ErrorCode.BAD_LENGTH)

        answer = ask(p.encode(p.MessageType.RESET, 0x0106, b"\x09"))
        assert (answer.seq, answer.payload[0]) == (0x0106, p.ErrorCode.NOT_SUPPORTED)

        # A good command, then its retransmission: answered from the replay cache, same bytes.
        first = ask(p.encode(p.MessageType.COMMAND, 0x0107, get_random_cmd()))
        again = ask(p.encode(p.MessageType.COMMAND, 0x0107, get_random_cmd()))
        assert first.type == p.MessageType.RESPONSE and again == first
        assert bridge.simulator.stats["replays"] == 1 and bridge.simulator.stats["commands"] == 2
    finally:
        host.close()
        bridge.close()
