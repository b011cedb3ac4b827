"""Talking to a labgrid coordinator: list places, acquire one, find its TPM.

labgrid (>= 24, gRPC coordinator) owns the lab's places and their locks;
tpm-hil only asks it. Acquiring is the coordinator's atomic AcquirePlace, so
two runs never hold one place: the second is told who holds it.

labgrid's own workflow comes first: a place the user acquired with
``labgrid-client -p PLACE acquire``, or that its holder opened to the user with
``labgrid-client -p PLACE allow HOST/USER``, is used as it is (labgrid's identity:
``$LG_HOSTNAME``/``$LG_USERNAME``, else the host and login names) and left
acquired. Waiting for a busy place goes through a labgrid reservation
(filter ``name=PLACE``), so queued runs get the place in the coordinator's
order (priority, then age), as ``labgrid-client reserve --wait`` would.

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
import socket
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


def labgrid_identity() -> str:
    """``HOST/USER`` as labgrid-client names this user (what ``acquire`` and ``allow`` use)."""
    host = os.environ.get("LG_HOSTNAME", socket.gethostname())
    return f"{host}/{os.environ.get('LG_USERNAME', getuser())}"


#: How often a waiting reservation is polled (the coordinator also expires
#: reservations that are not polled for 60 s; labgrid-client polls every second).
RESERVATION_POLL_S = 1.0


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
            #: set for a place the user holds: labgrid's checks then see the user
            as_user: str | None = None

            def getuser(self) -> str:  # one labgrid identity per run
                return self.as_user or user

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
        self.reservation: str | None = None

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

    def usable_by_user(self, place: str) -> bool:
        """Whether the user already holds ``place`` in labgrid's sense: acquired by
        their labgrid identity, or allowed to it by the holder."""
        self.sync()
        found = self.session.places.get(place)
        if found is None:
            self.holder(place)  # raises, naming the places there are
        me = labgrid_identity()
        usable = bool(found.acquired) and (found.acquired == me or me in (found.allowed or ()))
        if usable:  # act as the user for this place, as labgrid-client would
            self.session.as_user = me.split("/", 1)[1]
        return usable

    def acquire(self, place: str, wait_s: float = 0.0) -> None:
        """Acquire ``place`` atomically on the coordinator, waiting up to ``wait_s``
        through a labgrid reservation when it is busy.

        Raises:
            TargetError: the place is unknown, or held by someone else past the wait.
        """
        import grpc
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        holder = self._reclaim_dead_run(place)
        if not holder:
            try:
                self._run(self.session.stub.AcquirePlace(pb.AcquirePlaceRequest(placename=place)))
                self.sync()
                return
            except grpc.aio.AioRpcError as exc:
                holder = self.holder(place) or exc.details()
        if wait_s <= 0:
            raise TargetError(f"labgrid place {place!r} is held by {holder}; "
                              "two runs never share a board (wait=SECONDS to queue)")
        self._acquire_through_reservation(place, wait_s, holder)

    def _reclaim_dead_run(self, place: str) -> str | None:
        """The place's holder, after releasing it from a dead run of this host (once)."""
        holder = self.holder(place)
        if holder and _dead_local_run(holder, self.session.gethostname()):
            self._release(place, fromuser=holder)  # the coordinator decides whether it may
            holder = self.holder(place)
        return holder

    def _acquire_through_reservation(self, place: str, wait_s: float, holder: str) -> None:
        import grpc
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        request = pb.CreateReservationRequest(
            filters={"main": pb.Reservation.Filter(filter={"name": place})}, prio=0.0)
        token = self._run(self.session.stub.CreateReservation(request)).reservation.token
        deadline = time.monotonic() + wait_s
        try:
            while True:
                state = self._run(self.session.stub.PollReservation(
                    pb.PollReservationRequest(token=token))).reservation.state
                if state == 1:  # ReservationState.allocated: the place is ours to acquire
                    self._run(self.session.stub.AcquirePlace(pb.AcquirePlaceRequest(placename=place)))
                    self.sync()
                    self.reservation = token
                    return
                if state not in (0, 1):  # acquired by someone else, expired or invalid
                    raise TargetError(f"labgrid reservation for place {place!r} ended "
                                      f"(state {state}) before it was allocated")
                if time.monotonic() >= deadline:
                    holder = self.holder(place) or holder
                    raise TargetError(f"labgrid place {place!r} is held by {holder}; still "
                                      f"waiting after {wait_s:g} s (reservation {token})")
                time.sleep(RESERVATION_POLL_S)
        except grpc.aio.AioRpcError as exc:
            self._cancel_reservation(token)
            raise TargetError(f"labgrid place {place!r}: reservation failed ({exc.details()})") from exc
        except BaseException:
            self._cancel_reservation(token)
            raise

    def _cancel_reservation(self, token: str) -> None:
        import grpc
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        try:
            self._run(self.session.stub.CancelReservation(pb.CancelReservationRequest(token=token)))
        except grpc.aio.AioRpcError:
            pass  # expired meanwhile: nothing left to cancel

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
        """Release ``place`` if this run holds it, and end the reservation it came through."""
        self._release(place, fromuser=self.identity)
        if self.reservation is not None:
            self._cancel_reservation(self.reservation)
            self.reservation = None

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
