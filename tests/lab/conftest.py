"""Real lab parts on localhost: labgrid coordinator and exporter, served TPMs,
a throwaway PostgreSQL, and real runs of the suites. Nothing here skips: a
missing part is a set-up error."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.lab.pgtemp import TempPostgres
from harness.lab.testbed import LocalLab
from harness.swtpm_process import ca_root_certificates

VENV_BIN = Path(sys.executable).parent
PLACES = ("board-a", "board-b")


def _ek_roots() -> Path:
    """A folder holding only the local CA's root and issuer certificates."""
    folder = Path(tempfile.gettempdir()) / f"tpmhil-lab-ek-roots-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    for cert in ca_root_certificates():
        shutil.copy(cert, folder / cert.name)
    return folder


def child_env(**extra: str) -> dict[str, str]:
    """Environment for child runs: the harness's local CA as trusted EK roots
    (so EK tests run on served swtpms too), plus ``extra``."""
    env = {**os.environ, **extra}
    env.setdefault("TPMHIL_EK_ROOTS", str(_ek_roots()))
    env.pop("TPMHIL_TARGET", None)
    return env


def run_tool(argv: list[str], timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
    """Run a console script of this venv (tpmhil, pytest, labgrid-client)."""
    return subprocess.run([str(VENV_BIN / argv[0]), *argv[1:]], capture_output=True, text=True,
                          timeout=timeout, env=child_env(**env), cwd=Path(__file__).parents[2])


def functional_suite(tpm: str, *extra: str) -> subprocess.CompletedProcess:
    return run_tool(["pytest", "suites", "-m", "functional", "--tpm", tpm, "-q",
                     "-p", "no:cacheprovider", "-p", "no:randomly", *extra])


def passed_count(output: str) -> int:
    match = re.search(r"(\d+) passed", output)
    return int(match.group(1)) if match else 0


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """Coordinator + one exporter exporting two served swtpms as places board-a, board-b."""
    with LocalLab(tmp_path_factory.mktemp("lab")) as local:
        local.start_coordinator()
        served = {place: local.serve(place, "swtpm") for place in PLACES}
        local.start_exporter("host1", served)
        yield local


@pytest.fixture(scope="session")
def pg():
    server = TempPostgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_conn(pg):
    """A migrated connection to an emptied lab database."""
    from harness.lab.ingest import connect

    conn = connect(pg.url)
    conn.execute("TRUNCATE runs CASCADE")
    conn.commit()
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Two real runs (A, B) of part of the functional suite on spawned swtpms."""
    base = tmp_path_factory.mktemp("runs")
    procs = {run_id: subprocess.Popen(
        [str(VENV_BIN / "tpmhil"), "run", "--tpm", "swtpm", "--results", str(base), "--run-id",
         run_id, "--no-report", "-k", "random or pcr or nv or startup"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env())
        for run_id in ("A", "B")}
    for run_id, proc in procs.items():
        output = proc.communicate(timeout=300)[0]
        assert (base / run_id / "store.sqlite").exists(), output
        assert proc.returncode == 0, output
    return base / "A", base / "B"


def store_counts(folder: Path) -> dict[str, int]:
    with sqlite3.connect(folder / "store.sqlite") as db:
        return {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("tests", "exchanges", "telemetry", "points", "events")}


def copy_run(src: Path, dst: Path, run_id: str) -> Path:
    """A copy of a run under another id (for seeded changes)."""
    shutil.copytree(src, dst)
    with sqlite3.connect(dst / "store.sqlite") as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'run_id'", (f'"{run_id}"',))
    return dst


class LabHelpers:
    """The helpers above, handed to tests as the ``helpers`` fixture."""

    run_tool = staticmethod(run_tool)
    functional_suite = staticmethod(functional_suite)
    passed_count = staticmethod(passed_count)
    store_counts = staticmethod(store_counts)
    copy_run = staticmethod(copy_run)
    child_env = staticmethod(child_env)


@pytest.fixture(scope="session")
def helpers() -> type[LabHelpers]:
    return LabHelpers
