"""Simple physics behind the simulators (SIMULATION).

* :class:`ThermalPlant`: a chamber's air temperature follows the set point
  as a damped second-order system whose speed is limited by the ramp rate,
  so it overshoots and settles like a real chamber; readings carry Gaussian
  sensor noise. ``time_scale`` runs simulated time faster than wall time
  (a demo campaign walks -40..110 °C in minutes).
* :class:`SupplyPlant`: a supply channel driving a virtual load (a resistor
  in parallel with a constant-current draw), with current limit (the output
  folds back into constant current) and over-voltage protection (trips off).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field


@dataclass
class ThermalPlant:
    """Chamber air temperature model.

    Args:
        temperature_c: initial temperature.
        ramp_c_per_min: maximum rate of change.
        natural_freq: rad/s (simulated) of the control loop's closed-loop response.
        damping: below 1 overshoots (0.6 gives ~10 % of a small step).
        noise_c: standard deviation of the sensor noise.
        time_scale: simulated seconds per wall second.
    """

    temperature_c: float = 23.0
    ramp_c_per_min: float = 5.0
    natural_freq: float = 0.05
    damping: float = 0.6
    noise_c: float = 0.05
    time_scale: float = 1.0
    humidity_pct: float = 45.0
    seed: int | None = None
    set_point_c: float = field(init=False)
    running: bool = field(init=False, default=True)
    _velocity: float = field(init=False, default=0.0)
    _last: float = field(init=False, default_factory=time.monotonic)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.set_point_c = self.temperature_c
        self._rng = random.Random(self.seed)

    def _advance(self) -> None:
        now = time.monotonic()
        sim_dt = (now - self._last) * self.time_scale
        self._last = now
        goal = self.set_point_c if self.running else 23.0
        max_rate = self.ramp_c_per_min / 60.0
        w, z = self.natural_freq, self.damping
        while sim_dt > 0:
            dt = min(sim_dt, 0.5)
            sim_dt -= dt
            accel = w * w * (goal - self.temperature_c) - 2 * z * w * self._velocity
            self._velocity = max(-max_rate, min(max_rate, self._velocity + accel * dt))
            self.temperature_c += self._velocity * dt

    def set(self, celsius: float) -> None:
        with self._lock:
            self._advance()
            self.set_point_c = celsius

    def read(self) -> float:
        """Sensor reading: true temperature plus noise."""
        with self._lock:
            self._advance()
            return self.temperature_c + self._rng.gauss(0.0, self.noise_c)

    def read_humidity(self) -> float:
        with self._lock:
            return max(0.0, self.humidity_pct + self._rng.gauss(0.0, 0.3))


@dataclass
class SupplyPlant:
    """One supply channel with a virtual load (the board).

    Args:
        load_ohm: resistive part of the load.
        load_a: constant-current part (the chip and regulators), drawn above 1 V.
        noise_v / noise_a: measurement noise.
    """

    load_ohm: float = 100.0
    load_a: float = 0.02
    noise_v: float = 0.001
    noise_a: float = 0.0002
    seed: int | None = None
    set_v: float = 0.0
    limit_a: float = 1.0
    ovp_v: float = 33.0
    on: bool = False
    tripped: bool = False
    #: (time.time(), output volts) at every change, for tests to inspect dips.
    history: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _output_v(self) -> float:
        if not self.on:
            return 0.0
        v = self.set_v
        demand = v / self.load_ohm + (self.load_a if v > 1.0 else 0.0)
        if demand > self.limit_a and demand > 0:  # constant-current fold-back
            v = max(0.0, (self.limit_a - (self.load_a if v > 1.0 else 0.0)) * self.load_ohm)
        return v

    def _note(self) -> None:
        self.history.append((time.time(), self._output_v()))

    def program(self, volts: float | None = None, amps: float | None = None,
                on: bool | None = None, ovp: float | None = None) -> None:
        if volts is not None:
            self.set_v = volts
        if amps is not None:
            self.limit_a = amps
        if ovp is not None:
            self.ovp_v = ovp
        if on is not None:
            self.on = on
            if on:
                self.tripped = False
        if self.on and self.set_v > self.ovp_v:
            self.on, self.tripped = False, True
        self._note()

    def measure_v(self) -> float:
        v = self._output_v()
        return v + self._rng.gauss(0.0, self.noise_v) if v else 0.0

    def measure_a(self) -> float:
        v = self._output_v()
        if v <= 0:
            return 0.0
        i = v / self.load_ohm + (self.load_a if v > 1.0 else 0.0)
        return min(i, self.limit_a) + self._rng.gauss(0.0, self.noise_a)
