"""Target strings and ESAPI end to end over CAN (classic, FD) and serial, and
``tpmhil gateway`` in its own process on a pty."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tpm2_pytss import TPML_PCR_SELECTION

from harness.can.serial_link import PtyMasterPort, SerialLink
from harness.can.transport import SerialTransport
from harness.errors import BusError, HarnessError
from harness.targets import open_target
from harness.transports.tcti import open_esapi

from .conftest import get_random_cmd, rc_of


@pytest.mark.parametrize("query", ["fd=0", "fd=1", "fd=1&brs=0&dl=32&padding=0xAA",
                                   "ext=1&tx=0x18DA10F1&rx=0x18DAF110&bs=0&stmin=1"])
def test_esapi_over_virtual_can(swtpm_backend, bus_name, query):
    target = open_target(f"can://virtual/{bus_name}?{query}&backend={swtpm_backend}")
    try:
        esapi = open_esapi(target.open())
        assert len(bytes(esapi.get_random(32))) == 32
        _, _, values = esapi.pcr_read(TPML_PCR_SELECTION.parse("sha256:0,1,2"))
        assert len(values.digests) == 3
        frames = [r.bus_transactions for r in target.transport.log]
        assert all(f > 0 for f in frames)
        esapi.close()
    finally:
        target.close()


@pytest.mark.parametrize("framing", ["slip", "cobs"])
def test_esapi_over_serial_sim(swtpm_backend, framing):
    target = open_target(f"serial+sim://?framing={framing}&baud=921600&backend={swtpm_backend}")
    try:
        assert target.disposable and target.bus == "serial"
        esapi = open_esapi(target.open())
        assert len(bytes(esapi.get_random(16))) == 16
        esapi.close()
    finally:
        target.close()


def test_spawned_backend_makes_a_disposable_swtpm_target(bus_name):
    target = open_target(f"can://virtual/{bus_name}")
    assert target.disposable and target.profile_hint == "swtpm"
    assert target.describe()["backend"] == "swtpm"


@pytest.mark.parametrize("text, words", [
    ("can://virtual/x?speed=1", "unknown parameter"),
    ("can://socketcan/can0?faults=lose@1", "unknown parameter"),
    ("can://virtual/x?tx=0x900", "11-bit"),
    ("can://virtual/x?tx=0x7E8", "both 0x7e8"),
    ("can://virtual/x?fd=yes please", "not a boolean"),
    ("can://virtual/x?faults=boom@1", "unknown kind"),
    ("can://virtual?fd=1", "no CAN channel"),
    ("serial://?baud=9600", "expected serial:///dev/ttyACM0"),
    ("serial:///dev/ttyS9?framing=hdlc", "framing='hdlc'"),
    ("serial+sim://?faults=fc_delay@1:1", "CAN gateways only"),
    ("can://virtual/x?backend=serial%2Bsim://", "gateway behind a gateway"),
])
def test_bad_target_strings_name_the_problem(text, words):
    with pytest.raises(HarnessError, match=words):
        open_target(text)


def test_missing_serial_port_is_a_clear_error():
    target = open_target("serial:///dev/ttyNOPE0?baud=9600")
    with pytest.raises(BusError, match="cannot open serial port '/dev/ttyNOPE0'"):
        target.open()


def test_cli_gateway_serves_a_pty(swtpm_backend):
    master, slave = os.openpty()
    slave_name = os.ttyname(slave)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "gateway", "--serial",
         f"serial://{slave_name}?baud=921600&framing=cobs", "--tpm", swtpm_backend, "--duration", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert "gateway simulator on serial" in proc.stdout.readline()
        transport = SerialTransport(SerialLink(PtyMasterPort(master), "cobs"))
        alive = transport.ping(timeout_s=10)
        assert alive.description.endswith(swtpm_backend)
        assert rc_of(transport.exchange(get_random_cmd(8))) == 0
        transport.close()
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        os.close(slave)
    assert proc.returncode == 0, err
    assert "commands=1" in out


def test_second_simulator_on_one_virtual_channel_is_refused(swtpm_backend, bus_name):
    first = open_target(f"can://virtual/{bus_name}?backend={swtpm_backend}")
    second = open_target(f"can://virtual/{bus_name}?backend=swtpm")
    try:
        first.open()
        with pytest.raises(HarnessError, match="already has a gateway simulator"):
            second.open()
    finally:
        second.close()
        first.close()
    third = open_target(f"can://virtual/{bus_name}?backend={swtpm_backend}")  # freed on close
    try:
        assert rc_of(third.open().exchange(get_random_cmd())) == 0
    finally:
        third.close()


@pytest.mark.parametrize("text, interface, channel", [
    ("can://socketcan/can0?tx=0x7E0&rx=0x7E8&fd=1", "socketcan", "can0"),
    ("can://pcan/PCAN_USBBUS1?bitrate=500000", "pcan", "PCAN_USBBUS1"),
    ("can://slcan/dev/ttyACM0?bitrate=500000", "slcan", "/dev/ttyACM0"),
    ("can://kvaser/0", "kvaser", "0"),
])
def test_real_interface_strings_parse_without_opening(text, interface, channel):
    target = open_target(text)  # nothing is opened before open()
    assert (target.settings.interface, target.settings.channel) == (interface, channel)
    assert not target.disposable and target.bus == "can"
    assert target.settings.blocksize == 0 and target.settings.tx_id == 0x7E0


def test_fd_string_sets_fd_frames_and_bit_rate_switch():
    settings = open_target("can://socketcan/can0?fd=1&dbitrate=2000000&padding=0xCC&ext=1&tx=0x18DA10F1&rx=0x18DAF110").settings
    assert settings.fd and settings.brs and settings.data_length == 64
    assert settings.data_bitrate == 2000000 and settings.padding == 0xCC and settings.extended
    params = settings.isotp_params()
    assert params["can_fd"] is True and params["bitrate_switch"] is True and params["tx_data_length"] == 64


def test_serial_target_on_a_real_tty_path(swtpm_backend):
    """``serial:///dev/pts/N`` opened by pyserial, the gateway on the pty's master side."""
    from harness.can.bridge import GatewayBridge, backend_target

    master, slave = os.openpty()
    bridge = GatewayBridge(backend_target(swtpm_backend)).start_serial(PtyMasterPort(master), "slip")
    target = open_target(f"serial://{os.ttyname(slave)}?baud=921600&framing=slip")
    try:
        assert not target.disposable and target.bus == "serial"
        transport = target.open()
        assert transport.alive is not None and swtpm_backend in transport.alive.description
        esapi = open_esapi(transport)
        assert len(bytes(esapi.get_random(24))) == 24
        esapi.close()
        assert [r.bus_transactions for r in transport.log] == [2]  # one framed packet each way
    finally:
        target.close()
        bridge.close()
        os.close(slave)
