"""The chip side of the PTP FIFO interface: registers, localities and the
command state machine (TCG PC Client PTP §5.5.2, Table 17), forwarding each
completed command to a backend (a real swtpm).

States: Idle -> (commandReady) Ready -> (FIFO write) Reception -> (tpmGo,
Expect clear) Execution -> Completion (dataAvail) -> (commandReady) Ready.
The bus framings (:mod:`spi_chip`, :mod:`i2c_chip`) call :meth:`read` and
:meth:`write` with the locality and FIFO register offset of each access.
"""

from __future__ import annotations

import struct
import threading
import time
from typing import Any, Protocol

from harness.chips.faults import FaultPlan
from harness.errors import HarnessError
from harness.tis import registers as R

IDLE, READY, RECEPTION, EXECUTION, COMPLETION = "idle", "ready", "reception", "execution", "completion"
MAX_COMMAND = 4096
#: TPM_RC_RETRY (TPM 2.0 Part 2 §6.6.3): the command was not executed; send it again.
RETRY_RESPONSE = struct.pack(">HII", 0x8001, 10, 0x922)
_U32 = struct.Struct("<I")
_BE32 = struct.Struct(">I")
_REG_SIZE = {R.TPM_ACCESS: 1, R.TPM_INT_ENABLE: 4, R.TPM_INT_VECTOR: 1, R.TPM_INT_STATUS: 4,
             R.TPM_INTF_CAPABILITY: 4, R.TPM_STS: 4, R.TPM_INTERFACE_ID: 4,
             R.TPM_DID_VID: 4, R.TPM_RID: 1}


class Backend(Protocol):
    def execute(self, command: bytes, locality: int) -> bytes: ...

    def power_cycle(self) -> None: ...

    def close(self) -> None: ...


