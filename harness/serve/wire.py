"""Bounded socket reads for the server side of the swtpm protocol."""

from __future__ import annotations

import socket
import time


def recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    """Read ``n`` bytes before ``deadline``; short result means the peer closed or stalled."""
    chunks, got = [], 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - got)
        except (socket.timeout, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def peer_closed(sock: socket.socket) -> bool:
    """Whether the peer of ``sock`` has closed its side (EOF waiting to be read)."""
    try:
        # A duplicate without a timeout: the original's recv() would wait for data.
        probe = sock.dup()
    except OSError:
        return True
    try:
        probe.setblocking(False)
        return probe.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        probe.close()
