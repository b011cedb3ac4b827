"""Host side of the gateway protocol: TPM commands to a TPM behind a gateway MCU.

Delivery is at-least-once and execution at-most-once: the host retransmits a
request with the *same* sequence number when the link stays silent for
``retry_s`` or an answer arrives damaged; the gateway executes a sequence
number once and answers a repeat from its replay cache (or with BUSY while it
still executes). Answers carrying another sequence number are stale (a late
duplicate, a response to a command the host gave up on) and are dropped.
Every wait is bounded by the command's TCG duration bound plus the link
margin (see :class:`harness.transports.base.Transport`).
"""

from __future__ import annotations

import secrets
import time

from harness.can import protocol as p
from harness.can.isotp_link import CanSettings, IsoTpLink
from harness.can.link import MessageLink
from harness.can.serial_link import SerialLink
from harness.errors import BusError, NotSupportedError, TpmTimeoutError
from harness.transports.base import Transport

DEFAULT_RETRY_S = 0.5
DEFAULT_MAX_RETRIES = 16
#: The gateway's own backend bound is the command's bound plus 1 s; the host
#: waits longer so that a gateway-side timeout arrives as a clear ERROR.
DEFAULT_LINK_MARGIN_S = 2.5


class GatewayTransport(Transport):
    """TPM commands through a gateway speaking the tpm-hil gateway protocol.

    Args:
        link: carries whole messages (ISO-TP or framed serial); owned and
            closed by the transport.
        retry_s: silence after which a request is retransmitted.
        max_retries: retransmissions after silence or damage per request
            before giving up; resends after BUSY are bounded by the command's
            time bound only.

    Attributes:
        stats: totals since opening: ``retransmits``, ``busy``, ``stale``
            (answers dropped for their sequence number), ``corrupt`` (failed
            CRC-32 or framing), ``gateway_errors``.
        alive: what the gateway said about itself in its last ALIVE.
    """

    can_power_cycle = True

    def __init__(self, link: MessageLink, *, retry_s: float = DEFAULT_RETRY_S,
                 max_retries: int = DEFAULT_MAX_RETRIES, **kwargs) -> None:
        kwargs.setdefault("name", link.description)
        kwargs.setdefault("link_margin_s", DEFAULT_LINK_MARGIN_S)
        super().__init__(**kwargs)
        self.link = link
        self.retry_s = retry_s
        self.max_retries = max_retries
        self.stats = {"retransmits": 0, "busy": 0, "stale": 0, "corrupt": 0, "gateway_errors": 0}
        self.alive: p.AliveInfo | None = None
        self._seq = secrets.randbelow(p.SEQ_MODULUS - 1) + 1
        self._wire = b""
        self._busy_resends = 0

    # -- requests ------------------------------------------------------------

    def _start(self, mtype: p.MessageType, payload: bytes, locality: int = 0) -> int:
        """Send a new request; returns its sequence number."""
        self._drain_stale()
        self.link.counters.take()  # frames before this request are not its cost
        self._seq = p.next_seq(self._seq)
        self._wire = p.encode(mtype, self._seq, payload, locality)
        self.link.take_errors()
        self.link.send(self._wire)
        return self._seq

    def _drain_stale(self) -> None:
        while self.link.recv(0) is not None:
            self.stats["stale"] += 1

    def _await(self, deadline: float, what: str) -> p.Message:
        """Wait for the answer to the request in flight, retransmitting as needed.

        Raises:
            TpmTimeoutError: no answer before ``deadline``.
            BusError: the gateway answered ERROR, or stayed busy past max_retries.
        """
        seq, retries = self._seq, 0
        self._busy_resends = 0
        attempt_end = time.monotonic() + self.retry_s
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    raise TpmTimeoutError(self._silence(what, retries))
                raw = self.link.recv(min(deadline, attempt_end) - now)
                if raw is None:
                    if time.monotonic() >= deadline:
                        continue
                    if self.link.sending():
                        attempt_end = time.monotonic() + self.retry_s  # silence counts from the last frame out
                        continue
                    if self.link.counters.last_rx > attempt_end - self.retry_s:
                        attempt_end = self.link.counters.last_rx + self.retry_s  # frames still arriving
                        continue
                    retries = self._retransmit(retries, what)
                    attempt_end = time.monotonic() + self.retry_s
                    continue
                try:
                    msg = p.decode(raw)
                except p.GatewayFrameError as exc:
                    self.stats["corrupt"] += 1
                    self.link.note_error(str(exc))
                    retries = self._retransmit(retries, what)
                    attempt_end = time.monotonic() + self.retry_s
                    continue
                if msg.type == p.MessageType.ERROR and msg.seq == 0:
                    # The gateway could not read our request (CRC): send it again.
                    self.stats["corrupt"] += 1
                    retries = self._retransmit(retries, what)
                    attempt_end = time.monotonic() + self.retry_s
                    continue
                if msg.seq != seq:
                    self.stats["stale"] += 1
                    continue
                if msg.type == p.MessageType.BUSY:
                    self.stats["busy"] += 1
                    retry_ms, executing = p.parse_busy(msg.payload)
                    retry_after_s = retry_ms / 1000.0
                    if executing:
                        attempt_end = time.monotonic() + max(self.retry_s, retry_after_s)
                        continue
                    # Bounded by the command's deadline, not by max_retries: a gateway
                    # finishing an abandoned command rejects for as long as that takes.
                    time.sleep(max(0.0, min(retry_after_s, deadline - time.monotonic())))
                    if time.monotonic() >= deadline:
                        continue
                    retries = self._retransmit(retries, what, busy=True)
                    attempt_end = time.monotonic() + self.retry_s
                    continue
                if msg.type == p.MessageType.ERROR:
                    self.stats["gateway_errors"] += 1
                    code, detail = p.parse_error(msg.payload)
                    raise BusError(f"{self.name}: gateway answered {what} with ERROR {code}: {detail}")
                return msg
        finally:
            frames, nbytes = self.link.counters.take()
            self.counters.transactions += frames
            self.counters.bytes += nbytes
            self.counters.retries += retries

    def _retransmit(self, retries: int, what: str, busy: bool = False) -> int:
        if not busy and retries - self._busy_resends >= self.max_retries:
            raise BusError(f"{self.name}: gateway did not answer after {retries} retransmissions "
                           f"of {what}{self._link_errors()}")
        if busy:
            self._busy_resends += 1
        self.stats["retransmits"] += 1
        self.link.send(self._wire)
        return retries + 1

    def _silence(self, what: str, retries: int) -> str:
        return (f"no answer from the gateway to {what} (seq {self._seq}) after "
                f"{retries} retransmissions{self._link_errors()}")

    def _link_errors(self) -> str:
        errors = self.link.take_errors()
        return f"; link errors: {'; '.join(errors[-3:])}" if errors else ""

    # -- Transport -----------------------------------------------------------

    def _send(self, command: bytes) -> None:
        self._start(p.MessageType.COMMAND, command, self.locality)

    def _recv(self, deadline: float) -> bytes:
        msg = self._await(deadline, "the TPM command")
        if msg.type != p.MessageType.RESPONSE:
            raise BusError(f"{self.name}: gateway answered a command with {msg.type.name}")
        return msg.payload

    def set_locality(self, locality: int) -> None:
        """Carried in every COMMAND message; the gateway switches the TPM's locality."""
        if not 0 <= locality <= 4:
            raise ValueError(f"locality must be 0-4, got {locality}")
        self.locality = locality

    def ping(self, timeout_s: float = 3.0) -> p.AliveInfo:
        """PING the gateway ("gateway alive"); it also forgets its replay cache.

        Raises:
            TpmTimeoutError: no gateway answered within ``timeout_s``.
        """
        self._start(p.MessageType.PING, b"")
        try:
            msg = self._await(time.monotonic() + timeout_s, "PING")
        finally:
            self.counters.take()
        if msg.type != p.MessageType.ALIVE:
            raise BusError(f"{self.name}: gateway answered PING with {msg.type.name}")
        self.alive = p.AliveInfo.decode(msg.payload)
        return self.alive

    def reset_gateway(self, timeout_s: float = 3.0) -> None:
        """RESET(GATEWAY): the gateway drops its replay cache and queued work."""
        self._reset(p.ResetKind.GATEWAY, timeout_s)

    def power_cycle(self, timeout_s: float = 10.0) -> None:
        """RESET(TPM_POWER): the gateway power-cycles the TPM (TPM2_Startup needed after)."""
        try:
            self._reset(p.ResetKind.TPM_POWER, timeout_s)
        except BusError as exc:
            if "NOT_SUPPORTED" in str(exc):
                raise NotSupportedError(str(exc)) from exc
            raise

    def _reset(self, kind: p.ResetKind, timeout_s: float) -> None:
        self._start(p.MessageType.RESET, bytes([kind]))
        try:
            msg = self._await(time.monotonic() + timeout_s, f"RESET {kind.name}")
        finally:
            self.counters.take()
        if msg.type != p.MessageType.RESET_DONE:
            raise BusError(f"{self.name}: gateway answered RESET with {msg.type.name}")

    def _close(self) -> None:
        self.link.close()


class CanTransport(GatewayTransport):
    """The gateway protocol over ISO-TP on a python-can bus.

    ``self.counters`` gets every CAN frame (flow control included) and its data
    bytes, both directions, per TPM command.
    """

    def __init__(self, settings: CanSettings, **kwargs) -> None:
        super().__init__(IsoTpLink(settings), **kwargs)
        self.settings = settings


class SerialTransport(GatewayTransport):
    """The gateway protocol over a serial line (SLIP or COBS framing)."""

    def __init__(self, link: SerialLink, **kwargs) -> None:
        super().__init__(link, **kwargs)
