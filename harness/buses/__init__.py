"""Buses that reach a discrete TPM: SPI and I2C, each behind one small ABC.

:class:`~harness.buses.spi.SpiBus` and :class:`~harness.buses.i2c.I2cBus`
are what the TCG PTP framing in :mod:`harness.tis` talks to. Backends: Linux
spidev and i2c-dev, FTDI FT232H/FT2232H adapters (pyftdi), and virtual buses
wired to a register-level virtual chip (:mod:`harness.chips`).
"""

from harness.buses.i2c import I2cBus, I2cNackError
from harness.buses.spi import SpiBus

__all__ = ["I2cBus", "I2cNackError", "SpiBus"]
