"""Shared helpers for the benchmark scripts: medians, tables, JSON output.

Benchmarks print figures with their targets and write JSON beside the
table (benchmarks/results/<name>.json) so CI can keep a history. They never
fail on noise: a missed target is printed as MISSED, and the exit code stays 0.
"""

from __future__ import annotations

import hashlib
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


def standard_workloads(esapi):
    """The commands every round-trip benchmark times (issue: GetRandom 32,
    PCR_Read, a primary-key Sign, a Hash of 1 KiB). Returns (workloads, key)."""
    from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_RH, TPM2_ST
    from tpm2_pytss.types import TPM2B_PUBLIC, TPMT_SIG_SCHEME, TPMT_TK_HASHCHECK

    public = TPM2B_PUBLIC.parse(
        "ecc256:ecdsa-sha256:null",
        objectAttributes="userwithauth|sign|fixedtpm|fixedparent|sensitivedataorigin")
    key, _, _, _, _ = esapi.create_primary(None, public, ESYS_TR.OWNER)
    scheme = TPMT_SIG_SCHEME(scheme=TPM2_ALG.ECDSA)
    scheme.details.any.hashAlg = TPM2_ALG.SHA256
    ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
    digest = hashlib.sha256(b"bench").digest()
    kib = bytes(1024)
    return {
        "GetRandom(32)": lambda: esapi.get_random(32),
        "PCR_Read(sha256:0-7)": lambda: esapi.pcr_read("sha256:0,1,2,3,4,5,6,7"),
        "Sign(ECDSA P-256)": lambda: esapi.sign(key, digest, scheme, ticket),
        "Hash(1 KiB)": lambda: esapi.hash(kib, TPM2_ALG.SHA256, ESYS_TR.OWNER),
    }, key
