"""Target strings for TPMs behind a gateway MCU: CAN (ISO-TP) and serial.

- ``can://INTERFACE/CHANNEL?tx=0x7E0&rx=0x7E8&fd=1``: a real gateway on a
  python-can interface (socketcan, pcan, kvaser, vector, slcan, ...).
- ``can://virtual/bus0?fd=1&backend=swtpm&faults=lose@3``: python-can's
  in-process virtual bus with the gateway simulator on it, forwarding to the
  backend target (default a spawned swtpm).
- ``serial:///dev/ttyACM0?baud=921600&framing=slip``: a gateway on a UART.
- ``serial+sim://?backend=swtpm&framing=cobs``: the gateway simulator on the
  other side of a pty pair.

Parameters (all optional): ``tx``/``rx`` (request/response IDs, host view),
``ext=1`` (29-bit IDs), ``fd=1``, ``brs`` (default = fd), ``dl`` (FD data
length, default 64), ``padding=0xCC``, ``stmin``, ``bs`` (block size),
``bitrate``, ``dbitrate``, ``fc_timeout``/``cf_timeout`` (ms), ``retry``
(seconds of silence before a retransmission), ``baud``, ``framing``,
``backend``, ``faults`` (see harness.can.faults), ``chip``.
"""

from __future__ import annotations

import os

from harness.can.bridge import GatewayBridge, backend_target
from harness.can.faults import FaultPlan
from harness.can.isotp_link import CanSettings
from harness.can.serial_link import FRAMINGS, PtyMasterPort, SerialLink, open_serial
from harness.can.transport import DEFAULT_RETRY_S, CanTransport, GatewayTransport, SerialTransport
from harness.errors import TargetError, TargetURIError
from harness.results.exchange_log import ExchangeLog
from harness.targets.base import Target
from harness.targets.registry import TargetForm, register
from harness.targets.uri import TargetURI
from harness.tpm.durations import CommandDurations

COMMON = {"chip", "profile", "retry"}
CAN_PARAMS = COMMON | {"tx", "rx", "ext", "fd", "brs", "dl", "padding", "stmin", "bs", "bitrate",
                       "dbitrate", "fc_timeout", "cf_timeout", "channel"}
SIM_PARAMS = {"backend", "faults", "sim"}
SERIAL_PARAMS = COMMON | {"baud", "framing"}

#: Virtual channels with a gateway simulator in this process: two simulators on
#: one channel would both execute every command, each on its own TPM.
_simulated_channels: set[str] = set()


def _check_params(uri: TargetURI, allowed: set[str]) -> None:
    unknown = sorted(set(uri.params) - allowed)
    if unknown:
        raise TargetURIError(f"target {uri.text!r}: unknown parameter(s) {', '.join(unknown)} "
                             f"(accepted: {', '.join(sorted(allowed))})")


def can_settings(uri: TargetURI) -> CanSettings:
    """The host-side CAN settings named by a ``can://`` string."""
    if not uri.host:
        raise TargetURIError(f"target {uri.text!r}: expected can://INTERFACE/CHANNEL, e.g. "
                             "can://socketcan/can0?tx=0x7E0&rx=0x7E8")
    channel = uri.param("channel") or uri.path.lstrip("/")
    if channel.startswith("dev/"):
        channel = "/" + channel  # slcan and serial-attached adapters
    if not channel:
        raise TargetURIError(f"target {uri.text!r}: no CAN channel (e.g. can0, PCAN_USBBUS1, bus0)")
    fd = uri.bool_param("fd")
    try:
        return CanSettings(
            interface=uri.host, channel=channel,
            tx_id=uri.int_param("tx", 0x7E0), rx_id=uri.int_param("rx", 0x7E8),
            extended=uri.bool_param("ext"), fd=fd, brs=uri.bool_param("brs", fd),
            data_length=uri.int_param("dl", 64 if fd else 8),
            padding=uri.int_param("padding"), stmin=uri.int_param("stmin", 0),
            blocksize=uri.int_param("bs", 0), bitrate=uri.int_param("bitrate"),
            data_bitrate=uri.int_param("dbitrate"),
            fc_timeout_ms=uri.int_param("fc_timeout", 1000),
            cf_timeout_ms=uri.int_param("cf_timeout", 1000),
        )
    except TargetURIError:
        raise
    except Exception as exc:  # ConfigError from CanSettings
        raise TargetURIError(f"target {uri.text!r}: {exc}") from None


