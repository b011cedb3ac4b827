"""Lab scale, shown: the functional suite on N places at once, then ingest.

Starts a real labgrid coordinator, two exporters (two "hosts"), and one
``tpmhil serve`` per place in front of a virtual chip (``spi+sim://st33ktpm``
and ``i2c+sim://slb9673`` alternately; spawned swtpm if the bus targets are
not installed), runs ``tpmhil run --places`` over all of them, ingests the
fan-out into a throwaway PostgreSQL twice, and prints:

- wall time of the fan-out, and of one place's run alone through
  ``labgrid://PLACE`` and directly on the same served chip (``swtpm://``): the
  per-place overhead of acquiring, looking up and releasing through labgrid;
- rows per table in the places' stores and in the database after each ingest
  (lost and duplicated rows must both be 0).

Plain script, prints figures (and JSON with --json); never fails on timing.
Usage: .venv/bin/python benchmarks/bench_lab.py [--places 8] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.lab.fanout import run_places
from harness.lab.ingest import connect, ingest, row_counts
from harness.lab.pgtemp import TempPostgres
from harness.lab.runs import iter_runs
from harness.lab.testbed import LocalLab
from harness.targets.registry import forms

TABLES = ("tests", "exchanges", "telemetry", "points", "events")


def chips(n: int) -> list[str]:
    schemes = {f.scheme for f in forms()}
    if {"spi+sim", "i2c+sim"} <= schemes:
        return ["spi+sim://st33ktpm" if i % 2 == 0 else "i2c+sim://slb9673" for i in range(n)]
    return ["swtpm"] * n


def timed_run(tpm: str, results: Path, run_id: str, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "tpmhil"), "run", "--tpm", tpm,
                    "--results", str(results), "--run-id", run_id, "--no-report"],
                   env=env, capture_output=True, timeout=1800)
    return time.perf_counter() - t0


def store_rows(fanout: Path) -> dict[str, int]:
    total = dict.fromkeys(TABLES, 0)
    for _, folder in iter_runs([fanout]):
        for table, count in folder.store.counts().items():
            if table in total:
                total[table] += count
        folder.close()
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--places", type=int, default=8)
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tpmhil-bench-lab-"))
    targets = chips(args.places)
    names = [f"bench-{i + 1:02d}" for i in range(args.places)]
    figures: dict[str, object] = {"places": args.places, "targets": sorted(set(targets))}
    with LocalLab(work / "lab") as lab, TempPostgres() as pg:
        t0 = time.perf_counter()
        lab.start_coordinator()
        served = {name: lab.serve(name, tpm) for name, tpm in zip(names, targets)}
        half = args.places // 2
        lab.start_exporter("host-1", {n: served[n] for n in names[:half]})
        lab.start_exporter("host-2", {n: served[n] for n in names[half:]})
        figures["lab_start_s"] = round(time.perf_counter() - t0, 2)
        env = lab.env()
        os.environ["LG_COORDINATOR"] = lab.address
        # One place alone: directly on its kind of target, and through labgrid + serve.
        # Alternated and repeated, best of two each: the first run also warms caches.
        direct, labgrid = [], []
        for i in range(2):
            labgrid.append(timed_run(f"labgrid://{names[0]}", work / "single", f"labgrid-{i}", env))
            direct.append(timed_run(served[names[0]].uri, work / "single", f"direct-{i}", env))
        figures["single_direct_s"] = round(min(direct), 2)
        figures["single_labgrid_s"] = round(min(labgrid), 2)
        t0 = time.perf_counter()
        code = run_places("bench-", ["--results", str(work / "runs")])
        figures["fanout_wall_s"] = round(time.perf_counter() - t0, 2)
        figures["fanout_exit_code"] = code
        (fanout,) = [p for p in (work / "runs").iterdir() if p.is_dir()]
        expected = store_rows(fanout)
        conn = connect(pg.url)
        t0 = time.perf_counter()
        first = ingest([fanout], conn=conn)
        figures["ingest_s"] = round(time.perf_counter() - t0, 3)
        after_first = row_counts(conn)
        second = ingest([fanout], conn=conn)
        after_second = row_counts(conn)
        conn.close()
    figures["rows_in_stores"] = expected
    figures["rows_in_db"] = {t: after_first[t] for t in TABLES}
    figures["rows_lost"] = sum(expected[t] - after_first[t] for t in TABLES)
    figures["rows_duplicated_by_second_ingest"] = sum(after_second[t] - after_first[t] for t in TABLES)
    figures["rows_added_by_second_ingest"] = sum(second.added.values())
    figures["runs_ingested"] = len(first.runs)
    n = args.places
    figures["per_place_overhead_s"] = round(figures["single_labgrid_s"] - figures["single_direct_s"], 2)
    figures["fanout_vs_serial_speedup"] = round(n * figures["single_labgrid_s"] / figures["fanout_wall_s"], 2)
    print(f"lab: {n} places on 2 exporters ({', '.join(figures['targets'])}), "
          f"started in {figures['lab_start_s']} s")
    print(f"one place, direct on its served chip : {figures['single_direct_s']:8.2f} s")
    print(f"one place, via labgrid://PLACE       : {figures['single_labgrid_s']:8.2f} s  "
          f"(overhead {figures['per_place_overhead_s']:+.2f} s per place)")
    print(f"{n} places in parallel (fan-out)      : {figures['fanout_wall_s']:8.2f} s  "
          f"(x{figures['fanout_vs_serial_speedup']} vs {n} serial runs; exit {code})")
    print(f"ingest of {len(first.runs)} runs into PostgreSQL     : {figures['ingest_s']:8.3f} s")
    print(f"{'table':<10} {'stores':>8} {'db':>8}")
    for t in TABLES:
        print(f"{t:<10} {expected[t]:>8} {after_first[t]:>8}")
    print(f"rows lost: {figures['rows_lost']}  rows duplicated by a second ingest: "
          f"{figures['rows_duplicated_by_second_ingest']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
