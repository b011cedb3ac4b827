"""Load results folders into the lab-wide PostgreSQL database (psycopg 3).

Idempotent: every row keeps its run id and its id in the embedded store, and
is inserted with ``ON CONFLICT DO NOTHING``; ingesting a run twice changes
nothing, ingesting it again after it grew adds only the new rows. Each run
is one transaction, so a crash mid-ingest leaves either all or none of that
run's new rows. Rows are streamed with COPY into a temporary table and moved
with one INSERT ... SELECT per table, so a million exchanges take seconds.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError, StoreError
from harness.lab.pg_schema import LATEST, column_names, migrate, schema_version
from harness.lab.runs import TABLES, RunInfo, iter_runs, table_rows
from harness.lab.store_reader import StoreReader

ENV_DB = "TPMHIL_DB"
CONNECT_TIMEOUT_S = 10
KEYS = {"points": ("run_id", "point_id")}


def database_url(explicit: str | None) -> str:
    """The PostgreSQL URL from ``--db`` or $TPMHIL_DB."""
    url = explicit or os.environ.get(ENV_DB)
    if not url:
        raise ConfigError(f"no lab database: give --db postgresql://... or set {ENV_DB}")
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"--db {_redact(url)!r}: expected a postgresql:// URL")
    return url


def connect(url: str, migrate_schema: bool = True):
    """Open a psycopg connection; migrate the schema, or (read-only use) only check it.

    Args:
        migrate_schema: False for read-only commands (trend, diff): nothing is
            created, so a role with only SELECT rights is enough.

    Raises:
        StoreError: the server cannot be reached or refuses us, or (read-only)
            the database holds no tpm-hil schema or a newer one.
    """
    import psycopg

    try:
        conn = psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise StoreError(f"lab database {_redact(url)}: cannot connect: "
                         f"{_redact_text(str(exc), url)}") from None
    try:
        if migrate_schema:
            migrate(conn)
        else:
            _check_schema(conn, url)
    except psycopg.Error as exc:
        conn.close()
        raise StoreError(f"lab database {_redact(url)}: {' '.join(str(exc).split())}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _check_schema(conn, url: str) -> None:
    version = schema_version(conn)
    conn.rollback()  # leave no transaction open on a read-only session
    if version == 0:
        raise StoreError(f"lab database {_redact(url)} holds no tpm-hil schema: "
                         "run tpmhil ingest first")
    if version > LATEST:
        raise StoreError(f"lab database schema is at version {version}; this harness knows "
                         f"up to {LATEST}: upgrade tpm-hil")


def _redact_text(text: str, url: str) -> str:
    """``text`` without the passwords of ``url`` (driver messages may quote them)."""
    for password in _passwords(url):
        text = text.replace(password, "***")
    return text


def _passwords(url: str) -> list[str]:
    found = [m.group(1) for m in re.finditer(r"(?i)[?&]password=([^&#]+)", url)]
    if "@" in url:
        creds = url.rsplit("@", 1)[0].partition("://")[2]
        found.append(creds.partition(":")[2])
    return [p for p in found if p]


def _redact(url: str) -> str:
    """The URL without its password (userinfo or ``password=`` parameter)."""
    url = re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", url)
    if "@" not in url:
        return url
    head, tail = url.rsplit("@", 1)
    scheme, _, creds = head.partition("://")
    user, has_password, _ = creds.partition(":")
    return f"{scheme}://{user}{':***' if has_password else ''}@{tail}"


@dataclass
class IngestReport:
    """Rows added per table (0 everywhere on a repeated ingest)."""

    runs: list[str] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)

    def count(self, table: str, added: int, seen: int) -> None:
        self.added[table] = self.added.get(table, 0) + added
        self.seen[table] = self.seen.get(table, 0) + seen


def _upsert_run(conn, info: RunInfo) -> int:
    row = conn.execute("SELECT content_key FROM runs WHERE run_id = %s", (info.run_id,)).fetchone()
    if row is not None and row[0] != info.content_key():
        raise StoreError(f"run id {info.run_id} is already in the lab database for a different "
                         f"run (created at another time or on another target); not ingesting "
                         f"{info.source_path}")
    conn.execute(
        "INSERT INTO runs (run_id, kind, created, finished, harness_version, target_uri, bus, "
        "chip_model, firmware, profile, verdict, place, parent_run, source_path, content_key, "
        "meta, summary) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
        "ON CONFLICT (run_id) DO UPDATE SET finished = EXCLUDED.finished, "
        "verdict = EXCLUDED.verdict, summary = EXCLUDED.summary, meta = EXCLUDED.meta "
        "WHERE (runs.finished, runs.verdict, runs.summary, runs.meta) IS DISTINCT FROM "
        "(EXCLUDED.finished, EXCLUDED.verdict, EXCLUDED.summary, EXCLUDED.meta)",
        (info.run_id, info.kind, info.created, info.finished, info.harness_version,
         info.target_uri, info.bus, info.chip_model, info.firmware, info.profile, info.verdict,
         info.place, info.parent_run, info.source_path, info.content_key(),
         json.dumps(info.meta, sort_keys=True, default=str),
         json.dumps(info.summary, sort_keys=True, default=str)))
    return 1 if row is None else 0


def _copy_table(conn, run_id: str, folder: StoreReader, table: str) -> tuple[int, int]:
    """Move one store table into PostgreSQL; return (rows added, rows read).

    Every identifier below comes from :data:`harness.lab.pg_schema.COLUMNS`
    and is quoted with ``psycopg.sql.Identifier``; the store's own column
    names are never used (a crafted store once ran ``COPY ... FROM PROGRAM``
    through them).
    """
    from psycopg import sql

    columns, rows = table_rows(folder, table)
    if not rows:
        return 0, 0
    names = ["run_id", *column_names(table)]
    if columns != names[1:]:  # the reader hands out the schema's columns only
        raise StoreError(f"{folder.path}: table {table} read with unexpected columns")
    target = sql.Identifier(table)
    stage = sql.Identifier(f"stage_{table}")
    cols = sql.SQL(", ").join(map(sql.Identifier, names))
    conn.execute(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS")
                 .format(stage, target))
    with conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
        for row in rows:  # JSON columns are JSON text in the store already
            copy.write_row((run_id, *row))
    key = sql.SQL(", ").join(map(sql.Identifier, KEYS.get(table, ("run_id", "id"))))
    if table == "points":  # a resumed campaign point changes status: keep the newest
        query = sql.SQL(
            "INSERT INTO points ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({key}) DO UPDATE "
            "SET status = EXCLUDED.status, started = EXCLUDED.started, "
            "finished = EXCLUDED.finished, note = EXCLUDED.note "
            "WHERE (points.status, points.started, points.finished, points.note) "
            "IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.started, EXCLUDED.finished, "
            "EXCLUDED.note)").format(cols=cols, stage=stage, key=key)
    else:
        query = sql.SQL("INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} "
                        "ON CONFLICT ({key}) DO NOTHING").format(
            target=target, cols=cols, stage=stage, key=key)
    added = conn.execute(query).rowcount
    return added, len(rows)


def _check_pg_text(info: RunInfo) -> None:
    """PostgreSQL text and JSONB cannot hold NUL: refuse it here, before any run is written."""
    for name, value in vars(info).items():
        text = json.dumps(value, sort_keys=True, default=str) if isinstance(value, dict) else value
        if isinstance(text, str) and ("\x00" in text or "\\u0000" in text):
            raise StoreError(f"{info.source_path}: run field {name} contains a NUL character")


def check_runs(paths: list[str | Path]) -> list[RunInfo]:
    """Read and check every run under ``paths`` before anything is written.

    Raises:
        StoreError: the first run that is unreadable or holds a value the lab
            database would not take; nothing has been ingested then.
    """
    infos, seen = [], {}
    for info, reader in iter_runs(paths):
        try:
            for table in TABLES:
                reader.validate(table)
        finally:
            reader.close()
        _check_pg_text(info)
        first = seen.setdefault(info.run_id, info)
        if first.content_key() != info.content_key():
            raise StoreError(f"run id {info.run_id} names two different runs: "
                             f"{first.source_path} and {info.source_path}")
        infos.append(info)
    return infos


def ingest(paths: list[str | Path], url: str | None = None, conn=None) -> IngestReport:
    """Ingest every run under ``paths``, after checking all of them.

    Args:
        paths: results folders, fan-out run folders, or folders of them.
        url: PostgreSQL URL (``--db``/$TPMHIL_DB) when ``conn`` is not given.
        conn: an open, migrated connection (tests and benchmarks pass one).

    Raises:
        StoreError: an input is not a valid results folder (nothing ingested),
            or the database refused a run (that run's rows rolled back).
    """
    import psycopg

    check_runs(paths)
    own = conn is None
    if own:
        conn = connect(database_url(url))
    report = IngestReport()
    try:
        for info, folder in iter_runs(paths):
            try:
                with conn.transaction():
                    report.count("runs", _upsert_run(conn, info), 1)
                    for table in TABLES:
                        report.count(table, *_copy_table(conn, info.run_id, folder, table))
                report.runs.append(info.run_id)
            except psycopg.Error as exc:
                raise StoreError(f"lab database refused run {info.run_id} from "
                                 f"{info.source_path}: {' '.join(str(exc).split())}") from None
            finally:
                folder.close()
    finally:
        if own:
            conn.close()
    return report


def row_counts(conn, run_ids: list[str] | None = None) -> dict[str, int]:
    """Rows per table in the lab database (optionally for some runs only)."""
    out = {}
    for table in ("runs", "tests", "exchanges", "telemetry", "points", "events"):
        if run_ids is None:
            out[table] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        else:
            out[table] = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ANY(%s)",
                                      (run_ids,)).fetchone()[0]
    return out
