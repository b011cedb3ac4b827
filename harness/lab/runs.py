"""Runs as the lab sees them: one row of identity per run, and its tables.

A run is a results folder (``harness.results.run_folder``). A fan-out run
(``tpmhil run --places``) holds one results folder per place under
``places/``; each is a run of its own here (``parent_run`` names the fan-out)
so that trends split by chip, firmware and bus, which differ per place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import StoreError
from harness.results.run_folder import RunFolder
from harness.results.store import STORE_FILE

TABLES = ("tests", "exchanges", "telemetry", "points", "events")


@dataclass(frozen=True)
class RunInfo:
    """What identifies a run and what it ran on (the lab-wide ``runs`` row)."""

    run_id: str
    kind: str
    created: float
    finished: float | None
    harness_version: str
    target_uri: str
    bus: str
    chip_model: str
    firmware: str
    profile: str
    verdict: str
    place: str
    parent_run: str
    source_path: str
    meta: dict[str, Any]
    summary: dict[str, Any]

    def content_key(self) -> str:
        """A digest of the run's identity, to spot a different run reusing an id."""
        blob = json.dumps([self.run_id, self.created, self.target_uri], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _chip_model(meta: dict[str, Any]) -> str:
    brief = meta.get("identity_brief") or {}
    text = " ".join(" ".join(str(brief.get(k, "")).split()) for k in ("manufacturer", "vendor")).strip()
    return text or str(meta.get("profile_name") or "unknown")


def run_info(folder: RunFolder, place: str = "", parent_run: str = "") -> RunInfo:
    """Read a results folder's identity (meta table and summary.json)."""
    meta = folder.store.meta()
    summary = folder.read_json("summary.json", {}) or {}
    target = meta.get("target") or {}
    run_id = str(meta.get("run_id") or folder.path.name)
    if parent_run:
        run_id = f"{parent_run}/{place}"
    outcomes = folder.store.outcomes()
    failed = outcomes.get("failed", 0) + outcomes.get("error", 0)
    verdict = summary.get("verdict") or ("FAIL" if failed else "PASS" if outcomes.get("passed")
                                         else "NO TESTS RAN")
    return RunInfo(
        run_id=run_id,
        kind=str(meta.get("kind", "run")),
        created=float(meta.get("created") or folder.path.stat().st_mtime),
        finished=summary.get("finished"),
        harness_version=str(meta.get("harness_version") or ""),
        target_uri=str(meta.get("target_uri") or target.get("uri") or ""),
        bus=str(target.get("bus") or "unknown"),
        chip_model=_chip_model(meta),
        firmware=str((meta.get("identity_brief") or {}).get("firmware") or "unknown"),
        profile=str(meta.get("profile_name") or ""),
        verdict=str(verdict),
        place=place or str(target.get("place") or ""),
        parent_run=parent_run,
        source_path=str(folder.path.resolve()),
        meta=meta,
        summary=summary,
    )


def _run_id(path: Path) -> str:
    folder = RunFolder(path)
    try:
        return str(folder.store.get_meta("run_id") or path.name)
    finally:
        folder.close()


def is_run_folder(path: Path) -> bool:
    return (path / STORE_FILE).is_file()


def iter_runs(paths: list[str | Path]) -> Iterator[tuple[RunInfo, RunFolder]]:
    """Every run under ``paths``: run folders, fan-out folders, or folders of runs.

    Raises:
        StoreError: a path holds no results folder at all.
    """
    for raw in paths:
        path = Path(raw)
        found = False
        candidates = [path] if is_run_folder(path) else sorted(
            p for p in path.iterdir() if p.is_dir() and is_run_folder(p)) if path.is_dir() else []
        for candidate in candidates:
            found = True
            folder = RunFolder(candidate)
            fanout = candidate.parent.parent
            if candidate.parent.name == "places" and is_run_folder(fanout):
                # one place of a fan-out named directly: keep the fan-out's naming
                parent = _run_id(fanout)
                yield run_info(folder, candidate.name, parent), folder
                continue
            places = candidate / "places"
            subs = sorted(p for p in places.iterdir() if is_run_folder(p)) if places.is_dir() else []
            if subs:
                parent = _run_id(candidate)
                for sub in subs:
                    yield run_info(RunFolder(sub), sub.name, parent), RunFolder(sub)
                folder.close()
            else:
                yield run_info(folder), folder
        if not found:
            raise StoreError(f"{path}: not a results folder (no {STORE_FILE} in it or below it)")


def table_rows(folder: RunFolder, table: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows of one store table, in insertion order."""
    if table not in TABLES:
        raise StoreError(f"no table {table!r} in a results store")
    columns = [row[1] for row in folder.store.query(f"PRAGMA table_info({table})")]
    return columns, folder.store.query(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
