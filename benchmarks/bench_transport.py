"""Per-command round trip through the harness (transport + PyTCTI + ESAPI)
against raw tpm2-pytss on TCTILdr("swtpm"), on the same spawned swtpm.

Rounds alternate between the two paths so drift on a shared host hits both
alike; figures are medians. Target: harness / raw <= 1.05.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import median_us, print_table, standard_workloads, verdict, write_json  # noqa: E402
from tpm2_pytss import ESAPI, TCTILdr  # noqa: E402

from harness.swtpm_process import SwtpmProcess  # noqa: E402
from harness.transports.swtpm import SwtpmTransport  # noqa: E402
from harness.transports.tcti import open_esapi  # noqa: E402

TARGET_RATIO = 1.05


def _session(side: str, port: int):
    """Open one path to the swtpm; swtpm serves one data connection at a time,
    so the two paths take turns (connection set-up is outside the timing)."""
    if side == "raw":
        esapi = ESAPI(TCTILdr("swtpm", f"host=127.0.0.1,port={port}"))
        return esapi, None
    transport = SwtpmTransport("127.0.0.1", port)
    return open_esapi(transport), transport


def measure(rounds: int, per_round: int) -> dict:
    proc = SwtpmProcess()
    samples: dict = {}
    try:
        for _ in range(rounds):
            for side in ("raw", "harness"):
                esapi, transport = _session(side, proc.port)
                work, key = standard_workloads(esapi)
                for name, fn in work.items():
                    bucket = samples.setdefault(name, {"raw": [], "harness": []})[side]
                    for _ in range(per_round):
                        t0 = time.perf_counter()
                        fn()
                        bucket.append(time.perf_counter() - t0)
                esapi.flush_context(key)
                esapi.close()
                if transport is not None:
                    transport.log.drain()
                    transport.close()
    finally:
        proc.stop()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=40)
    args = parser.parse_args()
    samples = measure(args.rounds, args.per_round)
    rows, out = [], {}
    for name, sides in samples.items():
        raw_us, h_us = median_us(sides["raw"]), median_us(sides["harness"])
        ratio = h_us / raw_us
        rows.append([name, f"{raw_us:.1f}", f"{h_us:.1f}", f"{ratio:.3f}", f"<= {TARGET_RATIO}",
                     verdict(ratio, TARGET_RATIO)])
        out[name] = {"raw_median_us": raw_us, "harness_median_us": h_us, "ratio": ratio,
                     "target_ratio": TARGET_RATIO, "samples": len(sides["raw"])}
    print_table("Per-command round trip on one spawned swtpm (medians): harness transport + "
                "PyTCTI + ESAPI vs raw tpm2-pytss TCTILdr('swtpm')",
                ["command", "raw µs", "harness µs", "ratio", "target", "verdict"], rows)
    write_json("transport", {"commands": out})


if __name__ == "__main__":
    main()
