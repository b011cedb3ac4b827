"""The SPI slave of a virtual TPM (TCG PC Client PTP §6.4.6).

Per chip-select assertion: 4 header bytes in (MISO 0x00, the last one's bit 0
saying ready or wait), then wait-state bytes (0x00 ... 0x01) if the fault
plan asks for them, then the data phase. Transfers may be split anywhere:
the state machine follows the bytes, not the calls.
"""

from __future__ import annotations

from typing import Any

from harness.chips.faults import FaultPlan
from harness.chips.fifo import Backend, VirtualFifoChip
from harness.tis import registers as R

_HEADER, _WAIT, _DATA, _DONE = range(4)


class VirtualSpiChip(VirtualFifoChip):
    """A virtual TPM on a SPI chip select (e.g. ST33KTPM2X).

    A corruption fault flips a bit within the response's tag/size header on
    MISO: SPI carries no checksum, so that is the part a host can check.
    """

    bus = "spi"

    def __init__(self, tis: dict[str, Any], backend: Backend, faults: FaultPlan | None = None) -> None:
        super().__init__(tis, backend, faults, corrupt_span=(0, 6))
        self._decoded: dict[bytes, tuple[bool, int, bool, int, int]] = {}
        self._frame_reset()

    def _frame_reset(self) -> None:
        self._phase = _HEADER
        self._hdr = b""
        self._waits = 0
        self._data = b""
        self._pos = 0

    def _on_reset(self) -> None:
        self._frame_reset()

    def _decode(self, hdr: bytes) -> tuple[bool, int, bool, int, int]:
        """(read, size, valid address, locality, offset) of a header, cached."""
        decoded = self._decoded.get(hdr)
        if decoded is None:
            rel = (hdr[1] << 16 | hdr[2] << 8 | hdr[3]) - R.SPI_BASE
            decoded = self._decoded[bytes(hdr)] = (
                bool(hdr[0] & R.SPI_READ), (hdr[0] & 0x3F) + 1,
                0 <= rel < 5 * R.SPI_LOCALITY_STRIDE, rel >> 12, rel & 0xFFF)
        return decoded

    def _start_data(self) -> None:
        self._read, self._size, self._valid, self._loc, self._offset = self._decode(bytes(self._hdr))
        self._pos = 0
        if self._read:
            self._data = (self.read(self._loc, self._offset, self._size)
                          if self._valid else b"\xff" * self._size)
        else:
            self._data = bytearray()
        self._phase = _DATA

    def spi_transfer(self, mosi: bytes, cs_asserted_after: bool) -> bytes:
        """Clock ``mosi`` in while CS is asserted; CS is released after unless told."""
        faults = self.faults
        if faults.dead:
            self._frame_reset()
            return b"\xff" * len(mosi)
        n = len(mosi)
        if n == 4 and self._phase == _HEADER and not self._hdr:  # fast path: a whole header
            self._hdr = mosi
            self._waits = (faults.spi_wait_states()
                           if faults.wait_states or faults.storm_next or faults.storm_rate else 0)
            if self._waits:
                self._phase = _WAIT
                out = b"\0\0\0\0"
            else:
                self._start_data()
                out = b"\0\0\0\1"
            if not cs_asserted_after:
                self._frame_reset()
            return out
        if self._phase == _DATA and self._pos == 0 and n == self._size and not cs_asserted_after:
            # fast path: the whole data phase in one transfer
            if self._read:
                out = self._data
            else:
                out = b"\xff" * n
                if self._valid:
                    self.write(self._loc, self._offset, bytes(mosi))
            self._frame_reset()
            return out
        out = bytearray()
        i = 0
        while i < n:
            phase = self._phase
            if phase == _HEADER:
                take = min(4 - len(self._hdr), n - i)
                self._hdr += mosi[i:i + take]
                out += bytes(take)
                i += take
                if len(self._hdr) == 4:
                    self._waits = faults.spi_wait_states()
                    if self._waits:
                        self._phase = _WAIT
                    else:
                        out[-1] = R.SPI_WAIT_READY
                        self._start_data()
            elif phase == _WAIT:
                self._waits -= 1
                i += 1
                if self._waits:
                    out.append(0)
                else:
                    out.append(R.SPI_WAIT_READY)
                    self._start_data()
            elif phase == _DATA:
                take = min(self._size - self._pos, n - i)
                if self._read:
                    out += self._data[self._pos:self._pos + take]
                else:
                    self._data += mosi[i:i + take]
                    out += b"\xff" * take
                self._pos += take
                i += take
                if self._pos == self._size:
                    if not self._read and self._valid:
                        self.write(self._loc, self._offset, bytes(self._data))
                    self._phase = _DONE
            else:
                out.append(0xFF)
                i += 1
        if not cs_asserted_after:
            self._frame_reset()  # an unfinished write is discarded
        return bytes(out)
