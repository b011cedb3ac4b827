"""Climatic chamber protocol: set point, reading, stability, ramp rate, alarms."""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass

from rigs.errors import InstrumentTimeoutError

AMBIENT_C = 23.0


@dataclass(frozen=True)
class ChamberReading:
    """One reading of the chamber's sensors."""

    temperature_c: float
    humidity_pct: float | None = None
    set_point_c: float | None = None


class Chamber(abc.ABC):
    """A climatic chamber.

    Attributes:
        name: the instrument's name in the rig set-up (used in every message).
    """

    name: str = "chamber"
    has_humidity: bool = False

    @abc.abstractmethod
    def set_temperature(self, celsius: float) -> None:
        """Set the temperature set point (the chamber starts running if needed)."""

    @abc.abstractmethod
    def read(self) -> ChamberReading:
        """Read the process value (and humidity where the chamber has it)."""

    def ramp_to(self, celsius: float, c_per_min: float, step_s: float = 1.0,
                check: Callable[[], None] | None = None) -> None:
        """Walk the set point to ``celsius`` at ``c_per_min`` in steps of ``step_s``.

        A software ramp, for controllers whose own ramp lives in profiles (F4T)
        or is not reachable over the remote interface. ``check`` is called
        between steps (the campaign passes its instrument-health check).
        """
        start = self.read().set_point_c
        if start is None or c_per_min <= 0:
            self.set_temperature(celsius)
            return
        step = c_per_min / 60.0 * step_s
        current = start
        while abs(celsius - current) > step:
            current += step if celsius > current else -step
            self.set_temperature(round(current, 3))
            if check is not None:
                check()
            time.sleep(step_s)
        self.set_temperature(celsius)

    def alarms(self) -> list[str]:
        """Active alarms as short texts; empty when none."""
        return []

    def stop(self) -> None:
        """Leave the chamber idle (standby); default: go to ambient."""
        self.set_temperature(AMBIENT_C)

    def close(self) -> None:
        """Release the link."""

    def wait_stable(self, band_c: float, dwell_s: float, timeout_s: float,
                    poll_s: float = 0.5, target_c: float | None = None,
                    check: Callable[[], None] | None = None) -> float:
        """Wait until the temperature stays within ``band_c`` of the set point for ``dwell_s``.

        ``check`` is called at every poll (the campaign's instrument-health check).

        Returns:
            Seconds waited.

        Raises:
            InstrumentTimeoutError: not stable within ``timeout_s``.
        """
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        inside_since: float | None = None
        last = None
        while True:
            now = time.monotonic()
            last = self.read()
            goal = target_c if target_c is not None else last.set_point_c
            if goal is None:
                raise InstrumentTimeoutError(self.name, "no set point to stabilise on")
            if abs(last.temperature_c - goal) <= band_c:
                inside_since = inside_since if inside_since is not None else now
                if now - inside_since >= dwell_s:
                    return now - t0
            else:
                inside_since = None
            if now >= deadline:
                raise InstrumentTimeoutError(
                    self.name, f"not stable within ±{band_c} °C of {goal} °C after "
                    f"{timeout_s:.0f} s (last reading {last.temperature_c:.2f} °C)")
            if check is not None:
                check()
            time.sleep(min(poll_s, max(0.0, deadline - now)))
