"""Runs as the lab sees them: one row of identity per run, and its tables.

A run is a results folder (``harness.results.run_folder``). A fan-out run
(``tpmhil run --places``) holds one results folder per place under
``places/``; each is a run of its own here (``parent_run`` names the fan-out)
so that trends split by chip, firmware and bus, which differ per place.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import StoreError
from harness.lab.store_reader import StoreReader
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


def _text(value: Any, limit: int = 1000) -> str:
    return "" if value is None else str(value)[:limit]


def _chip_model(meta: dict[str, Any]) -> str:
    brief = meta.get("identity_brief")
    brief = brief if isinstance(brief, dict) else {}
    text = " ".join(" ".join(_text(brief.get(k, "")).split()) for k in ("manufacturer", "vendor")).strip()
    return text or _text(meta.get("profile_name")) or "unknown"


def _number(value: Any, what: str, store: StoreReader) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise StoreError(f"{store.path}: {what} {value!r} is not a finite number")
    return float(value)


def _target(meta: dict[str, Any]) -> dict[str, Any]:
    """The target description: a mapping for runs; audits and attestations store a string."""
    target = meta.get("target")
    if isinstance(target, dict):
        return target
    return {"uri": target} if isinstance(target, str) else {}


def _check_run_id(run_id: Any, store: StoreReader) -> str:
    if not isinstance(run_id, str) or not run_id or len(run_id) > 200 or not run_id.isprintable():
        raise StoreError(f"{store.path}: run id {run_id!r} is not a printable name of 1-200 "
                         "characters")
    return run_id


def run_info(folder: StoreReader, place: str = "", parent_run: str = "") -> RunInfo:
    """Read a results folder's identity (meta table and summary.json).

    Raises:
        StoreError: a field has a type no results folder writes.
    """
    meta = folder.meta()
    summary = folder.read_json("summary.json", {}) or {}
    if not isinstance(summary, dict):
        raise StoreError(f"{folder.folder / 'summary.json'}: expected a JSON object")
    target = _target(meta)
    run_id = _check_run_id(meta.get("run_id") or folder.folder.name, folder)
    if parent_run:
        run_id = _check_run_id(f"{parent_run}/{place}", folder)
    outcomes = folder.outcomes()
    failed = outcomes.get("failed", 0) + outcomes.get("error", 0)
    verdict = summary.get("verdict") or ("FAIL" if failed else "PASS" if outcomes.get("passed")
                                         else "NO TESTS RAN")
    created = _number(meta.get("created"), "created", folder)
    brief = meta.get("identity_brief") if isinstance(meta.get("identity_brief"), dict) else {}
    return RunInfo(
        run_id=run_id,
        kind=_text(meta.get("kind", "run"), 100),
        created=created if created is not None else folder.path.stat().st_mtime,
        finished=_number(summary.get("finished"), "summary.json finished", folder),
        harness_version=_text(meta.get("harness_version"), 100),
        target_uri=_text(meta.get("target_uri") or target.get("uri")),
        bus=_text(target.get("bus") or "unknown", 100),
        chip_model=_chip_model(meta),
        firmware=_text(brief.get("firmware") or "unknown", 200),
        profile=_text(meta.get("profile_name"), 200),
        verdict=_text(verdict, 100),
        place=place or _text(target.get("place"), 200),
        parent_run=parent_run,
        source_path=str(folder.folder.resolve()),
        meta=meta,
        summary=summary,
    )


def _run_id(path: Path) -> str:
    with StoreReader(path) as store:
        run_id = store.meta().get("run_id") or path.name
        return _check_run_id(run_id, store)


def is_run_folder(path: Path) -> bool:
    return (path / STORE_FILE).is_file()


def _open(path: Path, place: str = "", parent: str = "") -> tuple[RunInfo, StoreReader]:
    reader = StoreReader(path)
    try:
        return run_info(reader, place, parent), reader
    except BaseException:
        reader.close()
        raise


def iter_runs(paths: list[str | Path]) -> Iterator[tuple[RunInfo, StoreReader]]:
    """Every run under ``paths``: run folders, fan-out folders, or folders of runs.

    Each store is opened read-only (:class:`StoreReader`); the caller closes it.

    Raises:
        StoreError: a path holds no results folder at all, or a store is unreadable.
    """
    for raw in paths:
        path = Path(raw)
        found = False
        candidates = [path] if is_run_folder(path) else sorted(
            p for p in path.iterdir() if p.is_dir() and is_run_folder(p)) if path.is_dir() else []
        for candidate in candidates:
            found = True
            fanout = candidate.parent.parent
            if candidate.parent.name == "places" and is_run_folder(fanout):
                # one place of a fan-out named directly: keep the fan-out's naming
                yield _open(candidate, candidate.name, _run_id(fanout))
                continue
            places = candidate / "places"
            subs = sorted(p for p in places.iterdir() if is_run_folder(p)) if places.is_dir() else []
            if subs:
                parent = _run_id(candidate)
                for sub in subs:
                    yield _open(sub, sub.name, parent)
            else:
                yield _open(candidate)
        if not found:
            raise StoreError(f"{path}: not a results folder (no {STORE_FILE} in it or below it)")


def table_rows(folder: StoreReader, table: str) -> tuple[list[str], list[tuple]]:
    """Column names (from the lab schema, never from the store) and rows of one table."""
    if table not in TABLES:
        raise StoreError(f"no table {table!r} in a results store")
    return folder.rows(table)
