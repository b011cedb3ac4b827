"""A throwaway PostgreSQL server in a temporary folder (tests, benchmarks, demos).

``initdb`` + ``pg_ctl`` from Debian's ``postgresql`` package
(/usr/lib/postgresql/<version>/bin). PostgreSQL refuses to run as root, so
as root the server runs as the ``postgres`` user (via ``runuser``) in a
folder it owns. Loopback TCP only, trust authentication, fsync off: for
tests, never for a lab database.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness.errors import ConfigError, StoreError
from harness.ports import free_port

START_TIMEOUT_S = 60
RUN_AS = "postgres"


def pg_bindir() -> Path:
    """The newest installed PostgreSQL's bin folder."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise ConfigError("PostgreSQL is not installed: apt-get install postgresql "
                          "(initdb and pg_ctl under /usr/lib/postgresql/<version>/bin)")
    return Path(found[-1]).parent


class TempPostgres:
    """A private PostgreSQL server; ``url`` is ready once constructed.

    Args:
        dbname: database created for the caller.
    """

    def __init__(self, dbname: str = "tpmhil_lab") -> None:
        self.bindir = pg_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="tpmhil-pg-"))
        self.data = self.dir / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, RUN_AS, RUN_AS)
        self.port = free_port()
        self.url = f"postgresql://tpmhil@127.0.0.1:{self.port}/{dbname}"
        self._started = False
        try:
            self._run("initdb", "-D", str(self.data), "-U", "tpmhil", "--auth=trust",
                      "-E", "UTF8", "--no-sync")
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"),
                      "-w", "-t", str(START_TIMEOUT_S), "-o",
                      f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                      "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                      "start")
            self._started = True
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "tpmhil", dbname)
        except BaseException:
            self.stop()
            raise

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bindir / tool), *args]
        if self.as_root:
            argv = ["runuser", "-u", RUN_AS, "--", *argv]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=START_TIMEOUT_S + 10,
                                  cwd=self.dir)
        except subprocess.TimeoutExpired as exc:
            raise StoreError(f"{tool} did not finish within {START_TIMEOUT_S + 10} s") from exc
        if proc.returncode != 0:
            raise StoreError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self._started:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
            except StoreError:
                pass
            self._started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "TempPostgres":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
