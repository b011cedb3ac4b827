"""Lab-wide results: PostgreSQL ingest, trend and diff, on real runs."""

from __future__ import annotations

import sqlite3

import pytest

from harness.errors import StoreError
from harness.lab.analysis import diff, trend
from harness.lab.ingest import connect, ingest, row_counts
from harness.lab.pg_schema import LATEST, MIGRATIONS, schema_version
from harness.lab.sources import from_database, from_folders

TABLES = ("tests", "exchanges", "telemetry", "points", "events")


def seeded_regression(run, dst, helpers):
    """Run B with one test turned into a failure and TPM2_GetRandom made 10x slower."""
    folder = helpers.copy_run(run, dst, "B-seeded")
    with sqlite3.connect(folder / "store.sqlite") as db:
        (victim,) = db.execute("SELECT nodeid FROM tests WHERE outcome = 'passed' "
                               "ORDER BY id LIMIT 1").fetchone()
        db.execute("UPDATE tests SET outcome = 'failed', message = 'seeded' WHERE nodeid = ?",
                   (victim,))
        db.execute("UPDATE exchanges SET duration_s = duration_s * 10 + 0.002 "
                   "WHERE command = 'TPM2_GetRandom'")
    return folder, victim


def test_ingesting_twice_gives_the_same_row_counts(two_runs, pg_conn, helpers):
    first = ingest(list(two_runs), conn=pg_conn)
    counts = row_counts(pg_conn)
    expected = {t: sum(helpers.store_counts(r)[t] for r in two_runs) for t in TABLES}
    assert {t: counts[t] for t in TABLES} == expected  # nothing lost, nothing doubled
    assert counts["runs"] == first.added["runs"] == 2
    assert {t: first.added.get(t, 0) for t in TABLES} == expected
    second = ingest(list(two_runs), conn=pg_conn)
    assert all(v == 0 for v in second.added.values())
    assert row_counts(pg_conn) == counts


def test_ingest_cli_reads_tpmhil_db(two_runs, pg, pg_conn, helpers):
    out = helpers.run_tool(["tpmhil", "ingest", str(two_runs[0])], TPMHIL_DB=pg.url)
    assert out.returncode == 0, out.stderr
    assert "ingested 1 run(s)" in out.stdout
    again = helpers.run_tool(["tpmhil", "ingest", str(two_runs[0].parent)], TPMHIL_DB=pg.url)
    assert again.returncode == 0, again.stderr
    exchanges_line = [line.split() for line in again.stdout.splitlines() if line.startswith("exchanges")]
    read, added, in_db = map(int, exchanges_line[0][1:])
    assert added == read - helpers.store_counts(two_runs[0])["exchanges"]
    assert in_db == read
    missing = helpers.run_tool(["tpmhil", "ingest", "/nonexistent/run"], TPMHIL_DB=pg.url)
    assert missing.returncode == 2 and "/nonexistent/run: no such results folder" in missing.stderr
    secret = helpers.run_tool(["tpmhil", "ingest", str(two_runs[0]), "--db",
                               "postgresql://lab:s3cret@127.0.0.1:1/lab"])
    assert secret.returncode == 2 and "cannot connect" in secret.stderr
    assert "s3cret" not in secret.stderr and "lab:***@" in secret.stderr


def test_a_different_run_reusing_an_id_is_refused(two_runs, pg_conn, tmp_path, helpers):
    ingest([two_runs[0]], conn=pg_conn)
    impostor = helpers.copy_run(two_runs[1], tmp_path / "impostor", "A")
    with pytest.raises(StoreError, match="already in the lab database for a different run"):
        ingest([impostor], conn=pg_conn)


def test_schema_is_versioned_and_migrates_forward(pg):
    import psycopg

    with psycopg.connect(pg.url) as admin:
        admin.autocommit = True
        admin.execute("DROP DATABASE IF EXISTS migrate_test")
        admin.execute("CREATE DATABASE migrate_test")
    url = pg.url.rsplit("/", 1)[0] + "/migrate_test"
    with psycopg.connect(url) as old:  # a database left at version 1 by an older harness
        old.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
                    "description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        old.execute(MIGRATIONS[0][2])
        old.execute("INSERT INTO schema_migrations (version, description) VALUES (1, 'v1')")
    conn = connect(url)
    assert schema_version(conn) == LATEST == 2
    assert conn.execute("SELECT to_regclass('exchanges_command')").fetchone()[0] is not None
    conn.execute("INSERT INTO schema_migrations (version, description) VALUES (99, 'future')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="version 99; this harness knows up to 2"):
        connect(url)


def test_diff_passes_equal_runs_and_flags_a_seeded_regression(two_runs, tmp_path, helpers):
    a, b = two_runs
    same = helpers.copy_run(a, tmp_path / "A-again", "A-again")
    equal = helpers.run_tool(["tpmhil", "diff", str(a), str(same)])
    assert equal.returncode == 0, equal.stdout + equal.stderr
    assert "verdict: no regression" in equal.stdout
    real = diff(from_folders([a]), from_folders([b]))
    assert real.new_failures == [] and real.fixed == []
    seeded, victim = seeded_regression(b, tmp_path / "B-seeded", helpers)
    flagged = helpers.run_tool(["tpmhil", "diff", str(a), str(seeded)])
    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    assert f"NEW FAILURES (1):\n  {victim}" in flagged.stdout
    assert "TPM2_GetRandom" in flagged.stdout.split("SLOWER")[1]
    assert "verdict: REGRESSION" in flagged.stdout
    fixed = diff(from_folders([seeded]), from_folders([a]))
    assert fixed.fixed == [victim] and not fixed.regression


def test_diff_and_trend_read_the_database_like_the_folders(two_runs, pg, pg_conn, tmp_path, helpers):
    seeded, victim = seeded_regression(two_runs[1], tmp_path / "B-seeded", helpers)
    ingest([*two_runs, seeded], conn=pg_conn)
    out = helpers.run_tool(["tpmhil", "diff", "A", "B-seeded", "--db", pg.url])
    assert out.returncode == 1, out.stdout + out.stderr
    assert victim in out.stdout
    from_db = trend(from_database(pg_conn), period="run")
    from_disk = trend(from_folders([*two_runs, seeded]), period="run")
    columns = ["period", "runs", "tests", "pass_rate", "commands"]
    assert from_db[columns].to_dict("records") == from_disk[columns].to_dict("records")
    rates = dict(zip(from_db["period"], from_db["pass_rate"]))
    assert rates["A"] == 1.0 and rates["B-seeded"] < 1.0
    cli = helpers.run_tool(["tpmhil", "trend", "--db", pg.url, "--period", "run"])
    assert cli.returncode == 0, cli.stderr
    assert "B-seeded" in cli.stdout and "IBM SW TPM" in cli.stdout
    one = trend(from_database(pg_conn), by=("bus",), period="run", command="TPM2_GetRandom")
    getrandoms = pg_conn.execute("SELECT COUNT(*) FROM exchanges WHERE command = "
                                 "'TPM2_GetRandom' AND rc >= 0").fetchone()[0]
    assert one["commands"].sum() == getrandoms > 0
