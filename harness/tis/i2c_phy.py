"""I2C framing of PTP FIFO register accesses (TCG PC Client PTP §7.3).

A register write is one message ``[register address, data...]``; a read is a
message ``[register address]`` followed by a read message. Registers have
their own one-byte addresses (``registers.I2C_REGISTER``); the locality is
selected by writing TPM_LOC_SEL. The TPM may NACK while busy: the host waits
a guard time and retries, bounded. Guard times between messages come from
TPM_I2C_INTERFACE_CAPABILITY (250 µs until it has been read). With
TPM_DATA_CSUM_ENABLE set, TPM_DATA_CSUM holds the CRC-16/KERMIT of the FIFO
data of the current command or response, sent MSB first.
"""

from __future__ import annotations

import time

from harness.buses.i2c import I2cBus, I2cNackError
from harness.errors import BusError, NotSupportedError, TargetError
from harness.tis import registers as R
from harness.tis.phy import TisPhy

#: Minimum pause after a NACK before retrying (as Linux tpm_tis_i2c: 250 µs).
NACK_GUARD_S = 250e-6
_WRITE, _READ = 0, 1


class I2cTisPhy(TisPhy):
    """PTP FIFO registers over an :class:`I2cBus`.

    Args:
        bus: the I2C bus.
        address: the TPM's 7-bit address (TCG default 0x2E).
        checksum: enable TPM_DATA_CSUM verification when the chip supports it.
        max_nacks: NACKs tolerated for one message before giving up (also
            bounded by timeout A).
    """

    max_transfer = 64
    has_checksum = False

    def __init__(self, bus: I2cBus, address: int = R.I2C_DEFAULT_ADDRESS,
                 checksum: bool = True, max_nacks: int = 64) -> None:
        super().__init__()
        self.bus, self.address = bus, address
        self.name = f"i2c {bus.name} addr 0x{address:02x}"
        self.want_checksum = checksum
        self.max_nacks = max_nacks
        self.guard_s = R.I2C_DEFAULT_GUARD_US * 1e-6
        self.guard_flags = R.I2C_GUARD_WW | R.I2C_GUARD_WR | R.I2C_GUARD_RW | R.I2C_GUARD_RR
        self._last_kind = -1
        self._last_end = 0.0
        self._selected: int | None = None

    # -- messages with guard time and NACK retry ------------------------------

    def _guard(self, kind: int) -> None:
        if self._last_kind < 0:
            return
        flag = ((R.I2C_GUARD_WW, R.I2C_GUARD_WR), (R.I2C_GUARD_RW, R.I2C_GUARD_RR))[self._last_kind][kind]
        if self.guard_flags & flag:
            remaining = self._last_end + self.guard_s - time.perf_counter()
            if remaining > 0:
                time.sleep(remaining)

    def _message(self, kind: int, payload: bytes | int, register: int) -> bytes | None:
        c = self.counters
        nacks = 0
        deadline = 0.0
        while True:
            if self.guard_s:
                self._guard(kind)
            c.transactions += 1
            try:
                if kind == _WRITE:
                    self.bus.write(self.address, payload)  # type: ignore[arg-type]
                    c.bytes += 1 + len(payload)  # type: ignore[arg-type]
                    out = None
                else:
                    out = self.bus.read(self.address, payload)  # type: ignore[arg-type]
                    c.bytes += 1 + len(out)
                if self.guard_s:
                    self._last_kind, self._last_end = kind, time.perf_counter()
                return out
            except I2cNackError as exc:
                c.bytes += 1
                c.retries += 1
                nacks += 1
                self._last_kind, self._last_end = kind, time.perf_counter()
                now = time.monotonic()
                if not deadline:
                    deadline = now + self.access_timeout_s
                if nacks >= self.max_nacks or now > deadline:
                    name = R.I2C_REGISTER_NAMES.get(register, f"0x{register:02x}")
                    raise I2cNackError(
                        f"{self.name}: {'write to' if kind == _WRITE else 'read of'} {name} "
                        f"(register 0x{register:02x}) not acknowledged after {nacks} tries "
                        f"over {self.access_timeout_s * 1000:.0f} ms: no TPM answering at "
                        f"address 0x{self.address:02x} (TCG default 0x2E), or it stays busy"
                    ) from exc
                time.sleep(max(NACK_GUARD_S, self.guard_s))

    def _select(self) -> None:
        if self._selected != self.locality:
            self._message(_WRITE, bytes((R.TPM_I2C_LOC_SEL, self.locality)), R.TPM_I2C_LOC_SEL)
            self._selected = self.locality

    def read_register(self, register: int, n: int) -> bytes:
        """Read ``n`` bytes at the I2C register address ``register``."""
        self._message(_WRITE, bytes((register,)), register)
        data = self._message(_READ, n, register)
        assert data is not None
        return data

    def write_register(self, register: int, data: bytes) -> None:
        self._message(_WRITE, bytes((register,)) + bytes(data), register)

    # -- TisPhy -----------------------------------------------------------------

    def _map(self, offset: int) -> int:
        try:
            return R.I2C_REGISTER[offset]
        except KeyError:
            name = R.REGISTER_NAMES.get(offset, f"0x{offset:04x}")
            raise NotSupportedError(f"{self.name}: {name} has no I2C register") from None

    def read(self, offset: int, n: int) -> bytes:
        register = self._map(offset)
        self._select()
        return self.read_register(register, n)

    def write(self, offset: int, data: bytes) -> None:
        register = self._map(offset)
        self._select()
        self.write_register(register, data)

    def setup(self) -> dict[str, object]:
        """Read TPM_I2C_INTERFACE_CAPABILITY (guard times) and enable TPM_DATA_CSUM."""
        try:
            caps = int.from_bytes(self.read_register(R.TPM_I2C_INTERFACE_CAPABILITY, 4), "little")
        except I2cNackError as exc:
            raise TargetError(str(exc)) from exc
        self.guard_s = ((caps & R.I2C_GUARD_TIME_MASK) >> R.I2C_GUARD_TIME_SHIFT) * 1e-6
        self.guard_flags = caps & (R.I2C_GUARD_WW | R.I2C_GUARD_WR | R.I2C_GUARD_RW | R.I2C_GUARD_RR)
        self.has_checksum = False
        if self.want_checksum:
            self.write_register(R.TPM_I2C_DATA_CSUM_ENABLE, b"\x01")
            self.has_checksum = self.read_register(R.TPM_I2C_DATA_CSUM_ENABLE, 1)[0] & 1 == 1
        return {"i2c_interface_capability": f"0x{caps:08x}",
                "guard_time_us": round(self.guard_s * 1e6), "checksum": self.has_checksum}

    def checksum_matches(self, data: bytes) -> bool:
        if not self.has_checksum:
            return True
        raw = self.read_register(R.TPM_I2C_DATA_CSUM, 2)
        return (raw[0] << 8 | raw[1]) == R.crc16_kermit(data)

    def invalidate(self) -> None:
        self._selected = None

    def close(self) -> None:
        self.bus.close()


__all__ = ["I2cTisPhy", "BusError"]
