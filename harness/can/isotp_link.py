"""ISO 15765-2 (ISO-TP) over any python-can interface, as a :class:`MessageLink`.

The can-isotp package does segmentation, flow control, STmin and block size;
this module opens the python-can bus (socketcan, pcan, kvaser, vector, slcan,
virtual, ...), filters the response identifier, counts every CAN frame both
ways (flow control included) and lets the gateway simulator lose or delay
frames through a :class:`~harness.can.faults.FaultTap`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass

import can
import isotp

from harness.can.faults import FaultTap
from harness.can.link import MessageLink
from harness.can.protocol import MAX_PAYLOAD, OVERHEAD
from harness.errors import BusError, ConfigError

ISOTP_LOGGER = "harness.can.isotp"
# can-isotp logs every timeout as a warning; the link reports them itself
# (note_error -> the failing command's message), so keep them off stderr.
logging.getLogger(ISOTP_LOGGER).addHandler(logging.NullHandler())

# ISO-TP protocol control information: high nibble of the first data byte.
PCI_FLOW_CONTROL = 0x3


@dataclass(frozen=True)
class CanSettings:
    """One end of an ISO-TP channel on a CAN bus.

    Attributes:
        interface: python-can interface name (socketcan, pcan, kvaser, vector,
            slcan, virtual, ...).
        channel: interface channel (``can0``, ``PCAN_USBBUS1``, ``/dev/ttyACM0``).
        tx_id: arbitration ID this end sends with.
        rx_id: arbitration ID this end listens to.
        extended: 29-bit identifiers instead of 11-bit.
        fd: CAN FD (ISO-TP frames up to ``data_length`` bytes).
        brs: bit-rate switching for the data phase of FD frames.
        data_length: ISO-TP TX_DL: 8 for classic CAN, up to 64 for FD.
        padding: pad every frame to its full length with this byte (None: no padding).
        stmin: minimum separation time this end asks of its peer (ISO-TP STmin byte).
        blocksize: frames between flow-control frames this end asks for (0 = no
            limit: one flow control per message, the fewest frames).
        bitrate: nominal bit rate, passed to the interface when set.
        data_bitrate: FD data-phase bit rate, passed to the interface when set.
        fc_timeout_ms: ISO-TP N_Bs, wait for a flow-control frame.
        cf_timeout_ms: ISO-TP N_Cr, wait for the next consecutive frame.
    """

    interface: str = "virtual"
    channel: str = "bus0"
    tx_id: int = 0x7E0
    rx_id: int = 0x7E8
    extended: bool = False
    fd: bool = False
    brs: bool = False
    data_length: int = 8
    padding: int | None = None
    stmin: int = 0
    blocksize: int = 0
    bitrate: int | None = None
    data_bitrate: int | None = None
    fc_timeout_ms: int = 1000
    cf_timeout_ms: int = 1000

    def __post_init__(self) -> None:
        limit = 0x1FFFFFFF if self.extended else 0x7FF
        for name in ("tx_id", "rx_id"):
            value = getattr(self, name)
            if not 0 <= value <= limit:
                raise ConfigError(
                    f"CAN {name}=0x{value:x} does not fit a {'29' if self.extended else '11'}-bit identifier"
                )
        if self.tx_id == self.rx_id:
            raise ConfigError(f"CAN tx and rx identifiers are both 0x{self.tx_id:x}")
        if not self.fd and self.data_length != 8:
            raise ConfigError(f"CAN data length {self.data_length} needs fd=1 (classic CAN carries 8)")
        if self.data_length not in (8, 12, 16, 20, 24, 32, 48, 64):
            raise ConfigError(f"CAN FD data length {self.data_length} is not a CAN FD frame size")
        if self.padding is not None and not 0 <= self.padding <= 0xFF:
            raise ConfigError(f"CAN padding byte 0x{self.padding:x} is not a byte")
        if not 0 <= self.stmin <= 0xFF or not 0 <= self.blocksize <= 0xFF:
            raise ConfigError("ISO-TP stmin and block size must be 0..255")

    def peer(self) -> "CanSettings":
        """The settings of the other end (identifiers swapped)."""
        return dataclasses.replace(self, tx_id=self.rx_id, rx_id=self.tx_id)

    def describe(self) -> str:
        mode = f"fd dl={self.data_length}{' brs' if self.brs else ''}" if self.fd else "classic"
        width = "29-bit" if self.extended else "11-bit"
        return (f"can {self.interface}:{self.channel} tx=0x{self.tx_id:x} rx=0x{self.rx_id:x} "
                f"{width} {mode}")

    def isotp_params(self) -> dict[str, object]:
        params: dict[str, object] = {
            "stmin": self.stmin,
            "blocksize": self.blocksize,
            "tx_data_length": self.data_length,
            "tx_padding": self.padding,
            "can_fd": self.fd,
            "bitrate_switch": self.brs and self.fd,
            "max_frame_size": MAX_PAYLOAD + OVERHEAD,
            "rx_flowcontrol_timeout": self.fc_timeout_ms,
            "rx_consecutive_frame_timeout": self.cf_timeout_ms,
            "logger_name": ISOTP_LOGGER,
        }
        if self.padding is not None:
            params["tx_data_min_length"] = 8
        return params


def open_can_bus(settings: CanSettings) -> can.BusABC:
    """Open the python-can bus named by ``settings``, filtered to its rx_id.

    Raises:
        BusError: the interface is unknown or the channel cannot be opened.
    """
    kwargs: dict[str, object] = {"interface": settings.interface, "channel": settings.channel}
    if settings.fd:
        kwargs["fd"] = True
    if settings.bitrate:
        kwargs["bitrate"] = settings.bitrate
    if settings.data_bitrate:
        kwargs["data_bitrate"] = settings.data_bitrate
    mask = 0x1FFFFFFF if settings.extended else 0x7FF
    kwargs["can_filters"] = [{"can_id": settings.rx_id, "can_mask": mask, "extended": settings.extended}]
    try:
        return can.Bus(**kwargs)
    except (can.CanError, OSError, ValueError, ImportError, NotImplementedError) as exc:
        raise BusError(
            f"cannot open CAN interface {settings.interface!r} channel {settings.channel!r}: {exc}"
        ) from exc


class IsoTpLink(MessageLink):
    """Whole messages over ISO-TP on one python-can bus.

    Args:
        settings: identifiers, FD, padding, timing.
        bus: an already open bus (the link does not close it); opened from
            ``settings`` and owned by the link if omitted.
        tap: frame-level fault injection (gateway simulator only).
    """

    def __init__(self, settings: CanSettings, bus: can.BusABC | None = None,
                 tap: FaultTap | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.description = settings.describe()
        self._own_bus = bus is None
        self.bus = bus if bus is not None else open_can_bus(settings)
        self.tap = tap
        self._tx_lock = threading.Lock()
        self._closed = False
        mode = isotp.AddressingMode.Normal_29bits if settings.extended else isotp.AddressingMode.Normal_11bits
        address = isotp.Address(mode, txid=settings.tx_id, rxid=settings.rx_id)
        try:
            self.stack = isotp.TransportLayer(
                rxfn=self._rx_frame, txfn=self._tx_frame, address=address,
                error_handler=self._on_isotp_error, params=settings.isotp_params(),
                read_timeout=0.05,
            )
        except ValueError as exc:
            self._close_bus()
            raise ConfigError(f"ISO-TP parameters for {self.description}: {exc}") from exc
        self.stack.start()

    # -- frames: called by the ISO-TP threads -------------------------------

    def _rx_frame(self, timeout: float) -> isotp.CanMessage | None:
        try:
            msg = self.bus.recv(timeout)
        except (can.CanError, OSError) as exc:
            self.note_error(f"CAN receive failed: {exc}")
            return None
        if msg is None or msg.is_error_frame or msg.is_remote_frame:
            if msg is not None and msg.is_error_frame:
                self.note_error("CAN error frame received")
            return None
        if msg.arbitration_id != self.settings.rx_id or msg.is_extended_id != self.settings.extended:
            return None
        if self.tap is not None and not self.tap.on_rx():
            return None
        self.counters.received(len(msg.data))
        return isotp.CanMessage(arbitration_id=msg.arbitration_id, data=msg.data,
                                extended_id=msg.is_extended_id, is_fd=msg.is_fd,
                                bitrate_switch=msg.bitrate_switch)

    def _tx_frame(self, frame: isotp.CanMessage) -> None:
        delay = 0.0
        if self.tap is not None:
            is_fc = bool(frame.data) and frame.data[0] >> 4 == PCI_FLOW_CONTROL
            decision = self.tap.on_tx(is_fc)
            if decision is None:
                return
            delay = decision
        message = can.Message(arbitration_id=frame.arbitration_id, data=bytes(frame.data),
                              is_extended_id=frame.is_extended_id, is_fd=frame.is_fd,
                              bitrate_switch=frame.bitrate_switch)
        if delay > 0:
            timer = threading.Timer(delay, self._put_on_bus, (message,))
            timer.daemon = True
            timer.start()
        else:
            self._put_on_bus(message)

    def _put_on_bus(self, message: can.Message) -> None:
        if self._closed:
            return
        try:
            with self._tx_lock:
                self.bus.send(message, timeout=0.5)
        except (can.CanError, OSError) as exc:
            # Bus-off, a full TX queue or an unplugged adapter: the frame is
            # lost; the gateway protocol's retransmission recovers or the
            # command fails with this text.
            self.note_error(f"CAN send failed: {exc}")
            return
        self.counters.sent(len(message.data))

    def _on_isotp_error(self, error: Exception) -> None:
        self.note_error(f"ISO-TP {type(error).__name__}: {error}")

    # -- messages ------------------------------------------------------------

    def send(self, message: bytes) -> None:
        if self._closed:
            raise BusError(f"{self.description}: link is closed")
        try:
            self.stack.send(message)
        except (RuntimeError, ValueError) as exc:
            raise BusError(f"{self.description}: ISO-TP send refused: {exc}") from exc

    def sending(self) -> bool:
        return self.stack.transmitting()

    def recv(self, timeout_s: float) -> bytes | None:
        data = self.stack.recv(block=True, timeout=max(0.0, timeout_s))
        return bytes(data) if data is not None else None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.stack.stop()
        finally:
            self._close_bus()

    def _close_bus(self) -> None:
        if self._own_bus:
            try:
                self.bus.shutdown()
            except (can.CanError, OSError):
                pass
