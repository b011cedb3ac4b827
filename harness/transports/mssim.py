"""The TCG reference simulator's socket protocol (Microsoft/IBM "mssim").

Data port: ``TPM_SEND_COMMAND`` (8), locality (1 byte), size (4), command;
the answer is size (4), response, and a 4-byte acknowledgement of 0. The
platform port (data port + 1) takes 4-byte signals, each acknowledged with 0.
"""

from __future__ import annotations

import struct
import time

from harness.errors import TransportError
from harness.tpm.wire import MAX_RESPONSE_SIZE
from harness.transports.base import Transport
from harness.transports.sockets import connect, recv_exact, send_all

TPM_SIGNAL_POWER_ON = 1
TPM_SIGNAL_POWER_OFF = 2
TPM_SEND_COMMAND = 8
TPM_SIGNAL_CANCEL_ON = 9
TPM_SIGNAL_CANCEL_OFF = 10
TPM_SIGNAL_NV_ON = 11
TPM_SESSION_END = 20


class MssimTransport(Transport):
    """TPM commands over the mssim protocol."""

    can_power_cycle = True

    def __init__(self, host: str, port: int, connect_timeout_s: float = 5.0, **kwargs) -> None:
        kwargs.setdefault("name", f"mssim://{host}:{port}")
        super().__init__(**kwargs)
        self.host, self.port = host, port
        self._data = connect(host, port, connect_timeout_s, self.name)
        self._platform = connect(host, port + 1, connect_timeout_s, self.name + " platform")

    def signal(self, code: int) -> None:
        """Send a platform signal and check its acknowledgement."""
        what = self.name + " platform"
        send_all(self._platform, struct.pack(">I", code), 5.0, what)
        ack = struct.unpack(">I", recv_exact(self._platform, 4, time.monotonic() + 5.0, what))[0]
        if ack != 0:
            raise TransportError(f"{what}: signal {code} acknowledged with {ack}, expected 0")

    def _send(self, command: bytes) -> None:
        frame = struct.pack(">IBI", TPM_SEND_COMMAND, self.locality, len(command)) + command
        send_all(self._data, frame, 5.0, self.name)

    def _recv(self, deadline: float) -> bytes:
        size = struct.unpack(">I", recv_exact(self._data, 4, deadline, self.name))[0]
        if size > MAX_RESPONSE_SIZE:
            raise TransportError(f"{self.name}: response size {size} exceeds {MAX_RESPONSE_SIZE}")
        response = recv_exact(self._data, size, deadline, self.name)
        ack = struct.unpack(">I", recv_exact(self._data, 4, deadline, self.name))[0]
        if ack != 0:
            raise TransportError(f"{self.name}: response acknowledged with {ack}, expected 0")
        return response

    def set_locality(self, locality: int) -> None:
        if not 0 <= locality <= 4:
            raise ValueError(f"locality must be 0-4, got {locality}")
        self.locality = locality

    def power_cycle(self) -> None:
        self.signal(TPM_SIGNAL_POWER_OFF)
        self.signal(TPM_SIGNAL_POWER_ON)
        self.signal(TPM_SIGNAL_NV_ON)

    def _close(self) -> None:
        for sock in (self._data, self._platform):
            try:
                sock.sendall(struct.pack(">I", TPM_SESSION_END))
            except OSError:
                pass
            sock.close()