class VirtualFifoChip:
    """Register-level PTP FIFO TPM.

    Args:
        tis: the profile's ``tis:`` section (vid, did, rid, burst_count, fifo_size...).
        backend: executes completed commands.
        faults: the fault plan, changeable at run time.
        corrupt_span: response byte range a corruption fault may hit
            (``None`` = anywhere).
    """

    def __init__(self, tis: dict[str, Any], backend: Backend, faults: FaultPlan | None = None,
                 corrupt_span: tuple[int, int] | None = None) -> None:
        self.vid = int(tis["vid"])
        self.did = int(tis["did"])
        self.rid = int(tis.get("rid", 0))
        self.burst = int(tis.get("burst_count", 32))
        self.fifo_size = int(tis.get("fifo_size", 64))
        self.backend = backend
        self.faults = faults or FaultPlan()
        self.corrupt_span = corrupt_span
        self.lock = threading.RLock()
        self.commands = 0
        self.resets = 0
        self.last_error = ""
        self._reset_state()

    def _reset_state(self) -> None:
        self.active: int | None = None
        self.pending: set[int] = set()
        self.int_enable = [0] * 5
        self.state = IDLE
        self.cmd = bytearray()
        self.cmd_dropped = 0
        self.rsp = b""
        self.rsp_pos = 0
        self.ready_at = 0.0

    # -- run-time control (environment coupling, tests) --------------------------

    def reset(self, power_cycle: bool = True) -> None:
        """A chip reset (TPM_RST#, brown-out): interface back to Idle, no locality
        active, the command in flight lost; with ``power_cycle`` the TPM itself
        restarts and needs TPM2_Startup."""
        with self.lock:
            self._reset_state()
            self.resets += 1
            self._on_reset()
            if power_cycle:
                self.backend.power_cycle()

    def _on_reset(self) -> None:
        """Framing state to clear on reset (overridden by the bus chips)."""

    # -- registers ---------------------------------------------------------------

    def _expect(self) -> bool:
        n = len(self.cmd) + self.cmd_dropped
        return n < 10 or n < _BE32.unpack_from(self.cmd, 2)[0]

    def sts(self, loc: int) -> int:
        if loc != self.active:
            return 0xFFFFFFFF
        state = self.state
        if state == EXECUTION and time.monotonic() >= self.ready_at:
            state = self.state = COMPLETION
        value = R.STS_VALID | R.STS_SELF_TEST_DONE | R.STS_FAMILY_TPM20
        burst = 0
        if state == READY:
            value |= R.STS_COMMAND_READY
            burst = self.burst
        elif state == RECEPTION:
            burst = self.burst
            if self._expect():
                value |= R.STS_EXPECT
        elif state == COMPLETION:
            left = len(self.rsp) - self.rsp_pos
            if left:
                value |= R.STS_DATA_AVAIL
                burst = min(self.burst, left)
        return value | burst << R.STS_BURST_SHIFT

    def _register(self, loc: int, base: int) -> int:
        if base == R.TPM_ACCESS:
            value = R.ACCESS_VALID | R.ACCESS_ESTABLISHMENT
            if loc == self.active:
                value |= R.ACCESS_ACTIVE_LOCALITY
                if self.pending:
                    value |= R.ACCESS_PENDING_REQUEST
            return value
        if base == R.TPM_STS:
            return self.sts(loc)
        if base == R.TPM_INT_ENABLE:
            return self.int_enable[loc]
        if base == R.TPM_INTF_CAPABILITY:
            return R.INTF_VERSION_TPM20 | R.INTF_TRANSFER_SIZE_64
        if base == R.TPM_INTERFACE_ID:
            return 0x0000_0000  # FIFO interface, TPM 2.0 (InterfaceType 0)
        if base == R.TPM_DID_VID:
            return self.did << 16 | self.vid
        if base == R.TPM_RID:
            return self.rid
        return 0xFFFFFFFF

    def read(self, loc: int, offset: int, n: int) -> bytes:
        """Bytes read at ``offset`` in locality ``loc`` (FIFO reads consume data)."""
        with self.lock:
            if offset == R.TPM_DATA_FIFO:
                return self._fifo_read(loc, n)
            if offset == R.TPM_STS and n <= 4:  # the hot path
                return _U32.pack(self.sts(loc))[:n]
            out = bytearray()
            pos = offset
            while len(out) < n:
                base = max((b for b in _REG_SIZE if b <= pos), default=-1)
                size = _REG_SIZE.get(base, 0)
                if base < 0 or pos >= base + size:
                    out.append(0xFF)
                    pos += 1
                    continue
                raw = _U32.pack(self._register(loc, base) & 0xFFFFFFFF)[:size]
                take = raw[pos - base:pos - base + n - len(out)]
                out += take
                pos += len(take)
            return bytes(out)

    def _fifo_read(self, loc: int, n: int) -> bytes:
        if loc != self.active or self.state != COMPLETION:
            return b"\xff" * n
        start = self.rsp_pos
        data = self.rsp[start:start + n]
        self.rsp_pos += len(data)
        data += b"\xff" * (n - len(data))
        span = (0, len(self.rsp)) if self.corrupt_span is None or self.faults.corrupt_body \
            else self.corrupt_span
        lo, hi = max(span[0], start), min(span[1], start + n)
        if lo < hi and self.faults.corrupt_now():
            flipped = bytearray(data)
            flipped[self.faults.rng.randrange(lo, hi) - start] ^= 0x40
            return bytes(flipped)
        return data

    def write(self, loc: int, offset: int, data: bytes) -> None:
        """A register write at ``offset`` in locality ``loc``."""
        with self.lock:
            if offset == R.TPM_DATA_FIFO:
                self._fifo_write(loc, data)
            elif R.TPM_STS <= offset < R.TPM_STS + 4:
                self._sts_write(loc, int.from_bytes(data[:4], "little") << 8 * (offset - R.TPM_STS))
            elif offset == R.TPM_ACCESS and data:
                self._access_write(loc, data[0])
            elif offset == R.TPM_INT_ENABLE:
                self.int_enable[loc] = int.from_bytes(data[:4].ljust(4, b"\0"), "little")

    def _access_write(self, loc: int, value: int) -> None:
        if value & R.ACCESS_ACTIVE_LOCALITY:       # relinquish
            if self.active == loc:
                self.active = min(self.pending) if self.pending else None
                self.pending.discard(self.active)
                if self.state in (READY, RECEPTION):
                    self.state = IDLE
            self.pending.discard(loc)
        elif value & R.ACCESS_REQUEST_USE:
            if self.active is None:
                self.active = loc
            elif self.active != loc:
                self.pending.add(loc)

    def _sts_write(self, loc: int, value: int) -> None:
        if loc != self.active:
            return
        if value & R.STS_COMMAND_READY:
            if self.state == EXECUTION:
                self.last_error = "command aborted by commandReady during execution"
            self.state = READY
            self.cmd = bytearray()
            self.cmd_dropped = 0
            self.rsp, self.rsp_pos = b"", 0
        elif value & R.STS_GO:
            if self.state == RECEPTION and not self._expect():
                self._execute(loc)
        elif value & R.STS_RESPONSE_RETRY:
            if self.state == COMPLETION:
                self.rsp_pos = 0

    def _fifo_write(self, loc: int, data: bytes) -> None:
        if loc != self.active:
            return
        if self.state == READY:
            self.state = RECEPTION
        if self.state == RECEPTION:
            # Bytes beyond the buffer are taken off the bus and dropped; the command
            # then reaches the TPM shorter than its commandSize (TPM_RC_COMMAND_SIZE).
            room = max(0, MAX_COMMAND - len(self.cmd))
            self.cmd += data[:room]
            self.cmd_dropped += len(data) - min(room, len(data))

    def _execute(self, loc: int) -> None:
        if self.faults.take_reset():
            self.reset(power_cycle=True)
            return
        self.state = EXECUTION
        self.ready_at = float("inf")
        if self.faults.retry_now():
            self.rsp, self.rsp_pos = RETRY_RESPONSE, 0
            self.ready_at = time.monotonic()
            return
        try:
            self.rsp = self.backend.execute(bytes(self.cmd), loc)
        except HarnessError as exc:  # the TPM behind us is gone: behave like a hung chip
            self.last_error = f"backend failed: {exc}"
            return
        self.commands += 1
        self.rsp_pos = 0
        self.ready_at = time.monotonic() + self.faults.exec_delay_s

    def data_checksum(self) -> int:
        """CRC-16/KERMIT of the command received (Reception) or the response (Completion)."""
        with self.lock:
            data = self.rsp if self.state in (EXECUTION, COMPLETION) else bytes(self.cmd)
            return R.crc16_kermit(data)

    def close(self) -> None:
        self.backend.close()
