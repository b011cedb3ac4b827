"""A virtual chip's personality: the real part's capability set in front of swtpm.

Sits between the FIFO model and the backing swtpm (a
:class:`~harness.chips.fifo.Backend` wrapping another). Every command still
executes on swtpm; the personality only

* refuses, before execution (:mod:`harness.chips.refusals`), what the part
  lacks, with the code the spec gives: a command it does not implement ->
  TPM_RC_COMMAND_CODE (Part 2 §6.6.3), a command larger than the part's buffer -> TPM_RC_COMMAND_SIZE
  ("commandSize ... not the same as the octets loaded by the hardware
  interface layer": a part loads at most TPM_PT_MAX_COMMAND_SIZE), curves /
  key sizes / hashes / symmetric and signing schemes it lacks -> the code of
  the Part 2 interface type that would not unmarshal (TPM_RC_CURVE,
  TPM_RC_VALUE for TPMI_RSA_KEY_BITS, TPM_RC_HASH, TPM_RC_SYMMETRIC,
  TPM_RC_SCHEME) with the parameter number, NV data beyond
  TPM_PT_NV_BUFFER_MAX -> TPM_RC_SIZE (TPM2B_MAX_NV_BUFFER) or, for
  NV_Read's size, TPM_RC_VALUE (Part 3 §31.13); digest-sized buffers beyond
  TPM_PT_MAX_DIGEST -> TPM_RC_SIZE; unknown tags -> TPM_RC_BAD_TAG;
* caps GetRandom at TPM_PT_MAX_DIGEST (Part 3 §16.1);
* answers GetCapability as the part (:mod:`harness.chips.capability_view`);
* after every successful TPM2_Startup, disables the platform hierarchy on the
  backend when the target says ``platform=0`` (as PC firmware does each boot).

The part's values live in its chip profile (``personality:``), each with the
datasheet or public dump it comes from.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from harness.chips.capability_view import (
    CAP_ALGS, CAP_COMMANDS, CAP_ECC_CURVES, TPMA_CC_V,
    CapabilityView, cc_key,
)
from harness.chips.fifo import Backend
from harness.chips.refusals import Refusals, rc_response
from harness.errors import ConfigError, TargetError
from harness.identity import alg_name, curve_name
from harness.tpm import properties as PT
from harness.tpm.names import command_code
from harness.tpm.wire import build_command

CC_STARTUP, CC_GET_CAPABILITY, CC_GET_RANDOM = 0x144, 0x17A, 0x17B
CC_HIERARCHY_CONTROL, CC_HIERARCHY_CHANGE_AUTH = 0x121, 0x129
TPM_RH_OWNER, TPM_RH_LOCKOUT, TPM_RH_ENDORSEMENT, TPM_RH_PLATFORM = (
    0x40000001, 0x4000000A, 0x4000000B, 0x4000000C)
TPM_RS_PW = 0x40000009
HIERARCHIES = {"owner": TPM_RH_OWNER, "endorsement": TPM_RH_ENDORSEMENT,
               "lockout": TPM_RH_LOCKOUT}
_HASHES = {"sha1", "sha256", "sha384", "sha512", "sm3_256", "sha3_256", "sha3_384", "sha3_512"}

# Properties the backend enforces (slots, counters): the part's value only if
# the backend can honour it, else the backend's (never promise what fails).
_CAPACITY = {PT.HR_TRANSIENT_MIN, PT.HR_PERSISTENT_MIN, PT.HR_LOADED_MIN,
             PT.ACTIVE_SESSIONS_MAX, PT.NV_COUNTERS_MAX, PT.CONTEXT_GAP_MAX}


def _alg_ids() -> dict[str, int]:
    return {alg_name(a): a for a in range(0x0001, 0x0050)}


def _curve_ids() -> dict[str, int]:
    return {curve_name(c): c for c in range(0x0001, 0x0030)}


def _prop_id(name: str) -> int:
    value = getattr(PT, name.upper(), None)
    if not isinstance(value, int):
        raise ConfigError(f"personality: unknown TPM_PT property {name!r}")
    return value


def _u32(value: Any) -> int:
    if isinstance(value, str):
        raw = value.encode("ascii")
        if len(raw) > 4:
            raise ConfigError(f"personality: {value!r} is longer than 4 characters")
        return int.from_bytes(raw.ljust(4, b"\0"), "big")
    return int(value)


@dataclass
class Personality:
    """What a part implements and reports (built from a profile's ``personality:``)."""

    name: str
    properties: dict[int, int]
    algorithm_ids: frozenset[int]
    hash_ids: frozenset[int]
    curve_ids: frozenset[int]
    bank_ids: frozenset[int]
    allocated_banks: tuple[str, ...]
    rsa_key_sizes: frozenset[int]
    absent_commands: frozenset[int]
    vendor_commands: dict[int, int] = field(default_factory=dict)

    @property
    def max_command_size(self) -> int:
        return self.properties[PT.MAX_COMMAND_SIZE]

    @property
    def nv_buffer_max(self) -> int:
        return self.properties[PT.NV_BUFFER_MAX]

    def implements(self, cc: int) -> bool:
        return not cc & TPMA_CC_V and cc not in self.absent_commands

    def property_value(self, pt: int, backend: int, view: CapabilityView) -> int:
        if pt in (PT.LIBRARY_COMMANDS, PT.VENDOR_COMMANDS, PT.TOTAL_COMMANDS):
            lib, ven = view.library_commands(), len(self.vendor_commands)
            return {PT.LIBRARY_COMMANDS: lib, PT.VENDOR_COMMANDS: ven}.get(pt, lib + ven)
        if pt not in self.properties:
            return backend
        if pt in _CAPACITY:
            return min(self.properties[pt], backend)
        return self.properties[pt]


def personality_from_profile(name: str, data: dict[str, Any]) -> Personality:
    """Build a personality from a profile's ``personality:`` mapping.

    Raises:
        ConfigError: an unknown algorithm, curve, command or property name.
    """
    algs, curves = _alg_ids(), _curve_ids()

    def ids(kind: str, names: list[str], table: dict[str, int]) -> frozenset[int]:
        unknown = [n for n in names if n not in table]
        if unknown:
            raise ConfigError(f"personality {name}: unknown {kind} {unknown}")
        return frozenset(table[n] for n in names)

    props = {PT.MANUFACTURER: _u32(data["manufacturer"])}
    for i, value in enumerate(data.get("vendor_strings", [])[:4]):
        props[PT.VENDOR_STRING_1 + i] = _u32(value)
    fv = data.get("firmware_version", [])
    for i, value in enumerate(fv[:2]):
        props[PT.FIRMWARE_VERSION_1 + i] = int(value)
    spec = data.get("spec", {})
    for key, pt in (("level", PT.LEVEL), ("revision", PT.REVISION), ("day", PT.DAY_OF_YEAR),
                    ("year", PT.YEAR)):
        if key in spec:
            props[pt] = int(spec[key])
    for pname, value in data.get("properties", {}).items():
        props[_prop_id(pname)] = int(value)
    for needed in (PT.MAX_COMMAND_SIZE, PT.NV_BUFFER_MAX):
        if needed not in props:
            raise ConfigError(f"personality {name}: properties must give max_command_size "
                              "and nv_buffer_max")
    try:
        absent = frozenset(command_code(n) for n in data.get("commands_absent", []))
    except KeyError as exc:
        raise ConfigError(f"personality {name}: {exc.args[0]}") from None
    vendor = {int(cc): int(cc) & 0xFFFF | TPMA_CC_V for cc in data.get("vendor_commands", {})}
    alg_names = list(data["algorithms"])
    bank_names = list(data.get("pcr_banks", []))
    return Personality(
        name=name,
        properties=props,
        algorithm_ids=ids("algorithm", alg_names, algs),
        hash_ids=ids("algorithm", [a for a in alg_names if a in _HASHES], algs),
        curve_ids=ids("curve", list(data.get("ecc_curves", [])), curves),
        bank_ids=ids("PCR bank", bank_names, algs),
        allocated_banks=tuple(data.get("pcr_allocated", bank_names)),
        rsa_key_sizes=frozenset(int(b) for b in data.get("rsa_key_sizes", [])),
        absent_commands=absent,
        vendor_commands=vendor,
    )


class PersonalityBackend:
    """A :class:`Backend` presenting ``personality`` in front of ``inner`` (swtpm)."""

    def __init__(self, inner: Backend, personality: Personality, platform: bool = True) -> None:
        self.inner = inner
        self.p = personality
        self.platform = platform
        self.refused: dict[str, int] = {}
        self.view = CapabilityView(personality, self._backend_list)
        # cHandles of every command the backend implements (TPMA_CC bits 25-27).
        handles = {key: (int.from_bytes(e, "big") >> 25) & 7
                   for key, e in self._backend_list(CAP_COMMANDS)}
        self.refusals = Refusals(personality, handles)

    # -- the backend's own lists, read once ---------------------------------------

    def _backend_list(self, cap: int) -> list[tuple[int, bytes]]:
        size = {CAP_ALGS: 6, CAP_ECC_CURVES: 2}.get(cap, 4)
        out: list[tuple[int, bytes]] = []
        prop = 0
        while True:
            rsp = self.inner.execute(build_command(CC_GET_CAPABILITY,
                                                   struct.pack(">III", cap, prop, 1024)), 0)
            if rsp[6:10] != bytes(4):
                raise TargetError(f"virtual chip: backend GetCapability({cap}) failed: "
                                  f"0x{int.from_bytes(rsp[6:10], 'big'):x}")
            n = struct.unpack_from(">I", rsp, 15)[0]
            for i in range(n):
                entry = rsp[19 + i * size:19 + (i + 1) * size]
                key = int.from_bytes(entry[:2], "big") if size != 4 else int.from_bytes(entry, "big")
                if cap == CAP_COMMANDS:
                    key = cc_key(key)
                out.append((key, entry))
            if not rsp[10] or not n:
                return out
            prop = out[-1][0] + 1

    # -- Backend -------------------------------------------------------------------

    def execute(self, command: bytes, locality: int) -> bytes:
        refusal = self.refusals.check(command)
        if refusal:
            self.refused[f"0x{refusal:03x}"] = self.refused.get(f"0x{refusal:03x}", 0) + 1
            return rc_response(refusal)
        response = self.inner.execute(command, locality)
        cc = struct.unpack_from(">I", command, 6)[0]
        if cc == CC_GET_CAPABILITY:
            return self.view.rewrite(command, response)
        if cc == CC_GET_RANDOM:
            return self._cap_random(response)
        if cc == CC_STARTUP and response[6:10] == bytes(4) and not self.platform:
            self.disable_platform()
        return response

    def _cap_random(self, response: bytes) -> bytes:
        """GetRandom returns at most sizeof(TPMU_HA) of the part (Part 3 §16.1)."""
        if len(response) < 12 or response[6:10] != bytes(4) or response[:2] != b"\x80\x01":
            return response
        n = struct.unpack_from(">H", response, 10)[0]
        top = self.p.properties.get(PT.MAX_DIGEST, n)
        if n <= top:
            return response
        body = struct.pack(">H", top) + response[12:12 + top]
        return struct.pack(">HII", 0x8001, 10 + len(body), 0) + body

    def power_cycle(self) -> None:
        self.inner.power_cycle()

    def close(self) -> None:
        self.inner.close()

    # -- what a lab's firmware does to the part -------------------------------------

    def _pw_command(self, cc: int, handle: int, params: bytes, auth: bytes = b"") -> None:
        session = struct.pack(">IHBH", TPM_RS_PW, 0, 0, len(auth)) + auth
        body = struct.pack(">II", handle, len(session)) + session + params
        rsp = self.inner.execute(build_command(cc, body, tag=0x8002), 0)
        rc = int.from_bytes(rsp[6:10], "big")
        if rc:
            raise TargetError(f"virtual chip {self.p.name}: setting up the hierarchy "
                              f"(command 0x{cc:x}) failed with 0x{rc:03x}")

    def set_hierarchy_auth(self, hierarchy: str, value: bytes) -> None:
        """HierarchyChangeAuth on the backend (the hierarchy's auth must still be empty)."""
        handle = HIERARCHIES[hierarchy]
        self._pw_command(CC_HIERARCHY_CHANGE_AUTH, handle, struct.pack(">H", len(value)) + value)

    def disable_platform(self) -> None:
        """HierarchyControl(TPM_RH_PLATFORM, enable=TPM_RH_PLATFORM, NO) on the backend."""
        self._pw_command(CC_HIERARCHY_CONTROL, TPM_RH_PLATFORM,
                         struct.pack(">IB", TPM_RH_PLATFORM, 0))
