"""The embedded results store: one SQLite file per results folder.

Everything a run produces lands here, in one schema: test verdicts, every
TPM exchange, rig telemetry, campaign points and events. pytest-xdist
workers and the telemetry sampler write concurrently (WAL, busy timeout);
each write is one transaction, so a killed run loses nothing it had written.
Reports and analysis read it with pandas.

Schema version 1. A newer harness migrates older stores on open; an older
harness refuses a newer store with a clear error.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import StoreError
from harness.secrets import scrub, scrub_json
from harness.results.exchange_log import FIELDS as EXCHANGE_FIELDS
from harness.results.exchange_log import Exchange

SCHEMA_VERSION = 1
STORE_FILE = "store.sqlite"
_READ_TABLES = ("tests", "exchanges", "telemetry", "points", "events", "artifacts")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tests (
    id INTEGER PRIMARY KEY,
    nodeid TEXT NOT NULL,
    outcome TEXT NOT NULL,          -- passed failed error skipped xfailed xpassed
    duration_s REAL NOT NULL,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    markers TEXT NOT NULL,          -- JSON list of marker names
    requirements TEXT NOT NULL,     -- JSON list of requirement ids
    spec TEXT NOT NULL,             -- spec sections named by the test
    message TEXT NOT NULL,          -- one-line reason for failures and skips
    longrepr TEXT NOT NULL,
    worker TEXT NOT NULL,
    point_id TEXT
);
CREATE TABLE IF NOT EXISTS exchanges (
    id INTEGER PRIMARY KEY,
    worker TEXT NOT NULL,
    seq INTEGER NOT NULL,
    t_start REAL NOT NULL,
    test TEXT NOT NULL,
    command_code INTEGER NOT NULL,
    command TEXT NOT NULL,
    cmd_size INTEGER NOT NULL,
    rsp_size INTEGER NOT NULL,
    rc INTEGER NOT NULL,
    rc_name TEXT NOT NULL,
    duration_s REAL NOT NULL,
    retries INTEGER NOT NULL,
    bus_transactions INTEGER NOT NULL,
    bus_bytes INTEGER NOT NULL,
    locality INTEGER NOT NULL,
    error TEXT NOT NULL,
    point_id TEXT,
    UNIQUE (worker, seq)
);
CREATE INDEX IF NOT EXISTS exchanges_test ON exchanges (test);
CREATE TABLE IF NOT EXISTS telemetry (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    source TEXT NOT NULL,           -- instrument name, e.g. chamber, psu
    quantity TEXT NOT NULL,         -- temperature, humidity, voltage, current
    value REAL NOT NULL,
    unit TEXT NOT NULL,
    point_id TEXT
);
CREATE INDEX IF NOT EXISTS telemetry_t ON telemetry (t);
CREATE TABLE IF NOT EXISTS points (
    point_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    label TEXT NOT NULL,
    params TEXT NOT NULL,           -- JSON: set points of this campaign point
    status TEXT NOT NULL,           -- running, done, failed, aborted
    started REAL,
    finished REAL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    kind TEXT NOT NULL,             -- power_cycle, brown_out, safe_state, tpm_reset, ...
    detail TEXT NOT NULL,           -- JSON
    point_id TEXT
);
CREATE TABLE IF NOT EXISTS artifacts (
    name TEXT PRIMARY KEY,          -- path relative to the results folder
    kind TEXT NOT NULL,
    test TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT ''
);
"""


_COLUMNS: dict[str, list[str]] = {}
_TYPES: dict[str, dict[str, tuple[str, bool]]] = {}


def schema_columns(table: str) -> list[str]:
    """The column names of ``table`` in this harness's own schema (not the input's)."""
    if not _COLUMNS:
        mem = sqlite3.connect(":memory:")
        mem.executescript(_SCHEMA)
        for name in _READ_TABLES + ("meta",):
            info = mem.execute(f"PRAGMA table_info({name})").fetchall()
            _COLUMNS[name] = [row[1] for row in info]
            _TYPES[name] = {row[1]: (row[2], bool(row[3])) for row in info}
        mem.close()
    if table not in _COLUMNS:
        raise StoreError(f"no table {table!r} in a results store")
    return list(_COLUMNS[table])


