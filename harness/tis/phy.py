"""The register-access seam between the FIFO protocol and a bus framing."""

from __future__ import annotations

import abc
import time

from harness.errors import TpmTimeoutError
from harness.transports.base import BusCounters

DEFAULT_ACCESS_TIMEOUT_S = 0.750  # TCG TIMEOUT_A


class TisPhy(abc.ABC):
    """Reads and writes PTP FIFO registers of the current locality on one bus.

    Every bus transaction, byte and retry is added to ``counters`` (the
    transport's, so the exchange log carries the bus cost of each command).

    Attributes:
        name: the bus and device, for messages.
        locality: the locality whose registers are accessed (0-4).
        max_transfer: largest FIFO chunk per transaction (64 on SPI).
        has_checksum: whether :meth:`checksum_matches` can verify FIFO data.
        access_timeout_s: bound on one register access, retries included (TIMEOUT_A).
    """

    name = "tis"
    max_transfer = 64
    has_checksum = False

    def __init__(self) -> None:
        self.counters = BusCounters()
        self.locality = 0
        self.access_timeout_s = DEFAULT_ACCESS_TIMEOUT_S

    @abc.abstractmethod
    def read(self, offset: int, n: int) -> bytes:
        """Read ``n`` bytes at FIFO register ``offset`` (see :mod:`harness.tis.registers`)."""

    @abc.abstractmethod
    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` at FIFO register ``offset``."""

    def setup(self) -> dict[str, object]:
        """Bus-specific set-up after the locality is held (I2C: guard times,
        checksum). Returns facts for ``describe()``."""
        return {}

    def checksum_matches(self, data: bytes) -> bool:
        """Whether the chip's data checksum equals the host's for ``data``."""
        return True

    def invalidate(self) -> None:
        """Forget cached bus state (after a chip reset or a bus error)."""

    def close(self) -> None:
        """Close the underlying bus."""

    def _deadline(self) -> float:
        return time.monotonic() + self.access_timeout_s

    def _timeout(self, what: str, register: str, detail: str) -> TpmTimeoutError:
        return TpmTimeoutError(
            f"{self.name}: {what} {register}: {detail} within timeout A "
            f"({self.access_timeout_s * 1000:.0f} ms)"
        )
