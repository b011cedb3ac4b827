"""Boards in the lab, reached through labgrid.

``labgrid://PLACE``: the place is used as labgrid's own client would. A place
already acquired by (or allowed to) this user, as after
``labgrid-client -p PLACE acquire``, is used as it is and left acquired;
otherwise tpm-hil acquires it through the coordinator (``?coordinator=HOST:PORT``
or ``$LG_COORDINATOR``) for as long as the target is open and releases it at
close. Its TPM resource (a ``NetworkService`` pointing at ``tpmhil serve``) is
opened as ``swtpm://``. Parameters: ``resource=NAME`` (which NetworkService,
default the only one or the one named ``tpm``), ``wait=S`` (queue up to S seconds
for a busy place through a labgrid reservation; default 0: fail at once naming
the holder), ``chip=`` (profile), ``disposable=1`` (the board's TPM may be cleared).

``lgenv:///PATH/env.yaml?role=main``: labgrid's environment file (what
``pytest --lg-env`` names): labgrid builds the target, its ``RemotePlace``
resources and drivers; the TPM comes from :class:`harness.lab.labgrid_driver.TpmHilDriver`
and power cycles go through the place's power driver.
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


class _LabgridTarget(Target):
    """A board held through labgrid: closing frees what labgrid gave (:meth:`_release`)
    even when the link to the TPM already failed."""

    bus = "labgrid"

    def _release(self) -> None:
        """Give back what labgrid handed out for this target."""

    def close(self) -> None:
        try:
            super().close()
        except HarnessError:
            pass
        finally:
            self._release()


class LabgridPlaceTarget(_LabgridTarget):
    """A TPM on a labgrid place, held exclusively while open."""

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
        #: True when the user acquired the place (labgrid-client acquire / allow): left held.
        self.borrowed = False

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog) -> SwtpmTransport:
        coordinator = Coordinator(self.address)
        try:
            self.borrowed = coordinator.usable_by_user(self.place)
            if not self.borrowed:
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
                if not self.borrowed:
                    self.coordinator.release(self.place)
            finally:
                self.coordinator.close()
                self.coordinator = None

    def describe(self) -> dict[str, object]:
        out = super().describe()
        out.update(place=self.place, coordinator=self.address,
                   acquired_by="user" if self.borrowed else "tpm-hil")
        if self.endpoint is not None:
            out.update(tpm=f"swtpm://{self.endpoint.address}:{self.endpoint.port}",
                       resource=self.endpoint.name)
        return out



register(TargetForm("labgrid", "labgrid://PLACE?coordinator=HOST:PORT",
                    "a board's TPM on a labgrid place (acquired for the run)",
                    LabgridPlaceTarget))


class LabgridEnvTarget(_LabgridTarget):
    """The TPM of a role in a labgrid environment file, through labgrid's own objects.

    labgrid builds the target from the file: its ``RemotePlace`` (which labgrid only
    lets a user use once acquired by or allowed to them), the place's resources,
    and the drivers the file names, among them ``TpmHilDriver`` and, when the place
    has power, a power driver. The place is neither acquired nor released here.
    """

    def __init__(self, uri: TargetURI) -> None:
        super().__init__(uri)
        self.path = uri.path
        if not self.path:
            raise TargetURIError(f"target {uri.text!r}: expected lgenv:///PATH/env.yaml?role=ROLE")
        self.role = uri.param("role", "main") or "main"
        self.disposable = uri.bool_param("disposable", False)
        self.environment = None
        self.lg_target = None
        self.driver = None

    def _open_transport(self, durations: CommandDurations, log: ExchangeLog):
        from harness.errors import ConfigError, TargetError
        from harness.lab import labgrid_driver  # noqa: F401  registers the driver classes
        from labgrid import Environment

        try:
            self.environment = Environment(config_file=self.path)
            self.lg_target = self.environment.get_target(self.role)
        except Exception as exc:  # labgrid raises attrs exceptions with .msg, or plain ones
            why = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
            raise TargetError(f"labgrid environment {self.path} role {self.role!r}: {why}") from exc
        if self.lg_target is None:
            raise ConfigError(f"labgrid environment {self.path}: no target named {self.role!r}")
        try:
            strategy = _optional_driver(self.lg_target, "TpmHilStrategy")
            if strategy is not None:
                strategy.transition("on")
            self.driver = self.lg_target.get_driver("TpmHilDriver")
        except Exception as exc:
            why = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
            raise TargetError(f"labgrid target {self.role!r} of {self.path}: {why} (the env "
                              "file needs a TpmHilDriver; the place must be acquired by or "
                              "allowed to you: labgrid-client -p PLACE acquire)") from exc
        return self.driver.transport(durations, log)

    def describe(self) -> dict[str, object]:
        out = super().describe()
        out.update(lg_env=self.path, role=self.role)
        if self.driver is not None:
            host, port = self.driver.address
            out.update(tpm=f"swtpm://{host}:{port}",
                       power=type(self.driver.power).__name__ if self.driver.power else None)
        return out

    def _release(self) -> None:
        if self.lg_target is not None:
            try:
                self.lg_target.deactivate_all_drivers()
            except Exception:
                pass
            self.lg_target = None


def _optional_driver(target, name: str):
    from labgrid.exceptions import NoDriverFoundError

    try:
        return target.get_driver(name, activate=False)
    except NoDriverFoundError:
        return None


register(TargetForm("lgenv", "lgenv:///PATH/env.yaml?role=main",
                    "the TPM of a labgrid environment file's role (pytest --lg-env)",
                    LabgridEnvTarget))
