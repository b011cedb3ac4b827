"""Shared fixtures for the foundation tests: one real swtpm per session."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
from contextlib import contextmanager

import pytest

from harness.swtpm_process import SwtpmProcess
from harness.transports.swtpm import SwtpmTransport


@pytest.fixture(scope="session")
def swtpm():
    proc = SwtpmProcess()
    yield proc
    proc.stop()


@pytest.fixture
def transport(swtpm):
    t = SwtpmTransport("127.0.0.1", swtpm.port)
    yield t
    t.close()


@contextmanager
def _frozen(proc: SwtpmProcess):
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


@pytest.fixture
def frozen():
    """``with frozen(swtpm_process):`` SIGSTOPs swtpm for the block: a TPM that hangs."""
    return _frozen


class GarbageServer:
    """A loopback TCP peer that answers every request with fixed bytes: a
    broken link or a confused device, for the transport's input checks."""

    def __init__(self, reply: bytes) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        with conn:
            try:
                while conn.recv(4096):
                    conn.sendall(self.reply)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


class MssimBridge:
    """Speaks the mssim protocol on loopback and forwards each command to a
    real swtpm, so the mssim transport is tested against TPM answers."""

    def __init__(self, swtpm_port: int) -> None:
        self.backend = SwtpmTransport("127.0.0.1", swtpm_port)
        self.signals: list[int] = []
        self.data = socket.socket()
        self.data.bind(("127.0.0.1", 0))
        self.port = self.data.getsockname()[1]
        self.platform = socket.socket()
        self.platform.bind(("127.0.0.1", self.port + 1))
        for s in (self.data, self.platform):
            s.listen(1)
        threading.Thread(target=self._serve_data, daemon=True).start()
        threading.Thread(target=self._serve_platform, daemon=True).start()

    @staticmethod
    def _read(conn: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError
            buf += chunk
        return buf

    def _serve_data(self) -> None:
        conn, _ = self.data.accept()
        with conn:
            try:
                while True:
                    (code,) = struct.unpack(">I", self._read(conn, 4))
                    if code == 20:  # TPM_SESSION_END
                        return
                    assert code == 8
                    _loc, size = struct.unpack(">BI", self._read(conn, 5))
                    response = self.backend.exchange(self._read(conn, size))
                    conn.sendall(struct.pack(">I", len(response)) + response + bytes(4))
            except ConnectionError:
                return

    def _serve_platform(self) -> None:
        conn, _ = self.platform.accept()
        with conn:
            try:
                while True:
                    (code,) = struct.unpack(">I", self._read(conn, 4))
                    self.signals.append(code)
                    if code == 20:
                        return
                    if code == 1:  # power on: the backend TPM is re-initialised
                        self.backend.power_cycle()
                    conn.sendall(bytes(4))
            except ConnectionError:
                return

    def close(self) -> None:
        self.backend.close()
        self.data.close()
        self.platform.close()


@pytest.fixture
def garbage_server():
    servers = []

    def make(reply: bytes) -> GarbageServer:
        servers.append(GarbageServer(reply))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def mssim_bridge(swtpm):
    bridge = MssimBridge(swtpm.port)
    yield bridge
    bridge.close()
