"""Hostile results folders against the lab commands (ingest, trend, diff) and a real
PostgreSQL: stores are data, never SQL, never a schema to write into.

A throwaway PostgreSQL server (harness.lab.pgtemp, Debian's postgresql) runs for
this module; its ``tpmhil`` role is a superuser, as a careless lab's would be, so
an injected ``COPY ... FROM PROGRAM`` would run if it got through.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import StoreError
from harness.lab.ingest import connect, ingest, row_counts
from harness.lab.pgtemp import TempPostgres
from harness.lab.store_reader import StoreReader
from harness.results.run_folder import RunFolder
from harness.results.store import TestRecord

TPMHIL = str(Path(sys.executable).parent / "tpmhil")


@pytest.fixture(scope="module")
def pg():
    server = TempPostgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def conn(pg):
    c = connect(pg.url)
    c.execute("TRUNCATE runs CASCADE")
    c.commit()
    yield c
    c.close()


def tpmhil(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([TPMHIL, *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def make_run(base: Path, run_id: str, outcomes: dict[str, str], *, kind: str = "run",
             target: object = None, exit_code: int | None = 0) -> Path:
    """A results folder written by the harness's own store and summary code."""
    folder = RunFolder.create(base, run_id, kind=kind)
    folder.store.set_meta("target", target if target is not None else
                          {"uri": "swtpm", "bus": "socket", "kind": "swtpm"})
    folder.store.set_meta("identity_brief", {"manufacturer": "IBM", "vendor": "SW TPM",
                                             "firmware": "1.2"})
    now = time.time()
    for nodeid, outcome in outcomes.items():
        folder.store.add_test(TestRecord(nodeid=nodeid, outcome=outcome, duration_s=0.01,
                                         started=now, finished=now + 0.01))
    if exit_code is not None:
        folder.summarize({"pytest_exit_code": exit_code})
    folder.close()
    return folder.path


# -- SQL injection through a crafted store ------------------------------------------------------

def _add_column(store: Path, table: str, name: str) -> None:
    with sqlite3.connect(store) as db:
        db.execute(f'ALTER TABLE {table} ADD COLUMN "{name.replace(chr(34), chr(34) * 2)}" TEXT')


def _payload(marker: Path) -> str:
    """A column name valid in both SQL dialects that the old ingester pasted into its queries:
    SQLite reads ``"point_id"`` (a string literal when no such column exists) and comments
    out the rest; PostgreSQL's nested comments make it close the COPY column list and run
    ``COPY ... FROM PROGRAM`` as the (superuser) ingesting role. Verified against the ingester
    before this fix: the marker file was created."""
    return (f'"point_id" /* /* */ FROM tests -- */) FROM STDIN; '
            f"COPY runs (run_id) FROM PROGRAM 'touch {marker}'; --")


@pytest.mark.parametrize("drop_point_id", [True, False])
def test_crafted_column_name_never_reaches_postgresql(tmp_path, conn, drop_point_id):
    marker = Path("/tmp") / f"tpmhil-pwned-{uuid.uuid4().hex}"
    run = make_run(tmp_path, "crafted", {"t::a": "passed", "t::b": "failed"})
    if drop_point_id:  # the working attack: the payload stands in for the point_id column
        with sqlite3.connect(run / "store.sqlite") as db:
            db.execute("ALTER TABLE tests DROP COLUMN point_id")
    _add_column(run / "store.sqlite", "tests", _payload(marker))
    _add_column(run / "store.sqlite", "events", "x\"; DROP TABLE runs; --")
    if drop_point_id:
        with pytest.raises(StoreError, match="table tests has no column 'point_id'"):
            ingest([run], conn=conn)
        conn.rollback()
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    else:  # extra columns are ignored: only the schema's columns are read and written
        report = ingest([run], conn=conn)
        conn.commit()
        assert report.runs == ["crafted"]
        assert row_counts(conn, ["crafted"])["tests"] == 2
    assert not marker.exists()
    assert conn.execute("SELECT to_regclass('runs')").fetchone()[0] == "runs"


def test_crafted_store_missing_a_column_is_refused_whole(tmp_path, conn):
    good = make_run(tmp_path, "good", {"t::a": "passed"})
    bad = make_run(tmp_path, "bad", {"t::a": "passed"})
    with sqlite3.connect(bad / "store.sqlite") as db:
        db.execute("ALTER TABLE tests RENAME COLUMN nodeid TO \"nodeid) FROM PROGRAM 'id'; --\"")
    with pytest.raises(StoreError, match="table tests has no column 'nodeid'"):
        ingest([good, bad], conn=conn)
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0  # nothing half-ingested


