"""Linux i2c-dev (``/dev/i2c-N``) as an :class:`I2cBus`, through smbus2's ``i2c_rdwr``.

Enable it on a Raspberry Pi with ``dtparam=i2c_arm=on`` and ``modprobe i2c-dev``
(see docs/wiring.md). A device that does not acknowledge its address makes
the kernel return ENXIO/EREMOTEIO/EIO, mapped to :class:`I2cNackError`.
"""

from __future__ import annotations

import errno
import os

from harness.buses.i2c import I2cBus, I2cNackError
from harness.errors import BusError, TargetError

_NACK_ERRNOS = {errno.ENXIO, errno.EREMOTEIO, errno.EIO, errno.EAGAIN}


class I2cDevBus(I2cBus):
    """An I2C adapter behind the Linux i2c-dev driver.

    Args:
        path: ``/dev/i2c-1``.
    """

    def __init__(self, path: str) -> None:
        self.name = path
        from smbus2 import SMBus, i2c_msg

        self._msg = i2c_msg
        try:
            bus_no = int(os.path.basename(path).removeprefix("i2c-"))
        except ValueError:
            raise TargetError(f"{path}: not an i2c-dev device name (expected /dev/i2c-N)") from None
        if not os.path.exists(path):
            raise TargetError(f"{path}: no such I2C device; load i2c-dev and enable the bus "
                              "(dtparam=i2c_arm=on on a Raspberry Pi, see docs/wiring.md)")
        try:
            self._bus = SMBus(bus_no)
        except OSError as exc:
            raise TargetError(f"{path}: cannot open I2C device: {exc.strerror or exc}") from exc

    def _run(self, msg, what: str, addr: int) -> None:
        try:
            self._bus.i2c_rdwr(msg)
        except OSError as exc:
            text = f"{self.name}: {what} at address 0x{addr:02x}: {exc.strerror or exc}"
            if exc.errno in _NACK_ERRNOS:
                raise I2cNackError(text + " (no acknowledge)") from exc
            raise BusError(text) from exc

    def write(self, addr: int, data: bytes) -> None:
        self._run(self._msg.write(addr, bytes(data)), f"write of {len(data)} bytes", addr)

    def read(self, addr: int, n: int) -> bytes:
        msg = self._msg.read(addr, n)
        self._run(msg, f"read of {n} bytes", addr)
        return bytes(msg)

    def close(self) -> None:
        self._bus.close()