def schema_types(table: str) -> dict[str, tuple[str, bool]]:
    """``{column: (declared type, NOT NULL)}`` of ``table`` in this harness's own schema."""
    schema_columns(table)
    return dict(_TYPES[table])


def _json_value(text: Any, key: Any, path: Path) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"results store {path}: meta {str(key)!r:.60} is not JSON") from exc


@dataclass(frozen=True)
class TestRecord:
    """One test's verdict, as the pytest plugin records it."""

    __test__ = False  # a record, not a pytest test class

    nodeid: str
    outcome: str
    duration_s: float
    started: float
    finished: float
    markers: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    spec: str = ""
    message: str = ""
    longrepr: str = ""
    worker: str = ""
    point_id: str | None = None


@dataclass(frozen=True)
class TelemetrySample:
    t: float
    source: str
    quantity: str
    value: float
    unit: str
    point_id: str | None = None


@dataclass
class ResultsStore:
    """A handle on one results store (thread-safe; one per process).

    Args:
        path: the store file, or a results folder holding ``store.sqlite``.
    """

    path: Path
    readonly: bool = False
    _conn: sqlite3.Connection = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.readonly:
            self._open_readonly()
            return
        if self.path.is_dir() or self.path.suffix == "":
            self.path.mkdir(parents=True, exist_ok=True)
            self.path = self.path / STORE_FILE
        try:
            self._conn = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False,
                                         isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"results store {self.path}: {exc}") from exc

    def _open_readonly(self) -> None:
        """Open an input store without writing to it: no schema, no migration, no journal
        change (``mode=ro``; ``immutable`` too unless a write-ahead log holds data)."""
        if self.path.is_dir():
            self.path = self.path / STORE_FILE
        if self.path.is_symlink() or not self.path.is_file():
            raise StoreError(f"results store {self.path}: not a regular file")
        from urllib.parse import quote

        wal = self.path.with_name(self.path.name + "-wal")
        flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        try:
            self._conn = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?{flags}",
                                         uri=True, timeout=60.0, check_same_thread=False,
                                         isolation_level=None)
            tables = {r[0] for r in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"results store {self.path}: not a readable SQLite database "
                             f"({exc})") from exc
        missing = sorted({"meta", *_READ_TABLES} - tables)
        if missing:
            self._conn.close()
            raise StoreError(f"results store {self.path}: not a tpm-hil results store "
                             f"(table(s) {', '.join(missing)} missing)")
        version = self.get_meta("schema_version")
        if version is not None and (not isinstance(version, int) or version > SCHEMA_VERSION):
            self._conn.close()
            raise StoreError(f"results store {self.path} has schema version {version!r}; this "
                             f"harness reads up to {SCHEMA_VERSION}: upgrade tpm-hil")

    # -- schema ---------------------------------------------------------------

    def _migrate(self) -> None:
        # executescript commits implicitly: run it outside an explicit transaction.
        with self._lock:
            self._conn.executescript(_SCHEMA)
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", SCHEMA_VERSION)
        elif int(version) > SCHEMA_VERSION:
            raise StoreError(
                f"results store {self.path} has schema version {version}; this harness "
                f"reads up to {SCHEMA_VERSION}: upgrade tpm-hil"
            )

    class _Tx:
        def __init__(self, store: "ResultsStore") -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            self.store._conn.execute("BEGIN IMMEDIATE")
            return self.store._conn

        def __exit__(self, exc_type, exc, tb) -> None:
            try:
                self.store._conn.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._lock.release()

    def _tx(self) -> "_Tx":
        return ResultsStore._Tx(self)

    # -- meta -------------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under ``key``."""
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                      (key, json.dumps(scrub_json(value), sort_keys=True, default=str)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"results store {self.path}: meta table unreadable ({exc})") from exc
        return _json_value(row[0], key, self.path) if row else default

    def meta(self) -> dict[str, Any]:
        try:
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"results store {self.path}: meta table unreadable ({exc})") from exc
        return {str(k): _json_value(v, k, self.path) for k, v in rows}

    # -- writes -----------------------------------------------------------------

    def add_exchanges(self, records: Iterable[Exchange], worker: str = "",
                      point_id: str | None = None) -> int:
        """Append exchanges; a record already stored (same worker and seq) is skipped."""
        rows = [(worker, *r[:-1], scrub(r[-1]) if r[-1] else r[-1], point_id) for r in records]
        if not rows:
            return 0
        cols = ", ".join(("worker", *EXCHANGE_FIELDS, "point_id"))
        marks = ", ".join("?" * (len(EXCHANGE_FIELDS) + 2))
        with self._tx() as c:
            c.executemany(f"INSERT OR IGNORE INTO exchanges ({cols}) VALUES ({marks})", rows)
        return len(rows)

    def add_test(self, rec: TestRecord) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO tests (nodeid, outcome, duration_s, started, finished, markers, "
                "requirements, spec, message, longrepr, worker, point_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec.nodeid, rec.outcome, rec.duration_s, rec.started, rec.finished,
                 json.dumps(list(rec.markers)), json.dumps(list(rec.requirements)), rec.spec,
                 scrub(rec.message), scrub(rec.longrepr), rec.worker, rec.point_id),
            )

    def add_telemetry(self, samples: Iterable[TelemetrySample]) -> int:
        rows = [(s.t, s.source, s.quantity, float(s.value), s.unit, s.point_id) for s in samples]
        if rows:
            with self._tx() as c:
                c.executemany("INSERT INTO telemetry (t, source, quantity, value, unit, point_id) "
                              "VALUES (?, ?, ?, ?, ?, ?)", rows)
        return len(rows)

    def add_event(self, kind: str, detail: dict[str, Any] | None = None,
                  point_id: str | None = None, t: float | None = None) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO events (t, kind, detail, point_id) VALUES (?, ?, ?, ?)",
                      (t if t is not None else time.time(), kind,
                       json.dumps(scrub_json(detail or {}), sort_keys=True, default=str), point_id))

    def start_point(self, point_id: str, seq: int, label: str, params: dict[str, Any]) -> None:
        """Mark a campaign point as running (again, if it is being resumed)."""
        with self._tx() as c:
            c.execute(
                "INSERT INTO points (point_id, seq, label, params, status, started) "
                "VALUES (?, ?, ?, ?, 'running', ?) ON CONFLICT(point_id) DO UPDATE SET "
                "status='running', started=excluded.started, finished=NULL",
                (point_id, seq, label, json.dumps(params, sort_keys=True), time.time()),
            )

    def finish_point(self, point_id: str, status: str = "done", note: str = "") -> None:
        with self._tx() as c:
            c.execute("UPDATE points SET status=?, finished=?, note=? WHERE point_id=?",
                      (status, time.time(), scrub(note), point_id))

    def discard_point_data(self, point_id: str) -> None:
        """Remove everything recorded for an unfinished point before it is re-run."""
        with self._tx() as c:
            for table in ("tests", "exchanges", "telemetry", "events"):
                c.execute(f"DELETE FROM {table} WHERE point_id = ?", (point_id,))

    def add_artifact(self, name: str, kind: str, test: str = "", sha256: str = "") -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO artifacts (name, kind, test, sha256) "
                      "VALUES (?, ?, ?, ?)", (name, kind, test, sha256))

    # -- reads ------------------------------------------------------------------

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._conn.execute(sql, params).fetchall()

    def frame(self, table: str):
        """A pandas DataFrame of one table (tests, exchanges, telemetry, points, events)."""
        import pandas as pd

        if table not in _READ_TABLES:
            raise StoreError(f"no table {table!r} in the results store")
        columns = ", ".join(schema_columns(table))   # our schema's names, never the input's
        try:
            return pd.read_sql_query(f"SELECT {columns} FROM {table} ORDER BY rowid", self._conn)
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            raise StoreError(f"results store {self.path}: table {table} does not have the "
                             f"tpm-hil columns ({exc})") from None

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("tests", "exchanges", "telemetry", "points", "events"):
            out[table] = self._conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        return out

    def outcomes(self) -> dict[str, int]:
        return dict(self._conn.execute("SELECT outcome, COUNT(*) FROM tests GROUP BY outcome"))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
