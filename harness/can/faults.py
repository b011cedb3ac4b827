"""Fault injection for the gateway simulator.

A fault plan is a comma-separated list of ``KIND@N[:VALUE]``, where N is the
gateway's count of distinct TPM commands (1 = the first command after the
gateway started) and VALUE a number whose meaning depends on KIND:

=============  ==========================================================
``lose@N``      the first frame of the response to command N is lost
``lose_cf@N``   the second frame (first consecutive frame) of that
                response is lost (CAN only; an ISO-TP reassembly timeout)
``drop_cmd@N``  command N's first transmission never reaches the gateway
``fc_delay@N:S`` the flow-control frame answering command N's first frame
                is sent S seconds late (CAN only, multi-frame commands)
``busoff@N:S``  the gateway's controller goes bus-off as it answers
                command N: nothing in or out for S seconds
``dup@N:S``     the response to command N is sent again S seconds later
``busy@N:K``    the first K transmissions of command N get BUSY
``corrupt@N``   one bit of the response to command N is flipped on the
                wire (the host sees a CRC-32 failure)
=============  ==========================================================

Each fault fires once. Example: ``lose@2,busy@3:2,dup@4:0.2``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from harness.errors import ConfigError

KINDS = {
    "lose": False, "lose_cf": False, "drop_cmd": False, "corrupt": False,
    "fc_delay": True, "busoff": True, "dup": True, "busy": True,
}
CAN_ONLY = ("lose_cf", "fc_delay")
DEFAULT_VALUES = {"fc_delay": 2.0, "busoff": 2.0, "dup": 0.2, "busy": 1}


@dataclass
class Fault:
    """One planned fault."""

    kind: str
    command: int
    value: float = 0.0
    fired: bool = False

    def __str__(self) -> str:
        return f"{self.kind}@{self.command}" + (f":{self.value:g}" if KINDS[self.kind] else "")


@dataclass
class FaultPlan:
    """The faults a gateway simulator injects, and which have fired."""

    faults: list[Fault] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str | None, *, can: bool = True) -> "FaultPlan":
        """Parse ``KIND@N[:VALUE],...``.

        Raises:
            ConfigError: unknown kind, bad command number or value, or a
                CAN-only fault on a serial gateway; the message names the item.
        """
        faults: list[Fault] = []
        for item in (text or "").replace(";", ",").split(","):
            item = item.strip()
            if not item:
                continue
            kind, at, rest = item.partition("@")
            kind = kind.strip().lower()
            if kind not in KINDS:
                raise ConfigError(f"fault {item!r}: unknown kind {kind!r} (known: {', '.join(KINDS)})")
            if not at:
                raise ConfigError(f"fault {item!r}: expected {kind}@COMMAND_NUMBER")
            if kind in CAN_ONLY and not can:
                raise ConfigError(f"fault {item!r}: {kind} applies to CAN gateways only")
            num, colon, value = rest.partition(":")
            try:
                command = int(num)
                val = float(value) if colon else float(DEFAULT_VALUES.get(kind, 0))
            except ValueError:
                raise ConfigError(f"fault {item!r}: command number and value must be numbers") from None
            if command < 1 or val < 0:
                raise ConfigError(f"fault {item!r}: command number must be >= 1 and value >= 0")
            if colon and not KINDS[kind]:
                raise ConfigError(f"fault {item!r}: {kind} takes no value")
            faults.append(Fault(kind, command, val))
        return cls(faults)

    def take(self, kind: str, command: int) -> Fault | None:
        """The unfired fault of ``kind`` at ``command``, marked fired."""
        for fault in self.faults:
            if fault.kind == kind and fault.command == command and not fault.fired:
                fault.fired = True
                return fault
        return None

    def pending(self, kind: str, command: int) -> Fault | None:
        for fault in self.faults:
            if fault.kind == kind and fault.command == command and not fault.fired:
                return fault
        return None

    @property
    def fired(self) -> list[str]:
        return [str(f) for f in self.faults if f.fired]

    def __str__(self) -> str:
        return ",".join(str(f) for f in self.faults)


class FaultTap:
    """Frame-level faults a link applies to what the gateway sends/receives.

    The gateway arms it; the link asks it about every frame. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busoff_until = 0.0
        self._drop_data_frame: int | None = None  # index among the next data frames
        self._fc_delay: float | None = None
        self.dropped = 0
        self.delayed = 0

    def busoff(self, seconds: float) -> None:
        with self._lock:
            self._busoff_until = time.monotonic() + seconds

    def drop_next_data_frame(self, skip: int = 0) -> None:
        """Lose the (skip+1)-th data frame (SF/FF/CF) sent from now on."""
        with self._lock:
            self._drop_data_frame = skip

    def delay_next_flow_control(self, seconds: float) -> None:
        with self._lock:
            self._fc_delay = seconds

    def is_bus_off(self) -> bool:
        return time.monotonic() < self._busoff_until

    def on_tx(self, is_flow_control: bool) -> float | None:
        """Decide about one outgoing frame: None = lost, else delay in seconds."""
        with self._lock:
            if time.monotonic() < self._busoff_until:
                self.dropped += 1
                return None
            if is_flow_control:
                if self._fc_delay is not None:
                    delay, self._fc_delay = self._fc_delay, None
                    self.delayed += 1
                    return delay
                return 0.0
            if self._drop_data_frame is not None:
                if self._drop_data_frame == 0:
                    self._drop_data_frame = None
                    self.dropped += 1
                    return None
                self._drop_data_frame -= 1
            return 0.0

    def on_rx(self) -> bool:
        """Whether an incoming frame is received (False while bus-off)."""
        if time.monotonic() < self._busoff_until:
            with self._lock:
                self.dropped += 1
            return False
        return True
