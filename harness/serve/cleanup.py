"""Bring a served TPM back to a known state between clients.

When a client session ends (normally, by idle timeout, or because the client
dropped mid-command) the server flushes every transient object and every
session the client may have left behind, the way a TPM resource manager does:
TPM2_GetCapability(TPM_CAP_HANDLES) for the transient (0x80), loaded-session
(0x02) and saved-session (0x03) handle ranges, then TPM2_FlushContext for each
(TPM 2.0 Part 3 §30.2 GetCapability, §28.4 FlushContext).
"""

from __future__ import annotations

from harness.errors import HarnessError
from harness.tpm.handles import flush_leftovers
from harness.transports.base import Transport


def safe_flush(transport: Transport) -> tuple[list[int], str]:
    """:func:`flush_leftovers`, returning ``(flushed, error text)`` instead of raising."""
    try:
        return flush_leftovers(transport), ""
    except HarnessError as exc:
        transport.abandon()
        return [], str(exc)
