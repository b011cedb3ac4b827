"""ESPEC SH/SU series simulator on a pty (SIMULATION).

ASCII commands ended by CR LF, as on the chamber's RS-232 port: ``TEMP?``
(answers ``PV,SP,upper,lower``), ``TEMP,S<val>``, ``HUMI?``, ``MODE?``,
``MODE,CONSTANT|STANDBY|OFF``, ``POWER,ON|OFF``, ``ALARM?``. Accepted
settings answer ``OK:<command>``, refused ones ``NA:<reason>``.
"""

from __future__ import annotations

import os
import pty
import select
import threading
import tty

from rigs.sims.base import InstrumentSim
from rigs.sims.physics import ThermalPlant

UPPER_C, LOWER_C = 150.0, -70.0


class EspecSim(InstrumentSim):
    def __init__(self, plant: ThermalPlant | None = None) -> None:
        super().__init__()
        self.plant = plant or ThermalPlant()
        self.mode = "CONSTANT"
        self.power = True
        #: every request line received, for tests pinning the wire format.
        self.requests: list[str] = []
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self.address = f"serial://{self.path}?baud=9600"

    def handle(self, line: str) -> str:
        cmd = line.strip().upper()
        p = self.plant
        if cmd == "TEMP?":
            return f"{p.read():.1f},{p.set_point_c:.1f},{UPPER_C:.1f},{LOWER_C:.1f}"
        if cmd == "HUMI?":
            return f"{p.read_humidity():.0f},{p.humidity_pct:.0f},100,0"
        if cmd.startswith("TEMP,S"):
            try:
                value = float(cmd[6:])
            except ValueError:
                return "NA:DATA NOT READY" if not cmd[6:] else "NA:COMMAND ERR"
            if not LOWER_C <= value <= UPPER_C:
                return "NA:OUT OF RANGE"
            p.set(value)
            return f"OK:{line.strip()}"
        if cmd == "MODE?":
            return self.mode
        if cmd.startswith("MODE,"):
            mode = cmd[5:]
            if mode not in ("CONSTANT", "STANDBY", "OFF"):
                return "NA:PARAMETER ERR"
            self.mode = mode
            p.running = mode == "CONSTANT"
            return f"OK:{line.strip()}"
        if cmd.startswith("POWER,"):
            if cmd[6:] not in ("ON", "OFF"):
                return "NA:PARAMETER ERR"
            self.power = cmd[6:] == "ON"
            p.running = self.power and self.mode == "CONSTANT"
            return f"OK:{line.strip()}"
        if cmd == "ALARM?":
            return "0"
        return "NA:COMMAND ERR"

    def start(self) -> "EspecSim":
        self._thread = threading.Thread(target=self._serve, name="EspecSim", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        buf = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.2)
            if not ready:
                continue
            try:
                buf += os.read(self._master, 1024)
            except OSError:
                return
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                self.requests.append(line.decode("ascii", "replace"))
                reply = self.handle(self.requests[-1])
                if not self.silent:
                    os.write(self._master, reply.encode("ascii") + b"\r\n")

    def stop(self) -> None:
        super().stop()
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
