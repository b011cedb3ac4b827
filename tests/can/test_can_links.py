"""ISO-TP on python-can's virtual bus and SLIP/COBS on pyserial: real
segmentation, flow control and framing, counted frame by frame."""

from __future__ import annotations

import os
import time

import can
import pytest
import serial

from harness.can.isotp_link import CanSettings, IsoTpLink
from harness.can.serial_link import PtyMasterPort, SerialLink, SerialPort, open_serial
from harness.errors import ConfigError


def _pair(settings: CanSettings):
    host, gateway = IsoTpLink(settings), IsoTpLink(settings.peer())
    return host, gateway


def _recv(link, timeout=5.0):
    msg = link.recv(timeout)
    assert msg is not None, "no message within 5 s"
    return msg


def test_classic_multiframe_message_frame_count(bus_name):
    host, gateway = _pair(CanSettings(channel=bus_name, blocksize=8))
    try:
        data = bytes(range(100))
        host.send(data)
        assert _recv(gateway) == data
        time.sleep(0.05)
        # 100 bytes: FF (6 data) + 14 CF (7 each); block size 8 -> 2 flow controls.
        frames, nbytes = host.counters.take()
        assert frames == 1 + 14 + 2
        # FF 8 + 13 full CFs 8 + last CF (1 PCI + 3 data) + 2 FCs of 3 bytes (unpadded).
        assert nbytes == 8 + 13 * 8 + 4 + 2 * 3
    finally:
        host.close(), gateway.close()


def test_fd_single_frame_and_large_message(bus_name):
    host, gateway = _pair(CanSettings(channel=bus_name, fd=True, brs=True, data_length=64))
    try:
        host.send(bytes(60))
        assert _recv(gateway) == bytes(60)
        time.sleep(0.05)
        assert host.counters.take()[0] == 1  # one FD single frame
        big = os.urandom(4200)  # beyond the 4095 ISO-TP classic length: escape first frame
        gateway.send(big)
        assert _recv(host) == big
    finally:
        host.close(), gateway.close()


def test_extended_ids_and_padding_on_the_wire(bus_name):
    settings = CanSettings(channel=bus_name, tx_id=0x18DA10F1, rx_id=0x18DAF110, extended=True, padding=0xCC)
    spy = can.Bus(interface="virtual", channel=bus_name)
    host, gateway = _pair(settings)
    try:
        host.send(b"\x01\x02\x03")
        assert _recv(gateway) == b"\x01\x02\x03"
        frame = spy.recv(2.0)
        assert frame.is_extended_id and frame.arbitration_id == 0x18DA10F1
        assert bytes(frame.data) == bytes([0x03, 1, 2, 3]) + b"\xcc" * 4
    finally:
        host.close(), gateway.close(), spy.shutdown()


@pytest.mark.parametrize("kwargs, words", [
    ({"tx_id": 0x800}, "11-bit"),
    ({"tx_id": 0x7E8}, "both 0x7e8"),
    ({"data_length": 64}, "needs fd=1"),
    ({"fd": True, "data_length": 63}, "not a CAN FD frame size"),
    ({"stmin": 300}, "stmin"),
])
def test_can_settings_errors(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        CanSettings(**kwargs)


def test_slip_and_cobs_exact_bytes():
    slip = SerialLink(SerialPort(serial.serial_for_url("loop://")), "slip")
    cobs = SerialLink(SerialPort(serial.serial_for_url("loop://")), "cobs")
    assert slip.frame(b"\x01\xc0\x02\xdb\x03") == bytes.fromhex("c001dbdc02dbdd03c0")
    assert cobs.frame(b"\x11\x00\x00\x22") == bytes.fromhex("021101022200")


@pytest.mark.parametrize("framing", ["slip", "cobs"])
def test_loopback_round_trip_and_damaged_frame(framing):
    link = SerialLink(open_serial("loop://", 115200), framing)
    try:
        message = bytes(range(256)) * 3
        link.send(message)
        assert link.recv(2.0) == message
        assert link.counters.take() == (2, 2 * len(link.frame(message)))
        # A damaged frame is dropped and noted; the next one still arrives.
        bad = b"\xc0\xdb\x01\xc0" if framing == "slip" else b"\x05\x01\x00"
        link.port.write(bad)
        link.send(b"after")
        assert link.recv(2.0) == b"after"
        errors = link.take_errors()
        assert any("decode failed" in e for e in errors), errors
    finally:
        link.close()


def test_pty_pair_carries_messages_both_ways():
    master, slave = os.openpty()
    gateway_side = SerialLink(PtyMasterPort(master), "cobs")
    host_side = SerialLink(open_serial(os.ttyname(slave), 921600), "cobs")
    os.close(slave)
    try:
        host_side.send(b"\x00command\x00")
        assert gateway_side.recv(2.0) == b"\x00command\x00"
        gateway_side.send(b"response" * 100)
        assert host_side.recv(2.0) == b"response" * 100
    finally:
        host_side.close(), gateway_side.close()
