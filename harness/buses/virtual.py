"""Virtual SPI and I2C buses: the master side wired to a simulated slave in-process.

The slave is a register-level virtual chip (:mod:`harness.chips`); bytes pass
through exactly as they would on the wire, so the TPM framing above cannot
tell a virtual bus from spidev or i2c-dev.
"""

from __future__ import annotations

from typing import Protocol

from harness.buses.i2c import I2cBus, I2cNackError
from harness.buses.spi import SpiBus


class SpiSlave(Protocol):
    def spi_transfer(self, mosi: bytes, cs_asserted_after: bool) -> bytes: ...


class I2cSlave(Protocol):
    address: int

    def i2c_write(self, data: bytes) -> bool: ...  # False = NACK

    def i2c_read(self, n: int) -> bytes | None: ...  # None = NACK


class VirtualSpiBus(SpiBus):
    """SPI master whose MISO comes from ``slave``."""

    def __init__(self, slave: SpiSlave, name: str = "spi+sim", hz: int = 10_000_000) -> None:
        self.slave, self.name, self.hz = slave, name, hz

    def transfer(self, out: bytes, *, end: bool = True) -> bytes:
        return self.slave.spi_transfer(out, not end)


class VirtualI2cBus(I2cBus):
    """I2C master with one slave at ``slave.address``; other addresses NACK."""

    def __init__(self, slave: I2cSlave, name: str = "i2c+sim") -> None:
        self.slave, self.name = slave, name

    def write(self, addr: int, data: bytes) -> None:
        if addr != self.slave.address or not self.slave.i2c_write(bytes(data)):
            raise I2cNackError(f"{self.name}: write at 0x{addr:02x} not acknowledged")

    def read(self, addr: int, n: int) -> bytes:
        data = self.slave.i2c_read(n) if addr == self.slave.address else None
        if data is None:
            raise I2cNackError(f"{self.name}: read at 0x{addr:02x} not acknowledged")
        return data
