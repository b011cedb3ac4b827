"""Linux spidev (``/dev/spidevB.C``) as a :class:`SpiBus`.

py-spidev opens the device and sets mode and clock; transfers go through the
``SPI_IOC_MESSAGE`` ioctl directly so that ``cs_change`` can keep chip select
asserted between the TPM header and its data (TCG PTP §6.4.6 wait states),
which py-spidev's ``xfer`` calls cannot express. Enable spidev on a Raspberry
Pi with ``dtparam=spi=on`` (see docs/wiring.md).
"""

from __future__ import annotations

import ctypes
import fcntl
import os

from harness.buses.spi import SpiBus
from harness.errors import BusError, TargetError

# struct spi_ioc_transfer (linux/spi/spidev.h), 32 bytes.
class _SpiIocTransfer(ctypes.Structure):
    _fields_ = [
        ("tx_buf", ctypes.c_uint64), ("rx_buf", ctypes.c_uint64), ("len", ctypes.c_uint32),
        ("speed_hz", ctypes.c_uint32), ("delay_usecs", ctypes.c_uint16),
        ("bits_per_word", ctypes.c_uint8), ("cs_change", ctypes.c_uint8),
        ("tx_nbits", ctypes.c_uint8), ("rx_nbits", ctypes.c_uint8),
        ("word_delay_usecs", ctypes.c_uint8), ("pad", ctypes.c_uint8),
    ]


_IOC_WRITE = 1
SPI_IOC_MESSAGE_1 = (_IOC_WRITE << 30) | (ctypes.sizeof(_SpiIocTransfer) << 16) | (ord("k") << 8)


class SpidevBus(SpiBus):
    """A TPM on a Linux spidev chip select.

    Args:
        path: ``/dev/spidev0.1`` (bus 0, chip select 1).
        hz: SPI clock; TPMs take up to 33-43 MHz, wiring usually less.
        mode: SPI mode (TPMs use mode 0).
    """

    def __init__(self, path: str, hz: int = 1_000_000, mode: int = 0) -> None:
        self.name, self.hz = path, hz
        try:
            import spidev
        except ImportError as exc:  # pragma: no cover - the bus extra installs it
            raise TargetError(f"{path}: py-spidev is not installed (pip install 'tpm-hil[bus]')") from exc
        base = os.path.basename(path)
        try:
            bus_no, cs_no = (int(x) for x in base.removeprefix("spidev").split("."))
        except ValueError:
            raise TargetError(f"{path}: not a spidev device name (expected /dev/spidevB.C)") from None
        if not os.path.exists(path):
            raise TargetError(f"{path}: no such SPI device; enable spidev "
                              "(dtparam=spi=on on a Raspberry Pi, see docs/wiring.md)")
        self._dev = spidev.SpiDev()
        try:
            self._dev.open(bus_no, cs_no)
            self._dev.mode = mode
            self._dev.max_speed_hz = hz
        except OSError as exc:
            raise TargetError(f"{path}: cannot open SPI device: {exc.strerror or exc}") from exc
        self._fd = self._dev.fileno()

    def transfer(self, out: bytes, *, end: bool = True) -> bytes:
        n = len(out)
        tx = ctypes.create_string_buffer(bytes(out), max(n, 1))
        rx = ctypes.create_string_buffer(max(n, 1))
        xfer = _SpiIocTransfer(
            tx_buf=ctypes.addressof(tx), rx_buf=ctypes.addressof(rx), len=n, speed_hz=self.hz,
            bits_per_word=8, cs_change=0 if end else 1,
        )
        try:
            fcntl.ioctl(self._fd, SPI_IOC_MESSAGE_1, xfer)
        except OSError as exc:
            raise BusError(f"{self.name}: SPI transfer of {n} bytes failed: {exc.strerror or exc}") from exc
        return rx.raw[:n]

    def close(self) -> None:
        self._dev.close()
