"""A target: the TPM under test, as named by a target string.

A target owns whatever must exist for the TPM to be reachable (a spawned
swtpm process, an open bus adapter, a gateway) and hands out a transport.
"""

from __future__ import annotations

import abc

from harness.results.exchange_log import ExchangeLog
from harness.targets.uri import TargetURI
from harness.tpm.durations import CommandDurations
from harness.transports.base import Transport


class Target(abc.ABC):
    """The TPM under test.

    Attributes:
        uri: the parsed target string.
        disposable: True when the TPM exists only for this run (a spawned
            swtpm), so tests that change owner state for good may run on it.
        profile_hint: chip profile named by the target itself (e.g.
            ``chip=st33ktpm``), or None to pick by the probed manufacturer.
        bus: a short bus description for reports: socket, kernel, spi, i2c, can.
    """

    disposable = False
    bus = "socket"

    def __init__(self, uri: TargetURI) -> None:
        self.uri = uri
        self.profile_hint: str | None = uri.param("chip") or uri.param("profile")
        self._transport: Transport | None = None

    @abc.abstractmethod
    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> Transport:
        """Create the transport to the TPM."""

    def open(self, durations: CommandDurations | None = None, log: ExchangeLog | None = None) -> Transport:
        """Start whatever the target needs and return its transport.

        The target keeps the transport and closes it in :meth:`close`.
        """
        if self._transport is not None and not self._transport.closed:
            return self._transport
        self._transport = self._open_transport(durations or CommandDurations(),
                                               log if log is not None else ExchangeLog())
        return self._transport

    @property
    def transport(self) -> Transport | None:
        return self._transport

    def describe(self) -> dict[str, object]:
        """What reports say about the target (no secrets)."""
        return {"uri": self.uri.redacted(), "kind": self.uri.scheme, "bus": self.bus,
                "disposable": self.disposable}

    def close(self) -> None:
        """Close the transport and stop anything the target started."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri.redacted()}>"
