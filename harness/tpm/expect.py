"""Assert exact TPM response codes, in suites and tools.

``with ExpectRC(0x98E): esapi.nv_read(...)`` passes only when the TPM
answers exactly TPM_RC_AUTH_FAIL (session 1): format, number and the
handle/session/parameter position all count. Failures name both codes.
"""

from __future__ import annotations

from tpm2_pytss import TSS2_Exception

from harness.tpm.names import rc_name
from harness.tpm.wire import build_command


class RCMismatch(AssertionError):
    """The TPM answered with another code than the one expected."""


class ExpectRC:
    """Context manager asserting that the block fails with response code ``rc``."""

    def __init__(self, rc: int) -> None:
        self.rc = rc
        self.got: int | None = None

    def __enter__(self) -> "ExpectRC":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            raise RCMismatch(f"expected {rc_name(self.rc)} (0x{self.rc:03x}), but the command "
                             "succeeded")
        if not issubclass(exc_type, TSS2_Exception):
            return False
        self.got = int(exc.rc)
        if self.got != self.rc:
            raise RCMismatch(f"expected {rc_name(self.rc)} (0x{self.rc:03x}), got "
                             f"{rc_name(self.got)} (0x{self.got:03x})") from exc
        return True


def raw_rc(transport, code: int, body: bytes = b"", tag: int = 0x8001) -> int:
    """Send a raw command through ``transport`` and return the response code.

    For checks that must bypass the TSS: ESAPI validates some inputs itself
    and reports some TPM answers as success (Esys_Startup and TPM_RC_INITIALIZE).
    """
    response = transport.exchange(build_command(code, body, tag))
    return int.from_bytes(response[6:10], "big")
