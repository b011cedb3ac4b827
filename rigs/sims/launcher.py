"""Start the simulator matching a driver kind (SIMULATION), from set-up options."""

from __future__ import annotations

from typing import Any

from rigs.errors import RigConfigError
from rigs.sims.base import InstrumentSim
from rigs.sims.physics import SupplyPlant, ThermalPlant

_THERMAL_KEYS = {"temperature_c", "ramp_c_per_min", "natural_freq", "damping", "noise_c",
                 "time_scale", "humidity_pct", "seed"}
_SUPPLY_KEYS = {"load_ohm", "load_a", "noise_v", "noise_a", "seed"}


def _pick(options: dict[str, Any], allowed: set[str], instrument: str) -> dict[str, Any]:
    unknown = set(options) - allowed
    if unknown:
        raise RigConfigError(f"instrument {instrument!r}: unknown simulate option(s) "
                             f"{', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}")
    return dict(options)


def start_sim(kind: str, instrument: str, options: dict[str, Any]) -> InstrumentSim:
    """Start and return the simulator for driver ``kind``; its ``address`` is set."""
    if kind in ("watlow-f4t", "espec", "simserv"):
        plant = ThermalPlant(**_pick(options, _THERMAL_KEYS, instrument))
        if kind == "watlow-f4t":
            from rigs.sims.watlow_sim import WatlowF4TSim
            return WatlowF4TSim([plant]).start()
        if kind == "espec":
            from rigs.sims.espec_sim import EspecSim
            return EspecSim(plant).start()
        from rigs.sims.simserv_sim import SimservSim
        return SimservSim(plant).start()
    from rigs.sims.scpi_supply_sim import IDN, ScpiSupplySim
    if kind in IDN:
        plant_opts = _pick(options, _SUPPLY_KEYS, instrument)
        return ScpiSupplySim(kind, plants=[SupplyPlant(**plant_opts) for _ in range(3)]).start()
    raise RigConfigError(f"instrument {instrument!r}: no simulator for driver {kind!r}")
