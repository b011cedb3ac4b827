"""The command log: one record per TPM exchange.

A transport appends one :class:`Exchange` for every command it carries, with
its timing, response code and bus cost. Records are plain tuples so that
logging costs well under a microsecond on top of the TPM's own time; the
pytest plugin drains the log into the results store after each test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple


class Exchange(NamedTuple):
    """One TPM command and its response.

    Attributes:
        seq: position in this log, from 0.
        t_start: wall-clock time (UNIX seconds) when the command was sent.
        test: the test (pytest node id) or activity that issued it.
        command_code: TPM_CC value.
        command: TCG name, e.g. ``TPM2_GetRandom``.
        cmd_size: command bytes sent.
        rsp_size: response bytes received (0 if none).
        rc: response code (-1 if no response arrived).
        rc_name: TCG name of ``rc``, e.g. ``TPM_RC_AUTH_FAIL (session 1)``.
        duration_s: from the first command byte sent to the last response byte.
        retries: bus-level recovery retries (SPI wait-state limits, I2C NACKs,
            responseRetry); a command resent after TPM_RC_RETRY/YIELDED/TESTING
            is a record of its own.
        bus_transactions: bus transactions or frames used (0 for sockets).
        bus_bytes: bytes moved on the bus, headers included (0 for sockets).
        locality: TPM locality the command was sent in.
        error: transport error text if the exchange failed, else "".
    """

    seq: int
    t_start: float
    test: str
    command_code: int
    command: str
    cmd_size: int
    rsp_size: int
    rc: int
    rc_name: str
    duration_s: float
    retries: int
    bus_transactions: int
    bus_bytes: int
    locality: int
    error: str


FIELDS = Exchange._fields


class ExchangeLog:
    """An append-only, in-memory log of exchanges with a current-activity tag.

    Args:
        keep: maximum records held before the oldest are handed to ``overflow``
            (or dropped if there is none); drain regularly to avoid it.
    """

    def __init__(self, keep: int = 1_000_000) -> None:
        self._records: list[Exchange] = []
        self._seq = 0
        self.activity = ""
        self.keep = keep
        self.overflow: Callable[[list[Exchange]], None] | None = None

    def next_seq(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    def append(self, record: Exchange) -> None:
        self._records.append(record)
        if len(self._records) > self.keep:
            spill, self._records = self._records, []
            if self.overflow is not None:
                self.overflow(spill)

    def drain(self) -> list[Exchange]:
        """Return and forget every record held."""
        out, self._records = self._records, []
        return out

    def peek(self) -> list[Exchange]:
        return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self._records))