@pytest.mark.parametrize("table, column, value, problem", [
    ("tests", "duration_s", "'fast'", "expected real"),
    ("tests", "markers", "'not json'", "not JSON"),
    ("exchanges", "cmd_size", "99999999999", "out of 32-bit range"),
    ("tests", "message", "'a' || char(0) || 'b'", "NUL"),
    ("tests", "finished", "9e999", "not a finite number"),
])
def test_values_the_database_would_refuse_are_refused_before_ingest(tmp_path, conn, table, column,
                                                                    value, problem):
    first = make_run(tmp_path, "first", {"t::a": "passed"})
    bad = make_run(tmp_path, "second", {"t::a": "passed"})
    with sqlite3.connect(bad / "store.sqlite") as db:
        if table == "exchanges":
            db.execute("INSERT INTO exchanges (worker, seq, t_start, test, command_code, command, "
                       "cmd_size, rsp_size, rc, rc_name, duration_s, retries, bus_transactions, "
                       "bus_bytes, locality, error) VALUES ('w', 1, 0, 't', 379, 'TPM2_GetRandom', "
                       "12, 20, 0, 'SUCCESS', 0.001, 0, 1, 32, 0, '')")
        db.execute(f"UPDATE {table} SET {column} = {value}")
    proc = tpmhil("ingest", str(first), str(bad), "--db", _url(conn))
    assert_one_line_error(proc, f"table {table}", column, problem)
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def _url(conn) -> str:
    info = conn.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


# -- audit folders, 0-byte stores, read-only rights -------------------------------------------

def test_audit_folder_with_a_string_target_ingests_and_trends(tmp_path, conn):
    run = make_run(tmp_path, "run-1", {"t::a": "passed"})
    audit = make_run(tmp_path, "audit-1", {"audit::roca": "passed"}, kind="audit",
                     target="swtpm://127.0.0.1:2321")
    proc = tpmhil("ingest", str(run), str(audit), "--db", _url(conn))
    assert proc.returncode == 0, proc.stderr
    uri = conn.execute("SELECT target_uri FROM runs WHERE run_id = 'audit-1'").fetchone()[0]
    assert uri == "swtpm://127.0.0.1:2321"
    for argv in (["trend", str(tmp_path)], ["diff", str(run), str(audit)]):
        proc = tpmhil(*argv)
        assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr


def test_zero_byte_store_is_refused_and_left_untouched(tmp_path, conn):
    good = make_run(tmp_path / "runs", "good", {"t::a": "passed"})
    empty = tmp_path / "runs" / "empty"
    empty.mkdir()
    (empty / "store.sqlite").write_bytes(b"")
    for argv in (["ingest", str(tmp_path / "runs"), "--db", _url(conn)],
                 ["trend", str(tmp_path / "runs")], ["diff", str(good), str(empty)]):
        assert_one_line_error(tpmhil(*argv), "empty file, not a results store")
        assert (empty / "store.sqlite").stat().st_size == 0
        assert sorted(p.name for p in empty.iterdir()) == ["store.sqlite"]
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_garbage_store_and_summary_are_one_line(tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "store.sqlite").write_bytes(os.urandom(4096))
    assert_one_line_error(tpmhil("trend", str(junk)), "not a readable results store")
    run = make_run(tmp_path / "r", "r1", {"t::a": "passed"})
    (run / "summary.json").write_bytes(b"\xff\xfe{{{")
    assert_one_line_error(tpmhil("trend", str(run)), "summary.json", "not JSON")


@pytest.fixture
def reader_url(pg, conn):
    """A role that may only read the lab tables (what a dashboard or CI gate gets)."""
    conn.execute("DROP ROLE IF EXISTS lab_reader")
    conn.execute("CREATE ROLE lab_reader LOGIN")
    conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO lab_reader")
    conn.commit()
    info = conn.info
    yield f"postgresql://lab_reader@{info.host}:{info.port}/{info.dbname}"
    conn.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM lab_reader")
    conn.execute("DROP ROLE lab_reader")
    conn.commit()


def test_trend_and_diff_need_only_select_rights(tmp_path, conn, reader_url):
    a = make_run(tmp_path, "A", {"t::a": "passed", "t::b": "passed"})
    b = make_run(tmp_path, "B", {"t::a": "passed", "t::b": "failed"})
    ingest([a, b], conn=conn)
    conn.commit()
    proc = tpmhil("trend", "--db", reader_url, "--period", "run")
    assert proc.returncode == 0, proc.stderr
    assert "IBM SW TPM" in proc.stdout
    proc = tpmhil("diff", "A", "B", "--db", reader_url)
    assert proc.returncode == 1, proc.stderr  # t::b is a new failure
    assert "NEW FAILURES (1)" in proc.stdout and "t::b" in proc.stdout
    proc = tpmhil("ingest", str(a), "--db", reader_url)
    assert_one_line_error(proc, "permission denied")


