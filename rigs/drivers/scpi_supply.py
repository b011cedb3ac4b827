"""SCPI power supplies through pyvisa: Keysight E36xx, Rigol DP8xx, R&S HMP.

One driver, one channel, a command table per family. After every write the
driver reads ``SYST:ERR?`` and raises if the queue holds an error, so a
mistyped or refused setting never passes silently. Addresses are VISA
resource strings, e.g. ``TCPIP::192.168.1.20::5025::SOCKET`` (LAN socket
port), ``TCPIP::192.168.1.20::INSTR`` or ``ASRL/dev/ttyUSB0::INSTR``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rigs.errors import InstrumentError, InstrumentTimeoutError, RigConfigError
from rigs.safety import finite
from rigs.protocols.power_supply import PowerSupply, SupplyReading


@dataclass(frozen=True)
class Dialect:
    select: str | None          # channel selection before channel commands
    volt: str
    curr: str
    output: str
    ovp: tuple[str, ...]
    meas_v: str
    meas_i: str
    output_q: str


DIALECTS = {
    "keysight-e36xx": Dialect("INST:NSEL {ch}", "VOLT {v:.4f}", "CURR {a:.4f}", "OUTP {state}",
                              ("VOLT:PROT {v:.4f}",), "MEAS:VOLT?", "MEAS:CURR?", "OUTP?"),
    "rigol-dp8xx": Dialect(None, ":SOUR{ch}:VOLT {v:.4f}", ":SOUR{ch}:CURR {a:.4f}",
                           ":OUTP CH{ch},{state}",
                           (":OUTP:OVP:VAL CH{ch},{v:.4f}", ":OUTP:OVP CH{ch},ON"),
                           ":MEAS:VOLT? CH{ch}", ":MEAS:CURR? CH{ch}", ":OUTP? CH{ch}"),
    "rs-hmp": Dialect("INST:NSEL {ch}", "VOLT {v:.4f}", "CURR {a:.4f}", "OUTP:CHAN {state}",
                      ("VOLT:PROT {v:.4f}",), "MEAS:VOLT?", "MEAS:CURR?", "OUTP?"),
}


class ScpiSupply(PowerSupply):
    """One channel of a SCPI supply.

    Args:
        name: instrument name in the rig set-up.
        address: VISA resource string.
        model: ``keysight-e36xx``, ``rigol-dp8xx`` or ``rs-hmp``.
        channel: output channel (1-based).
        timeout_s: bound on every query.
        backend: pyvisa backend, ``@py`` (pyvisa-py) by default.
    """

    def __init__(self, name: str, address: str, model: str, channel: int = 1,
                 timeout_s: float = 2.0, backend: str = "@py") -> None:
        import pyvisa

        if model not in DIALECTS:
            raise RigConfigError(f"instrument {name!r}: unknown supply model {model!r}; "
                                 f"known: {', '.join(DIALECTS)}")
        self.name, self.model, self.channel = name, model, channel
        self.d = DIALECTS[model]
        self._lock = threading.Lock()
        self._programmed = 0.0
        self._visa_errors = (pyvisa.errors.VisaIOError, OSError)
        try:
            self._rm = pyvisa.ResourceManager(backend)
            self._res = self._rm.open_resource(address, read_termination="\n",
                                               write_termination="\n",
                                               timeout=int(timeout_s * 1000))
        except (pyvisa.errors.Error, ValueError, OSError) as exc:
            raise InstrumentError(name, f"cannot open VISA resource {address!r}: {exc}") from exc
        self.idn = self.query("*IDN?")  # a silent supply fails here, naming itself
        if model == "rs-hmp":
            self.write("OUTP:MAST ON")

    def _fmt(self, template: str, **kw: object) -> str:
        return template.format(ch=self.channel, **kw)

    def query(self, command: str) -> str:
        with self._lock:
            try:
                return self._res.query(command).strip()
            except self._visa_errors as exc:
                raise InstrumentTimeoutError(self.name, f"no answer to {command!r}: {exc}") from exc

    def write(self, command: str) -> None:
        """Write one command, then check ``SYST:ERR?``."""
        with self._lock:
            try:
                if self.d.select and not command.startswith(("*", "OUTP:MAST")):
                    self._res.write(self._fmt(self.d.select))
                self._res.write(command)
                err = self._res.query("SYST:ERR?").strip()
            except self._visa_errors as exc:
                raise InstrumentTimeoutError(self.name, f"no answer after {command!r}: {exc}") from exc
        code = err.split(",", 1)[0].strip()
        if code not in ("0", "+0"):
            raise InstrumentError(self.name, f"{command!r} raised SCPI error {err}")

    def _channel_query(self, template: str) -> str:
        if self.d.select:
            self.write(self._fmt(self.d.select))
        return self.query(self._fmt(template))

    def set_voltage(self, volts: float) -> None:
        volts = finite(volts, f"instrument {self.name!r}: voltage")
        self.write(self._fmt(self.d.volt, v=volts))
        self._programmed = volts

    def apply(self, volts: float, amps: float) -> None:
        """Program voltage and current limit together (Rigol ``:APPL CH1,3.3,0.5``)."""
        volts = finite(volts, f"instrument {self.name!r}: voltage")
        amps = finite(amps, f"instrument {self.name!r}: current limit")
        if self.model == "rigol-dp8xx":
            self.write(f":APPL CH{self.channel},{volts:.4f},{amps:.4f}")
            self._programmed = volts
        else:
            self.set_voltage(volts)
            self.set_current_limit(amps)

    def set_current_limit(self, amps: float) -> None:
        amps = finite(amps, f"instrument {self.name!r}: current limit")
        self.write(self._fmt(self.d.curr, a=amps))

    def output(self, on: bool) -> None:
        self.write(self._fmt(self.d.output, state="ON" if on else "OFF"))

    def set_ovp(self, volts: float) -> None:
        volts = finite(volts, f"instrument {self.name!r}: over-voltage protection")
        for template in self.d.ovp:
            self.write(self._fmt(template, v=volts))

    def programmed_voltage(self) -> float:
        return self._programmed

    def _number(self, template: str) -> float:
        reply = self._channel_query(template)
        try:
            return float(reply)
        except ValueError:
            raise InstrumentError(self.name, f"{self._fmt(template)}: garbled reply {reply!r}") from None

    def measure(self) -> SupplyReading:
        state = self._channel_query(self.d.output_q)
        return SupplyReading(voltage_v=self._number(self.d.meas_v),
                             current_a=self._number(self.d.meas_i),
                             output_on=state in ("1", "ON"))

    def close(self) -> None:
        try:
            self._res.close()
        finally:
            self._rm.close()
