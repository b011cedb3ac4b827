"""Handles a TPM holds, listed and flushed through a transport (raw commands).

TPM2_GetCapability(TPM_CAP_HANDLES) lists the handles of the range named by
the first byte of ``property`` (TPM 2.0 Part 3 §30.2), a page at a time;
TPM2_FlushContext removes a transient object or a session (§28.4). Used
wherever a TPM must be brought back to a known state: after each test (the
pytest plugin) and between clients of ``tpmhil serve``.
"""

from __future__ import annotations

import struct

from harness.tpm.wire import HEADER, HEADER_SIZE, build_command
from harness.transports.base import Transport

TPM_CC_FLUSH_CONTEXT = 0x0165
TPM_CC_GET_CAPABILITY = 0x017A
TPM_CAP_HANDLES = 0x00000001
TRANSIENT_FIRST = 0x80000000
LOADED_SESSION_FIRST = 0x02000000
SAVED_SESSION_FIRST = 0x03000000
PAGE = 64


def list_handles(transport: Transport, first: int, last: int | None = None) -> list[int]:
    """Handles the TPM lists for the capability range starting at ``first``.

    With ``last``, only handles up to ``last`` are kept (a sub-range, e.g. the
    test NV indices). Without it, every handle the TPM returns is kept: the
    loaded-session range (0x02) lists policy sessions under their own
    0x03xxxxxx handles, which a range filter would drop.

    Returns what was listed so far (an empty list at first) when the TPM
    refuses, e.g. TPM_RC_INITIALIZE before Startup, when nothing can be loaded.
    """
    out: list[int] = []
    handle = first
    while True:
        body = struct.pack(">III", TPM_CAP_HANDLES, handle, PAGE)
        rsp = transport.exchange(build_command(TPM_CC_GET_CAPABILITY, body))
        if HEADER.unpack_from(rsp)[2] != 0:
            return out
        # TPMI_YES_NO moreData, TPM_CAP capability, TPML_HANDLE {count, handle[count]}
        more = rsp[HEADER_SIZE]
        count = struct.unpack_from(">I", rsp, HEADER_SIZE + 5)[0]
        page = list(struct.unpack_from(f">{count}I", rsp, HEADER_SIZE + 9))
        out.extend(h for h in page if last is None or h <= last)
        # Page on only within the range asked for: a listing that crossed into
        # another handle type cannot be continued from its last handle.
        if (not more or not page or (page[-1] >> 24) != (first >> 24)
                or (last is not None and page[-1] >= last)):
            return out
        handle = page[-1] + 1


def flush_leftovers(transport: Transport) -> list[int]:
    """Flush every transient object and session; return the handles flushed.

    Raises:
        TransportError: the TPM did not answer.
    """
    flushed = []
    for first in (TRANSIENT_FIRST, LOADED_SESSION_FIRST, SAVED_SESSION_FIRST):
        for handle in list_handles(transport, first):
            rsp = transport.exchange(build_command(TPM_CC_FLUSH_CONTEXT, struct.pack(">I", handle)))
            if HEADER.unpack_from(rsp)[2] == 0:
                flushed.append(handle)
    return flushed
