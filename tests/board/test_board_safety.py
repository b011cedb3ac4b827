"""Done-when of issue 15: on a board-like TPM, without --allow-destructive, the whole
``pytest suites`` passes and leaves the TPM as it found it.

The board is a private swtpm made board-like (see :mod:`tests.board.board`) and
targeted as ``swtpm://127.0.0.1:PORT``: an existing TPM, not disposable, so
destructive tests skip. It is fingerprinted before and after the run; any
difference fails the test, naming what changed. Variants: as found, with the
platform hierarchy disabled (as PC firmware leaves it), and with owner,
endorsement and lockout auth values set by the lab (given to the run through
the environment).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from harness.swtpm_process import ca_root_certificates
from tests.board.board import (BoardLikeTpm, clock_jump_ms, differences, fingerprint,
                               read_clock)

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 1200
CLOCK_JUMP_MS = 60_000  # a ClockSet forward (the suites used one hour) shows far above this
LAB_AUTH = {"owner": bytes.fromhex("0badc0de01"), "endorsement": b"lab-endorsement",
            "lockout": bytes.fromhex("10c4")}

VARIANTS = {
    "as-found": dict(),
    "platform-disabled": dict(platform_disabled=True),
    "lab-auth": dict(auth=LAB_AUTH),
}
# The variants only change hierarchy settings, which the nonce-timing statistics (over a
# minute of signing, read-only, run in full as found) do not use.
VARIANT_DESELECT = ["-k", "not test_nonce_timing"]


def _run_suites(uri: str, results: Path, auth: dict[str, bytes], tmp: Path,
                extra: list[str]):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TPMHIL_", "PYTEST_XDIST"))}
    env["TPMHIL_COVERAGE_LEDGER"] = str(tmp / "coverage-ledger.jsonl")
    roots = tmp / "ek-roots"  # as a lab gives its vendors' EK roots
    roots.mkdir(exist_ok=True)
    for cert in ca_root_certificates():
        shutil.copy(cert, roots / cert.name)
    env["TPMHIL_EK_ROOTS"] = str(roots)
    for name, value in auth.items():
        env[f"TPMHIL_{name.upper()}_AUTH"] = "hex:" + value.hex()
    cmd = [sys.executable, "-m", "pytest", "suites", "--tpm", uri, "-q", "-p",
           "no:cacheprovider", "--results", str(results), "-rfE", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)


def _outcomes(results: Path) -> dict[str, list[tuple[str, str]]]:
    conn = sqlite3.connect(results / "store.sqlite")
    try:
        rows = conn.execute("SELECT nodeid, outcome, message FROM tests").fetchall()
    finally:
        conn.close()
    out: dict[str, list[tuple[str, str]]] = {}
    for nodeid, outcome, message in rows:
        out.setdefault(outcome, []).append((nodeid, message or ""))
    return out


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_suites_pass_and_leave_the_board_as_found(variant, tmp_path):
    board = BoardLikeTpm(**VARIANTS[variant]).start()
    try:
        before, clock_before = fingerprint(board), read_clock(board)
        extra = [] if variant == "as-found" else VARIANT_DESELECT
        done = _run_suites(board.uri, tmp_path / "run", board.auth, tmp_path, extra)
        clock_after, after = read_clock(board), fingerprint(board)
    finally:
        board.stop()
    problems = [f"changed {d}" for d in differences(before, after)]
    jump = clock_jump_ms(clock_before, clock_after)
    if jump > CLOCK_JUMP_MS:
        problems.append(f"Clock moved {jump / 1000:.0f} s beyond the host's elapsed time")
    outcomes = _outcomes(tmp_path / "run")
    for outcome in ("failed", "error", "xpassed"):
        problems += [f"{outcome}: {nodeid}: {msg[:200]}" for nodeid, msg in
                     outcomes.get(outcome, [])]
    silent = [nodeid for nodeid, msg in outcomes.get("skipped", []) if not msg.strip()]
    problems += [f"skipped without a reason: {nodeid}" for nodeid in silent]
    if done.returncode != 0 and not problems:
        problems.append(f"pytest exit {done.returncode}: {done.stdout[-3000:]}"
                        f"{done.stderr[-2000:]}")
    assert outcomes.get("passed"), f"nothing passed: {done.stdout[-3000:]}"
    for value in board.auth.values():  # the lab's auth values are never written down
        forms = [value.hex().encode()] + ([value] if value.isascii() and len(value) >= 8 else [])
        for path in (tmp_path / "run").rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert not any(f in data for f in forms), f"an auth value is in {path}"
    assert not problems, f"{variant}: " + "\n".join(problems)
    coverage = json.loads((tmp_path / "run" / "evidence" / "command_coverage.json").read_text())
    for command in ("TPM2_Clear", "TPM2_ClockSet", "TPM2_NV_GlobalWriteLock"):
        reasons = coverage["not_run_here"][command]["positive"]  # skipped, not failed
        assert reasons and all("destructive" in r for r in reasons), (command, reasons)


def test_fingerprint_sees_what_a_careless_suite_changes():
    """The proof can fail: the changes issue 15 found (PCR 8 extended, a GLOBALLOCK index
    write-locked, Clock moved an hour, the audit hash changed, the lockout counter
    raised) all show in the fingerprint or the clock check."""
    from tpm2_pytss import TSS2_Exception
    from tpm2_pytss.constants import ESYS_TR, TPM2_ALG
    from tpm2_pytss.types import TPM2B_PUBLIC, TPM2B_SENSITIVE_CREATE, TPML_CC

    board = BoardLikeTpm().start()
    try:
        before, clock_before = fingerprint(board), read_clock(board)
        with board.esapi() as esapi:
            esapi.pcr_event(ESYS_TR.PCR8, b"careless")
            esapi.nv_global_write_lock(ESYS_TR.OWNER)
            esapi.clock_set(esapi.read_clock().clockInfo.clock + 3_600_000, ESYS_TR.OWNER)
            esapi.set_command_code_audit_status(TPM2_ALG.SHA384, TPML_CC(), TPML_CC(),
                                                ESYS_TR.OWNER)
            sensitive = TPM2B_SENSITIVE_CREATE()
            sensitive.sensitive.userAuth = b"right"
            sensitive.sensitive.data = b"secret"
            sealed = TPM2B_PUBLIC.parse("keyedhash", objectAttributes="userwithauth|fixedtpm|"
                                                                       "fixedparent")
            parent = esapi.tr_from_tpmpublic(0x81000001)
            priv, pub, _, _, _ = esapi.create(parent, sensitive, sealed)
            key = esapi.load(parent, priv, pub)
            esapi.tr_set_auth(key, b"wrong")
            with pytest.raises(TSS2_Exception):  # TPM_RC_AUTH_FAIL: counted (no noDA)
                esapi.unseal(key)
        clock_after, after = read_clock(board), fingerprint(board)
    finally:
        board.stop()
    changed = "\n".join(differences(before, after))
    assert "pcrs.sha256[8]" in changed
    assert "nv.0x01000100.public" in changed  # TPMA_NV_WRITELOCKED set
    assert "audit.digest_alg" in changed
    assert "properties.lockout_counter" in changed
    assert clock_jump_ms(clock_before, clock_after) > CLOCK_JUMP_MS
    assert differences(before, before) == []
