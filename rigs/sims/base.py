"""What every simulator shares: a background thread, an address, a silence switch."""

from __future__ import annotations

import abc
import socket
import threading


class InstrumentSim(abc.ABC):
    """A running simulator.

    Attributes:
        address: what the matching driver connects to (a URI or VISA resource).
        silent: when True the simulator reads requests but never answers,
            like an unplugged or hung instrument.
    """

    address: str = ""

    def __init__(self) -> None:
        self.silent = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @abc.abstractmethod
    def start(self) -> "InstrumentSim":
        """Start serving; returns self once the channel accepts connections."""

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> "InstrumentSim":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LineTcpSim(InstrumentSim):
    """A loopback TCP server answering line-oriented requests, one client at a time.

    Subclasses implement :meth:`handle` (a request without its terminator ->
    a reply without terminator, or None for no reply).
    """

    terminator = b"\n"
    reply_terminator: bytes | None = None  # defaults to ``terminator``

    def __init__(self, port: int = 0) -> None:
        super().__init__()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", port))
        self._server.listen(4)
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]

    @abc.abstractmethod
    def handle(self, request: bytes) -> bytes | None:
        """Answer one request."""

    def start(self) -> "LineTcpSim":
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                self._serve_client(conn)
        self._server.close()

    def _serve_client(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        buf = b""
        while not self._stop.is_set():
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while self.terminator in buf:
                line, buf = buf.split(self.terminator, 1)
                reply = self.handle(line.strip(b"\r"))
                if reply is not None and not self.silent:
                    conn.sendall(reply + (self.reply_terminator or self.terminator))

    def stop(self) -> None:
        super().stop()
        try:
            self._server.close()
        except OSError:
            pass
