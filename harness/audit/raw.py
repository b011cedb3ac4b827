"""Raw command exchange for the audit's hand-built commands."""

from __future__ import annotations

import struct

# TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING (TPM 2.0 Part 2 §6.6.3): the TPM
# asks for the same command again (e.g. while it runs a self-test of the algorithm).
TRY_AGAIN = (0x922, 0x908, 0x90A)
RETRIES = 20


def response_code(response: bytes) -> int:
    return struct.unpack_from(">I", response, 6)[0]


def exchange(transport, command: bytes) -> bytes:
    """``transport.exchange`` repeated while the TPM answers a try-again warning."""
    for _ in range(RETRIES):
        response = transport.exchange(command)
        if response_code(response) not in TRY_AGAIN:
            break
    return response
