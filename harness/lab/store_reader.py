"""A results store read as untrusted data: read-only, and only the columns the lab knows.

Results folders travel between hosts, so the lab commands (``ingest``,
``trend``, ``diff``) never open a store with :class:`ResultsStore` (which
creates and migrates a schema): the file is opened read-only (a 0-byte or
foreign file stays as it was), and every table is read through the column
list of :mod:`harness.lab.pg_schema`, quoted as identifiers. The store's own
column names (``PRAGMA table_info``) are only compared with that list, never
pasted into SQL. Each column's values are checked for the type the lab
database will hold before anything is ingested, so a crafted store is
refused whole with one line naming the table, column and problem.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.errors import StoreError
from harness.lab.pg_schema import COLUMNS, column_names
from harness.results.store import STORE_FILE
from harness.bounded_file import read_bounded

#: Largest JSON side file (summary.json) read from a results folder.
MAX_JSON_BYTES = 16 * 1024 * 1024
INT32 = (-2**31, 2**31 - 1)
_ALLOWED_TYPES = {"int": ("integer",), "int32": ("integer",), "real": ("real", "integer"),
                  "text": ("text",), "json": ("text",)}


def _ident(name: str) -> str:
    """An SQLite identifier, quoted (names come from pg_schema.COLUMNS only)."""
    return '"' + name.replace('"', '""') + '"'


class StoreReader:
    """Read-only access to ``store.sqlite`` of a results folder.

    Args:
        path: the results folder, or the store file itself.

    Raises:
        StoreError: not a readable results store.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.folder = path if path.is_dir() else path.parent
        self.path = path / STORE_FILE if path.is_dir() else path
        if not self.path.is_file():
            raise StoreError(f"{self.folder}: not a results folder (no {STORE_FILE})")
        if self.path.stat().st_size == 0:
            raise StoreError(f"{self.path}: empty file, not a results store")
        self._conn = None
        try:
            tables = self._open("")
        except sqlite3.OperationalError:
            # a WAL store on a read-only copy (no -shm can be made): nobody writes it, so
            # SQLite may read it as immutable
            try:
                tables = self._open("&immutable=1")
            except sqlite3.Error as exc:
                self.close()
                raise StoreError(f"{self.path}: not a readable results store ({exc})") from None
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"{self.path}: not a readable results store ({exc})") from None
        missing = sorted({"meta", *COLUMNS} - tables)
        if missing:
            self.close()
            raise StoreError(f"{self.path}: not a results store (no table {missing[0]})")

    def _open(self, extra: str) -> set[str]:
        self.close()
        uri = "file:" + quote(str(self.path.resolve())) + "?mode=ro" + extra
        self._conn = sqlite3.connect(uri, uri=True, timeout=10.0)
        self._conn.execute("PRAGMA query_only = ON")
        return {r[0] for r in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    # -- life cycle --------------------------------------------------------------

    def close(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
            self._conn = None

    def __enter__(self) -> "StoreReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except (sqlite3.Error, OverflowError, ValueError) as exc:
            raise StoreError(f"{self.path}: cannot read: {exc}") from None

    # -- meta and side files -------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        """The meta table (values are JSON); a value that is not JSON is refused."""
        out: dict[str, Any] = {}
        for key, value in self._query("SELECT key, value FROM meta"):
            if not isinstance(key, str):
                raise StoreError(f"{self.path}: meta key {key!r} is not text")
            try:
                out[key] = json.loads(value) if isinstance(value, str) else value
            except (ValueError, RecursionError):
                raise StoreError(f"{self.path}: meta {key!r} is not JSON") from None
        return out

    @property
    def store(self) -> "StoreReader":
        """This reader (callers written for RunFolder use ``folder.store``)."""
        return self

    def counts(self) -> dict[str, int]:
        """Rows per per-run table."""
        return {t: int(self._query(f"SELECT COUNT(*) FROM {_ident(t)}")[0][0]) for t in COLUMNS}

    def outcomes(self) -> dict[str, int]:
        return {str(o): int(n) for o, n in self._query(
            "SELECT outcome, COUNT(*) FROM tests GROUP BY outcome")}

    def read_json(self, name: str, default: Any = None) -> Any:
        """A JSON file of the results folder (bounded; a broken one is refused)."""
        path = self.folder / name
        if not path.is_file():
            return default
        data = read_bounded(path, MAX_JSON_BYTES, "", StoreError)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise StoreError(f"{path}: not JSON ({type(exc).__name__})") from None

    # -- tables --------------------------------------------------------------------

    def _check_columns(self, table: str) -> None:
        present = {row[1] for row in self._query(f"PRAGMA table_info({_ident(table)})")}
        for name in column_names(table):
            if name not in present:
                raise StoreError(f"{self.path}: table {table} has no column {name!r} "
                                 "(not a tpm-hil results store of a known version)")

    def validate(self, table: str) -> None:
        """Check every value of ``table`` against the lab schema.

        Raises:
            StoreError: naming the table, column and the first bad row id.
        """
        self._check_columns(table)
        t = _ident(table)
        checks = list(self._checks(table))
        # one scan in the common case (all good); the per-check queries only name a bad row
        if not self._query(f"SELECT 1 FROM {t} WHERE {' OR '.join(f'({w})' for _, w, _ in checks)} "
                           "LIMIT 1"):
            return
        for name, where, problem in checks:
            c = _ident(name)
            bad = self._query(f"SELECT rowid, typeof({c}) FROM {t} WHERE {where} LIMIT 1")
            if bad:
                raise StoreError(f"{self.path}: table {table}, row {bad[0][0]}, column "
                                 f"{name}: {problem} (found {bad[0][1]})")

    @staticmethod
    def _checks(table: str):
        """(column, SQL condition true for a bad value, problem) for every column of ``table``."""
        for name, kind, nullable in COLUMNS[table]:
            c = _ident(name)
            types = ", ".join(f"'{x}'" for x in _ALLOWED_TYPES[kind] + (("null",) if nullable else ()))
            yield name, f"typeof({c}) NOT IN ({types})", f"expected {kind}" + (
                " or NULL" if nullable else "")
            if kind == "real":
                yield name, (f"typeof({c}) = 'real' AND ({c} > 1.7976931348623157e308 "
                             f"OR {c} < -1.7976931348623157e308)"), "not a finite number"
            if kind == "int32":
                yield name, f"{c} NOT BETWEEN {INT32[0]} AND {INT32[1]}", "out of 32-bit range"
            if kind in ("text", "json"):
                yield name, f"instr({c}, char(0)) > 0", "contains a NUL character"
            if kind == "json":
                yield name, f"json_valid({c}) = 0", "not JSON"

    def rows(self, table: str) -> tuple[list[str], list[tuple]]:
        """Column names (from the schema) and rows of ``table``, in insertion order."""
        if table not in COLUMNS:
            raise StoreError(f"no table {table!r} in a results store")
        self._check_columns(table)
        names = list(column_names(table))
        rows = self._query(f"SELECT {', '.join(map(_ident, names))} FROM {_ident(table)} "
                           "ORDER BY rowid")
        reals = [i for i, (_, kind, _) in enumerate(COLUMNS[table]) if kind == "real"]
        for row in rows:
            for i in reals:
                if isinstance(row[i], float) and not math.isfinite(row[i]):
                    raise StoreError(f"{self.path}: table {table}, column {names[i]}: "
                                     f"{row[i]} is not a finite number")
        return names, rows
