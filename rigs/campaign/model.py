"""Campaign files: rig, target, points (temperature/voltage steps, dwell,
repetitions, events) and the pytest selections to run at each point.

Example::

    name: demo-thermal
    rig: ../setups/sim-lab.yaml          # relative to this file
    target: [spi+sim://st33ktpm, swtpm]  # first one whose kind is available
    suites:
      - suites/functional/test_random.py
    defaults: {dwell_s: 2, band_c: 1.0, stable_timeout_s: 120, voltage_v: 3.3}
    points:
      - {temperature_c: 25}
      - {temperature_c: 85, voltage_v: [2.97, 3.63]}      # a list expands into points
      - {temperature_c: 100, events: [{brown_out: {level_v: 1.8, duration_s: 0.05}}]}
    efp: {rated_c: [-40, 85], rated_voltage_pct: 10}
    coupling: {fault_model: fail-safe, seed: 1}          # SIMULATION, see harness.transports.coupled
    safety: {min_temperature_c: -70, max_temperature_c: 130, max_voltage_v: 4.0}
    telemetry: {interval_s: 1.0}
"""

from __future__ import annotations

import itertools
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.lab.names import safe_component
from harness.yaml_file import load_yaml
from rigs.errors import RigConfigError
from rigs.safety import Envelope, SafetyError

#: Most points a campaign may expand into (axes x repetitions, summed over entries).
MAX_POINTS = 5000

_TOP = {"name", "description", "rig", "target", "suites", "defaults", "points", "efp",
        "coupling", "safety", "telemetry", "point_timeout_s", "pytest_args"}
_POINT = {"temperature_c", "voltage_v", "dwell_s", "band_c", "stable_timeout_s", "repetitions",
          "events", "label", "suites", "ramp_c_per_min"}
_EVENTS = {"brown_out": {"level_v", "duration_s"}, "power_cycle": {"off_s"}}


@dataclass(frozen=True)
class Event:
    kind: str                     # brown_out | power_cycle
    params: dict[str, float]


@dataclass(frozen=True)
class Point:
    seq: int
    point_id: str
    temperature_c: float | None
    voltage_v: float | None
    dwell_s: float
    band_c: float
    stable_timeout_s: float
    repetition: int
    events: tuple[Event, ...]
    suites: tuple[str, ...]
    ramp_c_per_min: float | None = None

    def params(self) -> dict[str, Any]:
        return {"temperature_c": self.temperature_c, "voltage_v": self.voltage_v,
                "dwell_s": self.dwell_s, "repetition": self.repetition,
                "ramp_c_per_min": self.ramp_c_per_min,
                "events": [{"kind": e.kind, **e.params} for e in self.events],
                "suites": list(self.suites)}

    @property
    def label(self) -> str:
        parts = []
        if self.temperature_c is not None:
            parts.append(f"{self.temperature_c:g} °C")
        if self.voltage_v is not None:
            parts.append(f"{self.voltage_v:g} V")
        parts += [e.kind.replace("_", "-") for e in self.events]
        if self.repetition:
            parts.append(f"rep {self.repetition + 1}")
        return ", ".join(parts) or "ambient"


