"""Shared helpers for the benchmark scripts: medians, tables, JSON output.

Benchmarks print figures with their targets and write JSON beside the
table (benchmarks/results/<name>.json) so CI can keep a history. They never
fail on noise: a missed target is printed as MISSED, and the exit code stays 0.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(os.environ.get("TPMHIL_BENCH_DIR", Path(__file__).parent / "results"))


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def verdict(value: float, target: float, lower_is_better: bool = True) -> str:
    ok = value <= target if lower_is_better else value >= target
    return "met" if ok else "MISSED"


def print_table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(cells[0], widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    payload = {"benchmark": name, "time": time.time(), "host": platform.node(),
               "python": platform.python_version(), "cpus": os.cpu_count(), **data}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
    print(f"\n(JSON: {path})")
    return path
