"""Rig set-up files: which instruments a rig has and where they answer.

A set-up is YAML::

    name: sim-lab
    instruments:
      chamber:
        driver: watlow-f4t                 # see rigs.drivers.DRIVERS
        address: modbus-tcp://10.0.0.5:502?unit=1&loop=1
        timeout_s: 2
      psu:
        driver: keysight-e36xx
        address: TCPIP::10.0.0.6::5025::SOCKET
        channel: 1
        nominal_v: 3.3
        current_limit_a: 0.5
        ovp_v: 4.2

An instrument with ``simulate: {...}`` is replaced by its simulator
(SIMULATION, see rigs.sims), started on a free local channel; its
``address`` is then ignored. Errors name the file and the field; an
instrument that cannot be reached or stays silent names itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.yaml_file import load_yaml
from rigs.drivers import DRIVERS, driver_class
from rigs.errors import InstrumentError, RigConfigError
from rigs.protocols.chamber import Chamber
from rigs.protocols.power_supply import PowerSupply
from rigs.safety import Envelope, GuardedChamber, GuardedSupply, SafetyError, finite
from rigs.sims.base import InstrumentSim

log = logging.getLogger(__name__)

_COMMON = {"driver", "address", "simulate", "timeout_s"}
_BY_ROLE = {"chamber": {"humidity"}, "supply": {"channel", "nominal_v", "current_limit_a", "ovp_v"}}


@dataclass(frozen=True)
class InstrumentSpec:
    name: str
    driver: str
    role: str
    address: str
    timeout_s: float = 2.0
    simulate: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RigSetup:
    name: str
    path: Path
    instruments: tuple[InstrumentSpec, ...]

    def by_role(self, role: str) -> InstrumentSpec | None:
        found = [i for i in self.instruments if i.role == role]
        return found[0] if found else None


def _spec(path: Path, name: str, raw: Any) -> InstrumentSpec:
    where = f"{path}: instruments.{name}"
    if not isinstance(raw, dict):
        raise RigConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    kind = raw.get("driver")
    if kind not in DRIVERS:
        raise RigConfigError(f"{where}.driver: {kind!r} is not a known driver; "
                             f"known: {', '.join(sorted(DRIVERS))}")
    role = DRIVERS[kind][2]
    unknown = set(raw) - _COMMON - _BY_ROLE[role]
    if unknown:
        raise RigConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    simulate = raw.get("simulate")
    if simulate is not None and not isinstance(simulate, dict):
        raise RigConfigError(f"{where}.simulate: expected a mapping of simulator options")
    address = raw.get("address")
    if simulate is None and (not isinstance(address, str) or not address):
        raise RigConfigError(f"{where}.address: required (a URI or VISA resource string)")
    timeout_s = finite(raw.get("timeout_s", 2.0), f"{where}.timeout_s")
    if not 0 < timeout_s <= 60:
        raise RigConfigError(f"{where}.timeout_s: must be in (0, 60] seconds")
    options = {k: v for k, v in raw.items() if k in _BY_ROLE[role]}
    for key in ("nominal_v", "current_limit_a", "ovp_v"):
        if key in options:
            options[key] = finite(options[key], f"{where}.{key}")
            if options[key] <= 0:
                raise SafetyError(f"{where}.{key}: {options[key]:g} must be above 0")
    if "channel" in options and (isinstance(options["channel"], bool)
                                 or not isinstance(options["channel"], int)
                                 or not 1 <= options["channel"] <= 16):
        raise RigConfigError(f"{where}.channel: expected an output number 1-16, "
                             f"got {options['channel']!r}")
    if "ovp_v" in options and "nominal_v" in options and options["nominal_v"] >= options["ovp_v"]:
        raise SafetyError(f"{where}: nominal_v {options['nominal_v']:g} V is not below "
                          f"ovp_v {options['ovp_v']:g} V (the supply would trip)")
    return InstrumentSpec(name, kind, role, str(address or ""), timeout_s, simulate, options)


def check_envelope(setup: "RigSetup", envelope: Envelope) -> None:
    """Refuse a set-up whose own settings (nominal voltage, current limit) leave ``envelope``."""
    spec = setup.by_role("supply")
    if spec is None:
        return
    where = f"{setup.path}: instruments.{spec.name}"
    if "nominal_v" in spec.options:
        envelope.voltage(spec.options["nominal_v"], f"{where}.nominal_v")
    if "current_limit_a" in spec.options:
        envelope.current(spec.options["current_limit_a"], f"{where}.current_limit_a")


def load_setup(path: str | Path) -> RigSetup:
    """Load and validate a rig set-up file."""
    path = Path(path)
    raw = load_yaml(path, "rig set-up", RigConfigError)
    if not isinstance(raw, dict) or not isinstance(raw.get("instruments"), dict):
        raise RigConfigError(f"{path}: expected a mapping with an 'instruments' mapping")
    unknown = set(raw) - {"name", "instruments", "description"}
    if unknown:
        raise RigConfigError(f"{path}: unknown top-level field(s) {', '.join(sorted(unknown))}")
    specs = tuple(_spec(path, n, r) for n, r in raw["instruments"].items())
    for role in ("chamber", "supply"):
        if sum(s.role == role for s in specs) > 1:
            raise RigConfigError(f"{path}: more than one {role}; a campaign drives one of each")
    return RigSetup(str(raw.get("name", path.stem)), path, specs)


class Rig:
    """The opened instruments of a set-up (and the simulators started for it).

    Every instrument is wrapped in the safety guard of ``envelope``
    (rigs.safety): nothing this rig is asked to do leaves it.
    """

    def __init__(self, setup: RigSetup, envelope: Envelope | None = None) -> None:
        self.setup = setup
        self.envelope = envelope or Envelope()
        check_envelope(setup, self.envelope)
        self.chamber: Chamber | None = None
        self.supply: PowerSupply | None = None
        self.sims: list[InstrumentSim] = []
        self.simulated: list[str] = []

    def open(self) -> "Rig":
        try:
            for spec in self.setup.instruments:
                inst = self._open_one(spec)
                if spec.role == "chamber":
                    self.chamber = inst
                else:
                    self.supply = inst
        except BaseException:
            self.close()
            raise
        return self

    def _open_one(self, spec: InstrumentSpec):
        address = spec.address
        if spec.simulate is not None:
            from rigs.sims.launcher import start_sim

            sim = start_sim(spec.driver, spec.name, spec.simulate)
            self.sims.append(sim)
            self.simulated.append(spec.name)
            address = sim.address
        cls, role = driver_class(spec.driver)
        try:
            if role == "chamber":
                extra = {"humidity": bool(spec.options["humidity"])} if "humidity" in spec.options else {}
                return GuardedChamber(cls(spec.name, address, timeout_s=spec.timeout_s, **extra),
                                      self.envelope)
            psu = GuardedSupply(cls(spec.name, address, model=spec.driver,
                                    channel=int(spec.options.get("channel", 1)),
                                    timeout_s=spec.timeout_s), self.envelope)
        except InstrumentError:
            raise
        except Exception as exc:  # a library's own error: name the instrument and address
            raise InstrumentError(spec.name, f"cannot open {spec.driver} at {address!r}: {exc}") from exc
        if "ovp_v" in spec.options:
            psu.set_ovp(float(spec.options["ovp_v"]))
        if "current_limit_a" in spec.options:
            psu.set_current_limit(float(spec.options["current_limit_a"]))
        return psu

    def nominal_voltage(self) -> float | None:
        spec = self.setup.by_role("supply")
        return float(spec.options["nominal_v"]) if spec and "nominal_v" in spec.options else None

    def close(self) -> None:
        for inst in (self.chamber, self.supply):
            if inst is not None:
                try:
                    inst.close()
                except Exception as exc:  # closing must go on for the others
                    log.warning("closing %s: %s", inst.name, exc)
        for sim in self.sims:
            sim.stop()
        self.sims.clear()

    def __enter__(self) -> "Rig":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
