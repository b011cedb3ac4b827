"""The I2C slave of a virtual TPM (TCG PC Client PTP §7.3).

A write message is ``[register, data...]`` (a lone register byte sets the
address for the next read); a read message returns the addressed register.
TPM_LOC_SEL selects the locality; TPM_I2C_INTERFACE_CAPABILITY declares the
guard time, which the chip enforces by NACKing a message that comes too
early; TPM_DATA_CSUM_ENABLE turns on TPM_DATA_CSUM (CRC-16/KERMIT, MSB first).
"""

from __future__ import annotations

import time
from typing import Any

from harness.chips.faults import FaultPlan
from harness.chips.fifo import Backend, VirtualFifoChip
from harness.tis import registers as R

_TO_FIFO = {v: k for k, v in R.I2C_REGISTER.items()}


class VirtualI2cChip(VirtualFifoChip):
    """A virtual TPM on I2C (e.g. SLB9673, ST33KTPM2X I2C).

    Args:
        address: the chip's 7-bit address (``tis.i2c_address``, default 0x2E).
        guard_us: guard time declared in TPM_I2C_INTERFACE_CAPABILITY and
            enforced (0 = none; real chips declare their own).
    """

    bus = "i2c"

    def __init__(self, tis: dict[str, Any], backend: Backend, faults: FaultPlan | None = None,
                 guard_us: int | None = None) -> None:
        super().__init__(tis, backend, faults, corrupt_span=None)
        self.address = int(tis.get("i2c_address", R.I2C_DEFAULT_ADDRESS))
        self.checksum_supported = bool(tis.get("i2c_checksum", True))
        self.guard_us = int(tis.get("i2c_guard_us", 0) if guard_us is None else guard_us)
        self.guard_violations = 0
        self._i2c_reset()

    def _i2c_reset(self) -> None:
        self.loc_sel = 0
        self.csum_enable = 0
        self._reg = 0
        self._last = 0.0

    def _on_reset(self) -> None:
        self._i2c_reset()

    @property
    def interface_capability(self) -> int:
        value = (self.guard_us & 0xFF) << R.I2C_GUARD_TIME_SHIFT
        if self.guard_us:
            value |= R.I2C_GUARD_WW | R.I2C_GUARD_WR | R.I2C_GUARD_RW | R.I2C_GUARD_RR
        return value

    def _nack(self) -> bool:
        if self.faults.dead or self.faults.nack_now():
            return True
        if self.guard_us:
            now = time.perf_counter()
            early = now - self._last < self.guard_us * 1e-6
            self._last = now
            if early:
                self.guard_violations += 1
                return True
        return False

    def i2c_write(self, data: bytes) -> bool:
        """One write message; False = NACK."""
        if self._nack() or not data:
            return False
        reg, payload = data[0], data[1:]
        self._reg = reg
        if not payload:
            return True
        with self.lock:
            if reg == R.TPM_I2C_LOC_SEL:
                if payload[0] > 4:
                    return False
                self.loc_sel = payload[0]
            elif reg == R.TPM_I2C_DATA_CSUM_ENABLE:
                self.csum_enable = payload[0] & 1 if self.checksum_supported else 0
            elif reg in _TO_FIFO:
                self.write(self.loc_sel, _TO_FIFO[reg], payload)
        return True

    def i2c_read(self, n: int) -> bytes | None:
        """One read message of the register last addressed; None = NACK."""
        if self._nack():
            return None
        reg = self._reg
        if reg in _TO_FIFO:
            return self.read(self.loc_sel, _TO_FIFO[reg], n)
        with self.lock:
            if reg == R.TPM_I2C_LOC_SEL:
                raw = bytes((self.loc_sel,))
            elif reg == R.TPM_I2C_INTERFACE_CAPABILITY:
                raw = self.interface_capability.to_bytes(4, "little")
            elif reg == R.TPM_I2C_DEVICE_ADDRESS:
                raw = self.address.to_bytes(2, "little")
            elif reg == R.TPM_I2C_DATA_CSUM_ENABLE:
                raw = bytes((self.csum_enable,))
            elif reg == R.TPM_I2C_DATA_CSUM:
                raw = self.data_checksum().to_bytes(2, "big") if self.csum_enable else b"\0\0"
            else:
                raw = b""
        return (raw + b"\xff" * n)[:n]
