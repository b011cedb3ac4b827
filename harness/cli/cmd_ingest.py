"""``tpmhil ingest``: load results folders into the lab-wide PostgreSQL database."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import StoreError
from harness.lab.ingest import connect, database_url, ingest, row_counts

COMMAND = "ingest"
HELP = "load results folders into the lab PostgreSQL database (idempotent)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", metavar="RESULTS",
                        help="results folders, fan-out run folders, or folders of runs")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="postgresql://USER@HOST:PORT/DB (default $TPMHIL_DB)")


def run(args: argparse.Namespace) -> int:
    missing = [p for p in args.results if not Path(p).exists()]
    if missing:
        raise StoreError(f"{missing[0]}: no such results folder")
    conn = connect(database_url(args.db))
    try:
        report = ingest(args.results, conn=conn)
        totals = row_counts(conn, report.runs)
    finally:
        conn.close()
    print(f"ingested {len(report.runs)} run(s)")
    print(f"{'table':<10} {'read':>10} {'added':>10} {'in db':>10}")
    for table in ("runs", "tests", "exchanges", "telemetry", "points", "events"):
        print(f"{table:<10} {report.seen.get(table, 0):>10} {report.added.get(table, 0):>10} "
              f"{totals[table]:>10}")
    return 0
