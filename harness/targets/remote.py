"""``labgrid://PLACE``: a board in the lab, reached through labgrid.

The place is acquired through the labgrid coordinator (``?coordinator=HOST:PORT``
or ``$LG_COORDINATOR``) for as long as the target is open, its TPM resource (a
``NetworkService`` pointing at ``tpmhil serve``) is opened as ``swtpm://``, and
the place is released at close. Parameters: ``resource=NAME`` (which
NetworkService, default the only one or the one named ``tpm``), ``wait=S``
(queue up to S seconds for a busy place; default 0: fail at once naming the
holder), ``chip=`` (profile), ``disposable=1`` (the board's TPM may be cleared).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.errors import HarnessError, TargetURIError
from harness.lab.coordinator import Coordinator, TpmEndpoint, coordinator_address
from harness.results.exchange_log import ExchangeLog
from harness.targets.base import Target
from harness.targets.registry import TargetForm, register
from harness.targets.uri import TargetURI
from harness.tpm.durations import CommandDurations
from harness.transports.swtpm import SwtpmTransport


class LabgridPlaceTarget(Target):
    """A TPM on a labgrid place, held exclusively while open."""

    bus = "labgrid"

    def __init__(self, uri: TargetURI) -> None:
        super().__init__(uri)
        self.place = urlsplit(uri.text).netloc.split(":")[0]  # case kept, unlike uri.host
        if not self.place:
            raise TargetURIError(f"target {uri.text!r}: expected labgrid://PLACE, "
                                 "e.g. labgrid://board-01?coordinator=127.0.0.1:20408")
        self.address = coordinator_address(uri.param("coordinator"))
        self.resource = uri.param("resource")
        self.wait_s = uri.float_param("wait", 0.0) or 0.0
        self.disposable = uri.bool_param("disposable", False)
        self.coordinator: Coordinator | None = None
        self.endpoint: TpmEndpoint | None = None

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> SwtpmTransport:
        coordinator = Coordinator(self.address)
        try:
            coordinator.acquire(self.place, self.wait_s)
        except BaseException:
            coordinator.close()
            raise
        self.coordinator = coordinator
        try:
            self.endpoint = coordinator.tpm_endpoint(self.place, self.resource)
            return SwtpmTransport(
                self.endpoint.address, self.endpoint.port, durations=durations, log=log,
                name=f"labgrid://{self.place} (swtpm://{self.endpoint.address}:{self.endpoint.port})")
        except BaseException:
            self._release()
            raise

    def _release(self) -> None:
        if self.coordinator is not None:
            try:
                self.coordinator.release(self.place)
            finally:
                self.coordinator.close()
                self.coordinator = None

    def describe(self) -> dict[str, object]:
        out = super().describe()
        out.update(place=self.place, coordinator=self.address)
        if self.endpoint is not None:
            out.update(tpm=f"swtpm://{self.endpoint.address}:{self.endpoint.port}",
                       resource=self.endpoint.name)
        return out

    def close(self) -> None:
        try:
            super().close()
        except HarnessError:
            pass
        finally:
            self._release()


register(TargetForm("labgrid", "labgrid://PLACE?coordinator=HOST:PORT",
                    "a board's TPM on a labgrid place (acquired for the run)",
                    LabgridPlaceTarget))
