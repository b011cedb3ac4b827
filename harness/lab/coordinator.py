"""Talking to a labgrid coordinator: list places, acquire one, find its TPM.

labgrid (>= 24, gRPC coordinator) owns the lab's places and their locks;
tpm-hil only asks it. Acquiring is the coordinator's atomic AcquirePlace, so
two runs never hold one place: the second is told who holds it.

Each run acquires under its own labgrid user name, ``USER+tpmhil-PID``
(host part as labgrid sets it), so that a run which died without releasing
can be recognised: a later run on the same host finds that process gone and
releases the place with ``ReleasePlace(fromuser=...)``, which the
coordinator only honours if that dead run still holds it. A run that died on
another host keeps the place until its owner or an admin releases it
(``labgrid-client -p PLACE release --kick``): the coordinator's rule.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from getpass import getuser

from harness.errors import ConfigError, TargetError

ENV_COORDINATOR = "LG_COORDINATOR"
CONNECT_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 15.0
TPM_RESOURCE_CLASS = "NetworkService"
#: labgrid's client keep-alive settings (labgrid.remote.client.ClientSession).
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 7500),
    ("grpc.keepalive_timeout_ms", 10000),
    ("grpc.http2.ping_timeout_ms", 10000),
    ("grpc.http2.max_pings_without_data", 0),
]


_LOOP: asyncio.AbstractEventLoop | None = None


def _event_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process for every coordinator session: grpc.aio polls
    through the loop that first used it, so loops are neither mixed nor closed."""
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    asyncio.set_event_loop(_LOOP)
    return _LOOP


def coordinator_address(explicit: str | None) -> str:
    """The coordinator's HOST:PORT from an explicit value or $LG_COORDINATOR."""
    address = explicit or os.environ.get(ENV_COORDINATOR)
    if not address:
        raise ConfigError("no labgrid coordinator: give ?coordinator=HOST:PORT in the target "
                          f"string or set {ENV_COORDINATOR}")
    return address


def run_user(pid: int | None = None) -> str:
    """The labgrid user name this process acquires under."""
    return f"{os.environ.get('LG_USERNAME', getuser())}+tpmhil-{pid or os.getpid()}"


def _dead_local_run(acquired: str, hostname: str) -> bool:
    """Whether ``acquired`` (``host/user+tpmhil-PID``) names a run on this host that is gone."""
    host, _, user = acquired.partition("/")
    if host != hostname or "+tpmhil-" not in user:
        return False
    try:
        pid = int(user.rsplit("+tpmhil-", 1)[1])
        os.kill(pid, 0)
    except ValueError:
        return False
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass(frozen=True)
class TpmEndpoint:
    """Where a place's TPM is served (a NetworkService pointing at ``tpmhil serve``)."""

    place: str
    name: str
    address: str
    port: int


