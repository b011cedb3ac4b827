"""Conformance suite throughput: wall time, tests per second and TPM commands
per second of the full conformance run on a spawned swtpm, serial and with
pytest-xdist on 2 workers (targets: under 300 s, aim 180 s, with ``-n 2``),
and the peak memory of a run (largest resident set of any of its processes).

Each run writes a results folder; tests and TPM exchanges are counted from its
results store. Prints a table and writes benchmarks/results/suites.json.

Usage: python benchmarks/bench_suites.py [--suite suites/conformance] [--modes serial,n2]
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import print_table, verdict, write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 300.0
AIM_S = 180.0
RUN_TIMEOUT_S = 900.0
MODES = {"serial": [], "n2": ["-n", "2"]}


_PEAK_RSS_PARENT = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:]).returncode; "
    "print('PEAK_RSS_KIB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, flush=True); "
    "sys.exit(code)"
)


def run_suite(suite: str, extra: list[str]) -> dict:
    """Run the suite once into a fresh results folder and count what it did."""
    with tempfile.TemporaryDirectory(prefix="tpmhil-bench-") as tmp:
        results = Path(tmp) / "run"
        # The run goes through a small parent that reports the largest resident
        # set of any process of the run (pytest, xdist workers, swtpm).
        cmd = [sys.executable, "-c", _PEAK_RSS_PARENT, sys.executable, "-m", "pytest", suite,
               "--tpm", "swtpm", "-q", "-p", "no:cacheprovider", "--results", str(results),
               *extra]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
        wall = time.perf_counter() - t0
        db = sqlite3.connect(results / "store.sqlite")
        try:
            outcomes = dict(db.execute("SELECT outcome, COUNT(*) FROM tests GROUP BY outcome"))
            exchanges = db.execute("SELECT COUNT(*) FROM exchanges").fetchone()[0]
            tpm_s = db.execute("SELECT COALESCE(SUM(duration_s), 0) FROM exchanges").fetchone()[0]
        finally:
            db.close()
    tests = sum(outcomes.values())
    lines = proc.stdout.strip().splitlines()
    peak_kib = int(lines.pop()[len("PEAK_RSS_KIB "):]) if lines and lines[-1].startswith("PEAK_RSS_KIB ") else 0
    return {"wall_s": round(wall, 2), "exit_code": proc.returncode, "tests": tests,
            "peak_rss_mib": round(peak_kib / 1024, 1),
            "outcomes": outcomes, "tpm_commands": exchanges,
            "tpm_busy_s": round(tpm_s, 2),
            "tests_per_s": round(tests / wall, 2), "commands_per_s": round(exchanges / wall, 1),
            "summary": lines[-1] if lines else ""}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/conformance")
    parser.add_argument("--modes", default="serial,n2", help="comma list of: serial, n2")
    args = parser.parse_args(argv)
    figures = {}
    for mode in args.modes.split(","):
        print(f"running {args.suite} ({mode})...", flush=True)
        figures[mode] = run_suite(args.suite, MODES[mode])
    rows = []
    for mode, f in figures.items():
        target = f"< {TARGET_S:.0f} s (aim {AIM_S:.0f}): {verdict(f['wall_s'], TARGET_S)}" \
            if mode == "n2" else "-"
        rows.append([mode, f["wall_s"], f["tests"], f["tests_per_s"], f["tpm_commands"],
                     f["commands_per_s"], f["tpm_busy_s"], f["peak_rss_mib"], f["exit_code"],
                     target])
    print_table(f"Suite throughput: {args.suite} on a spawned swtpm",
                ["mode", "wall s", "tests", "tests/s", "TPM cmds", "cmds/s", "TPM busy s",
                 "peak RSS MiB", "exit", "target"], rows)
    write_json("suites", {"suite": args.suite, "target_s": TARGET_S, "aim_s": AIM_S,
                          "modes": figures})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
