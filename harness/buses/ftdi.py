"""FTDI FT232H / FT2232H (MPSSE) adapters as SPI or I2C masters, through pyftdi.

URLs are pyftdi's: ``ftdi://ftdi:232h/1`` (first FT232H), ``ftdi://ftdi:2232h/1``
(FT2232H port A), or with a serial number ``ftdi://ftdi:232h:FT1234/1``.
Wiring (AD0 SCK/SCL, AD1 MOSI/SDA, AD2 MISO/SDA, AD3 CS0) is in docs/wiring.md.
"""

from __future__ import annotations

from harness.buses.i2c import I2cBus, I2cNackError
from harness.buses.spi import SpiBus
from harness.errors import BusError, TargetError


def _open_error(url: str, exc: Exception) -> TargetError:
    return TargetError(f"{url}: cannot open FTDI adapter: {exc} "
                       "(is it plugged in, and is the udev rule / ftdi_sio unbinding in place?)")


class FtdiSpiBus(SpiBus):
    """A TPM on an FTDI MPSSE SPI port.

    Args:
        url: pyftdi device URL.
        hz: SPI clock (FT232H up to 30 MHz).
        cs: chip select line (0 = AD3).
    """

    def __init__(self, url: str, hz: int = 1_000_000, cs: int = 0) -> None:
        from pyftdi.spi import SpiController

        self.name, self.hz = url, hz
        self._ctrl = SpiController(cs_count=cs + 1)
        try:
            self._ctrl.configure(url)
        except Exception as exc:  # pyftdi raises USBError, FtdiError, ValueError...
            raise _open_error(url, exc) from exc
        self._port = self._ctrl.get_port(cs=cs, freq=hz, mode=0)
        self._selected = False

    def transfer(self, out: bytes, *, end: bool = True) -> bytes:
        try:
            if not out:  # release (or keep) chip select without clocking
                self._port.exchange(b"", 0, start=not self._selected, stop=end)
                self._selected = not end
                return b""
            data = self._port.exchange(out, len(out), start=not self._selected, stop=end,
                                       duplex=True)
        except Exception as exc:
            raise BusError(f"{self.name}: SPI transfer failed: {exc}") from exc
        self._selected = not end
        return bytes(data)

    def close(self) -> None:
        self._ctrl.terminate()


class FtdiI2cBus(I2cBus):
    """An FTDI MPSSE port as I2C master (AD0 SCL, AD1+AD2 tied as SDA).

    Args:
        url: pyftdi device URL.
        hz: I2C clock (TPMs: 100 kHz, 400 kHz, up to 1 MHz).
    """

    def __init__(self, url: str, hz: int = 400_000) -> None:
        from pyftdi.i2c import I2cController

        self.name = url
        self._ctrl = I2cController()
        try:
            self._ctrl.configure(url, frequency=hz)
        except Exception as exc:
            raise _open_error(url, exc) from exc

    def write(self, addr: int, data: bytes) -> None:
        from pyftdi.i2c import I2cNackError as FtdiNack

        try:
            self._ctrl.write(addr, bytes(data))
        except FtdiNack as exc:
            raise I2cNackError(f"{self.name}: write at 0x{addr:02x} not acknowledged") from exc
        except Exception as exc:
            raise BusError(f"{self.name}: I2C write at 0x{addr:02x} failed: {exc}") from exc

    def read(self, addr: int, n: int) -> bytes:
        from pyftdi.i2c import I2cNackError as FtdiNack

        try:
            return bytes(self._ctrl.read(addr, n))
        except FtdiNack as exc:
            raise I2cNackError(f"{self.name}: read at 0x{addr:02x} not acknowledged") from exc
        except Exception as exc:
            raise BusError(f"{self.name}: I2C read at 0x{addr:02x} failed: {exc}") from exc

    def close(self) -> None:
        self._ctrl.terminate()
