"""Vötsch/Weiss chambers with a SIMPAC controller, over the ``simserv`` TCP protocol.

Requests: numeric command ID, chamber index and arguments separated by byte
0xB6 and ended by CR; replies start with ``1`` on success. Used: 11001 set
set point, 11002 read set point, 11004 read actual value, 14001 manual mode
start (1) / stop (0). Address: ``simserv://HOST[:2049]``.
"""

from __future__ import annotations

import socket
import threading
import time

from rigs.drivers.uri import parse_address
from rigs.errors import InstrumentError, InstrumentTimeoutError
from rigs.safety import finite
from rigs.protocols.chamber import Chamber, ChamberReading

SEP = b"\xb6"
SET_SET_POINT, READ_SET_POINT, READ_ACTUAL, MANUAL_MODE = 11001, 11002, 11004, 14001


class SimservChamber(Chamber):
    def __init__(self, name: str, address: str, timeout_s: float = 2.0, chamber: int = 1) -> None:
        self.name = name
        addr = parse_address(address, name, ("simserv",))
        self.timeout_s = timeout_s
        self.chamber = chamber
        self._lock = threading.Lock()
        try:
            self._sock = socket.create_connection((addr.host, addr.port or 2049), timeout=timeout_s)
        except OSError as exc:
            raise InstrumentError(name, f"cannot connect to {address}: {exc}") from exc
        self._buf = b""
        self.read()

    @staticmethod
    def encode(command: int, chamber: int, *args: object) -> bytes:
        """The request bytes: ``<id>¶<chamber>¶<args...>\\r``."""
        fields = [str(command), str(chamber), *(str(a) for a in args)]
        return SEP.join(f.encode("latin-1") for f in fields) + b"\r"

    def request(self, command: int, *args: object) -> list[str]:
        """Send one request; return the reply's data fields (after the ``1``)."""
        with self._lock:
            self._sock.sendall(self.encode(command, self.chamber, *args))
            deadline = time.monotonic() + self.timeout_s
            while b"\n" not in self._buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise InstrumentTimeoutError(self.name, f"no answer to simserv command {command}")
                self._sock.settimeout(left)
                try:
                    chunk = self._sock.recv(1024)
                except TimeoutError:
                    continue
                if not chunk:
                    raise InstrumentError(self.name, "simserv closed the connection")
                self._buf += chunk
            line, self._buf = self._buf.split(b"\n", 1)
        fields = line.rstrip(b"\r").decode("latin-1").split("\xb6")
        if fields[0] != "1":
            raise InstrumentError(self.name, f"simserv command {command} failed: {'¶'.join(fields)}")
        return fields[1:]

    def _float(self, command: int) -> float:
        fields = self.request(command, 1)
        try:
            return float(fields[0])
        except (ValueError, IndexError):
            raise InstrumentError(self.name, f"simserv command {command}: garbled reply {fields}") from None

    def set_temperature(self, celsius: float) -> None:
        celsius = finite(celsius, f"instrument {self.name!r}: set point")
        self.request(SET_SET_POINT, 1, f"{celsius:.2f}")
        self.request(MANUAL_MODE, 1, 1)

    def read(self) -> ChamberReading:
        return ChamberReading(temperature_c=self._float(READ_ACTUAL),
                              set_point_c=self._float(READ_SET_POINT))

    def stop(self) -> None:
        self.request(MANUAL_MODE, 1, 0)

    def close(self) -> None:
        self._sock.close()
