"""The safety envelope: the only temperatures and voltages an instrument may be sent.

A climatic chamber and a power supply are wired to a board; a wrong number in
a hand-edited YAML file (30 V instead of 3.0 V, ``.nan``, ``-.inf``) must never
reach them. The envelope is checked twice:

- at load time, for every value a campaign or rig set-up can command (points,
  nominal voltage, brown-out levels, power-cycle off times, ramps, current
  limits, over-voltage protection), so a bad file fails before anything moves;
- in the driver layer: :class:`GuardedSupply` and :class:`GuardedChamber`
  wrap every opened driver (``rigs.setup.Rig`` does it) and refuse an
  out-of-envelope or non-finite set point with :class:`SafetyError` before a
  byte reaches the instrument, whatever code path asked for it.

Only finite numbers pass: NaN compares false with every limit, so a NaN limit
or set point would silently disable a ``<=`` check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rigs.errors import RigConfigError
from rigs.protocols.chamber import AMBIENT_C, Chamber, ChamberReading
from rigs.protocols.power_supply import PowerSupply, SupplyReading

#: Longest brown-out or power-cycle off time a campaign may ask for.
MAX_EVENT_S = 60.0
#: Fastest chamber ramp accepted, °C per minute.
MAX_RAMP_C_PER_MIN = 1000.0


class SafetyError(RigConfigError):
    """A value outside the safety envelope (or not a finite number) was refused."""


def finite(value: Any, what: str) -> float:
    """``value`` as a float if it is a finite real number, else :class:`SafetyError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SafetyError(f"{what}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise SafetyError(f"{what}: {value!r} is not a finite number")
    return number


@dataclass(frozen=True)
class Envelope:
    """Limits every command to the rig must respect.

    Attributes:
        min_temperature_c / max_temperature_c: chamber set points allowed.
        max_voltage_v: highest supply voltage (set point, brown-out level, nominal).
        max_current_a: highest current limit (None: any finite positive value).
    """

    min_temperature_c: float = -70.0
    max_temperature_c: float = 150.0
    max_voltage_v: float = 6.0
    max_current_a: float | None = None

    def __post_init__(self) -> None:
        lo = finite(self.min_temperature_c, "safety.min_temperature_c")
        hi = finite(self.max_temperature_c, "safety.max_temperature_c")
        if lo >= hi:
            raise SafetyError(f"safety: min_temperature_c {lo} must be below max_temperature_c {hi}")
        if finite(self.max_voltage_v, "safety.max_voltage_v") <= 0:
            raise SafetyError(f"safety.max_voltage_v: {self.max_voltage_v} must be above 0 V")
        if self.max_current_a is not None and finite(self.max_current_a, "safety.max_current_a") <= 0:
            raise SafetyError(f"safety.max_current_a: {self.max_current_a} must be above 0 A")

    def voltage(self, value: Any, what: str) -> float:
        """A supply voltage inside [0, max_voltage_v]."""
        volts = finite(value, what)
        if not 0.0 <= volts <= self.max_voltage_v:
            raise SafetyError(f"{what}: {volts:g} V is outside the safety envelope "
                              f"[0, {self.max_voltage_v:g}] V (safety.max_voltage_v)")
        return volts

    def temperature(self, value: Any, what: str) -> float:
        """A chamber set point inside [min_temperature_c, max_temperature_c]."""
        celsius = finite(value, what)
        if not self.min_temperature_c <= celsius <= self.max_temperature_c:
            raise SafetyError(f"{what}: {celsius:g} °C is outside the safety envelope "
                              f"[{self.min_temperature_c:g}, {self.max_temperature_c:g}] °C")
        return celsius

    def current(self, value: Any, what: str) -> float:
        """A current limit: finite, above 0, at most max_current_a."""
        amps = finite(value, what)
        if amps <= 0 or (self.max_current_a is not None and amps > self.max_current_a):
            top = "" if self.max_current_a is None else f", at most {self.max_current_a:g} A"
            raise SafetyError(f"{what}: {amps:g} A is outside the safety envelope (above 0 A{top})")
        return amps

    def ovp(self, value: Any, what: str) -> float:
        """An over-voltage protection level: finite and above 0 V."""
        volts = finite(value, what)
        if volts <= 0:
            raise SafetyError(f"{what}: {volts:g} V must be above 0 V")
        return volts

    def seconds(self, value: Any, what: str, longest: float = MAX_EVENT_S) -> float:
        """A duration of a dip or an off time: finite, in [0, longest]."""
        secs = finite(value, what)
        if not 0.0 <= secs <= longest:
            raise SafetyError(f"{what}: {secs:g} s is outside [0, {longest:g}] s")
        return secs

    def ramp(self, value: Any, what: str) -> float:
        """A ramp rate in °C/min: finite, in (0, MAX_RAMP_C_PER_MIN]."""
        rate = finite(value, what)
        if not 0.0 < rate <= MAX_RAMP_C_PER_MIN:
            raise SafetyError(f"{what}: {rate:g} °C/min is outside (0, {MAX_RAMP_C_PER_MIN:g}]")
        return rate


class GuardedSupply(PowerSupply):
    """A power supply driver that cannot be commanded outside the envelope."""

    def __init__(self, inner: PowerSupply, envelope: Envelope) -> None:
        self.inner, self.envelope = inner, envelope
        self.name = inner.name

    def _where(self, what: str) -> str:
        return f"instrument {self.name!r}: {what}"

    def set_voltage(self, volts: float) -> None:
        self.inner.set_voltage(self.envelope.voltage(volts, self._where("set_voltage")))

    def set_current_limit(self, amps: float) -> None:
        self.inner.set_current_limit(self.envelope.current(amps, self._where("set_current_limit")))

    def set_ovp(self, volts: float) -> None:
        self.inner.set_ovp(self.envelope.ovp(volts, self._where("set_ovp")))

    def output(self, on: bool) -> None:
        if not isinstance(on, bool):
            raise SafetyError(f"{self._where('output')}: expected True or False, got {on!r}")
        self.inner.output(on)

    def measure(self) -> SupplyReading:
        return self.inner.measure()

    def programmed_voltage(self) -> float:
        return self.inner.programmed_voltage()

    def power_cycle(self, off_s: float = 0.5) -> None:
        self.inner.power_cycle(self.envelope.seconds(off_s, self._where("power_cycle off_s")))

    def brown_out(self, level_v: float, duration_s: float) -> None:
        level = self.envelope.voltage(level_v, self._where("brown_out level_v"))
        duration = self.envelope.seconds(duration_s, self._where("brown_out duration_s"))
        self.envelope.voltage(self.inner.programmed_voltage(), self._where("brown_out restore level"))
        self.inner.brown_out(level, duration)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # driver extras (idn, model, ...), read-only use
        if name in ("inner", "envelope"):
            raise AttributeError(name)
        if name in ("apply", "write", "_res", "_write_float"):
            raise AttributeError(f"{name} bypasses the safety envelope; use set_voltage and "
                                 "set_current_limit")
        return getattr(self.inner, name)


class GuardedChamber(Chamber):
    """A chamber driver that cannot be given a set point outside the envelope.

    Software ramps (:meth:`Chamber.ramp_to`) run here, so every intermediate
    set point is checked too.
    """

    def __init__(self, inner: Chamber, envelope: Envelope) -> None:
        self.inner, self.envelope = inner, envelope
        self.name = inner.name
        self.has_humidity = inner.has_humidity

    def set_temperature(self, celsius: float) -> None:
        self.inner.set_temperature(self.envelope.temperature(
            celsius, f"instrument {self.name!r}: set_temperature"))

    def ramp_to(self, celsius: float, c_per_min: float, step_s: float = 1.0,
                check: Callable[[], None] | None = None) -> None:
        self.envelope.temperature(celsius, f"instrument {self.name!r}: ramp_to")
        self.envelope.ramp(c_per_min, f"instrument {self.name!r}: ramp rate")
        finite(step_s, f"instrument {self.name!r}: ramp step_s")
        super().ramp_to(celsius, c_per_min, step_s, check)

    def read(self) -> ChamberReading:
        return self.inner.read()

    def alarms(self) -> list[str]:
        return self.inner.alarms()

    def stop(self) -> None:
        if type(self.inner).stop is Chamber.stop:
            self.set_temperature(AMBIENT_C)
        else:
            self.inner.stop()

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:
        if name in ("inner", "envelope"):
            raise AttributeError(name)
        if name in ("write", "_write_float", "_setting", "request"):
            raise AttributeError(f"{name} bypasses the safety envelope; use set_temperature")
        return getattr(self.inner, name)
