"""Benchmark: campaign analysis of one million telemetry + exchange rows.

Builds a results store with 50 points, 600,000 exchanges and 400,000
telemetry samples (synthetic rows, written once through the store API), then
times ``rigs.campaign.analysis`` (load from SQLite, per-condition table,
failures joined with conditions; plots excluded and timed separately) and
reports peak memory (tracemalloc of the analysis, and the process's max RSS).
Targets: < 5 s and < 1 GiB. Prints figures and a JSON line; never fails on noise.

    .venv/bin/python benchmarks/bench_analysis.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from harness.results.exchange_log import Exchange
from harness.results.store import ResultsStore, TelemetrySample


def build(folder: Path, rows: int, points: int = 50) -> None:
    store = ResultsStore(folder)
    rng = random.Random(1)
    n_ex, n_tel = rows * 6 // 10, rows * 4 // 10
    t0 = 1.8e9
    for p in range(points):
        pid = f"p{p:03d}_T{-40 + 3 * p}"
        store.start_point(pid, p, pid, {"temperature_c": -40 + 3 * p, "voltage_v": 3.3})
        ex = []
        for i in range(n_ex // points):
            seq = p * (n_ex // points) + i
            rc = 0 if rng.random() > 0.01 else 0x101
            ex.append(Exchange(seq, t0 + seq * 0.001, f"t{i % 40}", 0x17B, "GetRandom", 12, 44, rc,
                               "TPM_RC_SUCCESS" if rc == 0 else "TPM_RC_FAILURE",
                               rng.expovariate(1000), rng.randrange(3), 4, 56, 0, ""))
        store.add_exchanges(ex, worker=f"{pid}.s0", point_id=pid)
        tel = [TelemetrySample(t0 + (p * (n_tel // points) + i) * 0.0015, "chamber" if i % 2 else "psu",
                               "temperature" if i % 2 else "voltage", rng.gauss(0, 1), "x", pid)
               for i in range(n_tel // points)]
        store.add_telemetry(tel)
        store.add_event("efp_check", {"verdict": "PASS"}, pid)
        store.finish_point(pid)
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="build the store here and keep it")
    args = ap.parse_args()
    from rigs.campaign import analysis

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        build(folder, args.rows)
        build_s = time.perf_counter() - t
        def analyse():
            frames = analysis.load_frames(folder / "store.sqlite")
            return frames, analysis.per_condition(frames), analysis.failures_with_conditions(frames)

        t = time.perf_counter()
        frames, table, failures = analyse()  # timed alone: tracemalloc slows Python down
        analyse_s = time.perf_counter() - t
        for step in ("load_frames", "per_condition", "failures_with_conditions"):
            t = time.perf_counter()
            getattr(analysis, step)(folder / "store.sqlite" if step == "load_frames" else frames)
            print(f"  {step}: {time.perf_counter() - t:.2f} s")
        del frames, table, failures
        tracemalloc.start()
        frames, table, failures = analyse()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        t = time.perf_counter()
        analysis.plot(table, frames, folder)
        plot_s = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result = {"rows": args.rows, "points": len(table), "failed_exchanges": len(failures),
              "build_s": round(build_s, 2), "analysis_s": round(analyse_s, 3), "target_s": 5.0,
              "analysis_peak_mib": round(peak / 2**20, 1), "process_max_rss_mib": round(rss / 2**20, 1),
              "target_mib": 1024, "plots_s": round(plot_s, 2)}
    print(f"campaign analysis of {args.rows:,} rows ({len(table)} points): "
          f"{analyse_s:.2f} s (target < 5 s), peak {peak / 2**20:.0f} MiB traced, "
          f"max RSS {rss / 2**20:.0f} MiB (target < 1024 MiB); plots {plot_s:.2f} s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
