"""Which process on this host is at the other end of a loopback connection.

``tpmhil serve`` hands the chip to one client at a time. A client on another
host is known by its address only; a client on the server's own host is
known by its process, so that another process there (another user's script,
a stray ``tpm2_startup``) cannot take over the control channel of a session
it does not hold. The owner of a loopback TCP connection's far end is read
from the kernel's socket table (psutil, i.e. /proc/net/tcp and /proc/PID/fd);
where that is not visible (another user's process without privileges, a
remote peer) the answer is None and the address alone identifies the client.
"""

from __future__ import annotations

import ipaddress
import socket


def is_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def peer_pid(conn: socket.socket) -> int | None:
    """PID of the local process owning the far end of ``conn``, or None."""
    try:
        peer = conn.getpeername()[:2]
        local = conn.getsockname()[:2]
    except OSError:
        return None
    if not is_local(peer[0]):
        return None
    try:
        import psutil
    except ImportError:
        return None
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for c in connections:
        if (c.laddr and c.raddr and tuple(c.laddr)[:2] == tuple(peer)
                and tuple(c.raddr)[:2] == tuple(local)):
            return c.pid
    return None
