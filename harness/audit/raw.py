"""Raw command exchange for the audit's hand-built commands.

Every raw command goes through :meth:`Transport.exchange`, which resends a
command the TPM answers with TPM_RC_RETRY, TPM_RC_YIELDED or TPM_RC_TESTING
(TPM 2.0 Part 2 §6.6.3; bounded in count and time, each resend logged), so
the audit never judges a chip by a warning that only asked for patience.
"""

from __future__ import annotations

import struct

# TPM_RC_RETRY, TPM_RC_YIELDED, TPM_RC_TESTING (TPM 2.0 Part 2 §6.6.3).
TRY_AGAIN = (0x922, 0x908, 0x90A)


def response_code(response: bytes) -> int:
    return struct.unpack_from(">I", response, 6)[0]


def exchange(transport, command: bytes) -> bytes:
    """One command and its response; the transport resends on try-again warnings."""
    return transport.exchange(command)
