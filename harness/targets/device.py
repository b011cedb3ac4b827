"""``device:///dev/tpmrm0``: a chip behind the Linux kernel driver."""

from __future__ import annotations

from harness.errors import TargetURIError
from harness.results.exchange_log import ExchangeLog
from harness.targets.base import Target
from harness.targets.registry import TargetForm, register
from harness.targets.uri import TargetURI
from harness.tpm.durations import CommandDurations
from harness.transports.device import DeviceTransport


class DeviceTarget(Target):
    bus = "kernel"

    def __init__(self, uri: TargetURI) -> None:
        super().__init__(uri)
        if not uri.path.startswith("/dev/"):
            raise TargetURIError(
                f"target {uri.text!r}: expected device:///dev/tpmrm0 or device:///dev/tpm0"
            )
        self.path = uri.path

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> DeviceTransport:
        return DeviceTransport(self.path, durations=durations, log=log)


register(TargetForm("device", "device:///dev/tpmrm0", "a TPM behind the Linux kernel driver",
                    DeviceTarget))
