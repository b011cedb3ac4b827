"""Vötsch/Weiss SIMPAC ``simserv`` simulator on a loopback TCP port (SIMULATION).

Requests are numeric command IDs and arguments separated by byte 0xB6 and
ended by CR: ``<id>¶<chamber>¶<args...>``. Replies start with ``1`` on
success (then the data fields) or a negative code, and end with CR LF.
Implemented: 11001 set set point (``11001¶1¶1¶<value>``), 11002 read set
point, 11004 read actual value (``11004¶1¶1``), 14001 manual mode start/stop
(``14001¶1¶1¶1|0``), 14003 read manual-mode state, 17002 read error count.
"""

from __future__ import annotations

from rigs.sims.base import LineTcpSim
from rigs.sims.physics import ThermalPlant

SEP = b"\xb6"


class SimservSim(LineTcpSim):
    terminator = b"\r"
    reply_terminator = b"\r\n"

    def __init__(self, plant: ThermalPlant | None = None, port: int = 0) -> None:
        super().__init__(port)
        self.plant = plant or ThermalPlant()
        self.manual = True
        #: every raw request received (without CR), for tests pinning the wire format.
        self.requests: list[bytes] = []
        self.address = f"simserv://127.0.0.1:{self.port}"

    def handle(self, request: bytes) -> bytes | None:
        self.requests.append(request)
        fields = request.strip(b"\r\n").split(SEP)
        try:
            cmd = int(fields[0])
        except ValueError:
            return b"-1" + SEP + b"unknown command"
        args = [f.decode("latin-1") for f in fields[1:]]
        out = self._dispatch(cmd, args)
        return SEP.join(x.encode("latin-1") for x in out)

    def _dispatch(self, cmd: int, args: list[str]) -> list[str]:
        p = self.plant
        if len(args) < 1 or args[0] != "1":
            return ["-5", "no such chamber"]
        if cmd == 11001 and len(args) == 3:
            try:
                p.set(float(args[2]))
            except ValueError:
                return ["-3", "bad value"]
            return ["1"]
        if cmd == 11002:
            return ["1", f"{p.set_point_c:.2f}"]
        if cmd == 11004:
            return ["1", f"{p.read():.2f}"]
        if cmd == 14001 and len(args) == 3 and args[2] in ("0", "1"):
            self.manual = args[2] == "1"
            p.running = self.manual
            return ["1"]
        if cmd == 14003:
            return ["1", "1" if self.manual else "0"]
        if cmd == 17002:
            return ["1", "0"]
        return ["-1", "unknown command"]
