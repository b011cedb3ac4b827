"""The gateway message format byte by byte (docs/gateway-protocol.md)."""

from __future__ import annotations

import pytest

from harness.can import protocol as p
from harness.can.faults import FaultPlan
from harness.errors import BusError, ConfigError

GET_RANDOM_32 = bytes.fromhex("80010000000c0000017b0020")


def test_crc_is_crc32_iso_hdlc_check_value():
    # The catalogue check value of CRC-32/ISO-HDLC over "123456789".
    assert p.crc32(b"123456789") == 0xCBF43926


def test_command_message_exact_bytes():
    wire = p.encode(p.MessageType.COMMAND, 0x1234, GET_RANDOM_32, locality=3)
    assert wire.hex() == "01" "01" "1234" "03" + GET_RANDOM_32.hex() + "beea3898"
    msg = p.decode(wire)
    assert (msg.type, msg.seq, msg.locality, msg.payload) == (p.MessageType.COMMAND, 0x1234, 3, GET_RANDOM_32)


def test_ping_exact_bytes():
    assert p.encode(p.MessageType.PING, 1).hex() == "010200010048502767"


@pytest.mark.parametrize("index", range(len(p.encode(p.MessageType.COMMAND, 7, GET_RANDOM_32))))
def test_any_flipped_bit_fails_the_crc(index):
    wire = bytearray(p.encode(p.MessageType.COMMAND, 7, GET_RANDOM_32))
    wire[index] ^= 0x01
    with pytest.raises(p.GatewayFrameError, match="CRC-32 mismatch"):
        p.decode(bytes(wire))


def _with_crc(body: bytes) -> bytes:
    return body + p.crc32(body).to_bytes(4, "big")


def test_wrong_version_type_and_size_are_named():
    with pytest.raises(p.GatewayFrameError, match="version 0x02"):
        p.decode(_with_crc(bytes([2, 1, 0, 1, 0])))
    with pytest.raises(p.GatewayFrameError, match="type 0x7f"):
        p.decode(_with_crc(bytes([1, 0x7F, 0, 1, 0])))
    with pytest.raises(p.GatewayFrameError, match="shorter than the 9-byte"):
        p.decode(b"\x01\x01\x00")
    assert issubclass(p.GatewayFrameError, BusError)


def test_encode_rejects_out_of_range_fields():
    with pytest.raises(ValueError, match="sequence"):
        p.encode(p.MessageType.COMMAND, 0x10000)
    with pytest.raises(ValueError, match="locality"):
        p.encode(p.MessageType.COMMAND, 1, locality=5)
    with pytest.raises(ValueError, match="payload"):
        p.encode(p.MessageType.COMMAND, 1, bytes(p.MAX_PAYLOAD + 1))


def test_sequence_skips_zero_on_wrap():
    assert p.next_seq(1) == 2
    assert p.next_seq(0xFFFE) == 0xFFFF
    assert p.next_seq(0xFFFF) == 1


def test_busy_error_alive_payloads():
    assert p.busy_payload(200, p.BusyState.EXECUTING) == b"\x00\xc8\x01"
    assert p.parse_busy(b"\x00\xc8\x01") == (200, True)
    assert p.parse_busy(b"\x00\x14\x00") == (20, False)
    assert p.error_payload(p.ErrorCode.BACKEND_FAILED, "swtpm gone") == b"\x06swtpm gone"
    assert p.parse_error(b"\x06swtpm gone") == ("BACKEND_FAILED", "swtpm gone")
    info = p.AliveInfo(8192, True, False, "gw")
    assert info.encode() == b"\x01\x20\x00\x01gw"
    assert p.AliveInfo.decode(info.encode()) == info
    with pytest.raises(p.GatewayFrameError, match="ALIVE payload"):
        p.AliveInfo.decode(b"\x01")


def test_fault_plan_parsing():
    plan = FaultPlan.parse("lose@2, busy@3:2,dup@4:0.5,fc_delay@5")
    assert str(plan) == "lose@2,busy@3:2,dup@4:0.5,fc_delay@5:2"
    assert plan.take("busy", 3).value == 2
    assert plan.take("busy", 3) is None  # each fault fires once
    assert plan.fired == ["busy@3:2"]


@pytest.mark.parametrize("text, words", [
    ("explode@1", "unknown kind 'explode'"),
    ("lose", "expected lose@COMMAND_NUMBER"),
    ("lose@x", "must be numbers"),
    ("lose@0", "must be >= 1"),
    ("lose@1:3", "takes no value"),
])
def test_fault_plan_errors_name_the_item(text, words):
    with pytest.raises(ConfigError, match=words):
        FaultPlan.parse(text)


def test_can_only_faults_rejected_on_serial():
    with pytest.raises(ConfigError, match="CAN gateways only"):
        FaultPlan.parse("fc_delay@1:1", can=False)
