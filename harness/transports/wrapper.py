"""A transport that carries its commands through another transport.

Wrappers (the SIMULATED environment coupling, the audit's leaking test
target) subclass :class:`WrappedTransport` and override ``_send`` /
``_recv`` to change what passes; locality, power cycling, cancel and close
go to the inner transport unchanged. The wrapper logs each exchange in the
caller's log; the inner transport keeps a private log, so nothing is
counted twice.
"""

from __future__ import annotations

import time

from harness.results.exchange_log import ExchangeLog
from harness.transports.base import Transport


class WrappedTransport(Transport):
    """Forwards to ``inner``; see the module docstring."""

    def __init__(self, inner: Transport, name: str | None = None) -> None:
        super().__init__(durations=inner.durations, log=inner.log,
                         link_margin_s=inner.link_margin_s, name=name or inner.name)
        self.inner = inner
        inner.log = ExchangeLog(keep=0)  # the wrapper records; the inner log keeps nothing
        self.can_power_cycle = inner.can_power_cycle
        self.counters = inner.counters  # bus cost measured below reaches our records

    @property
    def durations(self):  # keep one set of bounds: the profile's, set on either
        return self.__dict__.get("_durations")

    @durations.setter
    def durations(self, value) -> None:
        self.__dict__["_durations"] = value
        inner = self.__dict__.get("inner")
        if inner is not None:
            inner.durations = value

    def _send(self, command: bytes) -> None:
        self.inner.transmit(command)

    def _recv(self, deadline: float) -> bytes:
        return self.inner.receive(max(0.0, deadline - time.monotonic()))

    def set_locality(self, locality: int) -> None:
        self.inner.set_locality(locality)
        self.locality = locality

    def power_cycle(self) -> None:
        self.inner.power_cycle()

    def cancel(self) -> None:
        self.inner.cancel()

    def abandon(self) -> None:
        super().abandon()
        self.inner.abandon()

    def _close(self) -> None:
        self.inner.close()