class GatewayTarget(Target):
    """A TPM behind a gateway; simulated targets run the gateway simulator.

    Attributes:
        backend_target: for simulated targets, the target the simulator
            forwards to (e.g. a spawned swtpm, whose local CA then issued the
            EK certificates); None for a real gateway.
    """

    simulated = False

    def __init__(self, uri: TargetURI, allowed: set[str], can: bool) -> None:
        _check_params(uri, allowed)
        super().__init__(uri)
        self.retry_s = uri.float_param("retry", DEFAULT_RETRY_S)
        self.bridge: GatewayBridge | None = None
        self.backend_target = None
        if self.simulated:
            self.faults = FaultPlan.parse(uri.param("faults"), can=can)
            self.backend_target = backend_target(uri.param("backend"))
            self.disposable = self.backend_target.disposable
            if self.profile_hint is None:
                self.profile_hint = self.backend_target.profile_hint

    def _finish(self, transport: GatewayTransport) -> GatewayTransport:
        try:
            transport.ping()
        except BaseException:
            transport.close()
            raise
        return transport

    def _new_bridge(self, durations: CommandDurations) -> GatewayBridge:
        assert self.backend_target is not None
        if self.bridge is None:
            self.bridge = GatewayBridge(self.backend_target, self.faults, durations)
        return self.bridge

    def describe(self) -> dict[str, object]:
        out = super().describe()
        if self.backend_target is not None:
            out.update(gateway="simulator", backend=self.backend_target.uri.text,
                       faults=str(self.faults))
        if self.transport is not None and getattr(self.transport, "alive", None) is not None:
            out["gateway_description"] = self.transport.alive.description
        return out

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.bridge is not None:
                self.bridge.close()
                self.bridge = None
                self._release()

    def _release(self) -> None:
        """Hook: forget what the simulator held in this process."""


class CanTarget(GatewayTarget):
    bus = "can"

    def _release(self) -> None:
        _simulated_channels.discard(self.settings.channel)

    def __init__(self, uri: TargetURI) -> None:
        self.simulated = uri.host == "virtual" and uri.bool_param("sim", True)
        super().__init__(uri, CAN_PARAMS | (SIM_PARAMS if uri.host == "virtual" else set()), can=True)
        self.settings = can_settings(uri)

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> CanTransport:
        if self.simulated and (self.bridge is None or self.bridge.simulator is None):
            channel = self.settings.channel
            if channel in _simulated_channels:
                raise TargetError(f"target {self.uri.text!r}: virtual CAN channel {channel!r} already "
                                  "has a gateway simulator in this process; name another channel")
            self._new_bridge(durations).start_can(self.settings)
            _simulated_channels.add(channel)
        transport = CanTransport(self.settings, durations=durations, log=log,
                                 retry_s=self.retry_s, name=self.uri.text)
        return self._finish(transport)


class SerialTarget(GatewayTarget):
    bus = "serial"

    def __init__(self, uri: TargetURI) -> None:
        self.simulated = uri.scheme == "serial+sim"
        super().__init__(uri, SERIAL_PARAMS | (SIM_PARAMS if self.simulated else set()), can=False)
        self.baud = uri.int_param("baud", 115200)
        self.framing = (uri.param("framing") or "slip").lower()
        if self.framing not in FRAMINGS:
            raise TargetURIError(f"target {uri.text!r}: framing={self.framing!r} is not one of "
                                 f"{', '.join(FRAMINGS)}")
        self.port_name = uri.path or ""
        if not self.simulated and not self.port_name:
            raise TargetURIError(f"target {uri.text!r}: expected serial:///dev/ttyACM0?baud=921600")

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> SerialTransport:
        port_name = self.port_name
        if self.simulated:
            master, slave = os.openpty()
            port_name = os.ttyname(slave)
            try:
                self._new_bridge(durations).start_serial(PtyMasterPort(master, f"pty {port_name}"),
                                                         self.framing)
            finally:
                # pyserial opens the slave by name below; this descriptor is not needed.
                os.close(slave)
        port = open_serial(port_name, self.baud)
        transport = SerialTransport(SerialLink(port, self.framing), durations=durations, log=log,
                                    retry_s=self.retry_s, name=self.uri.text)
        return self._finish(transport)


register(TargetForm("can", "can://socketcan/can0?tx=0x7E0&rx=0x7E8&fd=1",
                    "a TPM behind a CAN gateway (ISO-TP; python-can interface/channel)",
                    CanTarget))
register(TargetForm("serial", "serial:///dev/ttyACM0?baud=921600",
                    "a TPM behind a serial (UART) gateway, SLIP or COBS framing",
                    SerialTarget))
register(TargetForm("serial+sim", "serial+sim://?backend=swtpm",
                    "the gateway simulator over a pty pair, forwarding to a backend target",
                    SerialTarget))
