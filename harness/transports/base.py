"""The transport contract: send a command's bytes, get the response's bytes,
within a bound, checked and logged.

Concrete transports implement :meth:`Transport._send` and
:meth:`Transport._recv`; this base class does everything every transport must
do the same way: bound each wait by the TCG duration class of the command,
check the response header before anyone parses it, append one
:class:`~harness.results.exchange_log.Exchange` to the log, and send the
command again when the TPM answers with a warning that asks for exactly that
(TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING), within a bound. Every path
(ESAPI through the TCTI, ``raw_rc``, the audit, ``tpmhil serve``) goes through
:meth:`Transport.receive`, so a chip that asks for a retry is never judged wrong.
"""

from __future__ import annotations

import abc
import logging
import time
from dataclasses import dataclass

from harness.errors import NotSupportedError, TpmTimeoutError, TransportError
from harness.results.exchange_log import Exchange, ExchangeLog
from harness.tpm.durations import CommandDurations
from harness.tpm.names import command_name, rc_name
from harness.tpm.wire import HEADER, HEADER_SIZE, check_response

log = logging.getLogger(__name__)

# Added to every command's bound to cover the host and the link itself.
DEFAULT_LINK_MARGIN_S = 1.0

# Warnings after which the TPM has not executed the command and the caller
# may send the same command again (TPM 2.0 Part 2 §6.6.3, Table 16: RC_WARN
# codes; Part 1 §37.x "Response code": TPM_RC_RETRY "the TPM was not able to
# start the command", TPM_RC_YIELDED "the TPM has suspended operation on the
# command; forward progress was made and the command may be retried",
# TPM_RC_TESTING "TPM is performing self-tests"). tpm2-tss ESAPI resends on the
# same three (esys: ``_ESYS_STATE_RESUBMISSION``).
TPM_RC_YIELDED = 0x908
TPM_RC_TESTING = 0x90A
TPM_RC_RETRY = 0x922
RESEND_WARNINGS = frozenset({TPM_RC_YIELDED, TPM_RC_TESTING, TPM_RC_RETRY})
TPM_CC_SELF_TEST = 0x143


@dataclass
class WarningResend:
    """How a transport resends a command the TPM answered with a resend warning.

    Attributes:
        max_resends: resends of one command before giving up.
        first_pause_s: pause before the first resend; doubles each time.
        max_pause_s: longest pause after TPM_RC_RETRY / TPM_RC_YIELDED.
        max_pause_testing_s: longest pause after TPM_RC_TESTING (self-tests
            run for up to the chip's self-test duration).
        max_total_s: time bound of all resends of one command; ``None``: the
            chip's TPM2_SelfTest bound (its duration class) plus the link margin.
    """

    max_resends: int = 64
    first_pause_s: float = 0.001
    max_pause_s: float = 0.05
    max_pause_testing_s: float = 0.25
    max_total_s: float | None = None


class TpmWarningError(TransportError):
    """The TPM kept answering TPM_RC_RETRY / YIELDED / TESTING beyond the bound."""


class BusCounters:
    """Per-exchange bus cost, filled by bus transports (SPI, I2C, CAN).

    Socket transports leave it at zero. The base class reads and resets it
    once per exchange.
    """

    __slots__ = ("transactions", "bytes", "retries")

    def __init__(self) -> None:
        self.transactions = 0
        self.bytes = 0
        self.retries = 0

    def take(self) -> tuple[int, int, int]:
        out = (self.transactions, self.bytes, self.retries)
        self.transactions = self.bytes = self.retries = 0
        return out


