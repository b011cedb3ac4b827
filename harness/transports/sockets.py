"""Bounded blocking socket I/O shared by the socket-based transports."""

from __future__ import annotations

import socket
import time

from harness.errors import TargetError, TpmTimeoutError, TransportError


def connect(host: str, port: int, timeout_s: float, what: str) -> socket.socket:
    """Open a TCP connection or raise TargetError naming the endpoint."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise TargetError(f"{what}: cannot connect to {host}:{port}: {exc.strerror or exc}") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exact(sock: socket.socket, n: int, deadline: float, what: str) -> bytes:
    """Read exactly ``n`` bytes before ``deadline`` (monotonic seconds)."""
    chunks = []
    remaining = n
    while remaining:
        left = deadline - time.monotonic()
        if left <= 0:
            got = n - remaining
            raise TpmTimeoutError(f"{what}: {got} of {n} bytes received before the deadline")
        sock.settimeout(left)
        try:
            chunk = sock.recv(remaining)
        except socket.timeout as exc:
            got = n - remaining
            raise TpmTimeoutError(f"{what}: {got} of {n} bytes received before the deadline") from exc
        except OSError as exc:
            raise TransportError(f"{what}: connection error: {exc.strerror or exc}") from exc
        if not chunk:
            raise TransportError(f"{what}: the peer closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def send_all(sock: socket.socket, data: bytes, timeout_s: float, what: str) -> None:
    sock.settimeout(timeout_s)
    try:
        sock.sendall(data)
    except socket.timeout as exc:
        raise TpmTimeoutError(f"{what}: could not send {len(data)} bytes within {timeout_s} s") from exc
    except OSError as exc:
        raise TransportError(f"{what}: connection error: {exc.strerror or exc}") from exc
