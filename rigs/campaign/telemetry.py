"""Telemetry sampler: reads the rig on its own schedule, writes TelemetrySample
rows to the results store, and keeps the env-coupling state file current."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from harness.results.run_folder import write_json_atomic
from harness.results.store import ResultsStore, TelemetrySample
from rigs.errors import InstrumentError
from rigs.setup import Rig

log = logging.getLogger(__name__)


class TelemetrySampler:
    """A daemon thread sampling chamber and supply every ``interval_s``.

    Attributes:
        failure: the first instrument error seen (the runner goes to a safe state).
        latest: the last values read, by quantity.
    """

    def __init__(self, rig: Rig, store: ResultsStore, interval_s: float,
                 state_writer: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.rig, self.store, self.interval_s = rig, store, interval_s
        self.state_writer = state_writer
        self.point_id: str | None = None
        self.failure: InstrumentError | None = None
        self.latest: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)

    def start(self) -> "TelemetrySampler":
        self._thread.start()
        return self

    def sample_once(self) -> list[TelemetrySample]:
        t, pid = time.time(), self.point_id
        rows: list[TelemetrySample] = []
        if self.rig.chamber is not None:
            r = self.rig.chamber.read()
            rows.append(TelemetrySample(t, self.rig.chamber.name, "temperature", r.temperature_c, "degC", pid))
            if r.set_point_c is not None:
                rows.append(TelemetrySample(t, self.rig.chamber.name, "set_point", r.set_point_c, "degC", pid))
            if r.humidity_pct is not None:
                rows.append(TelemetrySample(t, self.rig.chamber.name, "humidity", r.humidity_pct, "%RH", pid))
        if self.rig.supply is not None:
            m = self.rig.supply.measure()
            rows.append(TelemetrySample(t, self.rig.supply.name, "voltage", m.voltage_v, "V", pid))
            rows.append(TelemetrySample(t, self.rig.supply.name, "current", m.current_a, "A", pid))
        self.store.add_telemetry(rows)
        self.latest.update({s.quantity: s.value for s in rows})
        if self.state_writer is not None:
            self.state_writer(dict(self.latest))
        return rows

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sample_once()
            except InstrumentError as exc:
                self.failure = exc
                log.error("telemetry stopped: %s", exc)
                return
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)


class CouplingState:
    """SIMULATION: the JSON state file read by harness.transports.coupled."""

    def __init__(self, path, base: dict[str, Any]) -> None:
        self.path = path
        self.data: dict[str, Any] = {"simulation": True, "power_epoch": 0, **base}
        self._lock = threading.Lock()

    def update(self, **values: Any) -> None:
        with self._lock:
            self.data.update(values)
            write_json_atomic(self.path, self.data)

    def from_telemetry(self, latest: dict[str, float]) -> None:
        values: dict[str, Any] = {}
        if "temperature" in latest:
            values["temperature_c"] = round(latest["temperature"], 3)
        if "voltage" in latest:
            values["voltage_v"] = round(latest["voltage"], 4)
        if values:
            self.update(**values)

    def bump_power_epoch(self) -> None:
        with self._lock:
            self.data["power_epoch"] = int(self.data.get("power_epoch", 0)) + 1
            write_json_atomic(self.path, self.data)
