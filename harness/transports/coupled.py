"""SIMULATION: the environment coupling model.

Nothing in this module measures a chip. It lets a campaign on simulated
instruments produce meaningful curves: a transport wrapper reads the current
*simulated* conditions (temperature, supply voltage, brown-out counter) from
a small JSON state file that the campaign runner rewrites as its simulated
chamber and supply move, and degrades the link the way a stressed board
would:

* latency and bus retries rise as the temperature nears and passes the
  rated range (-40..85 °C by default) and as the supply leaves its margin
  (±10 % of nominal by default);
* past the rated range some commands get no answer, and the chip may enter
  failure mode (answers ``TPM_RC_FAILURE``) - a fail-safe chip never answers
  wrongly. ``fault_model: corrupting`` instead flips a byte of some
  successful responses, to prove the campaign's EFP/EFT check catches a chip
  that answers wrongly;
* a brown-out or power cycle (the counter ``power_epoch`` moves) resets the
  chip: the wrapped target is power-cycled and needs TPM2_Startup again.

When the wrapped transport reaches a virtual chip (``spi+sim://``,
``i2c+sim://``: harness.chips), retries and latency are not made up here but
set on the chip's run-time :class:`~harness.chips.faults.FaultPlan` (SPI
wait-state storms, I2C NACK bursts, slower execution), so the real TIS
transport code meets them and counts its own retries. On any other target
(swtpm, a real chip) the wrapper adds them itself.

The wrapped transport's name and every error it makes up carry the label
``SIMULATED environment coupling``. The model is deterministic for a given
``seed`` in the state file.

State file (JSON)::

    {"simulation": true, "temperature_c": 25.0, "voltage_v": 3.3,
     "nominal_voltage_v": 3.3, "power_epoch": 0, "seed": 1,
     "rated_c": [-40, 85], "rated_voltage_pct": 10, "fault_model": "fail-safe"}
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError, TpmTimeoutError
from harness.tpm.wire import HEADER, HEADER_SIZE
from harness.transports.base import Transport
from harness.transports.wrapper import WrappedTransport

TPM_RC_FAILURE = 0x101
TPM_ST_NO_SESSIONS = 0x8001
SIMULATION_LABEL = "SIMULATED environment coupling"


@dataclass(frozen=True)
class Conditions:
    """Simulated conditions as read from the state file."""

    temperature_c: float = 25.0
    voltage_v: float | None = None
    nominal_voltage_v: float | None = None
    power_epoch: int = 0
    rated_low_c: float = -40.0
    rated_high_c: float = 85.0
    rated_voltage_pct: float = 10.0
    fault_model: str = "fail-safe"
    seed: int = 1

    @classmethod
    def from_json(cls, data: dict, path: Path) -> "Conditions":
        if data.get("simulation") is not True:
            raise ConfigError(f"{path}: env-coupling state must say \"simulation\": true")
        rated = data.get("rated_c", [-40.0, 85.0])
        model = data.get("fault_model", "fail-safe")
        if model not in ("fail-safe", "corrupting"):
            raise ConfigError(f"{path}: fault_model {model!r} is not fail-safe or corrupting")
        try:
            return cls(float(data.get("temperature_c", 25.0)),
                       None if data.get("voltage_v") is None else float(data["voltage_v"]),
                       None if data.get("nominal_voltage_v") is None else float(data["nominal_voltage_v"]),
                       int(data.get("power_epoch", 0)), float(rated[0]), float(rated[1]),
                       float(data.get("rated_voltage_pct", 10.0)), model, int(data.get("seed", 1)))
        except (TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"{path}: bad env-coupling state: {exc}") from exc

    def stress(self) -> tuple[float, float]:
        """(near, beyond): closeness to the rated edge in 0..1 and degrees/percent past it."""
        lo, hi = self.rated_low_c, self.rated_high_c
        t = self.temperature_c
        beyond = max(0.0, t - hi, lo - t)
        near = max(0.0, 1.0 - min(abs(t - hi), abs(t - lo)) / 10.0) if beyond == 0 else 1.0
        if self.voltage_v is not None and self.nominal_voltage_v:
            dev_pct = abs(self.voltage_v / self.nominal_voltage_v - 1.0) * 100.0
            v_beyond = max(0.0, dev_pct - self.rated_voltage_pct)
            v_near = max(0.0, 1.0 - (self.rated_voltage_pct - dev_pct) / 3.0) if v_beyond == 0 else 1.0
            beyond += 2.0 * v_beyond  # a percent of supply counts like two degrees
            near = max(near, min(1.0, v_near))
        return near, beyond


def error_probabilities(c: Conditions) -> tuple[float, float, float]:
    """SIMULATION: (retry, no-answer, failure-mode) probability per command."""
    near, beyond = c.stress()
    retry = min(0.6, 0.02 * near + 0.03 * beyond)
    # Answers start to go missing 1 °C (0.5 % of supply) past the edge, so that
    # sensor noise at a point set exactly on the rated edge does not count as past it.
    silent = 0.0 if beyond <= 1.0 else min(0.3, 0.01 * (beyond - 1.0))
    failure = 0.0 if beyond <= 5 else min(0.5, 0.02 * (beyond - 5))
    return retry, silent, failure


def extra_latency_s(c: Conditions) -> float:
    """SIMULATION: added command latency (seconds) for the conditions."""
    near, beyond = c.stress()
    return 0.0002 * near + 0.0001 * beyond + 0.00002 * math.expm1(min(beyond, 40) / 10)


class CoupledTransport(WrappedTransport):
    """SIMULATION: wraps a transport, degrading it per the simulated conditions.

    Commands go to the inner transport's ``_send``/``_recv`` directly, so the
    exchange is checked and logged once, here; the bus counters are shared.
    """

    def __init__(self, inner: Transport, state_file: str | os.PathLike[str]) -> None:
        super().__init__(inner, name=f"{inner.name} [{SIMULATION_LABEL}]")
        self.state_file = Path(state_file)
        self._mtime = -1.0
        self.conditions = self._read()
        self._seen_epoch = self.conditions.power_epoch
        self._rng = random.Random(self.conditions.seed)
        self._plan: str = "forward"
        self._delay = 0.0
        self.resets = 0
        self.fault_plan = virtual_fault_plan(inner)
        self._applied: Conditions | None = None
        if self.fault_plan is not None:
            self.fault_plan.set(seed=self.conditions.seed)  # deterministic bus faults too

    def _read(self) -> Conditions:
        try:
            st = self.state_file.stat()
            if st.st_mtime == self._mtime:
                return self.conditions
            data = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            raise ConfigError(f"env-coupling state file {self.state_file} does not exist") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"env-coupling state file {self.state_file}: {exc}") from exc
        self._mtime = st.st_mtime
        return Conditions.from_json(data, self.state_file)

    def _send(self, command: bytes) -> None:
        self.conditions = c = self._read()
        if c.power_epoch != self._seen_epoch:
            self._seen_epoch = c.power_epoch
            self.resets += 1
            if self.inner.can_power_cycle:
                self.inner.power_cycle()  # the chip lost power: it needs TPM2_Startup again
        retry, silent, failure = error_probabilities(c)
        draw = self._rng.random()
        self._plan = "silent" if draw < silent else "failure" if draw < silent + failure else "forward"
        if self.fault_plan is not None:
            if c != self._applied:  # the virtual chip misbehaves on its bus by itself
                self.fault_plan.set(storm_rate=retry / 4, nack_rate=retry / 4,
                                    exec_delay_s=extra_latency_s(c))
                self._applied = c
            self._delay = 0.0
        else:
            retries = 0
            while self._rng.random() < retry and retries < 5:
                retries += 1
            self.counters.retries += retries
            self._delay = extra_latency_s(c) * (1 + retries)
        if self._plan == "forward":
            self.inner._send(command)

    def _recv(self, deadline: float) -> bytes:
        if self._delay:
            time.sleep(min(self._delay, max(0.0, deadline - time.monotonic())))
        if self._plan == "silent":
            raise TpmTimeoutError(f"{SIMULATION_LABEL}: no answer (chip silent at "
                                  f"{self.conditions.temperature_c:.1f} °C)")
        if self._plan == "failure":
            return HEADER.pack(TPM_ST_NO_SESSIONS, HEADER_SIZE, TPM_RC_FAILURE)
        response = self.inner._recv(deadline)
        if (self.conditions.fault_model == "corrupting" and len(response) > HEADER_SIZE
                and self.conditions.stress()[1] > 0 and self._rng.random() < 0.5):
            i = HEADER_SIZE + self._rng.randrange(len(response) - HEADER_SIZE)
            response = response[:i] + bytes([response[i] ^ 0x5A]) + response[i + 1:]
        return response


def virtual_fault_plan(transport: Transport):
    """The run-time FaultPlan of the virtual chip behind ``transport``, or None."""
    try:
        from harness.chips.faults import FaultPlan
    except ImportError:
        return None
    chip = getattr(getattr(getattr(transport, "phy", None), "bus", None), "slave", None)
    plan = getattr(chip, "faults", None)
    return plan if isinstance(plan, FaultPlan) else None


def wrap_transport(transport: Transport, state_file: str | os.PathLike[str]) -> Transport:
    """SIMULATION: wrap ``transport`` with the environment coupling model.

    Args:
        transport: any open transport (swtpm, virtual chip, real bus...).
        state_file: the JSON state file the campaign runner keeps current.

    Returns:
        A transport logging into the same ExchangeLog as ``transport``.
    """
    return CoupledTransport(transport, state_file)
