"""``tpmhil serve``: a target over swtpm's socket protocol, driven by real TSS clients."""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import sys
import time

import pytest

from harness.errors import TransportError
from harness.results.store import ResultsStore
from harness.serve import control as ctl
from harness.tpm.handles import TRANSIENT_FIRST, list_handles
from harness.serve.server import RC_NOT_PERMITTED, ServeOptions, TpmServer
from harness.targets import open_target
from harness.tpm.wire import HEADER, build_command
from harness.transports.swtpm import SwtpmControl, SwtpmTransport

TPM_CC_GET_RANDOM = 0x017B
TPM_CC_STARTUP = 0x0144
TPM_RC_INITIALIZE = 0x100
TPM_RC_FAILURE = 0x101
GET_RANDOM_8 = build_command(TPM_CC_GET_RANDOM, struct.pack(">H", 8))


class CommandRecorder(SwtpmTransport):
    """A client transport that keeps the bytes of every command it sent."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[bytes] = []

    def _send(self, command: bytes) -> None:
        self.sent.append(command)
        super()._send(command)


def create_primary_bytes(server: TpmServer) -> bytes:
    """A real TPM2_CreatePrimary (owner hierarchy, ECC P-256, password session) as
    tpm2-pytss marshals it, captured on the wire (TPM 2.0 Part 3 §24.1)."""
    from tpm2_pytss.types import TPM2B_SENSITIVE_CREATE

    from harness.transports.tcti import open_esapi

    recorder = CommandRecorder("127.0.0.1", server.port)
    try:
        esapi = open_esapi(recorder)
        handle = esapi.create_primary(TPM2B_SENSITIVE_CREATE(), "ecc256")[0]
        esapi.flush_context(handle)
    finally:
        recorder.close()
    (command,) = [c for c in recorder.sent if HEADER.unpack_from(c)[2] == 0x0131]
    return command


def start_server(tmp_path, **options) -> tuple[TpmServer, object, ResultsStore]:
    target = open_target("swtpm")
    store = ResultsStore(tmp_path / "serve")
    server = TpmServer(target.open(), ServeOptions(**options), store=store)
    server.start()
    return server, target, store


@pytest.fixture
def served(tmp_path):
    """An in-process server in front of a spawned swtpm, logging to a store."""
    server, target, store = start_server(tmp_path, lease_s=0.3, idle_timeout_s=60.0)
    yield server
    server.stop()
    target.close()
    store.close()


@pytest.fixture
def served_impatient(tmp_path):
    """The same with a one-second idle timeout."""
    server, target, store = start_server(tmp_path, lease_s=0.3, idle_timeout_s=1.0)
    yield server
    server.stop()
    target.close()
    store.close()


def client(server: TpmServer) -> SwtpmTransport:
    return SwtpmTransport("127.0.0.1", server.port)


def rc_of(response: bytes) -> int:
    return HEADER.unpack_from(response)[2]


def wait_for(predicate, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("served_target", ["swtpm", "spi+sim://st33ktpm"])
def test_functional_suite_passes_against_serve_in_another_process(tmp_path, helpers,
                                                                   served_target):
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli.main", "serve", "--tpm", served_target,
                             "--listen", "127.0.0.1:0", "--results", str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"swtpm://127\.0\.0\.1:(\d+) ", line)
        assert match, f"tpmhil serve did not start: {line!r} (exit {proc.poll()})"
        port = int(match.group(1))
        result = helpers.functional_suite(f"swtpm://127.0.0.1:{port}")
        assert result.returncode == 0, result.stdout[-3000:]
        assert helpers.passed_count(result.stdout) >= 30
        assert "skipped" not in result.stdout.splitlines()[-1]
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    # The serving side kept its own command log.
    (folder,) = [p for p in tmp_path.iterdir() if (p / "store.sqlite").exists()]
    with ResultsStore(folder) as store:
        assert store.counts()["exchanges"] > 100
        clients = store.query("SELECT DISTINCT test FROM exchanges WHERE test LIKE '127.0.0.1:%'")
        assert clients
        assert store.query("SELECT COUNT(*) FROM events WHERE kind = 'serve.client'")[0][0] >= 1


def test_tpm2_tools_and_pytss_tctildr_drive_the_served_chip(served):
    env = {"TPM2TOOLS_TCTI": f"swtpm:host=127.0.0.1,port={served.port}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["tpm2_getrandom", "--hex", "16"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert re.fullmatch(r"[0-9a-f]{32}", out.stdout.strip())
    assert wait_for(lambda: served.holder is None)  # tpm2-tools' session ended with its lease

    from tpm2_pytss import ESAPI, TCTILdr

    tcti = TCTILdr("swtpm", f"host=127.0.0.1,port={served.port}")
    with ESAPI(tcti) as esapi:
        assert len(bytes(esapi.get_random(12))) == 12
    served.flush_log()
    assert served.store.query("SELECT COUNT(*) FROM exchanges WHERE command = 'TPM2_GetRandom' "
                              "AND rc = 0")[0][0] == 2


def test_second_client_is_refused_while_one_is_connected(served):
    first = client(served)
    try:
        assert rc_of(first.exchange(GET_RANDOM_8)) == 0
        second = client(served)
        try:
            assert rc_of(second.exchange(GET_RANDOM_8)) == RC_NOT_PERMITTED
        finally:
            second.close()
        assert rc_of(first.exchange(GET_RANDOM_8)) == 0  # the holder is unaffected
    finally:
        first.close()
    refused = [d for kind, d in served.events if kind == "refused"]
    assert refused and "one client at a time" in refused[0]["why"]


def created_primaries(server: TpmServer) -> int:
    """TPM2_CreatePrimary commands the chip completed, from the server's command log."""
    server.flush_log()
    return server.store.query("SELECT COUNT(*) FROM exchanges WHERE command = "
                              "'TPM2_CreatePrimary' AND rc = 0")[0][0]


