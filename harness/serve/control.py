"""swtpm's control channel, server side: command codes, input sizes, answers.

The control channel (swtpm ``tpm_ioctl.h``, "Control Channel Specification"
in the swtpm wiki) carries a 4-byte big-endian command code and a fixed-size
input, and answers with a 4-byte result code (0 = success, otherwise a TPM 1.2
style error such as TPM_FAIL) and a fixed-size output. The answers below were
checked against swtpm 0.7.1 on the wire (``CMD_GET_CAPABILITY`` -> 8 bytes,
``CMD_GET_TPMESTABLISHED`` -> 8 bytes, ``CMD_SET_BUFFERSIZE`` -> 16 bytes,
an unknown code -> result 0x0A).
"""

from __future__ import annotations

import struct

CMD_GET_CAPABILITY = 0x01
CMD_INIT = 0x02
CMD_SHUTDOWN = 0x03
CMD_GET_TPMESTABLISHED = 0x04
CMD_SET_LOCALITY = 0x05
CMD_HASH_START = 0x06
CMD_HASH_DATA = 0x07
CMD_HASH_END = 0x08
CMD_CANCEL_TPM_CMD = 0x09
CMD_STORE_VOLATILE = 0x0A
CMD_RESET_TPMESTABLISHED = 0x0B
CMD_STOP = 0x0E
CMD_GET_CONFIG = 0x0F
CMD_SET_BUFFERSIZE = 0x11

#: Bytes of input that follow the command code, for the commands we frame.
INPUT_SIZE = {
    CMD_GET_CAPABILITY: 0,
    CMD_INIT: 4,  # ptm_init: u32 init_flags (bit 0: delete volatile state)
    CMD_SHUTDOWN: 0,
    CMD_GET_TPMESTABLISHED: 0,
    CMD_SET_LOCALITY: 1,  # u8 locality
    CMD_HASH_START: 0,
    CMD_HASH_END: 0,
    CMD_CANCEL_TPM_CMD: 0,
    CMD_STORE_VOLATILE: 0,
    CMD_RESET_TPMESTABLISHED: 1,
    CMD_STOP: 0,
    CMD_GET_CONFIG: 0,
    CMD_SET_BUFFERSIZE: 4,  # u32 requested size (0 = query)
}

# ptm_cap bits (tpm_ioctl.h) for what this server implements.
PTM_CAP_INIT = 0x0001
PTM_CAP_SHUTDOWN = 0x0002
PTM_CAP_GET_TPMESTABLISHED = 0x0004
PTM_CAP_SET_LOCALITY = 0x0008
PTM_CAP_CANCEL_TPM_CMD = 0x0020
PTM_CAP_STOP = 0x0400
PTM_CAP_GET_CONFIG = 0x0800
PTM_CAP_SET_BUFFERSIZE = 0x2000
SERVER_CAPS = (PTM_CAP_INIT | PTM_CAP_SHUTDOWN | PTM_CAP_GET_TPMESTABLISHED
               | PTM_CAP_SET_LOCALITY | PTM_CAP_CANCEL_TPM_CMD | PTM_CAP_STOP
               | PTM_CAP_GET_CONFIG | PTM_CAP_SET_BUFFERSIZE)

# TPM 1.2 result codes used by swtpm's control channel.
TPM_SUCCESS = 0x00
TPM_FAIL = 0x09
TPM_BAD_ORDINAL = 0x0A
TPM_BAD_LOCALITY = 0x3D

#: The served TPM's command buffer size (TPM_PT_MAX_COMMAND_SIZE of common chips).
BUFFER_SIZE = 4096


def result(code: int) -> bytes:
    """A bare 4-byte result."""
    return struct.pack(">I", code)


def capability_answer() -> bytes:
    """CMD_GET_CAPABILITY: result, then the ptm_cap bits."""
    return struct.pack(">II", TPM_SUCCESS, SERVER_CAPS)


def established_answer(bit: int = 0) -> bytes:
    """CMD_GET_TPMESTABLISHED: result, the bit, three bytes of padding."""
    return struct.pack(">IB3x", TPM_SUCCESS, bit)


def config_answer() -> bytes:
    """CMD_GET_CONFIG: result, flags (no key or migration key configured)."""
    return struct.pack(">II", TPM_SUCCESS, 0)


def buffersize_answer() -> bytes:
    """CMD_SET_BUFFERSIZE: result, current size, minimum, maximum (fixed here)."""
    return struct.pack(">IIII", TPM_SUCCESS, BUFFER_SIZE, BUFFER_SIZE, BUFFER_SIZE)
