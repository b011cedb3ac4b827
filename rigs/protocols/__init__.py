"""The seams between campaigns and instruments: one small ABC per file."""

from rigs.protocols.chamber import Chamber, ChamberReading
from rigs.protocols.power_supply import PowerSupply, SupplyReading

__all__ = ["Chamber", "ChamberReading", "PowerSupply", "SupplyReading"]
