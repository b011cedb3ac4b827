"""Cross-check our reading of an event log with tpm2-tools' ``tpm2_eventlog``.

``tpm2_eventlog FILE`` (tpm2-tools >= 5) parses a crypto-agile log, prints
every event as YAML and replays the banks into a ``pcrs:`` section. Two
independent parsers that agree on every event's PCR and digests and on every
replayed PCR make a wrong verdict from a parser bug unlikely; where they
disagree the report says where.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.attest.eventlog import EventLog
from harness.attest.replay import Replay

TIMEOUT_S = 60.0


@dataclass
class CrossCheck:
    """Outcome: ``ran`` False when tpm2_eventlog is not available."""

    ran: bool
    ok: bool
    detail: str
    differences: list[str] = field(default_factory=list)


def _as_bytes(value: object, size: int) -> bytes:
    if isinstance(value, int):  # YAML 1.1 reads 0x... as an integer
        return value.to_bytes(size, "big")
    text = str(value)
    return bytes.fromhex(text[2:] if text.lower().startswith("0x") else text)


def run_tpm2_eventlog(path: str | Path) -> dict:
    """Run tpm2_eventlog on ``path`` and return its YAML document."""
    exe = shutil.which("tpm2_eventlog")
    if exe is None:
        raise FileNotFoundError("tpm2_eventlog")
    done = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError((done.stderr or done.stdout).strip().splitlines()[-1:] or
                           [f"exit {done.returncode}"])
    return yaml.safe_load(done.stdout) or {}


def crosscheck(path: str | Path, log: EventLog, rep: Replay) -> CrossCheck:
    """Compare tpm2_eventlog's events and replay with ours."""
    try:
        doc = run_tpm2_eventlog(path)
    except FileNotFoundError:
        return CrossCheck(False, False, "tpm2_eventlog is not installed (apt-get install "
                                        "tpm2-tools): cross-check not run")
    except subprocess.TimeoutExpired:
        return CrossCheck(True, False, f"tpm2_eventlog did not finish within {TIMEOUT_S:.0f} s")
    except RuntimeError as exc:
        return CrossCheck(True, False, f"tpm2_eventlog rejects the log: {exc.args[0]}")
    except yaml.YAMLError as exc:
        return CrossCheck(True, False, f"tpm2_eventlog output is not YAML: {exc}")
    diffs: list[str] = []
    theirs = [e for e in doc.get("events") or [] if "Digests" in e]
    if len(theirs) != len(log.events):
        diffs.append(f"tpm2_eventlog sees {len(theirs)} TCG_PCR_EVENT2 entries, we see "
                     f"{len(log.events)}")
    for mine, other in zip(log.events, theirs):
        if int(other.get("PCRIndex", -1)) != mine.pcr:
            diffs.append(f"{mine.label()}: tpm2_eventlog says PCR {other.get('PCRIndex')}")
            continue
        for d in other.get("Digests") or []:
            bank = str(d.get("AlgorithmId"))
            if bank not in mine.digests:
                diffs.append(f"{mine.label()}: tpm2_eventlog has a {bank} digest we do not")
            elif _as_bytes(d.get("Digest"), len(mine.digests[bank])) != mine.digests[bank]:
                diffs.append(f"{mine.label()}: {bank} digest differs from tpm2_eventlog's")
    for bank, values in (doc.get("pcrs") or {}).items():
        for pcr, value in (values or {}).items():
            ours = rep.values.get(str(bank), {}).get(int(pcr))
            if ours is None:
                diffs.append(f"tpm2_eventlog replays {bank} PCR {pcr}, we do not")
            elif _as_bytes(value, len(ours)) != ours:
                diffs.append(f"{bank} PCR {pcr}: tpm2_eventlog replays a different value")
    counted = sum(len(v or {}) for v in (doc.get("pcrs") or {}).values())
    if not diffs:
        return CrossCheck(True, True, f"tpm2_eventlog agrees on {len(theirs)} events and "
                                      f"{counted} replayed PCR values")
    return CrossCheck(True, False, f"tpm2_eventlog disagrees: {diffs[0]}"
                      + (f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""), diffs)
