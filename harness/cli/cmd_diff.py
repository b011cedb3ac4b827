"""``tpmhil diff RUN_A RUN_B``: what changed; exits 1 on a regression (CI gate).

Names both runs (run id, chip, firmware, bus), warns when their chip or bus
differ, and draws the latency of each command in A beside B
(``--plots DIR``, default ``results/plots/diff``). pandas, scipy and
matplotlib are imported only when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.cli.output import add_json_flag, emit
from harness.lab.names import fraction, non_negative
from harness.results.run_folder import DEFAULT_BASE

DEFAULT_PLOTS = Path(DEFAULT_BASE) / "plots" / "diff"

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
    parser.add_argument("--plots", type=Path, default=DEFAULT_PLOTS, metavar="DIR",
                        help=f"folder for the latency comparison picture (default: {DEFAULT_PLOTS})")
    parser.add_argument("--no-plots", action="store_true", help="draw no picture")
    add_json_flag(parser, "runs, warnings, changes, verdict, plot")


def _print(result) -> None:
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


def _change(c) -> dict:
    return {"command": c.command, "median_a_ms": c.median_a_ms, "median_b_ms": c.median_b_ms,
            "ratio": c.ratio, "noise_ms": c.noise_ms, "q_value": c.p_value,
            "samples": list(c.samples)}


def _plot(args, a, b, result, names) -> str | None:
    if args.no_plots:
        return None
    try:
        from harness.lab.plots import diff_plot

        path = diff_plot(a, b, result, names, args.plots)
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        print("note: no plot: matplotlib is not installed (pip install 'tpm-hil[reports]')",
              file=sys.stderr)
        return None
    except OSError as exc:  # an unwritable folder costs the picture, never the verdict
        print(f"note: no plot: cannot write {args.plots}: {exc.strerror or exc}", file=sys.stderr)
        return None
    return str(path) if path else None


def run(args: argparse.Namespace) -> int:
    from harness.lab.analysis import comparability_warnings, diff, name_line, run_names
    from harness.lab.ingest import ENV_DB, connect, database_url
    from harness.lab.sources import check_complete, load_run

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
    names = (name_line(a), name_line(b))
    warnings = comparability_warnings(a, b)
    print(f"A (baseline):  {names[0]}")
    print(f"B (candidate): {names[1]}")
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    _print(result)
    plot = _plot(args, a, b, result, names)
    if plot:
        print(f"plot: {plot}")
    code = 1 if result.regression else 0
    if args.json:
        emit({"verdict": "REGRESSION" if result.regression else "no regression",
              "exit_code": code, "run_a": run_names(a), "run_b": run_names(b),
              "warnings": warnings, "new_failures": result.new_failures,
              "fixed": result.fixed, "still_failing": result.still_failing,
              "only_in_a": result.only_in_a, "only_in_b": result.only_in_b,
              "slower": [_change(c) for c in result.slower],
              "faster": [_change(c) for c in result.faster], "plot": plot})
    return code
