"""A whole lab on localhost: labgrid coordinator, exporter, served TPMs.

The project's tests and ``benchmarks/bench_lab.py`` build on this: real
``labgrid-coordinator`` and ``labgrid-exporter`` processes, and one
``tpmhil serve`` process per board, each exported as a place's TPM
(``NetworkService``). Every process is started by this object and stopped
by it (by pid), every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from harness.errors import TargetError
from harness.lab.coordinator import Coordinator
from harness.ports import free_port

START_TIMEOUT_S = 60.0
_SERVING = re.compile(r"as swtpm://([^:]+):(\d+) ")


def _bin(name: str) -> str:
    """A console script next to this interpreter (the venv's), else from PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


def wait_port(port: int, proc: subprocess.Popen, what: str, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TargetError(f"{what} exited with code {proc.returncode} while starting")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TargetError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:g} s")


@dataclass
class ServedTpm:
    """A ``tpmhil serve`` process."""

    proc: subprocess.Popen
    host: str
    port: int
    results: Path

    @property
    def uri(self) -> str:
        return f"swtpm://{self.host}:{self.port}"


class LocalLab:
    """Coordinator, exporter and served TPMs under one working folder.

    Args:
        workdir: where logs, the exporter config and serve results go.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self.address = ""
        self.served: dict[str, ServedTpm] = {}

    def _spawn(self, argv: list[str], log_name: str, **kw) -> subprocess.Popen:
        log = open(self.workdir / log_name, "ab")
        proc = subprocess.Popen(argv, stdout=kw.pop("stdout", log), stderr=log,
                                cwd=kw.pop("cwd", self.workdir), **kw)
        self.procs.append(proc)
        return proc

    def start_coordinator(self) -> str:
        """Start ``labgrid-coordinator`` on a free loopback port; return HOST:PORT."""
        port = free_port()
        proc = self._spawn([_bin("labgrid-coordinator"), "--listen", f"127.0.0.1:{port}"],
                           "coordinator.log")
        wait_port(port, proc, "labgrid-coordinator")
        self.address = f"127.0.0.1:{port}"
        return self.address

    def serve(self, name: str, tpm: str, extra: list[str] | None = None) -> ServedTpm:
        """Start ``tpmhil serve --tpm TPM`` on a free port pair."""
        results = self.workdir / "serve" / name
        proc = self._spawn([_bin("tpmhil"), "serve", "--tpm", tpm, "--listen", "127.0.0.1:0",
                            "--results", str(results), *(extra or [])],
                           f"serve-{name}.log", stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        line = ""
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            if _SERVING.search(line):
                break
        match = _SERVING.search(line)
        if match is None:
            raise TargetError(f"tpmhil serve --tpm {tpm} did not start (see {self.workdir})")
        served = ServedTpm(proc, match.group(1), int(match.group(2)), results)
        self.served[name] = served
        return served

    def start_exporter(self, name: str, boards: dict[str, ServedTpm]) -> Path:
        """Export each board's TPM as ``GROUP/NetworkService/tpm``; wait until visible."""
        config = {board: {"location": f"localhost {board}",
                          "tpm": {"cls": "NetworkService", "address": s.host, "port": s.port,
                                  "username": "tpmhil"}}
                  for board, s in boards.items()}
        path = self.workdir / f"exporter-{name}.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=True))
        self._spawn([_bin("labgrid-exporter"), "-c", self.address, "--name", name, str(path)],
                    f"exporter-{name}.log")
        wanted = {f"{name}/{board}/NetworkService/tpm" for board in boards}
        coordinator = Coordinator(self.address)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not wanted <= set(coordinator.resources()):
                if time.monotonic() > deadline:
                    raise TargetError(f"exporter {name}: resources not on the coordinator "
                                      f"within {START_TIMEOUT_S:g} s (see {self.workdir})")
                time.sleep(0.2)
            for board in boards:
                coordinator.add_place(board, [f"{name}/{board}/*/*"])
        finally:
            coordinator.close()
        return path

    def stop(self) -> None:
        """Stop every process this lab started (SIGTERM, then SIGKILL), newest first."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        self.procs.clear()

    def env(self) -> dict[str, str]:
        """Environment for child runs: the coordinator address."""
        return {**os.environ, "LG_COORDINATOR": self.address}

    def __enter__(self) -> "LocalLab":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
