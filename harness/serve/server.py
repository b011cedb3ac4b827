"""``tpmhil serve``: any target, spoken to over swtpm's socket protocol.

The data port carries raw TPM commands and responses, the control port
(data port + 1) swtpm's control commands, exactly as ``swtpm socket`` does, so
any TSS client (tpm2-tools with ``TPM2TOOLS_TCTI=swtpm:host=H,port=P``,
tpm2-pytss ``TCTILdr("swtpm", ...)``, tpm-hil's ``swtpm://H:P``) drives the
chip behind it: a kernel device, an SPI/I2C chip, a CAN gateway, a virtual chip.

One client at a time. A client holds the chip from its first connection
until ``lease_s`` after its last one closed (tpm2-tss's swtpm TCTI opens a
new data connection per command, so connections alone cannot mark a client).
A second data connection while one is open, or any connection from another
host during the lease, is refused: its command is answered with
``TSS2_TCTI_RC_NOT_PERMITTED`` (0x000A000C, "tcti:Operation not permitted"),
never forwarded to the chip. An open connection silent for ``idle_timeout_s``
is closed. When a session ends, or a client drops mid-command, the chip is
brought back to a known state: no command half-sent (a partial command never
reaches the chip; a forwarded one runs to completion), and every transient
object and session flushed (see :mod:`harness.serve.cleanup`).

The server keeps its own command log: every exchange with the chip, tagged
with the client, and each session event (connect, refusal, drop, power
cycle, cleanup) go to a results store.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import HarnessError, TargetError
from harness.results.store import ResultsStore
from harness.serve.cleanup import safe_flush
from harness.serve.control_channel import ControlChannel
from harness.serve.peers import is_local, peer_pid
from harness.serve.wire import peer_closed, recv_exact
from harness.tpm.wire import HEADER, HEADER_SIZE, MAX_RESPONSE_SIZE, TPM_ST_NO_SESSIONS
from harness.transports.base import Transport

log = logging.getLogger(__name__)

#: Answer to a refused client (TSS2_TCTI_RC_NOT_PERMITTED in a TPM response header).
RC_NOT_PERMITTED = 0x000A000C
#: Answer when the chip behind the server failed to answer (TSS2_TCTI_RC_IO_ERROR).
RC_IO_ERROR = 0x000A000A
#: Answer while the TPM is stopped by CMD_STOP (what swtpm answers: TPM_RC_FAILURE).
RC_FAILURE = 0x00000101
SERVE_WORKER = "serve"
#: How long a reconnecting client's new data connection waits for its previous one to end.
HANDOVER_S = 0.5


def error_response(rc: int) -> bytes:
    """A 10-byte TPM response header carrying ``rc``."""
    return HEADER.pack(TPM_ST_NO_SESSIONS, HEADER_SIZE, rc)


@dataclass
class ServeOptions:
    """How the server listens and treats its clients.

    Attributes:
        host: address to listen on.
        port: data port (0 = pick a free pair); control listens on ``port + 1``.
        idle_timeout_s: an open connection silent this long is closed.
        lease_s: how long a client keeps the chip after its last connection closed.
        command_timeout_s: a command must arrive in full this soon after its first byte.
        allow_shutdown: honour CMD_SHUTDOWN (stop the server); refused otherwise.
        power_cycle: called for CMD_INIT instead of the transport's power_cycle
            (e.g. a rig's power supply); None uses the transport.
        allow_power_cycle: let the lease holder's CMD_INIT switch ``power_cycle``
            (a rig's supply, i.e. real hardware); refused otherwise, so no
            client can cut a board's power unless the operator said so
            (``tpmhil serve --allow-power-cycle``).
    """

    host: str = "127.0.0.1"
    port: int = 0
    idle_timeout_s: float = 300.0
    lease_s: float = 2.0
    command_timeout_s: float = 10.0
    allow_shutdown: bool = False
    power_cycle: Callable[[], None] | None = None
    allow_power_cycle: bool = False


class TpmServer:
    """Serves one transport over swtpm's socket protocol.

    Args:
        transport: the open transport to the chip (its log is the command log).
        options: listening and client policy.
        store: where the command log and session events go (None: kept in memory).
    """

    def __init__(self, transport: Transport, options: ServeOptions,
                 store: ResultsStore | None = None) -> None:
        self.transport = transport
        self.options = options
        self.store = store
        self.chip_lock = threading.Lock()      # one TPM command at a time
        self.state_lock = threading.Lock()     # client lease
        self.state_changed = threading.Condition(self.state_lock)
        self.holder: str | None = None         # peer address holding the chip
        self.holder_pid: int | None = None     # its process, when the peer is on this host
        self.active: socket.socket | None = None
        self.lease_until = 0.0
        self.stopped_tpm = False
        self.stopping = threading.Event()
        self.events: list[tuple[str, dict]] = []
        self._listeners: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.port = 0
        self._control_channel = ControlChannel(self)

    # -- life cycle -----------------------------------------------------------

    def start(self) -> None:
        """Bind both ports and serve in background threads."""
        data, ctrl = self._bind()
        self._listeners = [data, ctrl]
        self.port = data.getsockname()[1]
        for target, sock in ((self._accept_loop, data), (self._accept_loop, ctrl)):
            t = threading.Thread(target=target, args=(sock, sock is ctrl), daemon=True,
                                 name=f"serve-accept-{sock.getsockname()[1]}")
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._janitor, daemon=True, name="serve-janitor")
        t.start()
        self._threads.append(t)
        self.event("serving", {"host": self.options.host, "port": self.port,
                               "target": self.transport.name})

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        host, port = self.options.host, self.options.port
        for _ in range(50 if port == 0 else 1):
            data = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            data.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ctrl = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ctrl.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                data.bind((host, port))
                ctrl.bind((host, data.getsockname()[1] + 1))
            except OSError as exc:
                data.close()
                ctrl.close()
                if port:
                    raise TargetError(f"tpmhil serve: cannot listen on {host}:{port} and "
                                      f"{port + 1}: {exc.strerror or exc}") from exc
                continue
            data.listen(4)
            ctrl.listen(4)
            return data, ctrl
        raise TargetError(f"tpmhil serve: no two adjacent free ports on {host}")

    def wait(self) -> None:
        """Block until :meth:`stop` (or CMD_SHUTDOWN)."""
        while not self.stopping.wait(0.5):
            pass

    def stop(self) -> None:
        """Stop listening, end the session, flush the command log."""
        if self.stopping.is_set() and not self._listeners:
            return
        self.stopping.set()
        for sock in self._listeners:
            try:
                sock.close()
            except OSError:
                pass
        self._listeners = []
        with self.state_lock:
            active = self.active
        if active is not None:
            try:
                active.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._drain_log()

    # -- records --------------------------------------------------------------

    def event(self, kind: str, detail: dict) -> None:
        """Record a session event (and log it)."""
        self.events.append((kind, detail))
        log.info("serve: %s %s", kind, detail)
        if self.store is not None:
            self.store.add_event(f"serve.{kind}", detail)

    def flush_log(self) -> None:
        """Write the exchanges held in memory to the store now."""
        with self.chip_lock:
            self._drain_log()

    def _drain_log(self) -> None:
        if self.store is not None:
            records = self.transport.log.drain()
            if records:
                self.store.add_exchanges(records, worker=SERVE_WORKER)

    # -- accepting ------------------------------------------------------------

    def _accept_loop(self, listener: socket.socket, is_ctrl: bool) -> None:
        while not self.stopping.is_set():
            try:
                conn, peer = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            handler = self._control_channel.serve if is_ctrl else self._serve_data
            threading.Thread(target=handler, args=(conn, peer), daemon=True).start()

    def claim(self, peer_host: str, data: bool, conn: socket.socket) -> str:
        """Take the lease for ``peer_host``; return '' or why the client is refused.

        A client that reconnects for each command (tpm2-tss's swtpm TCTI) may
        open its next connection before this side has seen the last one close:
        a data connection from the holder's host therefore waits up to
        ``HANDOVER_S`` for the open one to end before it is refused.
        """
        deadline = time.monotonic() + HANDOVER_S
        pid = peer_pid(conn) if is_local(peer_host) else None
        with self.state_changed:
            while (data and self.active is not None and self.holder == peer_host
                   and not peer_closed(self.active) and time.monotonic() < deadline):
                self.state_changed.wait(0.02)
            now = time.monotonic()
            if self.holder is not None and self.holder != peer_host and (
                    self.active is not None or now < self.lease_until):
                return f"the chip is in use by {self.holder}"
            if data and self.active is not None and not peer_closed(self.active):
                return f"another connection from {self.holder} is open (one client at a time)"
            if (not data and self.holder == peer_host and self.holder_pid is not None
                    and pid != self.holder_pid):
                return (f"the chip is in use by process {self.holder_pid} on {self.holder}; "
                        "control commands come from the session holder only")
            if self.holder is None:
                self.holder, self.holder_pid = peer_host, pid
                self.event("client", {"peer": peer_host, "pid": pid})
            elif data and pid is not None and pid != self.holder_pid:
                # the holder's host hands over between processes (tpm2-tools run one after
                # another): the data channel follows host and lease, control the new process
                self.holder_pid = pid
            if data:
                self.active = conn
            self.lease_until = now + self.options.lease_s
            return ""

    def _release_connection(self, conn: socket.socket) -> None:
        with self.state_changed:
            if self.active is conn:
                self.active = None
            self.lease_until = time.monotonic() + self.options.lease_s
            self.state_changed.notify_all()

    def _end_session(self, why: str) -> None:
        """Flush what the client left behind and free the chip."""
        with self.chip_lock:
            self.transport.log.activity = "serve:cleanup"
            flushed, error = safe_flush(self.transport)
            self._drain_log()
        with self.state_lock:
            holder, self.holder, self.holder_pid = self.holder, None, None
        detail = {"peer": holder, "why": why, "flushed": [f"0x{h:08x}" for h in flushed]}
        if error:
            detail["error"] = error
        self.event("session_end", detail)

    def _janitor(self) -> None:
        while not self.stopping.wait(0.1):
            with self.state_lock:
                expired = (self.holder is not None and self.active is None
                           and time.monotonic() >= self.lease_until)
            if expired:
                self._end_session("lease expired")

    # -- data channel ---------------------------------------------------------

    def _refuse_data(self, conn: socket.socket, peer: tuple, why: str) -> None:
        self.event("refused", {"peer": f"{peer[0]}:{peer[1]}", "channel": "data", "why": why})
        header = recv_exact(conn, HEADER_SIZE, time.monotonic() + self.options.command_timeout_s)
        if len(header) == HEADER_SIZE:
            size = HEADER.unpack_from(header)[1]
            if HEADER_SIZE < size <= MAX_RESPONSE_SIZE:
                recv_exact(conn, size - HEADER_SIZE, time.monotonic() + 1.0)
            try:
                conn.sendall(error_response(RC_NOT_PERMITTED))
            except OSError:
                pass
        conn.close()

    def _serve_data(self, conn: socket.socket, peer: tuple) -> None:
        why = self.claim(peer[0], True, conn)
        if why:
            self._refuse_data(conn, peer, why)
            return
        client = f"{peer[0]}:{peer[1]}"
        end = ""
        try:
            while not self.stopping.is_set():
                end = self._one_command(conn, client)
                if end:
                    break
        finally:
            conn.close()
            self._release_connection(conn)
            if end not in ("", "closed"):
                self.event("dropped", {"peer": client, "why": end})
                self._end_session(end)

    def _one_command(self, conn: socket.socket, client: str) -> str:
        """Serve one command; return '' to go on, or why the connection ends."""
        conn.settimeout(self.options.idle_timeout_s)
        try:
            first = conn.recv(1)
        except socket.timeout:
            return f"idle timeout ({self.options.idle_timeout_s:g} s without a command)"
        except OSError:
            return "closed"
        if not first:
            return "closed"
        deadline = time.monotonic() + self.options.command_timeout_s
        header = first + recv_exact(conn, HEADER_SIZE - 1, deadline)
        if len(header) < HEADER_SIZE:
            return f"client dropped mid-command ({len(header)} of {HEADER_SIZE} header bytes)"
        size = HEADER.unpack_from(header)[1]
        if not HEADER_SIZE <= size <= MAX_RESPONSE_SIZE:
            return f"command header declares {size} bytes (not a TPM command)"
        body = recv_exact(conn, size - HEADER_SIZE, deadline)
        if len(body) < size - HEADER_SIZE:
            return (f"client dropped mid-command ({HEADER_SIZE + len(body)} of {size} bytes); "
                    "nothing was sent to the chip")
        response = self._execute(header + body, client)
        try:
            conn.settimeout(self.options.command_timeout_s)
            conn.sendall(response)
        except OSError:
            return "client dropped before its response (the chip completed the command)"
        return ""

    def _execute(self, command: bytes, client: str) -> bytes:
        with self.chip_lock:
            if self.stopped_tpm:
                return error_response(RC_FAILURE)
            self.transport.log.activity = client
            try:
                response = self.transport.exchange(command)
            except HarnessError as exc:
                self.transport.abandon()
                self.event("chip_error", {"peer": client, "error": str(exc)})
                response = error_response(RC_IO_ERROR)
            if len(self.transport.log) >= 256:
                self._drain_log()
        return response
