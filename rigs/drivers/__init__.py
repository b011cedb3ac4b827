"""Instrument drivers, by stable kind name. Optional libraries load on use."""

from __future__ import annotations

import importlib

from rigs.errors import RigConfigError

#: kind -> (module, class, role)
DRIVERS: dict[str, tuple[str, str, str]] = {
    "watlow-f4t": ("rigs.drivers.watlow_f4t", "WatlowF4T", "chamber"),
    "espec": ("rigs.drivers.espec", "EspecChamber", "chamber"),
    "simserv": ("rigs.drivers.simserv", "SimservChamber", "chamber"),
    "keysight-e36xx": ("rigs.drivers.scpi_supply", "ScpiSupply", "supply"),
    "rigol-dp8xx": ("rigs.drivers.scpi_supply", "ScpiSupply", "supply"),
    "rs-hmp": ("rigs.drivers.scpi_supply", "ScpiSupply", "supply"),
}


def driver_class(kind: str) -> tuple[type, str]:
    """The driver class and role for ``kind``."""
    try:
        module, cls, role = DRIVERS[kind]
    except KeyError:
        raise RigConfigError(
            f"unknown instrument driver {kind!r}; known: {', '.join(sorted(DRIVERS))}") from None
    try:
        return getattr(importlib.import_module(module), cls), role
    except ImportError as exc:
        raise RigConfigError(
            f"driver {kind!r} needs {exc.name}: pip install 'tpm-hil[rigs]'") from exc
