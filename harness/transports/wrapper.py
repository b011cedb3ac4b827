"""A transport that carries its commands through another transport.

Wrappers (the SIMULATED environment coupling, the audit's leaking test
target) subclass :class:`WrappedTransport` and override ``_send`` /
``_recv`` to change what passes. The wrapper drives the inner transport's
``_send``/``_recv`` directly, so each exchange is bounded, checked and
logged exactly once (by the wrapper, in the inner transport's log) and the
inner transport is never modified: it can be wrapped again later. Bus
counters are shared, so bus cost measured below reaches the wrapper's
records. Locality, power cycling, cancel and close go to the inner
transport unchanged.
"""

from __future__ import annotations

from harness.transports.base import Transport


class WrappedTransport(Transport):
    """Forwards to ``inner``; see the module docstring."""

    def __init__(self, inner: Transport, name: str | None = None) -> None:
        super().__init__(durations=inner.durations, log=inner.log,
                         link_margin_s=inner.link_margin_s, name=name or inner.name)
        self.inner = inner
        self.can_power_cycle = inner.can_power_cycle
        self.counters = inner.counters

    @property
    def durations(self):  # one set of bounds: the profile's, whichever side it is set on
        return self.__dict__.get("_durations")

    @durations.setter
    def durations(self, value) -> None:
        self.__dict__["_durations"] = value
        inner = self.__dict__.get("inner")
        if inner is not None:
            inner.durations = value

    def _send(self, command: bytes) -> None:
        self.inner._send(command)

    def _recv(self, deadline: float) -> bytes:
        return self.inner._recv(deadline)

    def set_locality(self, locality: int) -> None:
        self.inner.set_locality(locality)
        self.locality = locality

    def power_cycle(self) -> None:
        self.inner.power_cycle()

    def cancel(self) -> None:
        self.inner.cancel()

    def _close(self) -> None:
        self.inner.close()
