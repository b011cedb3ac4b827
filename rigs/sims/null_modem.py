"""A null-modem cable in software: two ptys whose masters are bridged, so a
simulator opens one end and a driver the other, both as serial ports."""

from __future__ import annotations

import os
import pty
import select
import threading
import tty


class NullModem:
    """Two connected serial device paths: ``a`` and ``b``."""

    def __init__(self) -> None:
        self._fds = [pty.openpty(), pty.openpty()]
        for _, slave in self._fds:
            tty.setraw(slave)
        self.a, self.b = (os.ttyname(slave) for _, slave in self._fds)
        #: bytes sent from end ``b`` towards end ``a`` (what a driver on ``b`` put on the wire).
        self.b_to_a = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._bridge, name="NullModem", daemon=True)
        self._thread.start()

    def _bridge(self) -> None:
        ma, mb = self._fds[0][0], self._fds[1][0]
        peer = {ma: mb, mb: ma}
        while not self._stop.is_set():
            ready, _, _ = select.select([ma, mb], [], [], 0.2)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # the other side is closed for now
                    continue
                if fd == mb:
                    self.b_to_a += data
                os.write(peer[fd], data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        for master, slave in self._fds:
            for fd in (master, slave):
                try:
                    os.close(fd)
                except OSError:
                    pass
