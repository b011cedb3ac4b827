"""Attestation evidence in a results folder (:class:`harness.results.run_folder.RunFolder`).

Written under ``evidence/attestation/``:

* ``eventlog.bin``: the log exactly as verified;
* ``events.csv``: index, offset, PCR, type, description, digest per bank;
* ``replay.csv`` and ``replay.txt``: replayed vs chip value per bank and PCR;
* ``quote.json``: TPMS_ATTEST, TPMT_SIGNATURE, nonce, selection, reference clock;
* ``ak_public.pem`` and ``ak_public.tpm2b``: the enrolled AK;
* ``attestation.json``: every stage with its verdict and details;
* offline mode: ``inputs/`` (the board's tpm2-tools files as received; never
  the credential secret) and ``quote.json`` as read from them;
* ``ima.json`` when an IMA measurement list was judged.

Each stage is also a test record (``attest::<stage>``) in the store, labelled
with the IEC 62443-4-2 requirements it gives evidence for, and each file an
artifact with its SHA-256.
"""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

from harness.attest.describe import describe_event
from harness.attest.flow import FAIL, NOT_RUN, PASS, AttestationResult
from harness.attest.replay import format_table
from harness.results.run_folder import RunFolder, write_json_atomic
from harness.results.store import TestRecord

REQUIREMENTS = ("IEC62443-4-2:EDR 3.14", "IEC62443-4-2:CR 3.4")
_OUTCOME = {PASS: "passed", FAIL: "failed", NOT_RUN: "skipped"}


def write_evidence(folder: RunFolder, result: AttestationResult, log_bytes: bytes,
                   started: float | None = None) -> Path:
    """Write the evidence files and test records; return the evidence folder."""
    out = folder.evidence_dir / "attestation"
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes | None] = {"eventlog.bin": log_bytes}
    (out / "eventlog.bin").write_bytes(log_bytes)
    log = result.log
    with open(out / "events.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["index", "offset", "pcr", "event_type", "description",
                    *[f"digest_{b}" for b in log.banks]])
        for e in log.events:
            w.writerow([e.index, e.offset, e.pcr, e.type_name, describe_event(e),
                        *[e.digests[b].hex() for b in log.banks]])
    files["events.csv"] = None
    report = result.pcr_read_report
    if report is not None:
        with open(out / "replay.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["bank", "pcr", "events", "replayed", "chip",
                                               "match", "note"])
            w.writeheader()
            for row in report.rows:
                w.writerow(row.to_dict())
        (out / "replay.txt").write_text(format_table(report) + "\n\n" +
                                        "\n".join(report.divergences) + "\n")
        files["replay.csv"] = files["replay.txt"] = None
    if result.quote is not None or result.quote_doc is not None:
        write_json_atomic(out / "quote.json", result.quote.to_dict() if result.quote is not None
                          else result.quote_doc)
        files["quote.json"] = None
    if result.ak_pem:
        (out / "ak_public.pem").write_bytes(result.ak_pem)
        files["ak_public.pem"] = None
    if result.ak_public:
        (out / "ak_public.tpm2b").write_bytes(result.ak_public)
        files["ak_public.tpm2b"] = None
    for name, data in sorted(result.inputs.items()):  # offline: the board's files as received
        (out / "inputs").mkdir(exist_ok=True)
        (out / "inputs" / name).write_bytes(data)
        files[f"inputs/{name}"] = None
    if result.ima is not None:
        write_json_atomic(out / "ima.json", result.ima.to_dict())
        files["ima.json"] = None
    write_json_atomic(out / "attestation.json", result.to_dict())
    files["attestation.json"] = None
    store = folder.store
    for name in files:
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        store.add_artifact(f"evidence/attestation/{name}", "attestation", "attest", digest)
    now = time.time()
    for stage in result.stages:
        store.add_test(TestRecord(
            nodeid=f"attest::{stage.name}", outcome=_OUTCOME[stage.status], duration_s=0.0,
            started=started or now, finished=now, markers=("attestation",),
            requirements=REQUIREMENTS, spec="TCG PC Client PFP §10; TPM 2.0 Part 3 §12.5, §18.4",
            message=stage.summary, longrepr="\n".join(stage.details)))
    return out
