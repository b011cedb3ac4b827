"""``tpmhil`` as a user runs it: subprocesses of this venv's Python, real swtpms, real runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tpmhil(args: list[str], cwd: Path, timeout: float = 300, env: dict | None = None,
           ) -> subprocess.CompletedProcess:
    """``tpmhil ARGS`` in ``cwd`` (default plot folders land there, not in the repository)."""
    full = {**os.environ, **(env or {})}
    full.pop("TPMHIL_TARGET", None)
    full.pop("TPMHIL_DEBUG", None)
    full["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), full.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "harness.cli.main", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=timeout)


def only_json(done: subprocess.CompletedProcess) -> dict:
    """stdout must be exactly one JSON document (json.loads refuses anything around it)."""
    assert done.stdout.strip(), f"nothing on stdout; stderr:\n{done.stderr}"
    return json.loads(done.stdout)


class Cli:
    """The helpers above, handed to tests as the ``cli`` fixture."""

    repo = REPO
    run = staticmethod(tpmhil)
    only_json = staticmethod(only_json)


@pytest.fixture(scope="session")
def cli() -> type[Cli]:
    return Cli


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two real runs (A, B) of the functional RNG tests, each on its own spawned swtpm."""
    base = tmp_path_factory.mktemp("cli-runs")
    for run_id in ("A", "B"):
        done = tpmhil(["run", "--tpm", "swtpm", "--results", str(base), "--run-id", run_id,
                       "--no-report", "-k", "random or pcr"], cwd=base)
        assert done.returncode == 0, done.stdout + done.stderr
    return base / "A", base / "B"
