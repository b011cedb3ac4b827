"""The tpm-hil gateway protocol: one TPM command or response per message.

No TCG specification covers a TPM behind a CAN (or UART) gateway MCU, so
tpm-hil defines this small framing (full specification:
``docs/gateway-protocol.md``). A message is carried whole by ISO 15765-2
(ISO-TP) on CAN, or by SLIP/COBS framing on a serial line::

    offset  size  field
    0       1     version      0x01
    1       1     type         see MessageType
    2       2     sequence     big-endian; echoed by the gateway's answer
    4       1     locality     TPM locality 0-4 (COMMAND); 0 otherwise
    5       n     payload      TPM command / response / type-specific body
    5+n     4     crc32        CRC-32/ISO-HDLC (zlib.crc32) of bytes 0..4+n, big-endian

The CRC-32 covers what the CAN CRC does not: bytes re-assembled by ISO-TP from
many frames, gateway RAM and the MCU's SPI/I2C bridge. Sequence 0 is never
used by a host; the gateway answers with sequence 0 only when it cannot read
the sequence of a damaged message.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

from harness.errors import BusError

VERSION = 0x01
HEADER = struct.Struct(">BBHB")
HEADER_SIZE = HEADER.size  # 5
CRC_SIZE = 4
OVERHEAD = HEADER_SIZE + CRC_SIZE  # 9
MIN_SIZE = OVERHEAD
#: Largest payload a gateway must accept: a 4096-byte TPM buffer (TPM 2.0
#: Part 2, MAX_COMMAND_SIZE/MAX_RESPONSE_SIZE on the chips in scope) plus room.
MAX_PAYLOAD = 8192
SEQ_MODULUS = 0x10000
#: Highest TPM locality (TPM 2.0 PC Client PTP: localities 0-4).
MAX_LOCALITY = 4
#: Largest whole message (header + payload + CRC).
MAX_MESSAGE = MAX_PAYLOAD + OVERHEAD


class MessageType(enum.IntEnum):
    """Message types. Host requests have bit 7 clear, gateway answers set."""

    COMMAND = 0x01    #: host -> gateway: payload is one TPM command
    PING = 0x02       #: host -> gateway: "are you alive?"; also opens a session
    RESET = 0x03      #: host -> gateway: payload is one ResetKind byte
    RESPONSE = 0x81   #: gateway -> host: payload is the TPM's response
    ALIVE = 0x82      #: gateway -> host: answer to PING (see AliveInfo)
    RESET_DONE = 0x83 #: gateway -> host: the reset was carried out
    BUSY = 0x84       #: gateway -> host: payload u16 retry-after (ms), u8 BusyState
    ERROR = 0x85      #: gateway -> host: payload u8 ErrorCode + UTF-8 detail


class ResetKind(enum.IntEnum):
    """Payload of RESET."""

    GATEWAY = 0x00    #: forget the replay cache and any queued work
    TPM_POWER = 0x01  #: power-cycle the TPM (TPM2_Startup is needed after)


class ErrorCode(enum.IntEnum):
    """First payload byte of an ERROR message from the gateway itself."""

    BAD_CRC = 0x01        #: the gateway received a message whose CRC-32 failed
    BAD_VERSION = 0x02    #: unknown protocol version
    BAD_TYPE = 0x03       #: unknown or host-illegal message type
    BAD_LENGTH = 0x04     #: command shorter than a TPM header or too large
    BAD_LOCALITY = 0x05   #: locality outside 0-4 or not reachable
    BACKEND_FAILED = 0x06 #: the gateway could not reach the TPM (bus error, timeout)
    NOT_SUPPORTED = 0x07  #: e.g. power cycle on a gateway without a TPM power switch


class GatewayFrameError(BusError):
    """A gateway message failed to decode (size, version, CRC, type).

    Attributes:
        code: the ERROR code a gateway answers it with (docs/gateway-protocol.md
            section 5): BAD_CRC for a short or damaged message (sequence 0),
            BAD_LENGTH for one too long, BAD_VERSION, BAD_TYPE.
    """

    def __init__(self, message: str, code: "ErrorCode | None" = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Message:
    """One decoded gateway message."""

    type: MessageType
    seq: int
    payload: bytes = b""
    locality: int = 0
    version: int = VERSION

    def encode(self) -> bytes:
        return encode(self.type, self.seq, self.payload, self.locality)

    def describe(self) -> str:
        return f"{self.type.name} seq={self.seq} ({len(self.payload)} payload bytes)"


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC (poly 0x04C11DB7 reflected, init/xorout 0xFFFFFFFF)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def encode(mtype: MessageType, seq: int, payload: bytes = b"", locality: int = 0) -> bytes:
    """Build one message's bytes.

    Raises:
        ValueError: sequence, locality or payload size out of range.
    """
    if not 0 <= seq < SEQ_MODULUS:
        raise ValueError(f"sequence {seq} is outside 0..65535")
    if not 0 <= locality <= 4:
        raise ValueError(f"locality {locality} is outside 0..4")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = HEADER.pack(VERSION, int(mtype), seq, locality) + bytes(payload)
    return body + struct.pack(">I", crc32(body))


def decode(data: bytes) -> Message:
    """Parse and check one message.

    Raises:
        GatewayFrameError: too short or long, CRC mismatch, unknown version
            or type; the message says which.
    """
    data = bytes(data)
    if len(data) < MIN_SIZE:
        raise GatewayFrameError(
            f"gateway message of {len(data)} bytes is shorter than the {MIN_SIZE}-byte minimum",
            ErrorCode.BAD_CRC)
    if len(data) > MAX_MESSAGE:
        raise GatewayFrameError(f"gateway message of {len(data)} bytes exceeds the "
                                f"{MAX_MESSAGE}-byte maximum", ErrorCode.BAD_LENGTH)
    body, (crc,) = data[:-CRC_SIZE], struct.unpack(">I", data[-CRC_SIZE:])
    if crc32(body) != crc:
        raise GatewayFrameError(
            f"gateway message CRC-32 mismatch: carried 0x{crc:08x}, computed 0x{crc32(body):08x}",
            ErrorCode.BAD_CRC)
    version, mtype, seq, locality = HEADER.unpack_from(body)
    if version != VERSION:
        raise GatewayFrameError(f"gateway protocol version 0x{version:02x}, expected 0x{VERSION:02x}",
                                ErrorCode.BAD_VERSION)
    try:
        kind = MessageType(mtype)
    except ValueError:
        raise GatewayFrameError(f"unknown gateway message type 0x{mtype:02x}",
                                ErrorCode.BAD_TYPE) from None
    return Message(kind, seq, body[HEADER_SIZE:], locality, version)


def peek_seq(data: bytes) -> int:
    """The sequence field of a (possibly damaged) message, or 0 if too short."""
    return struct.unpack_from(">H", data, 2)[0] if len(data) >= HEADER_SIZE else 0


def next_seq(seq: int) -> int:
    """The sequence after ``seq``: 1, 2, ..., 65535, 1 (0 is reserved)."""
    return seq % (SEQ_MODULUS - 1) + 1


# -- type-specific payloads ---------------------------------------------------

class BusyState(enum.IntEnum):
    """Third byte of a BUSY payload."""

    REJECTED = 0x00   #: not accepted: send the same request again after retry-after
    EXECUTING = 0x01  #: this very request is executing: wait, do not resend yet


def busy_payload(retry_after_ms: int, state: BusyState = BusyState.REJECTED) -> bytes:
    """BUSY payload: u16 retry-after (ms), u8 BusyState."""
    return struct.pack(">HB", max(0, min(retry_after_ms, 0xFFFF)), int(state))


def parse_busy(payload: bytes) -> tuple[int, bool]:
    """``(retry-after ms, executing)`` from a BUSY payload (short -> 10 ms, rejected)."""
    retry_ms = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 10
    return retry_ms, len(payload) >= 3 and payload[2] == BusyState.EXECUTING


def error_payload(code: ErrorCode, detail: str = "") -> bytes:
    return bytes([int(code)]) + detail.encode("utf-8", "replace")[:200]


def parse_error(payload: bytes) -> tuple[str, str]:
    """``(code name, detail)`` of an ERROR payload."""
    if not payload:
        return "UNKNOWN", ""
    try:
        name = ErrorCode(payload[0]).name
    except ValueError:
        name = f"0x{payload[0]:02x}"
    return name, payload[1:].decode("utf-8", "replace")


@dataclass(frozen=True)
class AliveInfo:
    """ALIVE payload: version(1) max_payload(u16) flags(1) description(UTF-8).

    Flags: bit 0 the gateway can power-cycle the TPM, bit 1 it is executing a
    command right now.
    """

    max_payload: int
    can_power_cycle: bool
    executing: bool
    description: str
    version: int = VERSION

    def encode(self) -> bytes:
        flags = (1 if self.can_power_cycle else 0) | (2 if self.executing else 0)
        return (struct.pack(">BHB", self.version, self.max_payload, flags)
                + self.description.encode("utf-8", "replace")[:120])

    @classmethod
    def decode(cls, payload: bytes) -> "AliveInfo":
        if len(payload) < 4:
            raise GatewayFrameError(f"ALIVE payload of {len(payload)} bytes, expected at least 4")
        version, max_payload, flags = struct.unpack_from(">BHB", payload)
        return cls(max_payload, bool(flags & 1), bool(flags & 2),
                   payload[4:].decode("utf-8", "replace"), version)
