"""Everything a report needs from one results folder, read from disk only.

Reports never touch live objects (targets, transports, ESAPI): they read the
results store (tests, exchanges, telemetry, points, events, artifacts) and
the JSON/YAML files the run wrote beside it (summary.json, identity.json,
target.json, profile.yaml) plus the files under evidence/.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from harness.errors import StoreError
from harness.results.run_folder import RunFolder
from harness.results.safe_names import UnsafeNameError, safe_component
from harness.results.store import STORE_FILE
from reports.redact import redact, redact_json, redact_url_credentials

TABLES = ("tests", "exchanges", "telemetry", "points", "events", "artifacts")
# The files every package carries under data/<run-id>/ themselves.
RUN_FILES = ("summary.json", "identity.json", "target.json", "profile.yaml")
_NOT_OTHER = {"evidence", "allure-results"}   # evidence/ is copied on its own; allure is rendered


@dataclass
class RunData:
    """One results folder, loaded.

    Attributes:
        path: the results folder.
        run_id: its run id (store meta, else the folder name).
        kind: run, campaign, audit, attest...
        meta: the store's meta table.
        summary / identity / target: the JSON files (empty dicts when absent).
        profile_text: profile.yaml as written by the run ("" when absent).
        tables: one DataFrame per store table; tests get list columns
            ``markers_list`` and ``requirements_list`` and redacted text.
        evidence_files: files under evidence/, relative to the folder.
        other_files: every other file the run wrote (audit.json, junit.xml,
            campaign tables and plots, pytest logs...), relative to the folder;
            not the store, allure-results/, hidden entries or evidence packages.
        refused: entries that are not copied, with the reason (symbolic links
            leading outside the folder, special files).
        provenance: provenance.json of the folder (empty when absent).
    """

    path: Path
    run_id: str
    kind: str
    meta: dict[str, Any]
    summary: dict[str, Any]
    identity: dict[str, Any]
    target: dict[str, Any]
    profile_text: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    evidence_files: list[Path] = field(default_factory=list)
    other_files: list[Path] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def tests(self) -> pd.DataFrame:
        return self.tables["tests"]

    @property
    def exchanges(self) -> pd.DataFrame:
        return self.tables["exchanges"]

    @property
    def telemetry(self) -> pd.DataFrame:
        return self.tables["telemetry"]

    @property
    def points(self) -> pd.DataFrame:
        return self.tables["points"]

    @property
    def events(self) -> pd.DataFrame:
        return self.tables["events"]

    @property
    def profile(self) -> dict[str, Any]:
        try:
            data = yaml.safe_load(self.profile_text) if self.profile_text else {}
        except yaml.YAMLError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def chip(self) -> str:
        """A one-line chip description: manufacturer, vendor, firmware."""
        ident = self.identity
        if not ident:
            return str(self.meta.get("identity_brief") or self.summary.get("chip") or "unknown chip")
        parts = [ident.get("manufacturer", "?"), ident.get("vendor", "").strip()]
        if ident.get("firmware"):
            parts.append(f"firmware {ident['firmware']}")
        return " ".join(p for p in parts if p)

    @property
    def rig(self) -> str:
        """The rig in one line, naming simulated instruments as such."""
        return rig_text(self.meta.get("rig") or self.summary.get("rig"))

    @property
    def simulation(self) -> list[str]:
        """What in this run is simulated (instruments, chip-environment coupling), if anything."""
        notes = []
        rig = self.meta.get("rig")
        if isinstance(rig, dict) and rig.get("simulated_instruments"):
            notes.append("instruments " + ", ".join(map(str, rig["simulated_instruments"]))
                         + " are simulators")
        target = self.target or (self.meta.get("target") if isinstance(self.meta.get("target"), dict) else {})
        if isinstance(target, dict) and target.get("simulation"):
            notes.append(f"the target {target.get('uri', '')} is a virtual chip whose reaction to "
                         "the environment is a model, not a measurement")
        return notes

    def finished(self) -> float:
        """When the run ended (summary, else the last test), as UNIX seconds."""
        for value in (self.summary.get("finished"), self.meta.get("finished")):
            if isinstance(value, (int, float)):
                return float(value)
        if len(self.tests):
            return float(self.tests["finished"].max())
        return float(self.meta.get("created") or 0.0)

    def started(self) -> float:
        value = self.summary.get("created", self.meta.get("created"))
        if isinstance(value, (int, float)):
            return float(value)
        return float(self.tests["started"].min()) if len(self.tests) else self.finished()


def _scrubbed(value: Any) -> Any:
    """``value`` as JSON data with every string scrubbed, member by member.

    (Scrubbing the JSON text itself could break it: a secret-named member with a
    list value, e.g. ``"hierarchy_auth_set": []``, lost its opening bracket.)
    """
    return redact_json(json.loads(json.dumps(value, default=str)))


def rig_text(rig: Any) -> str:
    """A rig description from store meta: a name, or a dict with name and simulated instruments."""
    if not rig:
        return "none"
    if isinstance(rig, dict):
        text = str(rig.get("name") or rig.get("setup") or "rig")
        sims = rig.get("simulated_instruments")
        return f"{text} (simulated: {', '.join(map(str, sims))})" if sims else text
    return str(rig)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists() and not path.is_symlink():
        return {}
    if path.is_symlink() or not path.is_file():
        raise StoreError(f"{path}: not a regular file (symbolic links are not followed)")
    try:
        data = redact_json(json.loads(path.read_bytes().decode("utf-8")))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: not readable JSON ({type(exc).__name__}: "
                         f"{str(exc)[:120]})") from None
    if not isinstance(data, dict):
        raise StoreError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _json_list(text: str, where: str) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError as exc:
        raise StoreError(f"{where}: not a JSON list: {text!r}") from exc
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _prepare_tests(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    df = df.copy()
    where = f"{path / STORE_FILE}: tests"
    df["markers_list"] = [_json_list(t, f"{where}.markers") for t in df["markers"]]
    df["requirements_list"] = [_json_list(t, f"{where}.requirements") for t in df["requirements"]]
    df["message"] = [redact(t) for t in df["message"]]
    df["longrepr"] = [redact(t) for t in df["longrepr"]]
    return df


def _check_types(df: pd.DataFrame, table: str, path: Path) -> pd.DataFrame:
    """A store table as the schema declares it: numbers are finite-or-null numbers, NOT NULL
    text is text, JSON columns parse; anything else is one StoreError naming the column."""
    import math
    import numbers

    from harness.results.store import schema_types

    where = f"{path / STORE_FILE}: {table}"
    for col, (kind, not_null) in schema_types(table).items():
        values = df[col]
        if kind in ("REAL", "INTEGER"):
            bad = [v for v in values if not (v is None or (isinstance(v, numbers.Real)
                                                           and not isinstance(v, bool)))
                   or (isinstance(v, numbers.Real) and math.isinf(v))]
            if bad or (not_null and values.isna().any()):
                shown = bad[0] if bad else None
                raise StoreError(f"{where}.{col} holds {shown!r:.40} where a number is expected")
        elif kind == "TEXT" and not_null and any(not isinstance(v, str) for v in values):
            raise StoreError(f"{where}.{col} holds a value that is not text")
    if table == "tests" and any(not v.strip() for v in df["nodeid"]):
        raise StoreError(f"{where}.nodeid is empty in a row")
    for col in {"events": ("detail",), "points": ("params",)}.get(table, ()):
        for v in df[col]:
            try:
                json.loads(v)
            except (TypeError, ValueError):
                raise StoreError(f"{where}.{col} holds {v!r:.40}, not JSON") from None
    return df


def _prepare_other(df: pd.DataFrame) -> pd.DataFrame:
    """Free-text columns of the other tables (events' detail, exchanges' error) scrubbed too."""
    df = df.copy()
    for col in ("detail", "error", "note", "params"):
        if col in df:
            df[col] = [redact_url_credentials(t) if isinstance(t, str) else t for t in df[col]]
    return df


def _bad_name(rel: str) -> str | None:
    """Why a file name cannot travel in a package (HTML, JSON, CSV and manifest all name it)."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not UTF-8"
    if any(ord(c) < 32 or ord(c) == 127 for c in rel):
        return "file name holds control characters"
    return None


