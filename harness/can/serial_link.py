"""The gateway protocol over a serial line (UART), framed by SLIP or COBS.

For gateways without CAN: the same messages as on CAN, each framed as

- ``slip``: RFC 1055, ``END message-escaped END`` (sliplib escapes), or
- ``cobs``: Consistent Overhead Byte Stuffing (the ``cobs`` package) then a
  0x00 delimiter.

A damaged frame (bad escape, line noise) is dropped and noted; the gateway
protocol's CRC-32 and retransmission take it from there. The port is a
pyserial port (``/dev/ttyACM0``, ``loop://``, ``rfc2217://``...) or, for the
in-process gateway simulator, the master side of a pty pair.
"""

from __future__ import annotations

import os
import select
import threading
import time

import serial
import sliplib
from cobs import cobs

from harness.can.faults import FaultTap
from harness.can.link import MessageLink
from harness.can.protocol import MAX_MESSAGE
from harness.errors import BusError, ConfigError

SLIP_END = 0xC0
FRAMINGS = ("slip", "cobs")
#: Longest frame (between delimiters) kept: the largest message with every byte
#: escaped (SLIP doubles a byte at worst; COBS adds one per 254). Anything longer
#: is line noise or an attack and is discarded up to the next delimiter, so the
#: receive buffer never holds more than this.
MAX_FRAME = 2 * MAX_MESSAGE + 2


class SerialPort:
    """The byte stream under a :class:`SerialLink`: a pyserial port."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self.name = port.name or port.portstr or "serial"

    def read_some(self, timeout_s: float) -> bytes:
        """Bytes available within ``timeout_s`` (b"" if none)."""
        self.port.timeout = max(0.0, timeout_s)
        first = self.port.read(1)
        if not first:
            return b""
        waiting = self.port.in_waiting
        return first + (self.port.read(waiting) if waiting else b"")

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def close(self) -> None:
        self.port.close()


class PtyMasterPort(SerialPort):
    """The master side of a pty pair (the gateway end of ``serial+sim://``)."""

    def __init__(self, fd: int, name: str = "pty master") -> None:  # noqa: D107
        self.fd = fd
        self.name = name

    def read_some(self, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout_s))
        if not ready:
            return b""
        try:
            return os.read(self.fd, 65536)
        except OSError:  # EIO: the slave side is closed
            time.sleep(min(timeout_s, 0.05))
            return b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]

    def close(self) -> None:
        os.close(self.fd)


def open_serial(url: str, baudrate: int, settle_s: float = 0.0) -> SerialPort:
    """Open a pyserial port or URL handler (``loop://``, ``rfc2217://``).

    Raises:
        BusError: the port does not exist or cannot be opened.
    """
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05, write_timeout=2.0,
                                     exclusive=True if url.startswith("/") else None)
    except (serial.SerialException, ValueError, OSError) as exc:
        raise BusError(f"cannot open serial port {url!r} at {baudrate} baud: {exc}") from exc
    if settle_s:
        time.sleep(settle_s)
    port.reset_input_buffer()
    return SerialPort(port)


class SerialLink(MessageLink):
    """Whole messages over a byte stream, framed by SLIP or COBS.

    Args:
        port: the byte stream.
        framing: ``slip`` or ``cobs``.
        tap: message-level fault injection (gateway simulator only).
    """

    def __init__(self, port: SerialPort, framing: str = "slip", tap: FaultTap | None = None) -> None:
        super().__init__()
        if framing not in FRAMINGS:
            raise ConfigError(f"serial framing {framing!r} is not one of {', '.join(FRAMINGS)}")
        self.port = port
        self.framing = framing
        self.tap = tap
        self.description = f"serial {port.name} {framing}"
        self._delimiter = bytes([SLIP_END]) if framing == "slip" else b"\x00"
        self._buffer = bytearray()
        self._discarding = False  # inside an over-long frame: drop bytes to the next delimiter
        self._ready: list[bytes] = []
        self._tx_lock = threading.Lock()
        self._closed = False

    def frame(self, message: bytes) -> bytes:
        """The wire bytes of one message."""
        if self.framing == "slip":
            return self._delimiter + sliplib.encode(message) + self._delimiter
        return cobs.encode(message) + self._delimiter

    def unframe(self, chunk: bytes) -> bytes:
        """The message in one delimited chunk; ValueError if damaged."""
        try:
            if self.framing == "slip":
                return sliplib.decode(chunk)
            return cobs.decode(chunk)
        except (sliplib.ProtocolError, cobs.DecodeError) as exc:
            raise ValueError(f"{self.framing.upper()} decode failed: {exc}") from exc

    def send(self, message: bytes) -> None:
        if self._closed:
            raise BusError(f"{self.description}: link is closed")
        wire = self.frame(message)
        if self.tap is not None:
            decision = self.tap.on_tx(False)
            if decision is None:
                return
            if decision > 0:
                time.sleep(decision)
        try:
            with self._tx_lock:
                self.port.write(wire)
        except (serial.SerialException, OSError) as exc:
            raise BusError(f"{self.description}: write failed: {exc}") from exc
        self.counters.sent(len(wire))

    def recv(self, timeout_s: float) -> bytes | None:
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            if self._ready:
                return self._ready.pop(0)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                data = self.port.read_some(min(remaining, 0.1))
            except (serial.SerialException, OSError) as exc:
                if self._closed:
                    return None
                raise BusError(f"{self.description}: read failed: {exc}") from exc
            if data:
                self._feed(data)

    def _feed(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(self._delimiter)
            if end < 0:
                if len(self._buffer) > MAX_FRAME:
                    self._overlong(len(self._buffer))
                    self._buffer.clear()
                    self._discarding = True
                return
            chunk = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._discarding:  # the tail of an over-long frame
                self._discarding = False
                continue
            if not chunk:  # SLIP's leading END, or an idle delimiter
                continue
            if len(chunk) > MAX_FRAME:
                self._overlong(len(chunk))
                continue
            wire_size = len(chunk) + (2 if self.framing == "slip" else 1)
            if self.tap is not None and not self.tap.on_rx():
                continue
            try:
                message = self.unframe(chunk)
            except ValueError as exc:
                self.note_error(f"{self.description}: {exc}")
                continue
            self.counters.received(wire_size)
            self._ready.append(message)

    def _overlong(self, size: int) -> None:
        self.note_error(f"{self.description}: frame longer than {MAX_FRAME} bytes without a "
                        f"delimiter ({size} so far); discarded up to the next delimiter")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.port.close()
