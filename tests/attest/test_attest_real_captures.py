"""Opt-in: event logs captured on real machines, read alike by us and ``tpm2_eventlog``.

Public captures may not be committed to this repository, so the lab names a
folder of them::

    TPMHIL_REAL_EVENTLOGS=/path/to/captures pytest tests/attest/test_attest_real_captures.py

Without the variable, a ``shared/eventlogs`` folder beside the checkout is used when it
exists (the project's shared data, present in CI too).

Every file in the folder is a test. An IMA list (a name containing
``runtime_measurements`` or ``ima-log``, e.g. keylime's
``test/data/create-runtime-policy/ima-log-sha256``) must parse and every template hash
must recompute. A binary event log (``binary_bios_measurements``,
go-attestation's ``attest/testdata/*_eventlog``) must parse, and where
``tpm2_eventlog`` can read it, agree with it on every event's PCR and digests and
on every replayed PCR. A go-attestation JSON capture (``windows_gcp_shielded_vm.json``:
``Log.Raw`` and ``Log.PCRs``) must replay to the PCR values the machine reported.
Where to get captures: docs/attestation.md, "Real captures".
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from harness.attest import ima as imalib
from harness.attest.crosscheck import crosscheck
from harness.attest.eventlog import EventLogError, parse_eventlog, read_eventlog
from harness.attest.replay import replay

ENV = "TPMHIL_REAL_EVENTLOGS"
_SKIP_SUFFIXES = {".yaml", ".yml", ".txt", ".md", ".err"}
_GO_HASH = {3: "sha1", 5: "sha256", 6: "sha384", 7: "sha512"}  # Go crypto.Hash numbers


#: Where the steering repository's shared/ folder (beside the checkout, also in CI) may
#: hold public captures: data may live there, not in this repository.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "eventlogs"


def _captures() -> list[Path]:
    folder = os.environ.get(ENV) or (str(SHARED) if SHARED.is_dir() else "")
    if not folder:
        return []
    root = Path(folder)
    if not root.is_dir():
        raise pytest.UsageError(f"{ENV}={folder}: not a folder")
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix not in _SKIP_SUFFIXES)


def pytest_generate_tests(metafunc):
    if "capture" in metafunc.fixturenames:
        found = _captures()
        metafunc.parametrize("capture", found or [None], ids=[p.name for p in found] or ["none"])


def _go_attestation_json(path: Path) -> None:
    doc = json.loads(path.read_text())
    raw = base64.b64decode(doc["Log"]["Raw"])
    log = parse_eventlog(raw, str(path))
    rep = replay(log)
    reported: dict[str, dict[int, bytes]] = {}
    for entry in doc["Log"]["PCRs"]:
        bank = _GO_HASH[int(entry.get("DigestAlg", 3))]
        reported.setdefault(bank, {})[int(entry["Index"])] = base64.b64decode(entry["Digest"])
    compared = 0
    for bank, values in rep.values.items():
        for pcr, value in values.items():
            assert value == reported[bank][pcr], f"{path.name}: {bank} PCR {pcr} replays " \
                                                 "differently from the machine's value"
            compared += 1
    assert compared, f"{path.name}: no PCR to compare"


def _is_ima_list(path: Path) -> bool:
    return "runtime_measurements" in path.name or "ima-log" in path.name or \
        "ima_log" in path.name


def _ima_list(path: Path) -> None:
    lst = imalib.read_ima_list(path)
    tc = imalib.check_template_hashes(lst)
    assert not tc.bad, tc.bad[:3]
    assert len(lst.entries) > 0


def test_real_capture_replays_like_tpm2_eventlog(capture):
    if capture is None:
        pytest.skip(f"opt-in: set {ENV}=FOLDER of real event log captures")
    if _is_ima_list(capture):
        _ima_list(capture)
        return
    if capture.suffix == ".json":
        _go_attestation_json(capture)
        return
    try:
        log = read_eventlog(capture)
    except EventLogError as exc:
        if capture.stat().st_size < 64:  # e.g. go-attestation's short_no_action_eventlog
            assert "\n" not in str(exc)
            return
        raise
    cc = crosscheck(capture, log, replay(log))
    if not cc.ran:
        pytest.skip(f"{capture.name} ({log.format}, {len(log.events)} events) parsed; "
                    f"{cc.detail}")
    assert cc.ok, cc.differences
