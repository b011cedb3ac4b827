"""What carries whole gateway messages: an ISO-TP stack or a framed serial line.

Both ends of the gateway protocol (the host transport and the gateway
simulator) talk to a :class:`MessageLink`; the link counts the frames and
bytes it puts on and takes off the wire so that the exchange log can show
each TPM command's bus cost.
"""

from __future__ import annotations

import abc
import threading
import time


class LinkCounters:
    """Frames and bytes on the wire, both directions, since the last take()."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.frames_tx = self.frames_rx = self.bytes_tx = self.bytes_rx = 0
        #: time.monotonic() of the last frame received (0 if none yet).
        self.last_rx = 0.0

    def sent(self, nbytes: int) -> None:
        with self._lock:
            self.frames_tx += 1
            self.bytes_tx += nbytes

    def received(self, nbytes: int) -> None:
        with self._lock:
            self.frames_rx += 1
            self.bytes_rx += nbytes
            self.last_rx = time.monotonic()

    def take(self) -> tuple[int, int]:
        """``(frames, bytes)`` in both directions since the last call, then zero."""
        with self._lock:
            out = (self.frames_tx + self.frames_rx, self.bytes_tx + self.bytes_rx)
            self.frames_tx = self.frames_rx = self.bytes_tx = self.bytes_rx = 0
            return out


class MessageLink(abc.ABC):
    """Sends and receives whole messages (bytes), each delivered once or lost.

    Attributes:
        counters: wire frames and bytes (CAN frames incl. flow control, or
            framed serial packets).
        description: e.g. ``can virtual:bus0 tx=0x7e0 rx=0x7e8 fd``.
    """

    description = "link"

    def __init__(self) -> None:
        self.counters = LinkCounters()
        self._errors: list[str] = []
        self._err_lock = threading.Lock()

    @abc.abstractmethod
    def send(self, message: bytes) -> None:
        """Queue one message for transmission (returns before it is on the wire)."""

    @abc.abstractmethod
    def recv(self, timeout_s: float) -> bytes | None:
        """The next whole message, or None after ``timeout_s``."""

    def sending(self) -> bool:
        """True while a message is still going out (e.g. ISO-TP consecutive frames)."""
        return False

    def close(self) -> None:
        """Release the link."""

    def note_error(self, text: str) -> None:
        """Record a link-level error (ISO-TP timeout, bus error, framing)."""
        with self._err_lock:
            self._errors.append(text)
            del self._errors[:-8]

    def take_errors(self) -> list[str]:
        """Link errors since the last call (most recent last, at most 8)."""
        with self._err_lock:
            out, self._errors = self._errors, []
            return out
