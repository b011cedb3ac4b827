"""Programmable power supply protocol, with power cycles and brown-outs as operations."""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class SupplyReading:
    """Measured output of one channel."""

    voltage_v: float
    current_a: float
    output_on: bool


class PowerSupply(abc.ABC):
    """One output channel of a programmable supply powering the board."""

    name: str = "psu"

    @abc.abstractmethod
    def set_voltage(self, volts: float) -> None:
        """Program the output voltage."""

    @abc.abstractmethod
    def set_current_limit(self, amps: float) -> None:
        """Program the current limit."""

    @abc.abstractmethod
    def output(self, on: bool) -> None:
        """Switch the output on or off."""

    @abc.abstractmethod
    def measure(self) -> SupplyReading:
        """Measure output voltage and current."""

    @abc.abstractmethod
    def set_ovp(self, volts: float) -> None:
        """Set the over-voltage protection level."""

    @abc.abstractmethod
    def programmed_voltage(self) -> float:
        """The voltage last programmed (what a dip returns to)."""

    def close(self) -> None:
        """Release the link."""

    def power_cycle(self, off_s: float = 0.5) -> None:
        """Output off for ``off_s`` seconds, then on again."""
        self.output(False)
        time.sleep(off_s)
        self.output(True)

    def brown_out(self, level_v: float, duration_s: float) -> None:
        """Dip the output to ``level_v`` for ``duration_s``, then restore it.

        Over SCPI the dip's edges are as sharp as the supply's command latency
        and slew rate allow (milliseconds); shorter dips need a pulse generator.
        """
        nominal = self.programmed_voltage()
        self.set_voltage(level_v)
        try:
            time.sleep(duration_s)
        finally:
            self.set_voltage(nominal)
