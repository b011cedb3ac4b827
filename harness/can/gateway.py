"""The gateway simulator: the MCU side of the gateway protocol.

It receives gateway messages from a link (ISO-TP on CAN, or a framed serial
line), executes each TPM command once on a backend transport (a spawned
swtpm, a virtual SPI chip, any target string) and answers, following the
rules a firmware implementation must follow (docs/gateway-protocol.md):

- a request with a sequence number already answered is answered again from
  the one-entry replay cache, never executed twice;
- a request that arrives while a command executes gets BUSY (EXECUTING for
  the same sequence number, REJECTED for another);
- a damaged request gets ERROR BAD_CRC with sequence 0;
- PING is answered with ALIVE at any time and clears the replay cache when idle;
- RESET clears the cache (GATEWAY) or power-cycles the TPM (TPM_POWER).

Faults from a :class:`~harness.can.faults.FaultPlan` are injected on the way.
"""

from __future__ import annotations

import logging
import threading

from harness.can import protocol as p
from harness.can.faults import FaultPlan, FaultTap
from harness.can.link import MessageLink
from harness.errors import HarnessError, NotSupportedError
from harness.tpm.wire import HEADER_SIZE
from harness.transports.base import Transport

log = logging.getLogger(__name__)

EXECUTING_RETRY_MS = 200   # BUSY/EXECUTING: the response will follow
OTHER_RETRY_MS = 100       # BUSY/REJECTED: another command is executing
REJECTED_RETRY_MS = 20     # BUSY/REJECTED: not ready for other reasons