@dataclass(frozen=True)
class Campaign:
    name: str
    path: Path
    rig_path: Path
    targets: tuple[str, ...]
    points: tuple[Point, ...]
    rated_c: tuple[float, float] = (-40.0, 85.0)
    rated_voltage_pct: float = 10.0
    fault_model: str = "fail-safe"
    seed: int = 1
    coupling: bool = True
    min_temperature_c: float = -70.0
    max_temperature_c: float = 150.0
    max_voltage_v: float = 6.0
    max_current_a: float | None = None
    telemetry_interval_s: float = 1.0
    point_timeout_s: float = 900.0
    pytest_args: tuple[str, ...] = field(default_factory=tuple)


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, msg: str) -> RigConfigError:
        return RigConfigError(f"{self.path}: {where}: {msg}")

    def number(self, raw: Any, where: str, lo: float | None = None, hi: float | None = None) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise self.fail(where, f"expected a number, got {raw!r}")
        if not math.isfinite(raw):
            raise self.fail(where, f"{raw!r} is not a finite number")
        if (lo is not None and raw < lo) or (hi is not None and raw > hi):
            raise self.fail(where, f"{raw} is outside [{lo}, {hi}]")
        return float(raw)

    def mapping(self, raw: Any, where: str, allowed: set[str]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(where, f"expected a mapping, got {type(raw).__name__}")
        unknown = set(raw) - allowed
        if unknown:
            raise self.fail(where, f"unknown field(s) {', '.join(sorted(unknown))}; "
                            f"allowed: {', '.join(sorted(allowed))}")
        return raw

    def selections(self, raw: Any, where: str) -> tuple[str, ...]:
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not raw or not all(isinstance(s, str) and s for s in raw):
            raise self.fail(where, "expected a non-empty list of pytest selections (strings)")
        for text in raw:
            try:
                words = shlex.split(text)
            except ValueError as exc:  # unbalanced quotes, a trailing backslash
                raise self.fail(where, f"{text!r}: cannot split into arguments ({exc})") from None
            if any(w in ("-n", "--numprocesses", "--dist") or w.startswith(("-n", "--numprocesses=", "--dist="))
                   and not w.startswith("--no") for w in words):
                # xdist names its workers gw0, gw1... at every point; exchanges are keyed by
                # (worker, seq), so a second point's rows would collide with the first's.
                raise self.fail(where, f"{text!r}: pytest-xdist (-n) is not supported inside a "
                                "campaign point; run points' suites serially")
        return tuple(raw)


def _events(r: _Reader, raw: Any, where: str) -> tuple[Event, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise r.fail(where, "expected a list of events")
    out = []
    for i, item in enumerate(raw):
        w = f"{where}[{i}]"
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            raise r.fail(w, "expected one of brown_out: {level_v, duration_s} or power_cycle: {off_s}")
        (kind, params), = item.items()
        if kind not in _EVENTS:
            raise r.fail(w, f"unknown event {kind!r}; known: {', '.join(_EVENTS)}")
        params = r.mapping(params, f"{w}.{kind}", _EVENTS[kind])
        if kind == "brown_out" and set(params) != _EVENTS[kind]:
            raise r.fail(f"{w}.brown_out", "needs level_v and duration_s")
        out.append(Event(kind, {k: r.number(v, f"{w}.{kind}.{k}", 0) for k, v in params.items()}))
    return tuple(out)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _expand(r: _Reader, raw_points: Any, defaults: dict[str, Any], suites: tuple[str, ...]) -> tuple[Point, ...]:
    if not isinstance(raw_points, list) or not raw_points:
        raise r.fail("points", "expected a non-empty list of points")
    points: list[Point] = []
    total = 0
    for i, raw in enumerate(raw_points):
        w = f"points[{i}]"
        own = r.mapping(raw, w, _POINT)
        spec = {**defaults, **own}

        def at(key: str, w=w, own=own) -> str:   # where the value was written
            return f"{w}.{key}" if key in own or key not in defaults else f"defaults.{key}"

        sizes = [len(_as_list(spec.get("temperature_c"))), len(_as_list(spec.get("voltage_v")))]
        reps = spec.get("repetitions", 1)
        total += sizes[0] * sizes[1] * (reps if isinstance(reps, int) and reps > 0 else 1)
        if total > MAX_POINTS:
            raise r.fail(w, f"the campaign expands to more than {MAX_POINTS} points "
                         f"(temperatures x voltages x repetitions); split it into several campaigns")
        temps = [None if t is None else r.number(t, at("temperature_c"), -100, 200)
                 for t in _as_list(spec.get("temperature_c"))]
        volts = [None if v is None else r.number(v, at("voltage_v"), 0, 60)
                 for v in _as_list(spec.get("voltage_v"))]
        reps = int(r.number(spec.get("repetitions", 1), at("repetitions"), 1, 1000))
        events = _events(r, spec.get("events"), at("events"))
        sel = r.selections(spec["suites"], at("suites")) if "suites" in spec else suites
        for t, v, rep in itertools.product(temps, volts, range(reps)):
            seq = len(points)
            pid = f"p{seq:03d}" + (f"_T{t:g}" if t is not None else "") + \
                  (f"_V{v:g}" if v is not None else "") + (f"_r{rep}" if reps > 1 else "")
            points.append(Point(seq, pid, t, v,
                                r.number(spec.get("dwell_s", 0), at("dwell_s"), 0, 86400),
                                r.number(spec.get("band_c", 1.0), at("band_c"), 0.01, 50),
                                r.number(spec.get("stable_timeout_s", 1800), at("stable_timeout_s"), 1),
                                rep, events, sel,
                                None if spec.get("ramp_c_per_min") is None else
                                r.number(spec["ramp_c_per_min"], at("ramp_c_per_min"), 0.01, 1000)))
    return tuple(points)


def load_campaign(path: str | Path) -> Campaign:
    """Load and validate a campaign file; errors name the file and field."""
    path = Path(path)
    raw = load_yaml(path, "campaign", RigConfigError)
    r = _Reader(path)
    top = r.mapping(raw, "top level", _TOP)
    for key in ("name", "rig", "target", "suites", "points"):
        if key not in top:
            raise r.fail(key, "required field is missing")
    try:
        name = safe_component(top["name"], "campaign name")
    except HarnessError as exc:
        raise r.fail("name", str(exc)) from None
    rig_path = (path.parent / str(top["rig"])).resolve()
    if not rig_path.is_file():
        raise r.fail("rig", f"rig set-up {rig_path} does not exist")
    targets = tuple(_as_list(top["target"]))
    if not targets or not all(isinstance(t, str) and t for t in targets):
        raise r.fail("target", "expected a target string or a list of them")
    suites = r.selections(top["suites"], "suites")
    defaults = r.mapping(top.get("defaults"), "defaults", _POINT - {"label", "events"})
    efp = r.mapping(top.get("efp"), "efp", {"rated_c", "rated_voltage_pct"})
    rated = efp.get("rated_c", [-40, 85])
    if not isinstance(rated, list) or len(rated) != 2:
        raise r.fail("efp.rated_c", "expected [low, high] in °C")
    coupling = r.mapping(top.get("coupling"), "coupling", {"enabled", "fault_model", "seed"})
    if coupling.get("fault_model", "fail-safe") not in ("fail-safe", "corrupting"):
        raise r.fail("coupling.fault_model", "expected fail-safe or corrupting")
    safety = r.mapping(top.get("safety"), "safety",
                       {"min_temperature_c", "max_temperature_c", "max_voltage_v", "max_current_a"})
    telemetry = r.mapping(top.get("telemetry"), "telemetry", {"interval_s"})
    campaign = Campaign(
        name=name, path=path.resolve(), rig_path=rig_path, targets=targets,
        points=_expand(r, top["points"], defaults, suites),
        rated_c=(r.number(rated[0], "efp.rated_c[0]"), r.number(rated[1], "efp.rated_c[1]")),
        rated_voltage_pct=r.number(efp.get("rated_voltage_pct", 10), "efp.rated_voltage_pct", 0, 100),
        fault_model=coupling.get("fault_model", "fail-safe"),
        seed=int(r.number(coupling.get("seed", 1), "coupling.seed")),
        coupling=bool(coupling.get("enabled", True)),
        min_temperature_c=r.number(safety.get("min_temperature_c", -70), "safety.min_temperature_c"),
        max_temperature_c=r.number(safety.get("max_temperature_c", 150), "safety.max_temperature_c"),
        max_voltage_v=r.number(safety.get("max_voltage_v", 6.0), "safety.max_voltage_v", 0),
        max_current_a=(None if safety.get("max_current_a") is None else
                       r.number(safety["max_current_a"], "safety.max_current_a", 0)),
        telemetry_interval_s=r.number(telemetry.get("interval_s", 1.0), "telemetry.interval_s", 0.05, 3600),
        point_timeout_s=r.number(top.get("point_timeout_s", 900), "point_timeout_s", 1),
        pytest_args=tuple(r.selections(top["pytest_args"], "pytest_args")) if "pytest_args" in top else (),
    )
    try:
        check_safety(campaign)
    except SafetyError as exc:
        raise r.fail("safety", str(exc)) from None
    return campaign


def envelope(campaign: Campaign) -> Envelope:
    """The campaign's safety envelope (what its rig is wrapped in)."""
    return Envelope(campaign.min_temperature_c, campaign.max_temperature_c,
                    campaign.max_voltage_v, campaign.max_current_a)


def check_safety(campaign: Campaign) -> None:
    """Every value the campaign will command, checked against its envelope.

    Points (temperature, voltage, ramp), brown-out levels and durations,
    power-cycle off times, and the rig's own nominal voltage and current limit.

    Raises:
        SafetyError: naming the point and value.
    """
    from rigs.setup import check_envelope, load_setup

    env = envelope(campaign)
    check_envelope(load_setup(campaign.rig_path), env)
    for p in campaign.points:
        where = f"point {p.point_id}"
        if p.temperature_c is not None:
            env.temperature(p.temperature_c, f"{where} temperature_c")
        if p.voltage_v is not None:
            env.voltage(p.voltage_v, f"{where} voltage_v")
        if p.ramp_c_per_min is not None:
            env.ramp(p.ramp_c_per_min, f"{where} ramp_c_per_min")
        for e in p.events:
            if e.kind == "brown_out":
                env.voltage(e.params["level_v"], f"{where} brown_out.level_v")
                env.seconds(e.params["duration_s"], f"{where} brown_out.duration_s")
            else:
                env.seconds(e.params.get("off_s", 0.5), f"{where} power_cycle.off_s")


def out_of_range(campaign: Campaign, point: Point, nominal_v: float | None) -> bool:
    """True when the point is beyond the rated temperature range or supply margin."""
    lo, hi = campaign.rated_c
    if point.temperature_c is not None and not lo <= point.temperature_c <= hi:
        return True
    if point.voltage_v is not None and nominal_v:
        return abs(point.voltage_v / nominal_v - 1) * 100 > campaign.rated_voltage_pct + 1e-9
    return False


def stressed(campaign: Campaign, point: Point, nominal_v: float | None) -> bool:
    """Out of range, or with a brown-out / power cycle: failures there may be fail-safe behaviour."""
    return out_of_range(campaign, point, nominal_v) or bool(point.events)
