"""The lab-wide PostgreSQL schema, versioned, with forward migrations.

Each migration is applied once, in order, inside one transaction, and
recorded in ``schema_migrations``. A database migrated by a newer harness
(a version this one does not know) is refused with a clear error, like the
embedded store does. Concurrent ingesters serialise on an advisory lock.

Rows keep the embedded store's own row ids, keyed by run: ``(run_id, id)``
is the primary key of every per-run table, which is what makes ingesting
idempotent (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

from harness.errors import StoreError

#: Advisory lock id held while migrating ("tpmhil" in ASCII).
MIGRATION_LOCK = 0x74706D68696C

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "runs and their tables", """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION,
    harness_version TEXT NOT NULL,
    target_uri TEXT NOT NULL,
    bus TEXT NOT NULL,
    chip_model TEXT NOT NULL,
    firmware TEXT NOT NULL,
    profile TEXT NOT NULL,
    verdict TEXT NOT NULL,
    place TEXT NOT NULL,
    parent_run TEXT NOT NULL,
    source_path TEXT NOT NULL,
    content_key TEXT NOT NULL,
    meta JSONB NOT NULL,
    summary JSONB NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE tests (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    nodeid TEXT NOT NULL,
    outcome TEXT NOT NULL,
    duration_s DOUBLE PRECISION NOT NULL,
    started DOUBLE PRECISION NOT NULL,
    finished DOUBLE PRECISION NOT NULL,
    markers JSONB NOT NULL,
    requirements JSONB NOT NULL,
    spec TEXT NOT NULL,
    message TEXT NOT NULL,
    longrepr TEXT NOT NULL,
    worker TEXT NOT NULL,
    point_id TEXT,
    PRIMARY KEY (run_id, id)
);
CREATE TABLE exchanges (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    worker TEXT NOT NULL,
    seq BIGINT NOT NULL,
    t_start DOUBLE PRECISION NOT NULL,
    test TEXT NOT NULL,
    command_code BIGINT NOT NULL,
    command TEXT NOT NULL,
    cmd_size INTEGER NOT NULL,
    rsp_size INTEGER NOT NULL,
    rc BIGINT NOT NULL,
    rc_name TEXT NOT NULL,
    duration_s DOUBLE PRECISION NOT NULL,
    retries INTEGER NOT NULL,
    bus_transactions INTEGER NOT NULL,
    bus_bytes INTEGER NOT NULL,
    locality INTEGER NOT NULL,
    error TEXT NOT NULL,
    point_id TEXT,
    PRIMARY KEY (run_id, id)
);
CREATE TABLE telemetry (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    t DOUBLE PRECISION NOT NULL,
    source TEXT NOT NULL,
    quantity TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    unit TEXT NOT NULL,
    point_id TEXT,
    PRIMARY KEY (run_id, id)
);
CREATE TABLE points (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    point_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    label TEXT NOT NULL,
    params JSONB NOT NULL,
    status TEXT NOT NULL,
    started DOUBLE PRECISION,
    finished DOUBLE PRECISION,
    note TEXT NOT NULL,
    PRIMARY KEY (run_id, point_id)
);
CREATE TABLE events (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    t DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    detail JSONB NOT NULL,
    point_id TEXT,
    PRIMARY KEY (run_id, id)
);
"""),
    (2, "indexes for trend and diff", """
CREATE INDEX runs_dims ON runs (chip_model, firmware, bus, created);
CREATE INDEX tests_nodeid ON tests (nodeid);
CREATE INDEX exchanges_command ON exchanges (run_id, command);
"""),
]

LATEST = MIGRATIONS[-1][0]

#: The columns of each per-run table, in the order of the CREATE TABLEs above,
#: without ``run_id`` (the ingester adds it). These, and only these, names are
#: ever read from a results store or written to PostgreSQL: identifiers come
#: from this schema, never from the incoming store. Each with its kind:
#: ``int`` (BIGINT), ``int32`` (INTEGER), ``real``, ``text``, ``json`` (JSONB),
#: and whether NULL is allowed.
COLUMNS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "tests": (("id", "int", False), ("nodeid", "text", False), ("outcome", "text", False),
              ("duration_s", "real", False), ("started", "real", False),
              ("finished", "real", False), ("markers", "json", False),
              ("requirements", "json", False), ("spec", "text", False),
              ("message", "text", False), ("longrepr", "text", False),
              ("worker", "text", False), ("point_id", "text", True)),
    "exchanges": (("id", "int", False), ("worker", "text", False), ("seq", "int", False),
                  ("t_start", "real", False), ("test", "text", False),
                  ("command_code", "int", False), ("command", "text", False),
                  ("cmd_size", "int32", False), ("rsp_size", "int32", False),
                  ("rc", "int", False), ("rc_name", "text", False),
                  ("duration_s", "real", False), ("retries", "int32", False),
                  ("bus_transactions", "int32", False), ("bus_bytes", "int32", False),
                  ("locality", "int32", False), ("error", "text", False),
                  ("point_id", "text", True)),
    "telemetry": (("id", "int", False), ("t", "real", False), ("source", "text", False),
                  ("quantity", "text", False), ("value", "real", False),
                  ("unit", "text", False), ("point_id", "text", True)),
    "points": (("point_id", "text", False), ("seq", "int32", False), ("label", "text", False),
               ("params", "json", False), ("status", "text", False),
               ("started", "real", True), ("finished", "real", True),
               ("note", "text", False)),
    "events": (("id", "int", False), ("t", "real", False), ("kind", "text", False),
               ("detail", "json", False), ("point_id", "text", True)),
}


def column_names(table: str) -> tuple[str, ...]:
    """The schema's column names of a per-run table (without run_id)."""
    return tuple(name for name, _, _ in COLUMNS[table])


def migrate(conn) -> int:
    """Bring the database to :data:`LATEST`; return the version it was at.

    Args:
        conn: an open psycopg connection (autocommit off).

    Raises:
        StoreError: the database is newer than this harness.
    """
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                     "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        current = int(row[0])
        if current > LATEST:
            raise StoreError(f"lab database schema is at version {current}; this harness knows "
                             f"up to {LATEST}: upgrade tpm-hil")
        for version, description, sql in MIGRATIONS:
            if version > current:
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                             (version, description))
    return current


def schema_version(conn) -> int:
    row = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
    if row[0] is None:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0])
