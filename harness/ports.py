"""Free TCP ports on loopback for the servers the harness starts (swtpm,
instrument simulators, labgrid coordinator and exporters, PostgreSQL)."""

from __future__ import annotations

import socket

from harness.errors import TargetError


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago (the caller retries on a race)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> int:
    """A port P such that P and P+1 were free on 127.0.0.1 a moment ago
    (swtpm's data and control channels)."""
    for _ in range(50):
        port = free_port()
        if port >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise TargetError("no two adjacent free TCP ports on 127.0.0.1")