def _printable(rel: str) -> str:
    """A refused name as text: undecodable bytes and control characters as ``\\xNN``."""
    text = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if 32 <= ord(c) != 127 else f"\\x{ord(c):02x}" for c in text)


def _walk(path: Path) -> tuple[list[Path], dict[str, str]]:
    """Regular files under ``path`` (relative), symlinks resolved inside ``path`` only.

    Returns:
        The files, and the entries refused with the reason.
    """
    root = path.resolve()
    files, refused = [], {}
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        here = Path(dirpath)
        for name in sorted(dirnames + filenames):
            item = here / name
            rel = item.relative_to(path)
            bad = _bad_name(rel.as_posix())
            if bad:
                refused[_printable(rel.as_posix())] = bad
                if name in dirnames:
                    dirnames.remove(name)   # nothing below a refused folder is read
                continue
            if item.is_symlink():
                target = item.resolve()
                if not target.is_relative_to(root):
                    refused[rel.as_posix()] = "symbolic link leading outside the results folder"
                elif target.is_file():
                    files.append(rel)   # read through the link: its target is in the folder
                elif not target.is_dir():
                    refused[rel.as_posix()] = "dangling symbolic link"
            elif name in filenames:
                if item.is_file():
                    files.append(rel)
                else:
                    refused[rel.as_posix()] = "not a regular file"
    return sorted(files), refused


