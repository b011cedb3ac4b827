"""SPI framing of PTP FIFO register accesses (TCG PC Client PTP §6.4.6).

One transaction = one chip-select assertion: a 4-byte header (byte 0: bit 7
read/write, bits 5:0 size-1; bytes 1-3: the 24-bit address
``0xD40000 + locality * 0x1000 + offset``), then flow control: MISO bit 0 of
the last header byte is 1 when the TPM is ready, otherwise the host clocks
single wait-state bytes until a byte with bit 0 set, then 1-64 data bytes.
"""

from __future__ import annotations

import time

from harness.buses.spi import SpiBus
from harness.errors import BusError
from harness.tis.phy import TisPhy
from harness.tis.registers import REGISTER_NAMES, SPI_MAX_TRANSFER, spi_address, spi_header

#: Wait-state bytes clocked in one transaction before it is abandoned and retried.
DEFAULT_MAX_WAIT_STATES = 64


class SpiTisPhy(TisPhy):
    """PTP FIFO registers over a :class:`SpiBus`.

    Args:
        bus: the SPI bus with the TPM on its chip select.
        max_wait_states: wait-state bytes tolerated in one transaction; beyond
            that the transaction is abandoned (CS released), counted as a
            retry and started again, until timeout A.
    """

    max_transfer = SPI_MAX_TRANSFER

    def __init__(self, bus: SpiBus, max_wait_states: int = DEFAULT_MAX_WAIT_STATES) -> None:
        super().__init__()
        self.bus = bus
        self.name = f"spi {bus.name}"
        self.max_wait_states = max_wait_states
        self._headers: dict[tuple[bool, int, int, int], bytes] = {}

    def _header(self, read: bool, offset: int, size: int) -> bytes:
        key = (read, offset, size, self.locality)
        header = self._headers.get(key)
        if header is None:
            header = self._headers[key] = spi_header(read, size, spi_address(self.locality, offset))
        return header

    def _start(self, read: bool, offset: int, size: int) -> None:
        """Send the header and clock wait states until the TPM is ready (CS stays asserted)."""
        header = self._header(read, offset, size)
        c = self.counters
        transfer = self.bus.transfer
        deadline = 0.0
        while True:
            c.transactions += 1
            c.bytes += 4
            try:
                if transfer(header, end=False)[3] & 1:
                    return
                ready = waits = 0
                while not ready and waits < self.max_wait_states:
                    ready = transfer(b"\x00", end=False)[0] & 1
                    waits += 1
                c.bytes += waits
            except BusError:
                self._release()
                raise
            if ready:
                return
            self._release()
            c.retries += 1
            now = time.monotonic()
            if not deadline:
                deadline = now + self.access_timeout_s
            elif now > deadline:
                raise self._timeout("read of" if read else "write of",
                                    REGISTER_NAMES.get(offset, f"0x{offset:04x}"),
                                    f"the TPM held wait states (MISO bit 0 low) beyond "
                                    f"{self.max_wait_states} bytes in every try")
            time.sleep(0.0001)

    def _release(self) -> None:
        try:
            self.bus.release()
        except BusError:
            pass

    def read(self, offset: int, n: int) -> bytes:
        self._start(True, offset, n)
        self.counters.bytes += n
        try:
            return self.bus.transfer(bytes(n), end=True)
        except BusError:
            self._release()
            raise

    def write(self, offset: int, data: bytes) -> None:
        self._start(False, offset, len(data))
        self.counters.bytes += len(data)
        try:
            self.bus.transfer(data, end=True)
        except BusError:
            self._release()
            raise

    def close(self) -> None:
        self.bus.close()