def test_client_dropping_mid_command_leaves_no_command_and_no_objects(served):
    create_primary = create_primary_bytes(served)
    assert wait_for(lambda: served.holder is None)
    assert created_primaries(served) == 1
    # Half a command, then gone: nothing may reach the chip.
    with socket.create_connection(("127.0.0.1", served.port)) as raw:
        raw.sendall(create_primary[:20])
    assert wait_for(lambda: any(k == "dropped" for k, _ in served.events))
    assert created_primaries(served) == 1
    # A whole CreatePrimary, gone before the answer: the object is flushed afterwards.
    with socket.create_connection(("127.0.0.1", served.port)) as raw:
        raw.sendall(create_primary)
        raw.shutdown(socket.SHUT_RDWR)
    assert wait_for(lambda: created_primaries(served) == 2)
    assert wait_for(lambda: served.holder is None)
    probe = client(served)
    try:
        assert list_handles(probe, TRANSIENT_FIRST) == []
        assert rc_of(probe.exchange(GET_RANDOM_8)) == 0
    finally:
        probe.close()
    ends = [d for k, d in served.events if k == "session_end"]
    assert any(d["flushed"] for d in ends)


def test_idle_connection_is_closed(served_impatient):
    served = served_impatient
    idle = client(served)
    try:
        assert rc_of(idle.exchange(GET_RANDOM_8)) == 0
        assert wait_for(lambda: any(k == "dropped" and "idle" in d["why"]
                                    for k, d in served.events))
        assert wait_for(lambda: served.holder is None)  # the chip is free for the next client
        with pytest.raises(TransportError):
            idle.exchange(GET_RANDOM_8)
    finally:
        idle.close()


def test_control_channel_capabilities_locality_power_cycle_stop(served):
    control = SwtpmControl("127.0.0.1", served.port + 1)
    data = client(served)
    try:
        assert control.capabilities() == ctl.SERVER_CAPS
        control.set_locality(0)
        control.init()  # CMD_INIT: the spawned swtpm is power-cycled and needs Startup
        assert rc_of(data.exchange(GET_RANDOM_8)) == TPM_RC_INITIALIZE
        assert rc_of(data.exchange(build_command(TPM_CC_STARTUP, b"\x00\x00"))) == 0
        assert rc_of(data.exchange(GET_RANDOM_8)) == 0
        control.command(ctl.CMD_STOP)
        assert rc_of(data.exchange(GET_RANDOM_8)) == TPM_RC_FAILURE
        control.init()
        data.exchange(build_command(TPM_CC_STARTUP, b"\x00\x00"))
        assert rc_of(data.exchange(GET_RANDOM_8)) == 0
        with pytest.raises(TransportError, match="control command 3 failed with 0x9"):
            control.shutdown()  # refused without --allow-shutdown
    finally:
        data.close()
        control.close()
    kinds = [k for k, _ in served.events]
    assert kinds.count("power_cycle") == 2 and "stop" in kinds


def test_unknown_control_command_is_answered_like_swtpm(served):
    with socket.create_connection(("127.0.0.1", served.port + 1), timeout=10) as raw:
        raw.sendall(struct.pack(">I", 0x63))
        assert raw.recv(4) == struct.pack(">I", ctl.TPM_BAD_ORDINAL)


def test_cli_rejects_a_malformed_listen_address():
    from harness.cli.cmd_serve import parse_listen
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        parse_listen("2321")
    with pytest.raises(ConfigError, match="PORT\\+1"):
        parse_listen("127.0.0.1:65535")


def test_power_cycle_goes_through_the_rig_supply(tmp_path):
    """CMD_INIT with --rig: the (simulated, SCPI over a loopback socket) supply
    switches off and on, then the chip needs TPM2_Startup again."""
    from pathlib import Path

    from harness.cli.cmd_serve import open_rig_power

    setup = Path(__file__).parents[2] / "rigs" / "setups" / "sim-lab.yaml"
    target = open_target("swtpm")
    transport = target.open()
    rig, power_cycle = open_rig_power(str(setup), transport)
    server = TpmServer(transport, ServeOptions(power_cycle=power_cycle, allow_power_cycle=True))
    server.start()
    data = client(server)
    control = SwtpmControl("127.0.0.1", server.port + 1)
    try:
        assert rc_of(data.exchange(GET_RANDOM_8)) == 0
        control.init()
        assert rig.supply.measure().output_on  # switched on again after the off time
        assert rc_of(data.exchange(GET_RANDOM_8)) == TPM_RC_INITIALIZE
        cycles = [d for k, d in server.events if k == "power_cycle"]
        assert len(cycles) == 1 and "error" not in cycles[0]
    finally:
        control.close()
        data.close()
        server.stop()
        rig.close()
        target.close()


def test_a_client_reconnecting_for_every_command_is_never_refused(served):
    """tpm2-tss's swtpm TCTI connects anew for each command and may do so
    before the server has seen its previous connection close."""
    answers = []
    for _ in range(40):
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as raw:
            raw.sendall(GET_RANDOM_8)
            answers.append(rc_of(raw.recv(64)))
    assert answers == [0] * 40
    assert not [d for k, d in served.events if k == "refused"]
