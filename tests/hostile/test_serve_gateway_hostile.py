"""Network peers are hostile: ``tpmhil serve`` over real loopback sockets, the gateway
simulator over a real pty pair, and a Hypothesis fuzz of the frame parsers.

The chip behind both is a spawned swtpm; attackers are separate processes (for
serve) or raw frames written to the serial line (for the gateway).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.can import protocol as p
from harness.can.bridge import GatewayBridge
from harness.can.serial_link import MAX_FRAME, PtyMasterPort, SerialLink, SerialPort, open_serial
from harness.results.store import ResultsStore
from harness.serve import control as ctl
from harness.serve.server import ServeOptions, TpmServer
from harness.targets import open_target
from harness.tpm.wire import HEADER, build_command
from harness.transports.swtpm import SwtpmControl, SwtpmTransport

GET_RANDOM_8 = build_command(0x017B, struct.pack(">H", 8))
TPM_RC_INITIALIZE = 0x100
TPMHIL = str(Path(sys.executable).parent / "tpmhil")


def rc_of(response: bytes) -> int:
    return HEADER.unpack_from(response)[2]


# -- tpmhil serve ------------------------------------------------------------------------------

@pytest.fixture
def served(tmp_path):
    target = open_target("swtpm")
    store = ResultsStore(tmp_path / "serve")
    server = TpmServer(target.open(), ServeOptions(lease_s=0.5, idle_timeout_s=60.0), store=store)
    server.start()
    yield server
    server.stop()
    target.close()
    store.close()


ATTACKER = textwrap.dedent("""\
    import socket, struct, sys
    code = int(sys.argv[2], 0)
    payload = bytes.fromhex(sys.argv[3]) if len(sys.argv) > 3 else b""
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
        s.sendall(struct.pack(">I", code) + payload)
        answer = s.recv(4)
    print(struct.unpack(">I", answer)[0] if len(answer) == 4 else "closed")
    """)


def attack_control(port: int, code: int, payload: bytes = b"") -> str:
    """A control command sent by another process on this host."""
    out = subprocess.run([sys.executable, "-c", ATTACKER, str(port + 1), hex(code), payload.hex()],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.parametrize("code, payload", [(ctl.CMD_STOP, b""), (ctl.CMD_INIT, b"\0\0\0\0"),
                                           (ctl.CMD_SET_LOCALITY, b"\x03")])
def test_another_process_on_the_holders_host_cannot_drive_the_control_channel(served, code, payload):
    holder = SwtpmTransport("127.0.0.1", served.port)
    try:
        assert rc_of(holder.exchange(GET_RANDOM_8)) == 0
        assert attack_control(served.port, code, payload) == str(ctl.TPM_FAIL)
        assert rc_of(holder.exchange(GET_RANDOM_8)) == 0  # not stopped, not reset
        assert holder.locality == 0
    finally:
        holder.close()
    refused = [d for kind, d in served.events if kind == "refused" and d["channel"] == "control"]
    assert refused and "session holder only" in refused[0]["why"]
    assert not [k for k, _ in served.events if k in ("stop", "power_cycle")]


def test_the_holder_itself_keeps_its_control_channel(served):
    holder = SwtpmTransport("127.0.0.1", served.port)
    control = SwtpmControl("127.0.0.1", served.port + 1)
    try:
        assert rc_of(holder.exchange(GET_RANDOM_8)) == 0
        control.command(ctl.CMD_STOP)
        assert rc_of(holder.exchange(GET_RANDOM_8)) == 0x101  # TPM_RC_FAILURE while stopped
        control.init()
        assert rc_of(holder.exchange(GET_RANDOM_8)) == TPM_RC_INITIALIZE
    finally:
        control.close()
        holder.close()


def test_rig_power_cycle_needs_allow_power_cycle(tmp_path):
    from harness.cli.cmd_serve import open_rig_power
    from harness.errors import TransportError

    setup = Path(__file__).parents[2] / "rigs" / "setups" / "sim-lab.yaml"
    target = open_target("swtpm")
    transport = target.open()
    rig, power_cycle = open_rig_power(str(setup), transport)
    server = TpmServer(transport, ServeOptions(power_cycle=power_cycle))  # no allow_power_cycle
    server.start()
    control = SwtpmControl("127.0.0.1", server.port + 1)
    supply_sim = [s for s in rig.sims if hasattr(s, "plants") and hasattr(s.plants[0], "set_v")][0]
    try:
        before = list(supply_sim.requests)
        with pytest.raises(TransportError, match="failed with 0x9"):
            control.init()
        assert not [r for r in supply_sim.requests[len(before):] if r.upper().startswith("OUTP")]
        refused = [d for k, d in server.events if k == "refused"]
        assert refused and "--allow-power-cycle" in refused[0]["why"]
    finally:
        control.close()
        server.stop()
        rig.close()
        target.close()


def test_cli_rig_without_allow_power_cycle_is_a_usage_error(tmp_path):
    setup = Path(__file__).parents[2] / "rigs" / "setups" / "sim-lab.yaml"
    proc = subprocess.run([TPMHIL, "serve", "--rig", str(setup), "--listen", "127.0.0.1:0",
                           "--results", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "--allow-power-cycle" in proc.stderr
    assert not list(tmp_path.iterdir())  # refused before a results folder was made


def test_oversized_and_garbage_commands_never_reach_the_chip(served):
    import socket

    for garbage in (b"\xff" * 10, struct.pack(">HII", 0x8001, 0xFFFFFFFF, 0x17B), b"\x80"):
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as raw:
            raw.sendall(garbage)
            raw.shutdown(socket.SHUT_WR)
            raw.settimeout(10)
            assert raw.recv(64) == b""  # hung up, nothing answered, nothing executed
    served.flush_log()
    assert served.store.query("SELECT COUNT(*) FROM exchanges WHERE test LIKE '127.0.0.1:%'")[0][0] == 0


# -- gateway simulator over a real pty pair ------------------------------------------------------

class Gateway:
    """The gateway simulator on one side of a pty pair; ``host`` is the other side."""

    def __init__(self, backend: str, framing: str = "slip") -> None:
        master, slave = os.openpty()
        self.bridge = GatewayBridge(open_target(backend)).start_serial(
            PtyMasterPort(master, "pty master"), framing)
        self.simulator = self.bridge.simulator
        self.host = SerialLink(open_serial(os.ttyname(slave), 921600), framing)
        os.close(slave)

    def ask(self, wire_message: bytes, timeout_s: float = 5.0) -> p.Message:
        self.host.send(wire_message)
        answer = self.host.recv(timeout_s)
        assert answer is not None, "the gateway did not answer"
        return p.decode(answer)

    def close(self) -> None:
        self.host.close()
        self.bridge.close()


@pytest.fixture
def gateway(tmp_path):
    from harness.swtpm_process import SwtpmOptions, SwtpmProcess

    process = SwtpmProcess(SwtpmOptions(ek_certs=False))
    gw = Gateway(f"swtpm://127.0.0.1:{process.port}?disposable=1")
    try:
        startup = struct.pack(">HIIH", 0x8001, 12, 0x144, 0)
        gw.ask(p.encode(p.MessageType.COMMAND, 1, startup))
        yield gw
    finally:
        gw.close()
        process.stop()


def raw_message(mtype: int, seq: int, payload: bytes, locality: int = 0) -> bytes:
    """A message with a valid CRC whatever its fields say (encode() refuses bad ones)."""
    body = struct.pack(">BBHB", p.VERSION, mtype, seq, locality) + payload
    return body + struct.pack(">I", p.crc32(body))


def error_code(msg: p.Message) -> str:
    assert msg.type == p.MessageType.ERROR, msg.describe()
    return p.parse_error(msg.payload)[0]


def test_sequence_zero_is_never_executed(gateway):
    before = gateway.simulator.stats["commands"]
    msg = gateway.ask(raw_message(p.MessageType.COMMAND, 0, GET_RANDOM_8))
    assert error_code(msg) == "BAD_TYPE" and msg.seq == 0
    assert "sequence 0 is reserved" in p.parse_error(msg.payload)[1]
    assert gateway.simulator.stats["commands"] == before


def test_locality_beyond_four_is_bad_locality(gateway):
    before = gateway.simulator.stats["commands"]
    msg = gateway.ask(raw_message(p.MessageType.COMMAND, 7, GET_RANDOM_8, locality=9))
    assert error_code(msg) == "BAD_LOCALITY" and msg.seq == 7
    assert gateway.simulator.stats["commands"] == before


def test_oversized_message_is_bad_length(gateway):
    msg = gateway.ask(raw_message(p.MessageType.COMMAND, 8, b"\x80\x01" + b"\0" * p.MAX_PAYLOAD))
    assert error_code(msg) == "BAD_LENGTH" and msg.seq == 8


def test_short_command_is_bad_length_and_short_message_bad_crc(gateway):
    assert error_code(gateway.ask(raw_message(p.MessageType.COMMAND, 9, b"\x80\x01"))) == "BAD_LENGTH"
    msg = gateway.ask(b"\x01\x01\x00")
    assert error_code(msg) == "BAD_CRC" and msg.seq == 0


def test_64_mib_without_a_delimiter_is_never_buffered(gateway):
    link = gateway.bridge.link
    peak = [0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], len(link._buffer))
            time.sleep(0.001)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    chunk = b"\x01" * (1 << 20)
    try:
        for _ in range(64):
            gateway.host.port.write(chunk)
    finally:
        stop.set()
        watcher.join()
    assert peak[0] <= MAX_FRAME + 65536
    assert any("frame longer than" in e for e in link.take_errors())
    # the line recovers at the next delimiter: a PING is answered
    msg = gateway.ask(p.encode(p.MessageType.PING, 11))
    assert msg.type == p.MessageType.ALIVE and msg.seq == 11


# -- fuzz: the parsers that take outside bytes ---------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=p.MAX_MESSAGE + 64))
def test_fuzz_decode_gives_a_message_or_a_coded_frame_error(data):
    try:
        msg = p.decode(data)
    except p.GatewayFrameError as exc:
        assert exc.code in (p.ErrorCode.BAD_CRC, p.ErrorCode.BAD_LENGTH, p.ErrorCode.BAD_VERSION,
                            p.ErrorCode.BAD_TYPE)
        return
    assert len(msg.payload) <= p.MAX_PAYLOAD
    assert raw_message(msg.type, msg.seq, msg.payload, msg.locality) == data


@settings(max_examples=200, deadline=None)
@given(st.builds(raw_message, st.sampled_from(list(p.MessageType)), st.integers(0, 0xFFFF),
                 st.binary(max_size=300), st.integers(0, 255)))
def test_fuzz_well_formed_messages_round_trip(wire):
    msg = p.decode(wire)
    assert msg.payload == wire[5:-4]


@settings(max_examples=150, deadline=None)
@given(chunks=st.lists(st.binary(max_size=3000), max_size=12), framing=st.sampled_from(["slip", "cobs"]),
       messages=st.lists(st.binary(min_size=1, max_size=200), max_size=3))
def test_fuzz_serial_framing_survives_any_line_noise(chunks, framing, messages):
    """Noise on a real pyserial loop:// port, then valid frames: the buffer stays bounded,
    nothing raises, and every message framed after a delimiter comes out whole."""
    link = SerialLink(SerialPort(serial.serial_for_url("loop://", timeout=0.05)), framing)
    try:
        for chunk in chunks:
            link.port.write(chunk)
            while link.recv(0.01) is not None:
                pass
            assert len(link._buffer) <= MAX_FRAME
        delimiter = b"\xc0" if framing == "slip" else b"\x00"
        link.port.write(delimiter)
        while link.recv(0.01) is not None:
            pass
        for message in messages:
            link.send(message)
        got = []
        while (m := link.recv(0.2)) is not None:
            got.append(m)
        assert got == messages
    finally:
        link.close()


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_typed_payload_parsers(payload):
    p.parse_busy(payload)
    p.parse_error(payload)
    try:
        p.AliveInfo.decode(payload)
    except p.GatewayFrameError:
        pass


@pytest.fixture
def can_gateway():
    """A gateway simulator on a python-can virtual channel, reached through a can:// target."""
    from harness.swtpm_process import SwtpmOptions, SwtpmProcess

    process = SwtpmProcess(SwtpmOptions(ek_certs=False))
    channel = f"hostile{uuid4_hex()}"
    target = open_target(f"can://virtual/{channel}?fd=0&backend=swtpm://127.0.0.1:{process.port}"
                         "%3Fdisposable=1")
    try:
        transport = target.open()
        transport.exchange(struct.pack(">HIIH", 0x8001, 12, 0x144, 0))  # TPM2_Startup(CLEAR)
        yield channel, target, transport
    finally:
        target.close()
        process.stop()


def uuid4_hex() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[__import__("hypothesis").HealthCheck.function_scoped_fixture])
@given(frames=st.lists(st.tuples(st.sampled_from([0x7E0, 0x7E8, 0x123]), st.binary(max_size=8)),
                       max_size=10))
def test_fuzz_can_noise_frames_never_break_the_gateway(can_gateway, frames):
    """Random ISO-TP-looking frames on the gateway's own identifiers (the bus is shared,
    any node may send): the simulator survives, nothing is executed twice, and the host's
    next command still gets the chip's answer (after the protocol's own recovery)."""
    import can

    channel, target, transport = can_gateway
    simulator = target.bridge.simulator
    with can.Bus(interface="virtual", channel=channel) as noise:
        for arbitration_id, data in frames:
            noise.send(can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=False))
    executed = simulator.stats["commands"]
    response = transport.exchange(GET_RANDOM_8)
    assert rc_of(response) == 0 and len(response) == 10 + 2 + 8
    assert simulator.stats["commands"] <= executed + 1 + len(frames)
    assert target.bridge.simulator._thread is not None and target.bridge.simulator._thread.is_alive()
