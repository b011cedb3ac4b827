"""``tpmhil trend``: pass rate and command latency over time, from folders or the lab database.

Prints the table and draws pass rate over time and latency by command
(``--plots DIR``, default ``results/plots/trend``). pandas and matplotlib are
imported only when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from harness.cli.output import add_json_flag, emit
from harness.errors import ConfigError
from harness.lab.names import positive_seconds
from harness.results.run_folder import DEFAULT_BASE

#: Grouping periods (harness.lab.analysis.PERIODS keys; here so --help needs no pandas).
PERIOD_NAMES = ("day", "month", "run", "week")
DEFAULT_PLOTS = Path(DEFAULT_BASE) / "plots" / "trend"

COMMAND = "trend"
HELP = "pass rate and command latency by chip, firmware, bus (and test) over time"
DIMENSIONS = ("chip_model", "firmware", "bus", "place")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="*", metavar="RESULTS",
                        help="results folders (default: the lab database, --db or $TPMHIL_DB)")
    parser.add_argument("--db", default=None, metavar="URL", help="postgresql:// lab database")
    parser.add_argument("--by", default="chip_model,firmware,bus",
                        help=f"comma-separated dimensions from {', '.join(DIMENSIONS)}")
    parser.add_argument("--period", default="day", choices=PERIOD_NAMES)
    parser.add_argument("--per-test", action="store_true", help="one row per test as well")
    parser.add_argument("--command", dest="tpm_command", default=None,
                        help="latency of one TPM command, e.g. TPM2_Sign")
    parser.add_argument("--days", type=positive_seconds, default=None, help="only runs of the last N days")
    parser.add_argument("--csv", default=None, metavar="FILE", help="also write the table as CSV")
    parser.add_argument("--plots", type=Path, default=DEFAULT_PLOTS, metavar="DIR",
                        help=f"folder for the pictures (default: {DEFAULT_PLOTS})")
    parser.add_argument("--no-plots", action="store_true", help="draw no pictures")
    add_json_flag(parser, "the table's rows and the pictures")


def _plots(args, data, by) -> list[str]:
    if args.no_plots:
        return []
    try:
        from harness.lab.plots import trend_plots
        from harness.lab.sources import RunData

        if args.tpm_command:  # the latency picture shows that command only, like the table
            data = RunData(data.runs, data.tests,
                           data.exchanges[data.exchanges["command"] == args.tpm_command])
        return [str(p) for p in trend_plots(data, by, args.plots)]
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        print("note: no plots: matplotlib is not installed (pip install 'tpm-hil[reports]')",
              file=sys.stderr)
        return []
    except OSError as exc:  # an unwritable folder costs the picture, never the verdict
        print(f"note: no plots: cannot write {args.plots}: {exc.strerror or exc}", file=sys.stderr)
        return []


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from harness.lab.analysis import trend
    from harness.lab.ingest import ENV_DB, connect, database_url
    from harness.lab.sources import from_database, from_folders

    by = tuple(d.strip() for d in args.by.split(",") if d.strip())
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:
        raise ConfigError(f"--by {args.by!r}: unknown dimension {unknown[0]!r} "
                          f"(choose from {', '.join(DIMENSIONS)})")
    since = time.time() - args.days * 86400 if args.days else None
    if args.results:
        data = from_folders(args.results)
        if since is not None:
            data.runs = data.runs[data.runs["created"] >= since]
    else:
        if not (args.db or os.environ.get(ENV_DB)):
            raise ConfigError(f"give results folders, or --db / {ENV_DB} for the lab database")
        conn = connect(database_url(args.db), migrate_schema=False)
        try:
            data = from_database(conn, since=since)
        finally:
            conn.close()
    table = trend(data, by=by, period=args.period, per_test=args.per_test, command=args.tpm_command)
    if table.empty:
        print("no runs")
        if args.json:
            emit({"rows": [], "plots": []})
        return 0
    with pd.option_context("display.max_rows", 500, "display.width", 200,
                           "display.max_colwidth", 60):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.csv:
        table.to_csv(args.csv, index=False)
    plots = _plots(args, data, by)
    for path in plots:
        print(f"plot: {path}")
    if args.json:
        rows = table.astype(object).where(table.notna(), None).to_dict("records")
        emit({"rows": rows, "plots": plots})
    return 0
