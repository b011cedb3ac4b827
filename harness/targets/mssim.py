"""``mssim://HOST:PORT``: the TCG reference simulator protocol."""

from __future__ import annotations

from harness.results.exchange_log import ExchangeLog
from harness.targets.base import Target
from harness.targets.registry import TargetForm, register
from harness.targets.uri import TargetURI
from harness.tpm.durations import CommandDurations
from harness.transports.mssim import MssimTransport


class MssimTarget(Target):
    def __init__(self, uri: TargetURI) -> None:
        super().__init__(uri)
        self.host, self.port = uri.require_host_port()
        self.disposable = uri.bool_param("disposable", False)

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> MssimTransport:
        return MssimTransport(self.host, self.port, durations=durations, log=log)


register(TargetForm("mssim", "mssim://127.0.0.1:2321", "TCG reference simulator protocol",
                    MssimTarget))
