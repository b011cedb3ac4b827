"""TPM2_GetCapability as the virtual chip's part answers it (TPM 2.0 Part 3 §30.2).

The request runs on the backing swtpm (its response code, its variable
state); the data is then rewritten to the part's personality: lists that the
part implements fewer of (TPM_CAP_ALGS, TPM_CAP_COMMANDS, TPM_CAP_ECC_CURVES,
TPM_CAP_PP_COMMANDS, TPM_CAP_AUDIT_COMMANDS, TPM_CAP_PCRS) are filtered and
paged again, and TPM_CAP_TPM_PROPERTIES values are replaced by the part's.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from harness.chips.personality import Personality

CAP_ALGS, CAP_HANDLES, CAP_COMMANDS, CAP_PP_COMMANDS, CAP_AUDIT_COMMANDS = 0, 1, 2, 3, 4
CAP_PCRS, CAP_TPM_PROPERTIES, CAP_ECC_CURVES = 5, 6, 8
TPMA_CC_V = 1 << 29
#: Entries per answer, as the reference code sizes them (MAX_CAP_BUFFER 1024).
_MAX_PER_ANSWER = {CAP_ALGS: 169, CAP_COMMANDS: 254, CAP_PP_COMMANDS: 254,
                   CAP_AUDIT_COMMANDS: 254, CAP_ECC_CURVES: 508}
_HEADER = struct.Struct(">HII")


def cc_key(tpma_cc: int) -> int:
    """The TPM_CC a TPMA_CC describes: commandIndex plus the V bit (Part 2 §8.9)."""
    return (tpma_cc & 0xFFFF) | (tpma_cc & TPMA_CC_V)


def _answer(more: bool, cap: int, count: int, body: bytes) -> bytes:
    payload = bytes([1 if more else 0]) + struct.pack(">II", cap, count) + body
    return _HEADER.pack(0x8001, 10 + len(payload), 0) + payload


def _page(entries: list[tuple[int, bytes]], first: int, count: int, cap: int) -> bytes:
    """Answer from a sorted ``(key, encoded entry)`` list, from ``first``, at most ``count``."""
    chosen = [e for k, e in entries if k >= first]
    limit = min(count, _MAX_PER_ANSWER[cap])
    return _answer(len(chosen) > limit, cap, min(len(chosen), limit), b"".join(chosen[:limit]))


class CapabilityView:
    """Rewrites GetCapability answers to a personality.

    Args:
        personality: the part.
        backend_list: ``backend_list(cap)`` returns the backend's complete
            list for ``cap`` as ``(key, encoded entry)`` pairs (read once).
    """

    def __init__(self, personality: "Personality",
                 backend_list: Callable[[int], list[tuple[int, bytes]]]) -> None:
        self.p = personality
        self._backend_list = backend_list
        self._lists: dict[int, list[tuple[int, bytes]]] = {}

    def _list(self, cap: int) -> list[tuple[int, bytes]]:
        # The audit and PP lists change at run time (SetCommandCodeAuditStatus, PP_Commands):
        # read them afresh every time; the others are fixed.
        if cap not in self._lists or cap in (CAP_PP_COMMANDS, CAP_AUDIT_COMMANDS):
            p = self.p
            raw = self._backend_list(cap)
            if cap == CAP_ALGS:
                out = [(k, e) for k, e in raw if k in p.algorithm_ids]
            elif cap == CAP_ECC_CURVES:
                out = [(k, e) for k, e in raw if k in p.curve_ids]
            elif cap == CAP_COMMANDS:
                out = [(k, e) for k, e in raw if p.implements(k)]
                out += [(cc, struct.pack(">I", attrs)) for cc, attrs in p.vendor_commands.items()]
            else:  # PP / audit command lists: TPML_CC
                out = [(k, e) for k, e in raw if p.implements(k)]
            self._lists[cap] = sorted(out)
        return self._lists[cap]

    def library_commands(self) -> int:
        return sum(1 for k, _ in self._list(CAP_COMMANDS) if not k & TPMA_CC_V)

    def rewrite(self, command: bytes, response: bytes) -> bytes:
        """The part's answer to GetCapability ``command``, given swtpm's ``response``."""
        if len(command) < 22 or len(response) < 19 or response[6:10] != bytes(4):
            return response
        cap, prop, count = struct.unpack_from(">III", command, 10)
        if cap in _MAX_PER_ANSWER:
            return _page(self._list(cap), prop, count, cap)
        if cap == CAP_TPM_PROPERTIES:
            return self._properties(response)
        if cap == CAP_PCRS:
            return self._pcrs(response)
        return response

    def _properties(self, response: bytes) -> bytes:
        out = bytearray(response)
        n = struct.unpack_from(">I", response, 15)[0]
        for i in range(n):
            pos = 19 + 8 * i
            pt, value = struct.unpack_from(">II", response, pos)
            new = self.p.property_value(pt, value, self)
            if new != value:
                struct.pack_into(">I", out, pos + 4, new & 0xFFFFFFFF)
        return bytes(out)

    def _pcrs(self, response: bytes) -> bytes:
        n = struct.unpack_from(">I", response, 15)[0]
        pos = 19
        kept: list[bytes] = []
        for _ in range(n):
            alg, size = struct.unpack_from(">HB", response, pos)
            entry = response[pos:pos + 3 + size]
            pos += 3 + size
            if alg in self.p.bank_ids:
                kept.append(entry)
        return _answer(bool(response[10]), CAP_PCRS, len(kept), b"".join(kept))
