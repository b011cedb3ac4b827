"""swtpm's socket protocol: a raw TPM command channel and a control channel.

The data channel carries TPM commands and responses unchanged. The control
channel (swtpm's ``tpm_ioctl.h``, over TCP) takes a 4-byte big-endian command
code and its input, and answers with a 4-byte result and its output; it can
power-cycle the TPM (CMD_INIT), set the locality and stop swtpm.
"""

from __future__ import annotations

import struct
import time

from harness.errors import TransportError
from harness.tpm.wire import HEADER, HEADER_SIZE, MAX_RESPONSE_SIZE
from harness.transports.base import Transport
from harness.transports.sockets import connect, recv_exact, send_all

CMD_GET_CAPABILITY = 1
CMD_INIT = 2
CMD_SHUTDOWN = 3
CMD_GET_TPMESTABLISHED = 4
CMD_SET_LOCALITY = 5
CMD_CANCEL_TPM_CMD = 9
CMD_STOP = 14

CONTROL_TIMEOUT_S = 5.0


class SwtpmControl:
    """Client of swtpm's control channel."""

    def __init__(self, host: str, port: int, timeout_s: float = CONTROL_TIMEOUT_S) -> None:
        self.endpoint = f"swtpm control {host}:{port}"
        self.timeout_s = timeout_s
        self._sock = connect(host, port, timeout_s, self.endpoint)

    def command(self, code: int, payload: bytes = b"", out_size: int = 4) -> bytes:
        """Send one control command and return its output (result first)."""
        send_all(self._sock, struct.pack(">I", code) + payload, self.timeout_s, self.endpoint)
        out = recv_exact(self._sock, out_size, time.monotonic() + self.timeout_s, self.endpoint)
        result = struct.unpack_from(">I", out)[0]
        if result != 0:
            raise TransportError(f"{self.endpoint}: control command {code} failed with 0x{result:x}")
        return out

    def init(self, delete_volatile: bool = False) -> None:
        """CMD_INIT: power the TPM on again (it then expects TPM2_Startup)."""
        self.command(CMD_INIT, struct.pack(">I", 1 if delete_volatile else 0))

    def set_locality(self, locality: int) -> None:
        self.command(CMD_SET_LOCALITY, bytes([locality]))

    def cancel(self) -> None:
        self.command(CMD_CANCEL_TPM_CMD)

    def capabilities(self) -> int:
        return struct.unpack(">II", self.command(CMD_GET_CAPABILITY, out_size=8))[1]

    def shutdown(self) -> None:
        """CMD_SHUTDOWN: swtpm saves its state and exits."""
        self.command(CMD_SHUTDOWN)

    def close(self) -> None:
        self._sock.close()


class SwtpmTransport(Transport):
    """TPM commands over swtpm's TCP data channel (control on ``ctrl_port``).

    Args:
        host: swtpm's address.
        port: the data port; the control port is ``ctrl_port`` (default port+1).
        connect_timeout_s: bound on opening the connections.
    """

    can_power_cycle = True

    def __init__(
        self,
        host: str,
        port: int,
        ctrl_port: int | None = None,
        connect_timeout_s: float = 5.0,
        **kwargs,
    ) -> None:
        kwargs.setdefault("name", f"swtpm://{host}:{port}")
        super().__init__(**kwargs)
        self.host, self.port = host, port
        self._data = connect(host, port, connect_timeout_s, self.name)
        self._ctrl_port = ctrl_port if ctrl_port is not None else port + 1
        self._control: SwtpmControl | None = None

    @property
    def control(self) -> SwtpmControl:
        if self._control is None:
            self._control = SwtpmControl(self.host, self._ctrl_port)
        return self._control

    def _send(self, command: bytes) -> None:
        send_all(self._data, command, 5.0, self.name)

    def _recv(self, deadline: float) -> bytes:
        header = recv_exact(self._data, HEADER_SIZE, deadline, self.name)
        size = HEADER.unpack_from(header)[1]
        if size <= HEADER_SIZE:
            return header
        if size > MAX_RESPONSE_SIZE:
            # Drain nothing more: return the header so check_response names the size.
            return header
        return header + recv_exact(self._data, size - HEADER_SIZE, deadline, self.name)

    def set_locality(self, locality: int) -> None:
        if not 0 <= locality <= 4:
            raise ValueError(f"locality must be 0-4, got {locality}")
        self.control.set_locality(locality)
        self.locality = locality

    def power_cycle(self) -> None:
        self.control.init()

    def cancel(self) -> None:
        self.control.cancel()

    def _close(self) -> None:
        self._data.close()
        if self._control is not None:
            self._control.close()
