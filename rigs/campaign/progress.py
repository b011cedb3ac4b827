"""Progress display: point n of N, conditions, pass/fail so far, time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, done_before: int = 0, out: TextIO | None = None) -> None:
        self.total, self.done = total, done_before
        self.done_before = done_before
        self.out = out or sys.stdout
        self.t0 = time.monotonic()

    def eta_s(self) -> float | None:
        ran = self.done - self.done_before
        if ran <= 0:
            return None
        return (time.monotonic() - self.t0) / ran * (self.total - self.done)

    def line(self, n: int, label: str, latest: dict[str, float], outcomes: dict[str, int],
             stage: str) -> str:
        cond = []
        if "temperature" in latest:
            cond.append(f"{latest['temperature']:.1f} °C")
        if "voltage" in latest:
            cond.append(f"{latest['voltage']:.3f} V")
        passed = outcomes.get("passed", 0)
        failed = outcomes.get("failed", 0) + outcomes.get("error", 0)
        eta = self.eta_s()
        left = "?" if eta is None else f"{int(eta // 60)}m{int(eta % 60):02d}s"
        return (f"[point {n}/{self.total}] {label:<28} | now {' '.join(cond) or '-':<18} | "
                f"{stage:<14} | passed {passed} failed {failed} | left {left}")

    def show(self, *args, **kwargs) -> None:
        print(self.line(*args, **kwargs), file=self.out, flush=True)
