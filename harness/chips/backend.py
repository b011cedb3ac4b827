"""Where a virtual chip's commands execute: a real swtpm, never canned bytes."""

from __future__ import annotations

from harness.chip_profile import load_profile
from harness.results.exchange_log import ExchangeLog
from harness.swtpm_process import SwtpmOptions, SwtpmProcess
from harness.transports.swtpm import SwtpmTransport


class SwtpmBackend:
    """Executes commands on a private swtpm (spawned) or on one at ``host:port``.

    Args:
        options: how to provision a spawned swtpm (ignored with ``port``).
        host, port: an swtpm already running (data port; control is port+1).
    """

    def __init__(self, options: SwtpmOptions | None = None, host: str = "127.0.0.1",
                 port: int | None = None) -> None:
        self.process: SwtpmProcess | None = None
        if port is None:
            self.process = SwtpmProcess(options)
            port = self.process.port
        durations = load_profile("swtpm").durations
        # The chip's own log: the host transport logs the exchange that matters.
        self.transport = SwtpmTransport(host, port, durations=durations,
                                        log=ExchangeLog(keep=4096), name=f"swtpm {host}:{port}")
        # A chip passes TPM warnings to its host unchanged: the host's transport resends.
        self.transport.warning_resend = None
        self._locality = 0

    def execute(self, command: bytes, locality: int) -> bytes:
        """Run one command in ``locality`` and return swtpm's response."""
        if locality != self._locality:
            self.transport.set_locality(locality)
            self._locality = locality
        return self.transport.exchange(command)

    def power_cycle(self) -> None:
        """CMD_INIT: swtpm powers the TPM on again; it then expects TPM2_Startup."""
        self.transport.abandon()
        self.transport.power_cycle()
        self._locality = 0

    def close(self) -> None:
        try:
            self.transport.close()
        finally:
            if self.process is not None:
                self.process.stop()
                self.process = None