class Coordinator:
    """A client session with a labgrid coordinator (its own event loop).

    Args:
        address: HOST[:PORT] of ``labgrid-coordinator``.
    """

    def __init__(self, address: str) -> None:
        from labgrid.remote.client import ClientSession
        from labgrid.util.proxy import proxymanager

        user = run_user()

        class _Session(ClientSession):
            def getuser(self) -> str:  # one labgrid identity per run
                return user

            def __attrs_post_init__(self) -> None:
                super().__attrs_post_init__()
                # A private connection per session: grpc otherwise shares one TCP
                # connection between channels of a process, and the coordinator
                # keys client sessions by peer address.
                import grpc
                from labgrid.remote.generated import labgrid_coordinator_pb2_grpc as pb_grpc

                self.channel = grpc.aio.insecure_channel(
                    target=self.address, options=[*CHANNEL_OPTIONS,
                                                  ("grpc.use_local_subchannel_pool", 1)])
                self.stub = pb_grpc.CoordinatorStub(self.channel)

        self.address = proxymanager.get_grpc_address(address, default_port=20408)
        self.loop = _event_loop()
        self.session = _Session(self.address, self.loop)
        try:
            self._run(self.session.start(), CONNECT_TIMEOUT_S)
        except Exception as exc:
            why = str(exc) or type(exc).__name__
            raise TargetError(f"labgrid coordinator {address}: cannot connect ({why})") from exc
        self.identity = f"{self.session.gethostname()}/{user}"

    def _run(self, coro, timeout: float = CALL_TIMEOUT_S):
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    def sync(self) -> None:
        self._run(self.session.sync_with_coordinator())

    def places(self, match: str = "") -> list[str]:
        """Names of places whose name contains ``match`` (all if empty), sorted."""
        self.sync()
        return sorted(name for name in self.session.places if match in name)

    def holder(self, place: str) -> str | None:
        self.sync()
        found = self.session.places.get(place)
        if found is None:
            raise TargetError(f"labgrid place {place!r} does not exist on {self.address} "
                              f"(places: {', '.join(sorted(self.session.places)) or 'none'})")
        return found.acquired

    def acquire(self, place: str, wait_s: float = 0.0) -> None:
        """Acquire ``place`` atomically on the coordinator, waiting up to ``wait_s``.

        Raises:
            TargetError: the place is unknown, or held by someone else past the wait.
        """
        import grpc
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        deadline = time.monotonic() + wait_s
        reclaimed: set[str] = set()
        while True:
            holder = self.holder(place)
            if (holder and holder not in reclaimed
                    and _dead_local_run(holder, self.session.gethostname())):
                reclaimed.add(holder)  # once: the coordinator decides whether it may be released
                self._release(place, fromuser=holder)
                continue
            if not holder:
                try:
                    self._run(self.session.stub.AcquirePlace(pb.AcquirePlaceRequest(placename=place)))
                    self.sync()
                    return
                except grpc.aio.AioRpcError as exc:
                    holder = self.holder(place) or exc.details()
            if time.monotonic() >= deadline:
                raise TargetError(f"labgrid place {place!r} is held by {holder}; "
                                  "two runs never share a board (wait=SECONDS to queue)")
            time.sleep(0.5)

    def _release(self, place: str, fromuser: str | None = None) -> None:
        import grpc
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        request = pb.ReleasePlaceRequest(placename=place)
        if fromuser:
            request.fromuser = fromuser
        try:
            self._run(self.session.stub.ReleasePlace(request))
            self.sync()
        except grpc.aio.AioRpcError:
            pass  # someone else released or re-acquired it meanwhile: nothing of ours to free

    def release(self, place: str) -> None:
        """Release ``place`` if this run holds it."""
        self._release(place, fromuser=self.identity)

    def add_place(self, place: str, patterns: list[str]) -> None:
        """Create ``place`` (if missing) matching resources ``EXPORTER/GROUP/CLASS/NAME``."""
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        self.sync()
        if place not in self.session.places:
            self._run(self.session.stub.AddPlace(pb.AddPlaceRequest(name=place)))
        for pattern in patterns:
            self._run(self.session.stub.AddPlaceMatch(
                pb.AddPlaceMatchRequest(placename=place, pattern=pattern)))
        self.sync()

    def resources(self) -> list[str]:
        """Paths ``EXPORTER/GROUP/CLASS/NAME`` of every exported resource."""
        self.sync()
        return sorted(f"{exporter}/{group}/{res.cls}/{name}"
                      for exporter, groups in self.session.resources.items()
                      for group, entries in groups.items() for name, res in entries.items())

    def tpm_endpoint(self, place: str, resource: str | None = None) -> TpmEndpoint:
        """The TPM NetworkService of an acquired place.

        Args:
            resource: the resource's name when the place has several NetworkServices.
        """
        found = self.session.places[place]
        services = {name: entry for (name, cls), entry in
                    self.session.get_target_resources(found).items() if cls == TPM_RESOURCE_CLASS}
        if resource is not None:
            chosen = services.get(resource)
        elif len(services) == 1:
            chosen = next(iter(services.values()))
        else:
            chosen = services.get("tpm")
        if chosen is None:
            raise TargetError(
                f"labgrid place {place!r} has no TPM resource "
                f"({TPM_RESOURCE_CLASS} named {resource or 'tpm'!r}; found: "
                f"{', '.join(sorted(services)) or 'none'})")
        name = resource or next(n for n, e in services.items() if e is chosen)
        return TpmEndpoint(place, name, str(chosen.args["address"]), int(chosen.args["port"]))

    def close(self) -> None:
        try:
            self._run(self.session.stop(), 5.0)
            self._run(self.session.close(), 5.0)
        except Exception:
            pass
