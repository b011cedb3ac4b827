"""ESPEC SH/SU series chambers over RS-232 (pyserial), ASCII commands ended by CR LF.

``TEMP?`` answers ``PV,SP,upper,lower``; ``TEMP,S<val>`` sets the set point;
``HUMI?`` like TEMP?; ``MODE,CONSTANT|STANDBY|OFF``; ``POWER,ON|OFF``;
settings answer ``OK:...`` or ``NA:<reason>``. Address:
``serial:///dev/ttyUSB0?baud=9600``.
"""

from __future__ import annotations

import threading

from rigs.drivers.uri import parse_address
from rigs.errors import InstrumentError, InstrumentTimeoutError
from rigs.safety import finite
from rigs.protocols.chamber import Chamber, ChamberReading


class EspecChamber(Chamber):
    def __init__(self, name: str, address: str, timeout_s: float = 2.0,
                 humidity: bool = False) -> None:
        import serial

        self.name = name
        self.has_humidity = humidity
        addr = parse_address(address, name, ("serial",))
        self._lock = threading.Lock()
        try:
            self._port = serial.Serial(addr.path, baudrate=addr.int_param("baud", 9600),
                                       timeout=timeout_s, write_timeout=timeout_s)
        except serial.SerialException as exc:
            raise InstrumentError(name, f"cannot open {addr.path}: {exc}") from exc
        self.read()

    def query(self, command: str) -> str:
        """Send one command; return its reply line (raises on NA or silence)."""
        with self._lock:
            self._port.reset_input_buffer()
            self._port.write(command.encode("ascii") + b"\r\n")
            line = self._port.read_until(b"\r\n")
        if not line.endswith(b"\r\n"):
            raise InstrumentTimeoutError(self.name, f"no answer to {command!r} within "
                                         f"{self._port.timeout} s")
        reply = line[:-2].decode("ascii", "replace")
        if reply.startswith("NA"):
            raise InstrumentError(self.name, f"{command!r} refused: {reply}")
        return reply

    def _setting(self, command: str) -> None:
        reply = self.query(command)
        if not reply.startswith("OK"):
            raise InstrumentError(self.name, f"{command!r}: expected OK, got {reply!r}")

    @staticmethod
    def _pair(reply: str, name: str, command: str) -> tuple[float, float]:
        try:
            fields = [float(x) for x in reply.split(",")]
            return fields[0], fields[1]
        except (ValueError, IndexError):
            raise InstrumentError(name, f"{command}: garbled reply {reply!r}") from None

    def set_temperature(self, celsius: float) -> None:
        celsius = finite(celsius, f"instrument {self.name!r}: set point")
        self._setting(f"TEMP,S{celsius:.1f}")
        self._setting("MODE,CONSTANT")

    def read(self) -> ChamberReading:
        pv, sp = self._pair(self.query("TEMP?"), self.name, "TEMP?")
        humidity = None
        if self.has_humidity:
            humidity = self._pair(self.query("HUMI?"), self.name, "HUMI?")[0]
        return ChamberReading(temperature_c=pv, humidity_pct=humidity, set_point_c=sp)

    def alarms(self) -> list[str]:
        reply = self.query("ALARM?")
        fields = reply.split(",")
        return [] if fields[0] == "0" else fields[1:] or [reply]

    def stop(self) -> None:
        self._setting("MODE,STANDBY")

    def close(self) -> None:
        self._port.close()