def _other_files(path: Path, files: list[Path]) -> list[Path]:
    out = []
    for rel in files:
        top = rel.parts[0]
        if (top.startswith(".") or top.startswith(STORE_FILE) or top in _NOT_OTHER
                or str(rel) in RUN_FILES or rel.as_posix() == "provenance.json"
                or (len(rel.parts) > 1 and (path / top / "manifest.json").exists())):
            continue   # the store, evidence, allure, run files, an evidence package of the run
        out.append(rel)
    return out


def load_run(path: str | Path) -> RunData:
    """Load one results folder.

    Args:
        path: a results folder written by ``tpmhil run``, ``campaign``, ``audit``...

    Raises:
        StoreError: the folder or its store is missing or unreadable.
    """
    path = Path(path)
    if not path.is_dir():
        raise StoreError(f"{path} is not a results folder: not a directory")
    if (path / STORE_FILE).is_symlink() or not (path / STORE_FILE).is_file():
        raise StoreError(f"{path} is not a results folder: no {STORE_FILE} (a regular file) in it")
    folder = RunFolder.open_readonly(path)
    try:
        store = folder.store
        tables = {name: store.frame(name) for name in TABLES}
        meta = _scrubbed(store.meta())
    finally:
        folder.close()
    tables = {name: _prepare_other(_check_types(df, name, path)) for name, df in tables.items()}
    tables["tests"] = _prepare_tests(tables["tests"], path)
    try:
        run_id = safe_component(meta.get("run_id") or path.name, f"{path / STORE_FILE}: run_id")
    except UnsafeNameError as exc:
        raise StoreError(str(exc)) from None
    profile = path / "profile.yaml"
    files, refused = _walk(path)
    evidence = [rel for rel in files if rel.parts[0] == "evidence"]
    profile_text = ""
    if profile.is_file() and not profile.is_symlink():
        profile_text = redact_url_credentials(profile.read_bytes().decode("utf-8", "replace"))
    return RunData(
        path=path, run_id=run_id, kind=str(meta.get("kind", "run")),
        meta=meta, summary=_read_json(path / "summary.json"),
        identity=_read_json(path / "identity.json"), target=_read_json(path / "target.json"),
        profile_text=profile_text, tables=tables, evidence_files=evidence,
        other_files=_other_files(path, files), refused=refused,
        provenance=_read_json(path / "provenance.json"),
    )


def load_runs(paths: list[Path]) -> list[RunData]:
    """Load several results folders; run ids must be distinct."""
    if not paths:
        raise StoreError("no results folder given")
    runs = [load_run(p) for p in paths]
    seen: dict[str, Path] = {}
    for run in runs:
        if run.run_id in seen:
            raise StoreError(f"run id {run.run_id!r} appears twice: {seen[run.run_id]} and {run.path}")
        seen[run.run_id] = run.path
    return runs
