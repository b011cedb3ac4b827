"""Shared helpers of the functional suite (fixtures only; no drivers built here)."""

from __future__ import annotations

import pytest
from tpm2_pytss import TSS2_Exception

from harness.tpm.names import rc_name


class ExpectRC:
    """``with expect_rc(0x98E): ...`` asserts the exact TPM response code."""

    def __init__(self, rc: int) -> None:
        self.rc = rc
        self.got: int | None = None

    def __enter__(self) -> "ExpectRC":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            pytest.fail(f"expected {rc_name(self.rc)} (0x{self.rc:03x}), but the command succeeded")
        if not issubclass(exc_type, TSS2_Exception):
            return False
        self.got = int(exc.rc)
        assert self.got == self.rc, (
            f"expected {rc_name(self.rc)} (0x{self.rc:03x}), got {rc_name(self.got)} "
            f"(0x{self.got:03x})"
        )
        return True


@pytest.fixture
def expect_rc():
    return ExpectRC


@pytest.fixture
def raw_rc(tpm_raw):
    """Send a raw command (code, body) and return its response code."""
    from harness.tpm.wire import build_command

    def send(code: int, body: bytes = b"") -> int:
        return int.from_bytes(tpm_raw.exchange(build_command(code, body))[6:10], "big")

    return send
