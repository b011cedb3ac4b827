"""tpm-hil as a labgrid driver and strategy: a place's TPM the way labgrid users wire boards.

A labgrid environment file names the place and the drivers; labgrid binds them
to the place's resources (a ``NetworkService`` pointing at ``tpmhil serve``, and
any power port the place has)::

    imports:
      - harness.lab.labgrid_driver
    targets:
      main:
        resources:
          RemotePlace:
            name: st33-spi-01
        drivers:
          NetworkPowerDriver: {}      # or any labgrid PowerProtocol driver
          TpmHilDriver: {}            # bindings: {service: tpm} when the place has several
          TpmHilStrategy: {}

``pytest suites --lg-env board.yaml`` then takes its TPM from ``TpmHilDriver``
and power-cycles the board through the place's own power driver. labgrid's
rules hold: the place must be acquired by (or allowed to) the user running the
tests (``labgrid-client -p st33-spi-01 acquire``); tpm-hil neither acquires nor
releases it.
"""

from __future__ import annotations

import socket
import time
from typing import TYPE_CHECKING

import attr
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.protocol import PowerProtocol
from labgrid.step import step
from labgrid.strategy.common import Strategy, StrategyError

if TYPE_CHECKING:
    from harness.results.exchange_log import ExchangeLog
    from harness.tpm.durations import CommandDurations
    from harness.transports.swtpm import SwtpmTransport

#: How long a powered-on board may take until its served TPM accepts connections.
POWER_ON_TIMEOUT_S = 30.0


@target_factory.reg_driver
@attr.s(eq=False)
class TpmHilDriver(Driver):
    """The TPM of a labgrid place, served over the swtpm socket protocol.

    Bindings:
        service: the place's ``NetworkService`` of ``tpmhil serve`` (data port; the
            control channel is port + 1).
        power: optional; any labgrid ``PowerProtocol`` driver of the place. When bound,
            power cycles of the TPM are power cycles of the board.
    """

    bindings = {"service": "NetworkService", "power": {PowerProtocol, None}}

    @property
    def address(self) -> tuple[str, int]:
        return str(self.service.address), int(self.service.port)

    @Driver.check_active
    def transport(self, durations: "CommandDurations", log: "ExchangeLog") -> "SwtpmTransport":
        """A transport to the place's TPM. Power cycles go through the place's power
        driver when one is bound, else through ``tpmhil serve``'s control channel."""
        from harness.transports.swtpm import SwtpmTransport

        host, port = self.address
        transport = SwtpmTransport(host, port, durations=durations, log=log,
                                   name=f"labgrid {self.target.name} (swtpm://{host}:{port})")
        if self.power is not None:
            transport.power_cycle = self.power_cycle  # type: ignore[method-assign]
        return transport

    @Driver.check_active
    @step()
    def power_cycle(self) -> None:
        """Cycle the board's power through the place's power driver, then wait until
        its TPM is served again (bounded by ``POWER_ON_TIMEOUT_S``)."""
        if self.power is None:
            raise StrategyError(f"labgrid target {self.target.name}: no power driver bound")
        self.target.activate(self.power)
        self.power.cycle()
        self.wait_served(POWER_ON_TIMEOUT_S)

    def wait_served(self, timeout_s: float) -> None:
        host, port = self.address
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                socket.create_connection((host, port), timeout=1.0).close()
                return
            except OSError as exc:
                if time.monotonic() >= deadline:
                    raise StrategyError(f"TPM of {self.target.name} not served at {host}:{port} "
                                        f"within {timeout_s:g} s after power on ({exc})") from exc
                time.sleep(0.2)


@target_factory.reg_driver
@attr.s(eq=False)
class TpmHilStrategy(Strategy):
    """Brings a board to ``on`` (powered, TPM served) or ``off``.

    States: ``unknown``, ``off``, ``on``. Without a power driver only ``on`` is
    reachable (the board is assumed powered).
    """

    bindings = {"tpm": "TpmHilDriver", "power": {PowerProtocol, None}}
    status = attr.ib(default="unknown")

    @step(args=["state"])
    def transition(self, state: str) -> None:
        if state not in ("on", "off"):
            raise StrategyError(f"TpmHilStrategy: no state {state!r} (on, off)")
        if state == self.status:
            return
        if state == "off":
            if self.power is None:
                raise StrategyError(f"labgrid target {self.target.name}: cannot switch off "
                                    "without a power driver")
            self.target.deactivate(self.tpm)
            self.target.activate(self.power)
            self.power.off()
        else:
            if self.power is not None:
                self.target.activate(self.power)
                self.power.on()
            self.target.activate(self.tpm)
            self.tpm.wait_served(POWER_ON_TIMEOUT_S)
        self.status = state
