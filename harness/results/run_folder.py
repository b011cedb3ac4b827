"""A results folder: ``results/<run-id>/`` and what it holds.

Layout (every run, campaign or audit writes the same shape)::

    results/<run-id>/
        store.sqlite          the results store (tests, exchanges, telemetry, points, events)
        summary.json          run id, target, chip, verdict counts, timings
        target.json           the target as described by the harness
        identity.json         what the chip reported (GetCapability)
        profile.yaml          the chip profile the run was judged against
        junit.xml             JUnit XML from pytest
        allure-results/       allure-pytest output, environment.properties, categories.json
        command_log.csv       one row per TPM exchange (also command_log.parquet)
        evidence/             per-test attachments (audit figures, event logs, quotes, ...)
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import ConfigError, StoreError
from harness.results.safe_names import safe_component
from harness.results.store import ResultsStore
from harness.secrets import scrub_json

DEFAULT_BASE = "results"


def check_base(base: str | os.PathLike[str]) -> None:
    """``--results`` must name a folder (or nothing yet): one line when it is a file.

    Raises:
        ConfigError: ``base`` exists and is not a folder.
    """
    path = Path(base)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--results {base} is a file, not a folder")


def new_run_id(prefix: str = "") -> str:
    """``20261125-131502-3fa9``: sortable by time, unique across hosts."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{prefix}{stamp}-{secrets.token_hex(2)}"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        json.dump(scrub_json(json.loads(json.dumps(data, default=str))), fh, indent=2,
                  sort_keys=True, default=str)
        fh.write("\n")
    os.replace(tmp, path)


class RunFolder:
    """A results folder on disk."""

    def __init__(self, path: str | os.PathLike[str], readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._store: ResultsStore | None = None

    @classmethod
    def open_readonly(cls, path: str | os.PathLike[str]) -> "RunFolder":
        """A results folder read as input: its store is opened read-only (never written,
        no schema added), so a hostile or half-written folder stays as it was."""
        return cls(path, readonly=True)

    @classmethod
    def create(cls, base: str | os.PathLike[str] = DEFAULT_BASE, run_id: str | None = None,
               kind: str = "run") -> "RunFolder":
        run_id = safe_component(run_id or new_run_id(), "run id")
        check_base(base)
        folder = cls(Path(base) / run_id)   # one plain component: cannot leave base
        try:
            folder.path.mkdir(parents=True, exist_ok=False)
        except NotADirectoryError:
            raise ConfigError(f"--results {base}: a part of the path is a file, not a "
                              "folder") from None
        store = folder.store
        store.set_meta("run_id", run_id)
        store.set_meta("kind", kind)
        store.set_meta("created", time.time())
        store.set_meta("harness_version", __version__)
        return folder

    @property
    def run_id(self) -> str:
        return self.store.get_meta("run_id", self.path.name)

    @property
    def store(self) -> ResultsStore:
        if self._store is None:
            self._store = ResultsStore(self.path, readonly=self.readonly)
        return self._store

    @property
    def allure_dir(self) -> Path:
        return self.path / "allure-results"

    @property
    def evidence_dir(self) -> Path:
        d = self.path / "evidence"
        d.mkdir(exist_ok=True)
        return d

    def write_json(self, name: str, data: Any) -> Path:
        path = self.path / name
        write_json_atomic(path, data)
        return path

    def read_json(self, name: str, default: Any = None) -> Any:
        path = self.path / name
        if not path.exists():
            return default
        try:
            return json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, ValueError) as exc:   # a results folder is input: one clear line
            raise StoreError(f"{path}: not readable JSON ({type(exc).__name__})") from None

    def export_command_log(self) -> Path:
        """Write command_log.csv and command_log.parquet from the store."""
        df = self.store.frame("exchanges")
        csv = self.path / "command_log.csv"
        df.to_csv(csv, index=False)
        try:
            df.to_parquet(self.path / "command_log.parquet", index=False)
        except ImportError:  # pyarrow missing: the CSV and the store still hold it all
            pass
        return csv

    def summarize(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Build and write summary.json from the store."""
        store = self.store
        outcomes = store.outcomes()
        counts = store.counts()
        failed = outcomes.get("failed", 0) + outcomes.get("error", 0)
        passed = outcomes.get("passed", 0)
        if failed:
            verdict = "FAIL"
        elif passed:
            verdict = "PASS"
        else:
            verdict = "NO TESTS RAN"
        exchanges = store.query(
            "SELECT COUNT(*), COALESCE(SUM(duration_s), 0), "
            "COALESCE(SUM(rc != 0), 0), COALESCE(SUM(rc < 0), 0) FROM exchanges")[0]
        summary = {
            "run_id": self.run_id,
            "kind": store.get_meta("kind", "run"),
            "harness_version": store.get_meta("harness_version"),
            "created": store.get_meta("created"),
            "finished": time.time(),
            "target": store.get_meta("target"),
            "chip": store.get_meta("identity_brief"),
            "profile": store.get_meta("profile_name"),
            "verdict": verdict,
            "outcomes": outcomes,
            "tests": counts["tests"],
            "exchanges": {
                "count": exchanges[0],
                "tpm_time_s": round(exchanges[1], 6),
                "error_responses": exchanges[2],
                "no_response": exchanges[3],
            },
            "telemetry_samples": counts["telemetry"],
            "points": counts["points"],
            **(extra or {}),
        }
        self.write_json("summary.json", summary)
        self.write_provenance(summary["finished"])
        return summary

    def write_provenance(self, finished: float | None = None) -> Path:
        """Write provenance.json (chip, people, host, code, software, times)."""
        from harness.provenance import PROVENANCE_FILE, build

        def _dict(name: str) -> dict[str, Any]:
            try:
                value = self.read_json(name, {})
            except StoreError:
                return {}
            return value if isinstance(value, dict) else {}

        record = build(self.store.meta(), _dict("identity.json"), _dict("target.json"),
                       finished if finished is not None else time.time())
        return self.write_json(PROVENANCE_FILE, record)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
