"""``tpmhil diff RUN_A RUN_B``: what changed; exits 1 on a regression (CI gate)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from harness.lab.analysis import RunDiff, diff
from harness.lab.ingest import ENV_DB, connect, database_url
from harness.lab.sources import check_complete, load_run
from harness.lab.names import fraction, non_negative

COMMAND = "diff"
HELP = "new failures, fixed tests and latency changes from run A to run B (exit 1 on regression)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="baseline: results folder or run id (--db)")
    parser.add_argument("run_b", metavar="RUN_B", help="candidate: results folder or run id (--db)")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="lab database for run ids (default $TPMHIL_DB)")
    parser.add_argument("--alpha", type=fraction, default=1e-3,
                        help="significance for latency changes (Mann-Whitney U)")
    parser.add_argument("--min-change", type=non_negative, default=0.5,
                        help="smallest relative latency change reported (0.5 = 50%%)")
    parser.add_argument("--min-ms", type=non_negative, default=0.5,
                        help="smallest absolute latency change reported, in ms")


def _print(result: RunDiff) -> None:
    for title, items in (("NEW FAILURES", result.new_failures), ("fixed", result.fixed),
                         ("still failing", result.still_failing),
                         ("only in A", result.only_in_a), ("only in B", result.only_in_b)):
        if items:
            print(f"{title} ({len(items)}):")
            for item in items:
                print(f"  {item}")
    for title, changes in (("SLOWER", result.slower), ("faster", result.faster)):
        if changes:
            print(f"{title} commands (median A -> B, noise, p):")
            for c in changes:
                print(f"  {c.command:<32} {c.median_a_ms:9.3f} ms -> {c.median_b_ms:9.3f} ms "
                      f"(x{c.ratio:.2f}, noise {c.noise_ms:.3f} ms, p={c.p_value:.1e}, "
                      f"n={c.samples[0]}/{c.samples[1]})")
    print("verdict: REGRESSION" if result.regression else "verdict: no regression")


def run(args: argparse.Namespace) -> int:
    needs_db = not (Path(args.run_a).exists() and Path(args.run_b).exists())
    conn = (connect(database_url(args.db), migrate_schema=False)
            if needs_db and (args.db or os.environ.get(ENV_DB)) else None)
    try:
        a = load_run(args.run_a, conn)
        b = load_run(args.run_b, conn)
    finally:
        if conn is not None:
            conn.close()
    check_complete(a, args.run_a, "baseline")
    check_complete(b, args.run_b, "candidate")
    result = diff(a, b, alpha=args.alpha, min_rel=args.min_change, min_abs_ms=args.min_ms)
    _print(result)
    return 1 if result.regression else 0
