"""Shared pieces for the CAN/serial gateway tests: one provisioned swtpm per
session that each test's gateway simulator forwards to, and raw TPM commands."""

from __future__ import annotations

import itertools
import struct

import pytest

from harness.swtpm_process import SwtpmOptions, SwtpmProcess

_bus_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def swtpm_backend():
    """Target string of a private, running swtpm (no EK certificates: faster)."""
    process = SwtpmProcess(SwtpmOptions(ek_certs=False))
    try:
        yield f"swtpm://127.0.0.1:{process.port}?disposable=1"
    finally:
        process.stop()


@pytest.fixture
def bus_name():
    """A virtual CAN channel no other test uses."""
    return f"tcan{next(_bus_numbers)}"


def get_random_cmd(n: int = 32) -> bytes:
    """TPM2_GetRandom (TPM 2.0 Part 3 §16.1), no sessions."""
    return struct.pack(">HIIH", 0x8001, 12, 0x17B, n)


def startup_cmd() -> bytes:
    """TPM2_Startup(TPM_SU_CLEAR) (TPM 2.0 Part 3 §9.3)."""
    return struct.pack(">HIIH", 0x8001, 12, 0x144, 0)


def rc_of(response: bytes) -> int:
    return struct.unpack_from(">I", response, 6)[0]
