"""The SPI bus seen by the TPM framing: full-duplex transfers with CS control."""

from __future__ import annotations

import abc


class SpiBus(abc.ABC):
    """A SPI master wired to one TPM chip select.

    A TPM SPI transaction (TCG PTP §6.4.6) is one chip-select assertion: a
    4-byte header, optional wait-state bytes, then the data. The framing
    decides after the header whether to clock wait states, so the chip select
    must stay asserted between :meth:`transfer` calls: ``end=False`` keeps it
    asserted after the call, ``end=True`` (default) releases it.

    Attributes:
        name: the device, for messages (``/dev/spidev0.1``, ``ftdi://ftdi:232h/1``).
        hz: clock frequency.
    """

    name: str = "spi"
    hz: int = 0

    @abc.abstractmethod
    def transfer(self, out: bytes, *, end: bool = True) -> bytes:
        """Clock ``out`` onto MOSI and return the bytes read on MISO.

        Args:
            out: bytes to send; the result has the same length.
            end: release chip select after this transfer.

        Raises:
            BusError: the controller reported an error.
        """

    def release(self) -> None:
        """Release chip select if a transfer left it asserted (abort a transaction)."""
        self.transfer(b"", end=True)

    def close(self) -> None:
        """Close the device."""
