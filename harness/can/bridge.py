"""A running gateway simulator with its backend TPM: what ``can://virtual``,
``serial+sim://`` and ``tpmhil gateway`` start.
"""

from __future__ import annotations

from harness.can.faults import FaultPlan, FaultTap
from harness.can.gateway import GatewaySimulator
from harness.can.isotp_link import CanSettings, IsoTpLink
from harness.can.link import MessageLink
from harness.can.serial_link import SerialLink, SerialPort
from harness.errors import HarnessError
from harness.targets.base import Target
from harness.tpm.durations import CommandDurations

DEFAULT_BACKEND = "swtpm"


def backend_target(text: str | None) -> Target:
    """The target a gateway forwards to (a query value: '+' arrives as ' ')."""
    from harness.targets.registry import open_target

    spec = (text or DEFAULT_BACKEND).replace(" ", "+")
    if spec.startswith(("can:", "serial:", "serial+sim")):
        raise HarnessError(f"gateway backend {spec!r} would put a gateway behind a gateway")
    return open_target(spec)


class GatewayBridge:
    """Gateway simulator + its link + its backend target, started together.

    Args:
        backend: the backend target (not yet opened); closed with the bridge.
        faults: faults to inject.
        durations: bounds for the backend's commands.
    """

    def __init__(self, backend: Target, faults: FaultPlan | None = None,
                 durations: CommandDurations | None = None) -> None:
        self.backend = backend
        self.faults = faults or FaultPlan()
        self.durations = durations or CommandDurations()
        self.tap = FaultTap()
        self.link: MessageLink | None = None
        self.simulator: GatewaySimulator | None = None

    def start_can(self, host_settings: CanSettings) -> "GatewayBridge":
        """Serve the host whose settings are given (the gateway uses the peer IDs)."""
        return self._start(lambda: IsoTpLink(host_settings.peer(), tap=self.tap))

    def start_serial(self, port: SerialPort, framing: str) -> "GatewayBridge":
        return self._start(lambda: SerialLink(port, framing, tap=self.tap))

    def _start(self, make_link) -> "GatewayBridge":
        try:
            transport = self.backend.open(self.durations)
            self.link = make_link()
            description = f"tpm-hil gateway simulator -> {self.backend.uri.text}"
            self.simulator = GatewaySimulator(self.link, transport, faults=self.faults,
                                              tap=self.tap, description=description).start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        try:
            if self.simulator is not None:
                self.simulator.stop()
                self.simulator = None
            if self.link is not None:
                self.link.close()
                self.link = None
        finally:
            self.backend.close()