def test_read_only_commands_do_not_create_a_schema(pg):
    import psycopg

    with psycopg.connect(pg.url, autocommit=True) as admin:
        admin.execute("DROP DATABASE IF EXISTS empty_lab")
        admin.execute("CREATE DATABASE empty_lab")
    url = f"postgresql://tpmhil@127.0.0.1:{pg.port}/empty_lab"
    assert_one_line_error(tpmhil("trend", "--db", url), "holds no tpm-hil schema")
    assert_one_line_error(tpmhil("diff", "A", "B", "--db", url), "holds no tpm-hil schema")
    with psycopg.connect(url) as c:
        assert c.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None


# -- diff: an empty or crashed candidate is not "no regression" ---------------------------------

def test_diff_refuses_an_empty_candidate(tmp_path):
    a = make_run(tmp_path, "A", {"t::a": "passed"})
    b = make_run(tmp_path, "B", {})
    assert_one_line_error(tpmhil("diff", str(a), str(b)), "candidate", "no test results")


def test_diff_refuses_a_crashed_candidate(tmp_path):
    a = make_run(tmp_path, "A", {"t::a": "passed"})
    crashed = make_run(tmp_path, "B", {"t::a": "passed"}, exit_code=3)
    assert_one_line_error(tpmhil("diff", str(a), str(crashed)), "exit code 3")
    unfinished = make_run(tmp_path, "C", {"t::a": "passed"}, exit_code=None)
    assert_one_line_error(tpmhil("diff", str(a), str(unfinished)), "never finished")


def test_diff_still_passes_two_complete_runs(tmp_path):
    a = make_run(tmp_path, "A", {"t::a": "passed"})
    b = make_run(tmp_path, "B", {"t::a": "passed"})
    proc = tpmhil("diff", str(a), str(b))
    assert proc.returncode == 0 and "no regression" in proc.stdout, proc.stderr


# -- fuzz: the store reader takes any bytes and any values -------------------------------------

SQL_VALUES = st.one_of(st.none(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True),
                       st.text(max_size=20), st.binary(max_size=20))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.tuples(st.sampled_from(["nodeid", "outcome", "duration_s", "markers",
                                                  "started", "message", "point_id", "id"]),
                                 SQL_VALUES), max_size=6))
def test_fuzz_store_values_are_accepted_typed_or_refused_with_store_error(tmp_path_factory, values):
    base = tmp_path_factory.mktemp("fuzz")
    run = make_run(base, "fz", {"t::a": "passed", "t::b": "failed"})
    with sqlite3.connect(run / "store.sqlite") as db:
        for column, value in values:
            try:
                db.execute(f"UPDATE tests SET {column} = ? WHERE id = 1", (value,))
            except sqlite3.Error:
                pass  # NOT NULL / primary key constraints of the writer's schema
    with StoreReader(run) as reader:
        try:
            reader.validate("tests")
            names, rows = reader.rows("tests")
        except StoreError:
            return
    kinds = dict((n, k) for n, k, _ in __import__("harness.lab.pg_schema", fromlist=["x"]).COLUMNS["tests"])
    for row in rows:
        for name, value in zip(names, row):
            if value is None:
                continue
            if kinds[name] == "int":
                assert isinstance(value, int)
            elif kinds[name] == "real":
                assert isinstance(value, (int, float))
            else:
                assert isinstance(value, str) and "\x00" not in value
                if kinds[name] == "json":
                    json.loads(value)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=4096), keep_header=st.booleans())
def test_fuzz_store_file_bytes_never_crash_the_reader(tmp_path_factory, blob, keep_header):
    folder = tmp_path_factory.mktemp("bytes")
    data = (b"SQLite format 3\x00" + blob) if keep_header else blob
    (folder / "store.sqlite").write_bytes(data)
    try:
        with StoreReader(folder) as reader:
            reader.meta()
            for table in ("tests", "exchanges", "telemetry", "points", "events"):
                reader.validate(table)
                reader.rows(table)
    except StoreError:
        pass
    assert (folder / "store.sqlite").read_bytes() == data  # read-only, whatever it was


@pytest.mark.parametrize("argv", [
    ["ingest", "/tmp", "--db", "mysql://lab:hunter2secret@db"],
    ["ingest", "/tmp", "--db", "postgresql://127.0.0.1:1/x?password=hunter2secret"],
    ["trend", "--db", "postgresql://lab:hunter2secret@127.0.0.1:1/x"],
    ["ingest", "/tmp", "--db", "postgresql://lab:hunter2secret@[::1"],
])
def test_database_url_errors_never_echo_the_password(argv):
    proc = tpmhil(*argv)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "hunter2secret" not in proc.stdout + proc.stderr
