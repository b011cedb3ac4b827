"""Cross-check our reading of an event log with tpm2-tools' ``tpm2_eventlog``.

``tpm2_eventlog FILE`` (tpm2-tools >= 5) parses a crypto-agile or SHA-1 log,
prints every event as YAML and replays the banks into a ``pcrs:`` section.
Two limits of the tool are reported as "not run", not as disagreement: it
reads any log whose first event is EV_NO_ACTION as crypto-agile, so a SHA-1
log that opens with a "Spec ID Event00/02" is beyond it; and some versions
crash on some logs (5.4 segfaults on go-attestation's option-ROM log). Before
5.6 it also extended EV_NO_ACTION events and ignored StartupLocality; where
its replay differs from ours exactly by that rule, the check says so and
still compares our digests with it. Two
independent parsers that agree on every event's PCR and digests and on every
replayed PCR make a wrong verdict from a parser bug unlikely; where they
disagree the report says where.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.attest.eventlog import SHA1_FORMAT, EventLog, hash_bytes
from harness.attest.replay import Replay, can_replay

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
    if done.returncode < 0:
        raise ToolCrashed(f"tpm2_eventlog crashed on this log ({_signal_name(-done.returncode)}):"
                          " cross-check not run")
    if done.returncode != 0:
        raise RuntimeError((done.stderr or done.stdout).strip().splitlines()[-1:] or
                           [f"exit {done.returncode}"])
    doc = yaml.safe_load(done.stdout) or {}
    if not isinstance(doc, dict):
        raise yaml.YAMLError("not a mapping")
    if not isinstance(doc.get("events"), list):
        # For SHA-1 logs tpm2_eventlog prints the events as one mapping with repeated
        # keys (YAML keeps only the last): read them from the text, in order.
        doc["events"] = _scan_events(done.stdout)
    return doc


def tool_version() -> tuple[int, ...]:
    """tpm2_eventlog's version, e.g. (5, 4); (0,) when it does not say."""
    exe = shutil.which("tpm2_eventlog")
    try:
        out = subprocess.run([exe or "tpm2_eventlog", "--version"], capture_output=True,
                             text=True, timeout=TIMEOUT_S).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0,)
    m = re.search(r'version="?(\d+(?:\.\d+)*)', out)
    return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)


def _pre_5_6_replay(log: EventLog, bank: str, pcr: int) -> bytes | None:
    """PCR ``pcr`` as tpm2_eventlog before 5.6 replays it: from zeros, EV_NO_ACTION
    events extended too (tpm2-tools commits 9735dc33 and 576a31bc fixed both)."""
    if bank not in log.banks or not can_replay(bank):
        return None
    value = bytes(len(hash_bytes(bank, b"")))
    for e in log.events:
        if e.pcr == pcr:
            value = hash_bytes(bank, value + e.digests[bank])
    return value


class ToolCrashed(Exception):
    """tpm2_eventlog died by a signal: no verdict either way."""


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _scan_events(text: str) -> list[dict]:
    """Events of tpm2_eventlog's output read line by line: PCRIndex, AlgorithmId, Digest."""
    events: list[dict] = []
    bank = None
    for line in text.splitlines():
        if line.startswith("pcrs:"):
            break
        key, _, value = line.strip().lstrip("- ").partition(":")
        value = value.strip().strip('"')
        if key == "PCRIndex" and line.startswith("  PCRIndex"):
            events.append({"PCRIndex": int(value), "Digests": []})
        elif key == "AlgorithmId" and events:
            bank = value
        elif key == "Digest" and events and bank is not None:
            events[-1]["Digests"].append({"AlgorithmId": bank, "Digest": value})
            bank = None
    return events


def crosscheck(path: str | Path, log: EventLog, rep: Replay) -> CrossCheck:
    """Compare tpm2_eventlog's events and replay with ours."""
    if log.format == SHA1_FORMAT and log.events and not log.events[0].extends:
        return CrossCheck(False, False, "tpm2_eventlog reads a log whose first event is "
                                        "EV_NO_ACTION as crypto-agile, so it cannot read this "
                                        "SHA-1 log: cross-check not run")
    try:
        doc = run_tpm2_eventlog(path)
    except FileNotFoundError:
        return CrossCheck(False, False, "tpm2_eventlog is not installed (apt-get install "
                                        "tpm2-tools): cross-check not run")
    except ToolCrashed as exc:
        return CrossCheck(False, False, str(exc))
    except subprocess.TimeoutExpired:
        return CrossCheck(True, False, f"tpm2_eventlog did not finish within {TIMEOUT_S:.0f} s")
    except RuntimeError as exc:
        return CrossCheck(True, False, f"tpm2_eventlog rejects the log: {exc.args[0]}")
    except yaml.YAMLError as exc:
        return CrossCheck(True, False, f"tpm2_eventlog output is not YAML: {exc}")
    diffs: list[str] = []
    theirs = [e for e in doc.get("events") or [] if isinstance(e, dict) and "Digests" in e]
    if len(theirs) != len(log.events):
        diffs.append(f"tpm2_eventlog sees {len(theirs)} events after the header, we see "
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
    old_tool = tool_version() < (5, 6)
    quirk: list[str] = []
    for bank, values in (doc.get("pcrs") or {}).items():
        for pcr, value in (values or {}).items():
            ours = rep.values.get(str(bank), {}).get(int(pcr))
            if ours is None:
                diffs.append(f"tpm2_eventlog replays {bank} PCR {pcr}, we do not")
            elif _as_bytes(value, len(ours)) != ours:
                if old_tool and _as_bytes(value, len(ours)) == _pre_5_6_replay(log, str(bank),
                                                                              int(pcr)):
                    quirk.append(f"{bank} PCR {pcr}")
                    continue
                diffs.append(f"{bank} PCR {pcr}: tpm2_eventlog replays a different value")
    counted = sum(len(v or {}) for v in (doc.get("pcrs") or {}).values())
    if not diffs:
        note = (f"; for {', '.join(quirk)} it follows its pre-5.6 rule (EV_NO_ACTION "
                "extended, StartupLocality ignored), which our digests reproduce") if quirk else ""
        return CrossCheck(True, True, f"tpm2_eventlog agrees on {len(theirs)} events and "
                                      f"{counted} replayed PCR values{note}")
    return CrossCheck(True, False, f"tpm2_eventlog disagrees: {diffs[0]}"
                      + (f" (and {len(diffs) - 1} more)" if len(diffs) > 1 else ""), diffs)
