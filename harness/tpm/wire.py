"""TPM 2.0 command and response headers (TPM 2.0 Part 1 §18, Part 3 §5).

Every transport checks a response with :func:`check_response` before anyone
parses it, so a torn or garbage answer is a clear error naming the command.
"""

from __future__ import annotations

import struct

from harness.errors import ResponseFormatError, TransportError

HEADER = struct.Struct(">HII")
HEADER_SIZE = HEADER.size  # 10

TPM_ST_NO_SESSIONS = 0x8001
TPM_ST_SESSIONS = 0x8002
TPM_ST_RSP_COMMAND = 0x00C4  # a TPM 2.0 answering a command with an unknown tag

MAX_RESPONSE_SIZE = 64 * 1024


def parse_command(command: bytes) -> tuple[int, int, int]:
    """Return ``(tag, size, command_code)`` of a command buffer.

    Raises:
        TransportError: the buffer is shorter than a header. A command whose
            declared size differs from its length is passed on unchanged: the
            conformance suites send such commands on purpose.
    """
    if len(command) < HEADER_SIZE:
        raise TransportError(
            f"command buffer of {len(command)} bytes is shorter than the 10-byte TPM header"
        )
    return HEADER.unpack_from(command)


def check_response(response: bytes, command_name: str) -> tuple[int, int]:
    """Check a response header and return ``(tag, response_code)``.

    Args:
        response: the bytes received from the TPM.
        command_name: the command that was sent, for the error message.

    Raises:
        ResponseFormatError: the response is short, has an unknown tag, or its
            declared size differs from the number of bytes received.
    """
    if len(response) < HEADER_SIZE:
        raise ResponseFormatError(
            f"{command_name}: response of {len(response)} bytes is shorter than the "
            f"10-byte TPM header (got {response.hex() or 'nothing'})",
            command_name,
        )
    tag, size, rc = HEADER.unpack_from(response)
    if tag not in (TPM_ST_NO_SESSIONS, TPM_ST_SESSIONS, TPM_ST_RSP_COMMAND):
        raise ResponseFormatError(
            f"{command_name}: response tag 0x{tag:04x} is not TPM_ST_NO_SESSIONS (0x8001) "
            f"or TPM_ST_SESSIONS (0x8002)",
            command_name,
        )
    if size != len(response):
        raise ResponseFormatError(
            f"{command_name}: response header declares {size} bytes but {len(response)} "
            f"were received",
            command_name,
        )
    if rc != 0 and size != HEADER_SIZE:
        raise ResponseFormatError(
            f"{command_name}: error response 0x{rc:08x} carries {size - HEADER_SIZE} "
            f"bytes of parameters; an error response is exactly the 10-byte header",
            command_name,
        )
    return tag, rc


def build_command(code: int, body: bytes = b"", tag: int = TPM_ST_NO_SESSIONS) -> bytes:
    """Assemble a command buffer from its code and marshalled body."""
    return HEADER.pack(tag, HEADER_SIZE + len(body), code) + body
