"""A board-like TPM for the board-safety test, and its fingerprint.

:class:`BoardLikeTpm` is a private swtpm (the harness's own
:class:`~harness.swtpm_process.SwtpmProcess`, on free loopback ports) made to look
like a TPM that firmware and an OS have used: firmware-style measurements in
PCRs 0-7 of every bank, an owner NV index that can be global-write-locked
(TPMA_NV_GLOBALLOCK) holding data, an unwritten ordinary index, a persistent
key of its own at 0x81000001; optionally the platform hierarchy disabled (as PC
firmware leaves it) and owner/endorsement/lockout auth values set by "the lab".

:func:`fingerprint` records everything a test run must leave alone; clock
and time are left out (they advance), but :func:`clock_jump_ms` catches a
Clock moved forward.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Any

from tpm2_pytss import TSS2_Exception
from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPM2_CAP, TPMA_NV
from tpm2_pytss.types import (TPM2B_NV_PUBLIC, TPM2B_PUBLIC, TPML_PCR_SELECTION,
                              TPMS_NV_PUBLIC, TPMT_SIG_SCHEME)

from harness.identity import list_pcr_banks, read_properties
from harness.swtpm_process import SwtpmProcess
from harness.tpm import properties as PT
from harness.tpm.handles import list_handles
from harness.tpm.startup import ensure_started
from harness.tpm.wire import build_command
from harness.transports.swtpm import SwtpmTransport
from harness.transports.tcti import open_esapi

GLOBAL_LOCK_INDEX = 0x01000100
PLAIN_INDEX = 0x01000101
BOARD_KEY = 0x81000001
STORAGE = "userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|noda"
VAR_PROPERTIES = {
    "permanent": PT.PERMANENT, "startup_clear": PT.STARTUP_CLEAR,
    "lockout_counter": PT.LOCKOUT_COUNTER, "max_auth_fail": PT.MAX_AUTH_FAIL,
    "lockout_interval": PT.LOCKOUT_INTERVAL, "lockout_recovery": PT.LOCKOUT_RECOVERY,
    "algorithm_set": PT.ALGORITHM_SET, "hr_nv_index": PT.HR_NV_INDEX,
    "hr_persistent": PT.HR_PERSISTENT, "nv_counters": PT.NV_COUNTERS,
}
HIERARCHY_HANDLES = {"owner": ESYS_TR.OWNER, "endorsement": ESYS_TR.ENDORSEMENT,
                     "lockout": ESYS_TR.LOCKOUT}


@dataclass
class BoardLikeTpm:
    """A provisioned swtpm made board-like; ``uri`` is the target string for pytest."""

    platform_disabled: bool = False
    auth: dict[str, bytes] = field(default_factory=dict)
    process: SwtpmProcess | None = None

    @property
    def uri(self) -> str:
        assert self.process is not None
        return f"swtpm://127.0.0.1:{self.process.port}"

    def start(self) -> "BoardLikeTpm":
        self.process = SwtpmProcess()
        with self.esapi(with_auth=False) as esapi:
            ensure_started(esapi)
            self._firmware_measurements(esapi)
            self._nv_indices(esapi)
            self._persistent_key(esapi)
            for name, value in self.auth.items():  # the lab sets its auth values
                esapi.hierarchy_change_auth(HIERARCHY_HANDLES[name], value)
            if self.platform_disabled:  # as PC firmware does before the OS runs
                esapi.hierarchy_control(ESYS_TR.PLATFORM, ESYS_TR.PLATFORM, False)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def esapi(self, with_auth: bool = True) -> "_Esapi":
        assert self.process is not None
        return _Esapi(self.process.port, self.auth if with_auth else {})

    @staticmethod
    def _firmware_measurements(esapi) -> None:
        for pcr in range(8):
            esapi.pcr_event(getattr(ESYS_TR, f"PCR{pcr}"), f"firmware stage {pcr}".encode())

    @staticmethod
    def _nv_indices(esapi) -> None:
        locked = TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD | TPMA_NV.GLOBALLOCK | TPMA_NV.NO_DA
        for index, attrs in ((GLOBAL_LOCK_INDEX, locked),
                             (PLAIN_INDEX, TPMA_NV.OWNERWRITE | TPMA_NV.OWNERREAD)):
            public = TPM2B_NV_PUBLIC(TPMS_NV_PUBLIC(nvIndex=index, nameAlg=TPM2_ALG.SHA256,
                                                    attributes=attrs, dataSize=8))
            esapi.nv_define_space(b"", public, ESYS_TR.OWNER)
        handle = esapi.tr_from_tpmpublic(GLOBAL_LOCK_INDEX)
        esapi.nv_write(handle, b"boarddat", 0, ESYS_TR.OWNER)

    @staticmethod
    def _persistent_key(esapi) -> None:
        public = TPM2B_PUBLIC.parse("ecc256:aes128cfb", objectAttributes=STORAGE)
        handle, _, _, _, _ = esapi.create_primary(None, public, ESYS_TR.OWNER)
        esapi.evict_control(ESYS_TR.OWNER, handle, BOARD_KEY)
        esapi.flush_context(handle)


class _Esapi:
    """``with board.esapi() as esapi``: a connection closed afterwards (swtpm serves one
    client at a time, so the suite run must find it free)."""

    def __init__(self, port: int, auth: dict[str, bytes]) -> None:
        self.port, self.auth = port, auth

    def __enter__(self):
        self.transport = SwtpmTransport("127.0.0.1", self.port)
        self.ctx = open_esapi(self.transport)
        for name, value in self.auth.items():
            self.ctx.tr_set_auth(HIERARCHY_HANDLES[name], value)
        return self.ctx

    def __exit__(self, *exc) -> None:
        self.ctx.close()
        self.transport.close()


# -- fingerprint -------------------------------------------------------------------


def _pcrs(esapi, banks: dict[str, int]) -> dict[str, list[str]]:
    out = {}
    for bank, count in sorted(banks.items()):
        values: list[str] = []
        for first in range(0, count, 8):
            indices = ",".join(str(i) for i in range(first, min(first + 8, count)))
            _, _, digests = esapi.pcr_read(TPML_PCR_SELECTION.parse(f"{bank}:{indices}"))
            values += [bytes(d).hex() for d in digests]
        out[bank] = values
    return out


def _nv(esapi, transport) -> dict[str, dict[str, str]]:
    out = {}
    for index in list_handles(transport, 0x01000000, 0x01FFFFFF):
        handle = esapi.tr_from_tpmpublic(index)
        public, name = esapi.nv_read_public(handle)
        entry = {"public": public.marshal().hex(), "name": bytes(name).hex()}
        attrs = int(public.nvPublic.attributes)
        if index in (GLOBAL_LOCK_INDEX, PLAIN_INDEX) and attrs & TPMA_NV.WRITTEN:
            entry["data"] = bytes(esapi.nv_read(handle, 8, 0, ESYS_TR.OWNER)).hex()
        out[f"0x{index:08x}"] = entry
    return out


def _persistent(esapi, transport) -> dict[str, str]:
    out = {}
    for handle in list_handles(transport, 0x81000000, 0x81FFFFFF):
        _, name, _ = esapi.read_public(esapi.tr_from_tpmpublic(handle))
        out[f"0x{handle:08x}"] = bytes(name).hex()
    return out


def _raw_capability(transport, cap: int, first: int, count: int = 64) -> str:
    """The capability data of one GetCapability page as hex (tpm2-pytss cannot unmarshal
    every capability, e.g. TPM_CAP_AUTH_POLICIES)."""
    response = transport.exchange(build_command(0x17A, struct.pack(">III", cap, first, count)))
    rc = struct.unpack_from(">I", response, 6)[0]
    return response[10:].hex() if rc == 0 else f"rc 0x{rc:03x}"


def _audit(esapi, transport) -> dict[str, Any]:
    """Audited commands (TPM_CAP_AUDIT_COMMANDS) and the audit hash algorithm: an unsigned
    GetCommandAuditDigest (signHandle TPM_RH_NULL does not reset the digest, Part 3 §18.5)."""
    out: dict[str, Any] = {"commands": _raw_capability(transport, TPM2_CAP.AUDIT_COMMANDS, 0)}
    try:
        attest, _ = esapi.get_command_audit_digest(ESYS_TR.RH_NULL, b"",
                                                  TPMT_SIG_SCHEME(scheme=TPM2_ALG.NULL),
                                                  ESYS_TR.ENDORSEMENT)
        from tpm2_pytss.types import TPMS_ATTEST

        info, _ = TPMS_ATTEST.unmarshal(bytes(attest))
        out["digest_alg"] = int(info.attested.commandAudit.digestAlg)
    except TSS2_Exception as exc:
        out["digest_alg"] = f"unreadable: {exc}"
    return out


def _primary_names(esapi, platform: bool) -> dict[str, str]:
    """Names of a fixed-template primary per hierarchy: they change only with the seeds
    (Clear, ChangeEPS, ChangePPS)."""
    out = {}
    hierarchies = {"owner": ESYS_TR.OWNER, "endorsement": ESYS_TR.ENDORSEMENT}
    if platform:
        hierarchies["platform"] = ESYS_TR.PLATFORM
    for name, hierarchy in hierarchies.items():
        public = TPM2B_PUBLIC.parse("ecc256:aes128cfb", objectAttributes=STORAGE)
        handle, _, _, _, _ = esapi.create_primary(None, public, hierarchy)
        out[name] = bytes(esapi.tr_get_name(handle)).hex()
        esapi.flush_context(handle)
    return out


def fingerprint(board: BoardLikeTpm) -> dict[str, Any]:
    """Everything a non-destructive run must leave as it was."""
    connection = board.esapi()
    with connection as esapi:
        transport = connection.transport
        props = read_properties(esapi)
        banks = list_pcr_banks(esapi)
        clock = esapi.read_clock()
        out = {
            "pcr_allocation": banks,
            "pcrs": _pcrs(esapi, banks),
            "nv": _nv(esapi, transport),
            "persistent": _persistent(esapi, transport),
            "properties": {k: props.get(v) for k, v in VAR_PROPERTIES.items()},
            "reset_count": int(clock.clockInfo.resetCount),
            "restart_count": int(clock.clockInfo.restartCount),
            "safe": int(clock.clockInfo.safe),
            "audit": _audit(esapi, transport),
            "auth_policies": _raw_capability(transport, TPM2_CAP.AUTH_POLICIES, 0x40000000),
            "primaries": _primary_names(esapi, not board.platform_disabled),
        }
    return out


def read_clock(board: BoardLikeTpm) -> tuple[float, int]:
    """(host monotonic seconds, TPM Clock ms), read together."""
    with board.esapi() as esapi:
        return time.monotonic(), int(esapi.read_clock().clockInfo.clock)


def clock_jump_ms(before: tuple[float, int], after: tuple[float, int]) -> float:
    """How far Clock advanced beyond the host's elapsed time (rate may differ by 15 %,
    Part 1 §36.3), in ms; a ClockSet forward shows as a jump."""
    host_ms = (after[0] - before[0]) * 1000
    return (after[1] - before[1]) - host_ms * 1.15


def differences(before: dict[str, Any], after: dict[str, Any], path: str = "") -> list[str]:
    """Every leaf that differs, as 'path: before -> after'."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            out += differences(before.get(key, "<absent>"), after.get(key, "<absent>"),
                               f"{path}.{key}" if path else str(key))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after)):
            out += differences(b, a, f"{path}[{i}]")
        return out
    return [] if before == after else [f"{path}: {before} -> {after}"]
