"""Bring a served TPM back to a known state between clients.

When a client session ends (normally, by idle timeout, or because the client
dropped mid-command) the server flushes every transient object and every
session the client may have left behind, the way a TPM resource manager does:
TPM2_GetCapability(TPM_CAP_HANDLES) for the transient (0x80), loaded-session
(0x02) and saved-session (0x03) handle ranges, then TPM2_FlushContext for each
(TPM 2.0 Part 3 §30.2 GetCapability, §28.4 FlushContext).
"""

from __future__ import annotations

import struct

from harness.errors import HarnessError
from harness.tpm.wire import HEADER, HEADER_SIZE, build_command
from harness.transports.base import Transport

TPM_CC_FLUSH_CONTEXT = 0x0165
TPM_CC_GET_CAPABILITY = 0x017A
TPM_CAP_HANDLES = 0x00000001
TRANSIENT_FIRST = 0x80000000
LOADED_SESSION_FIRST = 0x02000000
SAVED_SESSION_FIRST = 0x03000000
MAX_HANDLES = 64


def list_handles(transport: Transport, first: int) -> list[int]:
    """Handles in the range starting at ``first`` (TPM2_GetCapability, TPM_CAP_HANDLES).

    Returns an empty list when the TPM refuses (e.g. TPM_RC_INITIALIZE: no
    Startup yet, so nothing can be loaded).
    """
    body = struct.pack(">III", TPM_CAP_HANDLES, first, MAX_HANDLES)
    rsp = transport.exchange(build_command(TPM_CC_GET_CAPABILITY, body))
    if HEADER.unpack_from(rsp)[2] != 0:
        return []
    # TPMI_YES_NO moreData, TPM_CAP capability, TPML_HANDLE {count, handle[count]}
    count = struct.unpack_from(">I", rsp, HEADER_SIZE + 1 + 4)[0]
    offset = HEADER_SIZE + 1 + 4 + 4
    return [struct.unpack_from(">I", rsp, offset + 4 * i)[0] for i in range(count)]


def flush_leftovers(transport: Transport) -> list[int]:
    """Flush every transient object and session; return the handles flushed.

    Raises:
        TransportError: the TPM did not answer (the caller records it).
    """
    flushed = []
    for first in (TRANSIENT_FIRST, LOADED_SESSION_FIRST, SAVED_SESSION_FIRST):
        for handle in list_handles(transport, first):
            rsp = transport.exchange(build_command(TPM_CC_FLUSH_CONTEXT, struct.pack(">I", handle)))
            if HEADER.unpack_from(rsp)[2] == 0:
                flushed.append(handle)
    return flushed


def safe_flush(transport: Transport) -> tuple[list[int], str]:
    """:func:`flush_leftovers`, returning ``(flushed, error text)`` instead of raising."""
    try:
        return flush_leftovers(transport), ""
    except HarnessError as exc:
        transport.abandon()
        return [], str(exc)