class GatewaySimulator:
    """Bridges a message link to a backend TPM transport, in a thread.

    Args:
        link: the gateway's end of the link (identifiers swapped vs the host).
        backend: where TPM commands are executed; not closed by the simulator.
        faults: faults to inject (none if omitted).
        tap: the link's frame-level fault tap (must be the one given to the link).
        description: what ALIVE reports.

    Attributes:
        stats: ``requests``, ``commands`` (distinct, executed), ``replays``,
            ``busy``, ``errors``, ``damaged`` counts.
    """

    def __init__(self, link: MessageLink, backend: Transport, *, faults: FaultPlan | None = None,
                 tap: FaultTap | None = None, description: str = "tpm-hil gateway simulator") -> None:
        self.link = link
        self.backend = backend
        self.faults = faults or FaultPlan()
        self.tap = tap or FaultTap()
        self.description = description
        self.stats = {"requests": 0, "commands": 0, "replays": 0, "busy": 0, "errors": 0, "damaged": 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._executing: int | None = None       # seq being executed
        self._cache: tuple[int, bytes] | None = None  # (seq, answer bytes)
        self._current: tuple[int, int] | None = None  # (seq, command index) last accepted
        self._busy_left = 0
        self._timers: list[threading.Timer] = []

    # -- life cycle ------------------------------------------------------------

    def start(self) -> "GatewaySimulator":
        self._thread = threading.Thread(target=self._loop, name="gateway-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        for timer in self._timers:
            timer.cancel()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def serve_forever(self) -> None:
        """Run in the calling thread until :meth:`stop` (CLI use)."""
        self._loop()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                raw = self.link.recv(0.1)
            except HarnessError as exc:
                log.warning("gateway link: %s", exc)
                self._stop.wait(0.1)
                continue
            if raw is not None:
                self._handle(raw)

    # -- requests --------------------------------------------------------------

    def _handle(self, raw: bytes) -> None:
        self.stats["requests"] += 1
        try:
            msg = p.decode(raw)
        except p.GatewayFrameError as exc:
            self.stats["damaged"] += 1
            text = str(exc)
            if exc.code in (p.ErrorCode.BAD_CRC, None):
                # short or damaged: its sequence field cannot be trusted (section 4, rule 6)
                self._answer(p.MessageType.ERROR, 0, p.error_payload(p.ErrorCode.BAD_CRC, text))
            else:
                self._answer(p.MessageType.ERROR, p.peek_seq(raw), p.error_payload(exc.code, text))
            return
        if msg.seq == 0:  # reserved: a host never sends it (section 4); never executed
            self._error(0, p.ErrorCode.BAD_TYPE, "sequence 0 is reserved; requests use 1..65535")
            return
        if msg.type == p.MessageType.COMMAND and not 0 <= msg.locality <= p.MAX_LOCALITY:
            self._error(msg.seq, p.ErrorCode.BAD_LOCALITY,
                        f"locality {msg.locality} is outside 0..{p.MAX_LOCALITY}")
            return
        if msg.type == p.MessageType.COMMAND:
            self._on_command(msg)
        elif msg.type == p.MessageType.PING:
            self._on_ping(msg)
        elif msg.type == p.MessageType.RESET:
            self._on_reset(msg)
        else:
            self._error(msg.seq, p.ErrorCode.BAD_TYPE, f"{msg.type.name} is not a host request")

    def _on_ping(self, msg: p.Message) -> None:
        with self._lock:
            executing = self._executing is not None
            if not executing:
                self._cache = None
        info = p.AliveInfo(p.MAX_PAYLOAD, self.backend.can_power_cycle, executing, self.description)
        self._arm_flow_control_fault()
        self._answer(p.MessageType.ALIVE, msg.seq, info.encode())

    def _on_reset(self, msg: p.Message) -> None:
        with self._lock:
            if self._executing is not None:
                self._busy(msg.seq, p.BusyState.REJECTED, OTHER_RETRY_MS)
                return
            self._cache = None
        kind = msg.payload[0] if msg.payload else -1
        if kind == p.ResetKind.TPM_POWER:
            try:
                self.backend.power_cycle()
            except NotSupportedError as exc:
                self._error(msg.seq, p.ErrorCode.NOT_SUPPORTED, str(exc))
                return
            except HarnessError as exc:
                self._error(msg.seq, p.ErrorCode.BACKEND_FAILED, str(exc))
                return
        elif kind != p.ResetKind.GATEWAY:
            self._error(msg.seq, p.ErrorCode.NOT_SUPPORTED, f"unknown reset kind {kind}")
            return
        self._arm_flow_control_fault()
        self._answer(p.MessageType.RESET_DONE, msg.seq, bytes([kind]))

    def _on_command(self, msg: p.Message) -> None:
        with self._lock:
            if self._executing is not None:
                same = self._executing == msg.seq
                self._busy(msg.seq, p.BusyState.EXECUTING if same else p.BusyState.REJECTED,
                           EXECUTING_RETRY_MS if same else OTHER_RETRY_MS)
                return
            if self._cache is not None and self._cache[0] == msg.seq:
                self.stats["replays"] += 1
                answer = self._cache[1]
                replay = True
            else:
                replay = False
                if self._current is None or self._current[0] != msg.seq:
                    index = self.stats["commands"] + 1
                    self.stats["commands"] = index
                    self._current = (msg.seq, index)
                    if self.faults.take("drop_cmd", index):
                        return  # as if its frames never reached the gateway
                    busy = self.faults.take("busy", index)
                    self._busy_left = int(busy.value) if busy else 0
                if self._busy_left > 0:
                    self._busy_left -= 1
                    self._busy(msg.seq, p.BusyState.REJECTED, REJECTED_RETRY_MS)
                    return
                if len(msg.payload) < HEADER_SIZE:
                    self._error(msg.seq, p.ErrorCode.BAD_LENGTH,
                                f"TPM command of {len(msg.payload)} bytes is shorter than its header")
                    return
                self._executing = msg.seq
        if replay:
            self._send(answer)
            return
        worker = threading.Thread(target=self._execute, args=(msg, self._current[1]),
                                  name=f"gateway-exec-{msg.seq}", daemon=True)
        worker.start()

    def _execute(self, msg: p.Message, index: int) -> None:
        answer = None
        if msg.locality != self.backend.locality:
            try:
                self.backend.set_locality(msg.locality)
            except Exception as exc:  # noqa: BLE001 - the gateway cannot drive that locality
                answer = self._error_bytes(msg.seq, p.ErrorCode.BAD_LOCALITY,
                                           f"locality {msg.locality}: {exc}")
        if answer is None:
            try:
                response = self.backend.exchange(msg.payload)
                answer = p.encode(p.MessageType.RESPONSE, msg.seq, response)
            except Exception as exc:  # noqa: BLE001 - any backend failure is one ERROR answer
                self.backend.abandon()
                answer = self._error_bytes(msg.seq, p.ErrorCode.BACKEND_FAILED, str(exc))
        with self._lock:
            self._cache = (msg.seq, answer)
            self._executing = None
        self._arm_flow_control_fault()  # before the host can send its next command
        self._deliver(answer, index)

    # -- answers and faults ----------------------------------------------------

    def _deliver(self, answer: bytes, index: int) -> None:
        wire = answer
        if (fault := self.faults.take("busoff", index)) is not None:
            self.tap.busoff(fault.value)
        if self.faults.take("lose", index):
            self.tap.drop_next_data_frame(0)
        if self.faults.take("lose_cf", index):
            self.tap.drop_next_data_frame(1)
        if self.faults.take("corrupt", index):
            flipped = bytearray(answer)
            flipped[len(flipped) // 2] ^= 0x10
            wire = bytes(flipped)
        if (fault := self.faults.take("dup", index)) is not None:
            timer = threading.Timer(fault.value, self._send, (answer,))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        self._send(wire)

    def _arm_flow_control_fault(self) -> None:
        fault = self.faults.take("fc_delay", self.stats["commands"] + 1)
        if fault is not None:
            self.tap.delay_next_flow_control(fault.value)

    def _busy(self, seq: int, state: p.BusyState, retry_ms: int) -> None:
        self.stats["busy"] += 1
        self._answer(p.MessageType.BUSY, seq, p.busy_payload(retry_ms, state))

    def _error_bytes(self, seq: int, code: p.ErrorCode, detail: str) -> bytes:
        self.stats["errors"] += 1
        return p.encode(p.MessageType.ERROR, seq, p.error_payload(code, detail))

    def _error(self, seq: int, code: p.ErrorCode, detail: str) -> None:
        self._send(self._error_bytes(seq, code, detail))

    def _answer(self, mtype: p.MessageType, seq: int, payload: bytes) -> None:
        self._send(p.encode(mtype, seq, payload))

    def _send(self, wire: bytes) -> None:
        if self._stop.is_set():
            return
        try:
            self.link.send(wire)
        except HarnessError as exc:
            log.warning("gateway could not answer: %s", exc)