class Transport(abc.ABC):
    """Carries TPM commands to one TPM.

    Args:
        durations: per-command execution bounds (from the chip profile).
        log: where exchanges are recorded; a private log if omitted.
        link_margin_s: seconds added to each bound for the link and host.
        name: a short description used in messages, e.g. ``swtpm://127.0.0.1:2321``.
    """

    #: Whether :meth:`power_cycle` works on this transport.
    can_power_cycle = False
    #: the last error raised under ESAPI (through TransportTCTI), which the TSS itself
    #: reports only as a generic TSS2 code
    tcti_error: Exception | None = None

    def __init__(
        self,
        *,
        durations: CommandDurations | None = None,
        log: ExchangeLog | None = None,
        link_margin_s: float = DEFAULT_LINK_MARGIN_S,
        name: str = "",
    ) -> None:
        self.durations = durations or CommandDurations()
        self.log = log if log is not None else ExchangeLog()
        self.link_margin_s = link_margin_s
        self.name = name or type(self).__name__
        self.counters = BusCounters()
        self.locality = 0
        self._pending: tuple[bytes, int, float, float] | None = None
        self._closed = False
        #: None: hand warnings to the caller unchanged (a virtual chip's backend).
        self.warning_resend: WarningResend | None = WarningResend()

    # -- what a concrete transport provides ---------------------------------

    @abc.abstractmethod
    def _send(self, command: bytes) -> None:
        """Deliver the whole command to the TPM."""

    @abc.abstractmethod
    def _recv(self, deadline: float) -> bytes:
        """Return the whole response, or raise TpmTimeoutError after
        ``deadline`` (a ``time.monotonic()`` value)."""

    def _close(self) -> None:
        """Release the link. Override when there is something to release."""

    # -- the contract -------------------------------------------------------

    def transmit(self, command: bytes) -> None:
        """Send one command; pair with :meth:`receive`."""
        if self._closed:
            raise TransportError(f"{self.name}: transport is closed")
        if self._pending is not None:
            raise TransportError(
                f"{self.name}: {command_name(self._pending[1])} is still awaiting its "
                "response; a TPM executes one command at a time"
            )
        if len(command) < HEADER_SIZE:
            raise TransportError(
                f"{self.name}: command of {len(command)} bytes is shorter than a TPM header"
            )
        code = HEADER.unpack_from(command)[2]
        t_wall = time.time()
        t0 = time.perf_counter()
        self._pending = (command, code, t_wall, t0)
        try:
            self._send(command)
        except TransportError as exc:
            self._pending = None
            self._record(command, code, t_wall, t0, b"", -1, str(exc))
            raise

    def receive(self, timeout_s: float | None = None) -> bytes:
        """Receive the response to the command last transmitted.

        A response TPM_RC_RETRY, TPM_RC_YIELDED or TPM_RC_TESTING sends the
        same command again after a pause (doubling), each attempt its own
        record in the log (the warning answers stay there, so a resend is the
        record after one with a warning code), until another answer comes or
        :attr:`warning_resend` is exhausted.

        Args:
            timeout_s: an upper bound from the caller; the command's TCG
                duration bound plus the link margin always applies too.

        Raises:
            TpmTimeoutError: no complete response within the bound.
            ResponseFormatError: the response failed the header checks.
            TpmWarningError: the TPM kept asking for a resend beyond the bound.
        """
        if self._pending is None:
            raise TransportError(f"{self.name}: receive() without a command transmitted")
        command, code = self._pending[0], self._pending[1]
        response = self._receive_once(timeout_s)
        policy = self.warning_resend
        if policy is None:
            return response
        rc = HEADER.unpack_from(response)[2]
        if rc not in RESEND_WARNINGS:
            return response
        budget = policy.max_total_s
        if budget is None:
            budget = self.durations.bound(TPM_CC_SELF_TEST) + self.link_margin_s
        start = time.monotonic()
        pause = policy.first_pause_s
        resends = 0
        seen: dict[int, int] = {}
        while rc in RESEND_WARNINGS:
            seen[rc] = seen.get(rc, 0) + 1
            elapsed = time.monotonic() - start
            if resends >= policy.max_resends or elapsed + pause > budget:
                answers = ", ".join(f"{rc_name(r)} x{n}" for r, n in seen.items())
                raise TpmWarningError(
                    f"{self.name}: {command_name(code)} was answered {answers} and still not "
                    f"executed after {resends} resends in {elapsed:.2f} s (bound: "
                    f"{policy.max_resends} resends / {budget:.1f} s); the TPM keeps asking "
                    "for the command again", command_name(code))
            time.sleep(pause)
            cap = policy.max_pause_testing_s if rc == TPM_RC_TESTING else policy.max_pause_s
            pause = min(pause * 2, cap)
            resends += 1
            # Each attempt is its own record (the warning answers stay in the log);
            # ``retries`` keeps counting bus-level recovery only.
            self.transmit(command)
            response = self._receive_once(timeout_s)
            rc = HEADER.unpack_from(response)[2]
        return response

    def _receive_once(self, timeout_s: float | None) -> bytes:
        """One response, checked and logged (no resend)."""
        if self._pending is None:
            raise TransportError(f"{self.name}: receive() without a command transmitted")
        command, code, t_wall, t0 = self._pending
        bound = self.durations.bound(code) + self.link_margin_s
        if timeout_s is not None and timeout_s >= 0:
            bound = min(bound, timeout_s)
        name = command_name(code)
        try:
            response = self._recv(time.monotonic() + bound)
            _, rc = check_response(response, name)
        except TpmTimeoutError as exc:
            self._pending = None
            msg = f"{self.name}: {name} got no response within {bound:.3f} s ({exc})"
            self._record(command, code, t_wall, t0, b"", -1, msg)
            raise TpmTimeoutError(msg, name) from exc
        except TransportError as exc:
            self._pending = None
            self._record(command, code, t_wall, t0, b"", -1, str(exc))
            if exc.command is None:
                exc.command = name
            raise
        self._pending = None
        self._record(command, code, t_wall, t0, response, rc, "")
        return response

    def exchange(self, command: bytes, timeout_s: float | None = None) -> bytes:
        """Send ``command`` and return its checked response (resending on
        TPM_RC_RETRY / YIELDED / TESTING, see :meth:`receive`)."""
        self.transmit(command)
        return self.receive(timeout_s)

    def abandon(self) -> None:
        """Forget a command whose response will not be read (e.g. after a
        caller-side cancel); the next transmit starts clean."""
        self._pending = None

    def _record(
        self,
        command: bytes,
        code: int,
        t_wall: float,
        t0: float,
        response: bytes,
        rc: int,
        error: str,
    ) -> None:
        duration = time.perf_counter() - t0
        transactions, nbytes, retries = self.counters.take()
        log_ = self.log
        log_.append(
            Exchange(
                log_.next_seq(),
                t_wall,
                log_.activity,
                code,
                command_name(code),
                len(command),
                len(response),
                rc,
                rc_name(rc) if rc >= 0 else "NO_RESPONSE",
                duration,
                retries,
                transactions,
                nbytes,
                self.locality,
                error,
            )
        )

    # -- optional operations ------------------------------------------------

    def set_locality(self, locality: int) -> None:
        """Send later commands in ``locality`` (0-4)."""
        if locality != 0:
            raise NotSupportedError(f"{self.name}: only locality 0 is reachable")
        self.locality = 0

    def power_cycle(self) -> None:
        """Remove and restore the TPM's power (a TPM2_Startup is then needed)."""
        raise NotSupportedError(f"{self.name}: this target cannot be power-cycled")

    def cancel(self) -> None:
        """Ask the TPM to cancel the command in progress, where supported."""
        raise NotSupportedError(f"{self.name}: cancel is not supported")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Transport":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
