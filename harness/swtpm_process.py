"""Spawn and provision a private swtpm, like a chip leaving the factory.

``swtpm_setup`` creates RSA 2048 and ECC P-384 endorsement keys with
certificates signed by a local CA, a platform certificate, and the PCR banks
asked for; ``swtpm socket`` then serves it on two free loopback ports. The
process dies with the harness (setpriv --pdeathsig) and is stopped and its
state removed at close, so no process is left behind.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.child_process import dying_with_parent
from harness.errors import TargetError
from harness.ports import free_port_pair

DEFAULT_BANKS = ("sha1", "sha256", "sha384")
START_TIMEOUT_S = 10.0
SETUP_TIMEOUT_S = 120.0
CA_ENV = "TPMHIL_SWTPM_CA"


def ca_dir() -> Path:
    """The harness's local CA for spawned swtpms (persistent, like a lab CA)."""
    env = os.environ.get(CA_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "tpm-hil" / "swtpm-localca"


def ca_root_certificates() -> list[Path]:
    """PEM files of the local CA chain (root and intermediate) used to sign EK certs."""
    d = ca_dir()
    return [p for p in (d / "swtpm-localca-rootca-cert.pem", d / "issuercert.pem") if p.exists()]


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise TargetError(
            f"{tool} is not installed; run 'make demo' (or apt-get install swtpm swtpm-tools)"
        )
    return path


def _write_if_changed(path: Path, text: str) -> None:
    """Replace ``path`` atomically, and only when its text changes: other
    processes' swtpm_setup may be reading the shared CA config right now."""
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _write_setup_config(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    localca_conf = d / "swtpm-localca.conf"
    _write_if_changed(localca_conf,
        f"statedir = {d}\n"
        f"signingkey = {d}/signkey.pem\n"
        f"issuercert = {d}/issuercert.pem\n"
        f"certserial = {d}/certserial\n"
    )
    options = d / "swtpm-localca.options"
    _write_if_changed(options,
        "--platform-manufacturer tpm-hil\n--platform-version 2.1\n--platform-model swtpm\n"
    )
    setup_conf = d / "swtpm_setup.conf"
    _write_if_changed(setup_conf,
        f"create_certs_tool = {_require('swtpm_localca')}\n"
        f"create_certs_tool_config = {localca_conf}\n"
        f"create_certs_tool_options = {options}\n"
        "active_pcr_banks = sha256\n"
    )
    return setup_conf


@dataclass
class SwtpmOptions:
    """How to provision the spawned swtpm."""

    banks: tuple[str, ...] = DEFAULT_BANKS
    ek_certs: bool = True
    state_dir: str | None = None  # keep state here instead of a temporary folder


class SwtpmProcess:
    """A running, provisioned swtpm on loopback ports ``port`` and ``port + 1``."""

    def __init__(self, options: SwtpmOptions | None = None) -> None:
        self.options = options or SwtpmOptions()
        self._own_dir = self.options.state_dir is None
        self.state_dir = Path(self.options.state_dir or tempfile.mkdtemp(prefix="tpmhil-swtpm-"))
        self.port = 0
        self.proc: subprocess.Popen | None = None
        try:
            self._provision()
            self._start()
        except BaseException:
            self.stop()
            raise

    @property
    def ctrl_port(self) -> int:
        return self.port + 1

    def _provision(self) -> None:
        if (self.state_dir / "tpm2-00.permall").exists():
            return
        cmd = [
            _require("swtpm_setup"), "--tpm2", "--tpmstate", str(self.state_dir),
            "--pcr-banks", ",".join(self.options.banks), "--overwrite",
        ]
        if self.options.ek_certs:
            cmd += ["--create-ek-cert", "--create-platform-cert", "--ecc", "--lock-nvram",
                    "--config", str(_write_setup_config(ca_dir()))]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=SETUP_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise TargetError(f"swtpm_setup did not finish within {SETUP_TIMEOUT_S} s") from exc
        if done.returncode != 0:
            raise TargetError(
                f"swtpm_setup failed (exit {done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )

    def _start(self) -> None:
        swtpm = _require("swtpm")
        last_error = ""
        for _attempt in range(5):
            self.port = free_port_pair()
            log_file = self.state_dir / "swtpm.log"
            cmd = [
                swtpm, "socket", "--tpm2",
                "--tpmstate", f"dir={self.state_dir}",
                "--server", f"type=tcp,port={self.port},bindaddr=127.0.0.1",
                "--ctrl", f"type=tcp,port={self.ctrl_port},bindaddr=127.0.0.1",
                "--flags", "not-need-init,startup-clear",
                "--log", f"file={log_file},level=1",
            ]
            self.proc = subprocess.Popen(
                dying_with_parent(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True,
            )
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last_error = (self.proc.stderr.read() or b"").decode(errors="replace")
                    if log_file.exists():
                        last_error += log_file.read_text(errors="replace")[-1000:]
                    break
                try:
                    socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.5).close()
                    return
                except OSError:
                    time.sleep(0.02)
            else:
                self.stop()
                raise TargetError(f"swtpm did not listen on port {self.ctrl_port} within "
                                  f"{START_TIMEOUT_S} s")
        raise TargetError(f"swtpm failed to start: {last_error.strip()[-1500:]}")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> None:
        """Stop swtpm (SIGTERM, then SIGKILL) and remove its private state."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGCONT)  # in case a test froze it
                proc.terminate()
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
