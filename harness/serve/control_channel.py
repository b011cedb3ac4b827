"""The control channel of ``tpmhil serve`` (data port + 1): swtpm's tpm_ioctl commands.

Power cycling (CMD_INIT) goes to the configured hook (a rig's supply) or the
target transport's own ``power_cycle``; CMD_STOP makes the data channel answer
TPM_RC_FAILURE until the next CMD_INIT, as swtpm does; CMD_SHUTDOWN stops the
server only when allowed. Codes and answers: :mod:`harness.serve.control`.
"""

from __future__ import annotations

import socket
import struct
import time
from typing import TYPE_CHECKING

from harness.errors import HarnessError, NotSupportedError
from harness.serve import control as ctl
from harness.serve.wire import recv_exact

if TYPE_CHECKING:
    from harness.serve.server import TpmServer


class ControlChannel:
    """Serves control connections for one :class:`TpmServer`."""

    def __init__(self, server: "TpmServer") -> None:
        self.server = server

    def serve(self, conn: socket.socket, peer: tuple) -> None:
        try:
            why = self.server.claim(peer[0], False, conn)
            if why:
                self.server.event("refused", {"peer": f"{peer[0]}:{peer[1]}",
                                              "channel": "control", "why": why})
                recv_exact(conn, 4, time.monotonic() + 1.0)
                conn.sendall(ctl.result(ctl.TPM_FAIL))
                return
            while not self.server.stopping.is_set():
                raw = recv_exact(conn, 4, time.monotonic() + self.server.options.idle_timeout_s)
                if len(raw) < 4:
                    return
                code = struct.unpack(">I", raw)[0]
                size = ctl.INPUT_SIZE.get(code)
                if size is None:  # unknown framing: answer like swtpm and hang up
                    conn.sendall(ctl.result(ctl.TPM_BAD_ORDINAL))
                    return
                payload = recv_exact(conn, size, time.monotonic() + self.server.options.command_timeout_s)
                if len(payload) < size:
                    return
                conn.sendall(self.answer(code, payload, f"{peer[0]}:{peer[1]}"))
                with self.server.state_lock:
                    self.server.lease_until = time.monotonic() + self.server.options.lease_s
                if code == ctl.CMD_SHUTDOWN and self.server.options.allow_shutdown:
                    self.server.stop()
                    return
        except OSError:
            return
        finally:
            conn.close()

    def answer(self, code: int, payload: bytes, client: str) -> bytes:
        """Carry out one control command and return its answer."""
        if code == ctl.CMD_GET_CAPABILITY:
            return ctl.capability_answer()
        if code == ctl.CMD_GET_TPMESTABLISHED:
            return ctl.established_answer()
        if code == ctl.CMD_GET_CONFIG:
            return ctl.config_answer()
        if code == ctl.CMD_SET_BUFFERSIZE:
            return ctl.buffersize_answer()
        if code == ctl.CMD_INIT:
            return ctl.result(self.power_cycle(client))
        if code == ctl.CMD_STOP:
            with self.server.chip_lock:
                self.server.stopped_tpm = True
            self.server.event("stop", {"peer": client})
            return ctl.result(ctl.TPM_SUCCESS)
        if code == ctl.CMD_SET_LOCALITY:
            with self.server.chip_lock:
                try:
                    self.server.transport.set_locality(payload[0])
                except (NotSupportedError, ValueError, HarnessError):
                    return ctl.result(ctl.TPM_BAD_LOCALITY)
            return ctl.result(ctl.TPM_SUCCESS)
        if code == ctl.CMD_CANCEL_TPM_CMD:  # deliberately outside chip_lock
            try:
                self.server.transport.cancel()
            except HarnessError:
                return ctl.result(ctl.TPM_FAIL)
            return ctl.result(ctl.TPM_SUCCESS)
        if code == ctl.CMD_SHUTDOWN:
            if not self.server.options.allow_shutdown:
                self.server.event("refused", {
                    "peer": client, "channel": "control",
                    "why": "CMD_SHUTDOWN is not allowed (--allow-shutdown)"})
                return ctl.result(ctl.TPM_FAIL)
            self.server.event("shutdown", {"peer": client})
            return ctl.result(ctl.TPM_SUCCESS)
        return ctl.result(ctl.TPM_BAD_ORDINAL)

    def power_cycle(self, client: str) -> int:
        options = self.server.options
        if options.power_cycle is not None and not options.allow_power_cycle:
            self.server.event("refused", {
                "peer": client, "channel": "control",
                "why": "CMD_INIT would power-cycle the rig's supply; the server was not started "
                       "with --allow-power-cycle"})
            return ctl.TPM_FAIL
        with self.server.chip_lock:
            try:
                if options.power_cycle is not None:
                    options.power_cycle()
                else:
                    self.server.transport.power_cycle()
            except HarnessError as exc:
                self.server.event("power_cycle", {"peer": client, "error": str(exc)})
                return ctl.TPM_FAIL
            self.server.stopped_tpm = False
        self.server.event("power_cycle", {"peer": client})
        return ctl.TPM_SUCCESS
