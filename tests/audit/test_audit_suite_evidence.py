"""The security suite writes the same figures files as ``tpmhil audit``
(``evidence/security/<check>.json``, contract 5) into its results folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_security_suite_writes_a_figures_file_per_check(tmp_path):
    results = tmp_path / "run"
    env = {**os.environ, "TPMHIL_AUDIT_BUDGET_S": "6"}  # the timing check's budget: bounded
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "suites/security", "--tpm", "swtpm", "-q",
         "-p", "no:cacheprovider", "--results", str(results)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    docs = {p.name: json.loads(p.read_text()) for p in (results / "evidence" / "security").glob("*.json")}
    assert set(docs) == {"advisories.json", "ek_credentials.json", "roca.json",
                         "nonce_timing-ecdsa.json", "nonce_timing-ecschnorr.json",
                         "reference_probes.json"}
    for name, doc in docs.items():
        assert set(doc) >= {"check", "verdict", "figures", "plots", "simulation", "reason"}, name
        assert doc["simulation"] is False
        for fig in doc["figures"].values():
            assert set(fig) == {"value", "unit", "meaning"}
    for scheme in ("ecdsa", "ecschnorr"):
        timing = docs[f"nonce_timing-{scheme}.json"]
        # 3 s per scheme: a verdict or an honest "incomplete", never more time than budgeted
        assert timing["verdict"] in ("pass", "incomplete")
        assert timing["figures"]["budget_s"]["value"] == 3.0
        assert timing["figures"]["elapsed_s"]["value"] < 10
        assert timing["plots"] == [f"evidence/nonce_timing_{scheme}.png"]
        assert (results / timing["plots"][0]).stat().st_size > 10_000
    assert docs["roca.json"]["verdict"] == "pass"
    assert docs["ek_credentials.json"]["figures"]["chains_verified"]["value"] == 2
