"""The I2C bus seen by the TPM framing: whole write and read messages."""

from __future__ import annotations

import abc

from harness.errors import BusError


class I2cNackError(BusError):
    """The addressed device did not acknowledge (absent, or busy: TCG PTP §7.3.1
    lets a TPM NACK while it cannot take a transfer)."""


class I2cBus(abc.ABC):
    """An I2C master. Each call is one message from START to STOP.

    Attributes:
        name: the device, for messages (``/dev/i2c-1``, ``ftdi://ftdi:232h/1``).
    """

    name: str = "i2c"

    @abc.abstractmethod
    def write(self, addr: int, data: bytes) -> None:
        """Write ``data`` to the 7-bit address ``addr``.

        Raises:
            I2cNackError: the address or a data byte was not acknowledged.
            BusError: any other bus failure.
        """

    @abc.abstractmethod
    def read(self, addr: int, n: int) -> bytes:
        """Read ``n`` bytes from the 7-bit address ``addr``.

        Raises:
            I2cNackError: the address was not acknowledged.
            BusError: any other bus failure.
        """

    def close(self) -> None:
        """Close the device."""
