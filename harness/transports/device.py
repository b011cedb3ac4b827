"""A TPM behind the Linux kernel driver: ``/dev/tpmrm0`` or ``/dev/tpm0``.

The kernel takes one whole command per write() and returns the whole
response from read(); poll() bounds the wait.
"""

from __future__ import annotations

import errno
import os
import select
import time

from harness.errors import TargetError, TpmTimeoutError, TransportError
from harness.transports.base import Transport

READ_SIZE = 8192


class DeviceTransport(Transport):
    """TPM commands through a kernel TPM character device."""

    def __init__(self, path: str, **kwargs) -> None:
        kwargs.setdefault("name", f"device://{path}")
        super().__init__(**kwargs)
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as exc:
            hint = ""
            if exc.errno in (errno.EACCES, errno.EPERM):
                hint = " (add the user to the 'tss' group or run as root)"
            elif exc.errno == errno.ENOENT:
                hint = " (is the TPM driver loaded? try /dev/tpm0 or load tpm_tis)"
            elif exc.errno == errno.EBUSY:
                hint = " (/dev/tpm0 is held by another process; use /dev/tpmrm0)"
            raise TargetError(f"cannot open {path}: {exc.strerror}{hint}") from exc

    def _send(self, command: bytes) -> None:
        try:
            written = os.write(self._fd, command)
        except OSError as exc:
            raise TransportError(f"{self.name}: write failed: {exc.strerror}") from exc
        if written != len(command):
            raise TransportError(f"{self.name}: wrote {written} of {len(command)} bytes")

    def _recv(self, deadline: float) -> bytes:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        left_ms = max(0, int((deadline - time.monotonic()) * 1000))
        if not poller.poll(left_ms):
            raise TpmTimeoutError(f"{self.name}: no response ready")
        try:
            return os.read(self._fd, READ_SIZE)
        except OSError as exc:
            raise TransportError(f"{self.name}: read failed: {exc.strerror}") from exc

    def _close(self) -> None:
        os.close(self._fd)
