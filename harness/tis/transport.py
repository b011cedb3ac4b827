"""TPM commands over the PTP FIFO interface (TCG PC Client PTP §5.5, §6.5.2).

Per command: TPM_STS shows commandReady (else write commandReady and wait,
TIMEOUT_B) -> write the command into TPM_DATA_FIFO in chunks of at most
burstCount (and 64 bytes), re-reading TPM_STS for the next burstCount and
Expect -> Expect clear -> tpmGo -> poll dataAvail -> read the response in
burstCount chunks -> dataAvail clear -> commandReady. Recovery: a response
that fails its checksum (I2C TPM_DATA_CSUM) or a sanity check (tag, size,
dataAvail consistency; the only check SPI allows) is read again with
responseRetry; after a failed command the next starts with a fresh
commandReady; a bus error while polling TPM_STS is counted and the status
read again. Every bus transaction, byte and retry lands in ``self.counters``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable

from harness.errors import BusError, NotSupportedError, TpmTimeoutError, TransportError
from harness.tis import registers as R
from harness.tis.phy import TisPhy
from harness.tpm.durations import InterfaceTimeouts
from harness.tpm.wire import TPM_ST_NO_SESSIONS, TPM_ST_SESSIONS, TPM_ST_RSP_COMMAND
from harness.transports.base import Transport

MAX_BUFFER = 4096
RESPONSE_RETRIES = 3
_RSP_TAGS = (TPM_ST_NO_SESSIONS, TPM_ST_SESSIONS, TPM_ST_RSP_COMMAND)
_STS = struct.Struct("<I")


def _ANY(sts: int) -> bool:
    return True


class CorruptResponse(Exception):
    """Internal: the response read failed a check; read it again with responseRetry."""


class LocalityLost(TransportError):
    """The TPM no longer grants our locality: it was reset mid-command, or seized."""


class TisTransport(Transport):
    """A discrete TPM behind the PTP FIFO interface on SPI or I2C.

    Args:
        phy: register access on the bus (:class:`SpiTisPhy`, :class:`I2cTisPhy`).
        timeouts: TCG TIMEOUT_A-D from the chip profile (``profile.timeouts``).
        expect_vid: the vendor ID the chip must report in TPM_DID_VID, if known.
        power_cycle: how to remove and restore the chip's power, if a rig or
            a virtual chip can.
        verify_reads: read every response a second time (responseRetry) and
            accept it only when two reads agree: the only way to detect a
            corrupted response body on SPI, which has no checksum; costs about
            twice the read transactions.
        **kwargs: :class:`Transport` arguments (durations, log, name...).
    """

    def __init__(self, phy: TisPhy, timeouts: InterfaceTimeouts | None = None, *,
                 expect_vid: int | None = None,
                 power_cycle: Callable[[], None] | None = None,
                 verify_reads: bool = False, **kwargs) -> None:
        kwargs.setdefault("name", phy.name)
        super().__init__(**kwargs)
        self.phy = phy
        phy.counters = self.counters
        self.timeouts = timeouts or InterfaceTimeouts()
        phy.access_timeout_s = self.timeouts.a
        self.expect_vid = expect_vid
        self._power_cycle = power_cycle
        self.verify_reads = verify_reads
        self.can_power_cycle = power_cycle is not None
        self._held = False        # our locality is active
        self._dirty = True        # start the next command with a fresh commandReady
        self.info: dict[str, object] = {}
        self._hold_locality()
        self._identify()
        self.counters.take()  # the set-up's bus cost belongs to no command

    # -- registers ----------------------------------------------------------

    def _sts(self) -> int:
        return _STS.unpack(self.phy.read(R.TPM_STS, 4))[0]

    def _write_sts(self, bits: int) -> None:
        self.phy.write(R.TPM_STS, bytes((bits,)))

    def _access(self) -> int:
        return self.phy.read(R.TPM_ACCESS, 1)[0]

    def _identify(self) -> None:
        did_vid = _STS.unpack(self.phy.read(R.TPM_DID_VID, 4))[0]
        rid = self.phy.read(R.TPM_RID, 1)[0]
        vid, did = did_vid & 0xFFFF, did_vid >> 16
        if did_vid in (0, 0xFFFFFFFF):
            raise TransportError(f"{self.name}: TPM_DID_VID reads 0x{did_vid:08x}: no TPM answering")
        if self.expect_vid is not None and vid != self.expect_vid:
            raise TransportError(
                f"{self.name}: TPM_DID_VID vendor 0x{vid:04x} is not the profile's 0x{self.expect_vid:04x}"
            )
        self.info.update(vid=f"0x{vid:04x}", did=f"0x{did:04x}", rid=f"0x{rid:02x}")

    def _hold_locality(self) -> None:
        """Request use of ``self.locality`` and wait until it is active (TIMEOUT_A)."""
        self.phy.locality = self.locality
        self.phy.invalidate()
        access = self._access()
        if access & R.ACCESS_VALID and access & R.ACCESS_ACTIVE_LOCALITY and not access & R.ACCESS_READ_ZERO:
            self._held = True
        else:
            self.phy.write(R.TPM_ACCESS, bytes((R.ACCESS_REQUEST_USE,)))
            deadline = time.monotonic() + self.timeouts.a
            while True:
                access = self._access()
                if (access & (R.ACCESS_VALID | R.ACCESS_ACTIVE_LOCALITY) == (R.ACCESS_VALID | R.ACCESS_ACTIVE_LOCALITY)
                        and not access & R.ACCESS_READ_ZERO):
                    break
                if time.monotonic() > deadline:
                    raise TpmTimeoutError(
                        f"{self.name}: TPM_ACCESS of locality {self.locality} never showed "
                        f"activeLocality within timeout A ({self.timeouts.a * 1000:.0f} ms); "
                        f"last TPM_ACCESS={R.describe_access(access)}"
                    )
                time.sleep(0.0005)
            self._held = True
        self.info.update(self.phy.setup())

    def _release_locality(self) -> None:
        if self._held:
            self._held = False
            self.phy.write(R.TPM_ACCESS, bytes((R.ACCESS_ACTIVE_LOCALITY,)))

    def _check_locality(self, waiting_for: str, sts: int) -> None:
        """After an impossible TPM_STS, find out whether the locality was lost."""
        try:
            access = self._access()
        except BusError:
            return
        if access & R.ACCESS_VALID and not access & R.ACCESS_READ_ZERO and not access & R.ACCESS_ACTIVE_LOCALITY:
            self._held = False
            self._dirty = True
            raise LocalityLost(
                f"{self.name}: locality {self.locality} is no longer active while waiting for "
                f"{waiting_for} (TPM_STS={sts:#010x}, TPM_ACCESS={R.describe_access(access)}): "
                f"the TPM was reset or the locality seized; the command is lost"
            )

    def _status(self) -> int:
        """TPM_STS once valid (the common case costs one read), else polled up to TIMEOUT_C."""
        try:
            sts = _STS.unpack(self.phy.read(R.TPM_STS, 4))[0]
        except BusError:
            self.counters.retries += 1
        else:
            if sts & R.STS_VALID and not sts & R.STS_READ_ZERO:
                return sts
        return self._poll(_ANY, time.monotonic() + self.timeouts.c, "stsValid", "timeout C")

    def _poll(self, done: Callable[[int], bool], deadline: float, waiting_for: str,
              timeout_name: str) -> int:
        """Read TPM_STS until ``done(sts)`` (with stsValid), bounded by ``deadline``."""
        sleep = 0.0
        sts = -1
        bad = 0
        while True:
            try:
                sts = self._sts()
            except BusError:
                self.counters.retries += 1
                sts = -1
            else:
                if sts & R.STS_READ_ZERO or sts == 0xFFFFFFFF:
                    bad += 1
                    if bad == 1 or bad % 16 == 0:
                        self._check_locality(waiting_for, sts)
                elif sts & R.STS_VALID and done(sts):
                    return sts
            if time.monotonic() > deadline:
                last = "no valid read" if sts < 0 else R.describe_sts(sts)
                raise TpmTimeoutError(
                    f"{self.name}: TPM_STS never showed {waiting_for} within {timeout_name}; "
                    f"last TPM_STS={last}"
                )
            if sleep:
                time.sleep(sleep)
            sleep = min(sleep * 2 or 0.00005, 0.002)

    # -- the FIFO protocol ---------------------------------------------------

    def _send(self, command: bytes) -> None:
        try:
            self._send_fifo(command)
        except TransportError:
            self._dirty = True
            raise

    def _send_fifo(self, command: bytes) -> None:
        if not self._held:
            self._hold_locality()
        t = self.timeouts
        sts = self._status()
        if self._dirty or not sts & R.STS_COMMAND_READY:
            self._write_sts(R.STS_COMMAND_READY)
            sts = self._poll(lambda s: bool(s & R.STS_COMMAND_READY), time.monotonic() + t.b,
                             "commandReady", f"timeout B ({t.b * 1000:.0f} ms)")
        self._dirty = True  # until the response has been read
        total, pos = len(command), 0
        max_xfer = self.phy.max_transfer
        while pos < total:
            burst = (sts >> 8) & 0xFFFF
            if not burst:
                sts = self._poll(lambda s: bool((s >> 8) & 0xFFFF), time.monotonic() + t.d,
                                 "a burstCount above 0 while writing the command",
                                 f"timeout D ({t.d * 1000:.0f} ms)")
                burst = (sts >> 8) & 0xFFFF
            n = min(burst, max_xfer, total - pos)
            self.phy.write(R.TPM_DATA_FIFO, command[pos:pos + n])
            pos += n
            sts = self._status()
        if sts & R.STS_EXPECT:
            size = struct.unpack_from(">I", command, 2)[0]
            raise TransportError(
                f"{self.name}: TPM_STS still has Expect set after all {total} command bytes "
                f"(the command header declares {size} bytes); command not started"
            )
        if not self.phy.checksum_matches(command):
            self.counters.retries += 1
            raise BusError(f"{self.name}: TPM_DATA_CSUM of the command written differs from "
                           f"the host's CRC: bytes were corrupted on the bus; command not started")
        self._write_sts(R.STS_GO)

    def _recv(self, deadline: float) -> bytes:
        try:
            sts = self._poll(lambda s: bool(s & R.STS_DATA_AVAIL), deadline, "dataAvail",
                             "the command's duration bound")
            for attempt in range(RESPONSE_RETRIES + 1):
                try:
                    response = self._read_response(sts)
                    break
                except CorruptResponse as exc:
                    if attempt == RESPONSE_RETRIES:
                        raise TransportError(
                            f"{self.name}: response still corrupted after {RESPONSE_RETRIES} "
                            f"responseRetry reads ({exc})") from None
                    self.counters.retries += 1
                    self._write_sts(R.STS_RESPONSE_RETRY)
                    sts = self._poll(lambda s: bool(s & R.STS_DATA_AVAIL),
                                     time.monotonic() + self.timeouts.c,
                                     "dataAvail after responseRetry", "timeout C")
            if self.verify_reads:
                response = self._verify(response)
            self._write_sts(R.STS_COMMAND_READY)
            self._dirty = False
            return response
        except TransportError:
            self._dirty = True
            raise

    def _verify(self, response: bytes) -> bytes:
        """Read the response again until two consecutive reads agree."""
        previous = response
        for _ in range(RESPONSE_RETRIES + 1):
            self._write_sts(R.STS_RESPONSE_RETRY)
            sts = self._poll(lambda s: bool(s & R.STS_DATA_AVAIL), time.monotonic() + self.timeouts.c,
                             "dataAvail after responseRetry", "timeout C")
            try:
                again: bytes | None = self._read_response(sts)
            except CorruptResponse:
                again = None
            if again is not None and again == previous:
                return again
            self.counters.retries += 1
            if again is not None:
                previous = again
        raise TransportError(f"{self.name}: no two of {RESPONSE_RETRIES + 2} reads of the "
                             "response agreed (verify_reads): data corrupted on the bus")

    def _read_response(self, sts: int) -> bytes:
        buf = bytearray()
        expected = 0
        max_xfer = self.phy.max_transfer
        t = self.timeouts
        while True:
            burst = (sts >> 8) & 0xFFFF
            if not burst:
                sts = self._poll(lambda s: bool((s >> 8) & 0xFFFF) or not s & R.STS_DATA_AVAIL,
                                 time.monotonic() + t.d, "a burstCount above 0 while reading",
                                 f"timeout D ({t.d * 1000:.0f} ms)")
                burst = (sts >> 8) & 0xFFFF
                if not sts & R.STS_DATA_AVAIL:
                    raise CorruptResponse(f"dataAvail cleared after {len(buf)} of {expected or '?'} bytes")
            n = min(burst, max_xfer, (expected - len(buf)) if expected else max_xfer)
            buf += self.phy.read(R.TPM_DATA_FIFO, n)
            if not expected and len(buf) >= 10:
                tag, expected = struct.unpack_from(">HI", buf)
                if tag not in _RSP_TAGS or not 10 <= expected <= MAX_BUFFER or len(buf) > expected:
                    raise CorruptResponse(f"implausible header tag 0x{tag:04x} size {expected} "
                                          f"after {len(buf)} bytes read")
            sts = self._status()
            if expected and len(buf) >= expected:
                if sts & R.STS_DATA_AVAIL:
                    raise CorruptResponse(f"dataAvail still set after the declared {expected} bytes")
                break
            if not sts & R.STS_DATA_AVAIL:
                raise CorruptResponse(f"dataAvail cleared after {len(buf)} of {expected or '?'} bytes")
        if not self.phy.checksum_matches(bytes(buf)):
            raise CorruptResponse("TPM_DATA_CSUM differs from the host's CRC-16 of the data read")
        return bytes(buf)

    # -- optional operations -------------------------------------------------

    def set_locality(self, locality: int) -> None:
        if not 0 <= locality <= 4:
            raise ValueError(f"locality must be 0-4, got {locality}")
        if locality == self.locality and self._held:
            return
        self._release_locality()
        self.locality = locality
        self._dirty = True
        self._hold_locality()

    def cancel(self) -> None:
        """Set commandCancel in TPM_STS (PTP §6.3.2.5)."""
        self.phy.write(R.TPM_STS, _STS.pack(R.STS_COMMAND_CANCEL))

    def power_cycle(self) -> None:
        if self._power_cycle is None:
            raise NotSupportedError(f"{self.name}: no power control for this chip (configure a rig)")
        self._power_cycle()
        self._held = False
        self._dirty = True

    def _close(self) -> None:
        try:
            self._release_locality()
        except Exception:  # noqa: BLE001 - closing a dead bus must not mask the real error
            pass
        self.phy.close()
