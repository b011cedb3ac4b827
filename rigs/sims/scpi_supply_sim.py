"""SCPI power supply simulator on a loopback TCP socket (SIMULATION).

Speaks the command sets of the three supply families the driver knows
(``keysight-e36xx``, ``rigol-dp8xx``, ``rs-hmp``), newline-terminated, as
their LAN socket ports do (reached by pyvisa-py as
``TCPIP::127.0.0.1::PORT::SOCKET``). Each channel drives a
:class:`~rigs.sims.physics.SupplyPlant` (a virtual load). Errors go to the
SCPI error queue read by ``SYST:ERR?``: -113 undefined header, -224 illegal
parameter value, -109 missing parameter.
"""

from __future__ import annotations

import re
from collections import deque

from rigs.sims.base import LineTcpSim
from rigs.sims.physics import SupplyPlant

IDN = {
    "keysight-e36xx": "Keysight Technologies,E36313A,SIM000001,2.1.0",
    "rigol-dp8xx": "RIGOL TECHNOLOGIES,DP832,SIM000001,00.01.16",
    "rs-hmp": "Rohde&Schwarz,HMP4040,SIM000001,2.70",
}
_NUM = r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"


class ScpiSupplySim(LineTcpSim):
    def __init__(self, model: str = "keysight-e36xx", channels: int = 3,
                 plants: list[SupplyPlant] | None = None, port: int = 0) -> None:
        if model not in IDN:
            raise ValueError(f"unknown supply model {model!r}; known: {', '.join(IDN)}")
        super().__init__(port)
        self.model = model
        self.plants = plants or [SupplyPlant(seed=n) for n in range(channels)]
        self.selected = 1
        self.master_on = model != "rs-hmp"
        self.errors: deque[str] = deque(maxlen=20)
        #: every request received, for tests pinning the wire format.
        self.requests: list[str] = []
        self.address = f"TCPIP::127.0.0.1::{self.port}::SOCKET"

    def _err(self, code: int, text: str) -> None:
        self.errors.append(f'{code},"{text}"')

    def _plant(self, ch: int | None) -> SupplyPlant | None:
        n = ch if ch is not None else self.selected
        if not 1 <= n <= len(self.plants):
            self._err(-224, "Illegal parameter value")
            return None
        return self.plants[n - 1]

    def handle(self, request: bytes) -> bytes | None:
        text = request.decode("ascii", "replace").strip()
        self.requests.append(text)
        reply = None
        for part in text.split(";"):
            reply = self._one(part.strip().lstrip(":").upper())
        return reply.encode("ascii") if reply is not None else None

    def _one(self, cmd: str) -> str | None:  # noqa: C901 - a command table reads best flat
        m = re.fullmatch
        if cmd == "*IDN?":
            return IDN[self.model]
        if cmd in ("*RST", "*CLS"):
            if cmd == "*RST":
                for p in self.plants:
                    p.program(volts=0.0, amps=1.0, on=False, ovp=33.0)
            self.errors.clear() if cmd == "*CLS" else None
            return None
        if cmd in ("SYST:ERR?", "SYSTEM:ERROR?"):
            return self.errors.popleft() if self.errors else '0,"No error"'
        if g := m(r"INST(?:RUMENT)?:NSEL\s+(\d+)", cmd):
            if self._plant(int(g[1])):
                self.selected = int(g[1])
            return None
        if cmd in ("INST:NSEL?", "INSTRUMENT:NSEL?"):
            return str(self.selected)
        if g := m(r"APPL\s+CH(\d+)\s*,\s*" + _NUM + r"\s*(?:,\s*" + _NUM + r")?", cmd):
            if p := self._plant(int(g[1])):
                p.program(volts=float(g[2]), amps=float(g[3]) if g[3] else None)
            return None
        if g := m(r"(?:SOUR(\d+):)?VOLT(?:AGE)?(?::LEV(?:EL)?)?\s+" + _NUM, cmd):
            if p := self._plant(int(g[1]) if g[1] else None):
                p.program(volts=float(g[2]))
            return None
        if g := m(r"(?:SOUR(\d+):)?CURR(?:ENT)?(?::LEV(?:EL)?)?\s+" + _NUM, cmd):
            if p := self._plant(int(g[1]) if g[1] else None):
                p.program(amps=float(g[2]))
            return None
        if g := m(r"(?:SOUR(\d+):)?VOLT(?:AGE)?:PROT(?:ECTION)?(?::LEV(?:EL)?)?\s+" + _NUM, cmd):
            if p := self._plant(int(g[1]) if g[1] else None):
                p.program(ovp=float(g[2]))
            return None
        if g := m(r"OUTP(?:UT)?:OVP:VAL\s+CH(\d+)\s*,\s*" + _NUM, cmd):
            if p := self._plant(int(g[1])):
                p.program(ovp=float(g[2]))
            return None
        if m(r"OUTP(?:UT)?:OVP\s+CH\d+\s*,\s*(ON|OFF)", cmd):
            return None
        if g := m(r"(?:SOUR(\d+):)?VOLT(?:AGE)?\?", cmd):
            p = self._plant(int(g[1]) if g[1] else None)
            return f"{p.set_v:.4f}" if p else None
        if g := m(r"OUTP(?:UT)?\s+CH(\d+)\s*,\s*(ON|OFF|1|0)", cmd):
            if p := self._plant(int(g[1])):
                p.program(on=g[2] in ("ON", "1"))
            return None
        if g := m(r"OUTP(?:UT)?(?::STAT(?:E)?)?\s+(ON|OFF|1|0)", cmd):
            if self.model == "rs-hmp":  # HMP: OUTP switches the selected channel and master
                self.master_on = g[1] in ("ON", "1")
            if p := self._plant(None):
                p.program(on=g[1] in ("ON", "1"))
            return None
        if g := m(r"OUTP(?:UT)?:(CHAN|SEL)\s+(ON|OFF|1|0)", cmd):
            if p := self._plant(None):
                p.program(on=g[2] in ("ON", "1"))
            return None
        if g := m(r"OUTP(?:UT)?:(MAST|GEN)(?:ERAL)?\s+(ON|OFF|1|0)", cmd):
            self.master_on = g[2] in ("ON", "1")
            return None
        if g := m(r"OUTP(?:UT)?\?(?:\s+CH(\d+))?", cmd):
            p = self._plant(int(g[1]) if g[1] else None)
            if p is None:
                return None
            on = p.on and self.master_on
            return ("ON" if on else "OFF") if g[1] else ("1" if on else "0")
        if g := m(r"MEAS(?:URE)?(?::SCAL(?:AR)?)?:(VOLT|CURR)(?:AGE|ENT)?(?::DC)?\?(?:\s+CH(\d+))?",
                  cmd):
            p = self._plant(int(g[2]) if g[2] else None)
            if p is None:
                return None
            if not self.master_on:
                return "0.0000"
            return f"{p.measure_v():.4f}" if g[1] == "VOLT" else f"{p.measure_a():.5f}"
        if cmd.endswith("?"):
            self._err(-113, "Undefined header")
            return None
        self._err(-113, "Undefined header")
        return None
