"""What the chip in front of us can do, asked once per session.

:func:`probe_capabilities` reads TPM2_GetCapability (TPM 2.0 Part 3 §30.2):
TPM_CAP_COMMANDS, TPM_CAP_ALGS, TPM_CAP_ECC_CURVES, TPM_CAP_PCRS and every
TPM_PT property, and asks TPM2_TestParms (Part 3 §10.5) which RSA and AES key
sizes the chip accepts (the only way the spec offers to ask). Tests state
what they need as *need strings*; :meth:`Capabilities.missing` names what the
chip lacks, so a skip says exactly why:

====================  ===========================================================
``cc:TPM2_Commit``     the command is advertised (vendor commands never match)
``alg:ecdaa``          the algorithm is listed (names as in :mod:`harness.identity`)
``curve:bn_p256``      the ECC curve is listed
``bank:sha384``        a PCR bank of that hash has PCRs allocated
``rsa:3072``           TPM2_TestParms accepts an RSA key of that size
``aes:256``            TPM2_TestParms accepts an AES key of that size
``hierarchy:owner``    the hierarchy is enabled (TPM_PT_STARTUP_CLEAR) and its auth
                       value is known: empty (TPM_PT_PERMANENT) or given by the lab;
                       also ``platform``, ``endorsement``, ``lockout``
``pt:nv_counters_max>=1``  a TPM_PT property compared with a number (``>=``,
                       ``<=``, ``>``, ``<``, ``=``); names are Part 2 §6.13's
                       without ``TPM_PT_``, lower case
====================  ===========================================================

Platform auth is not reported by any TPM_PT; TPM2_Startup(CLEAR) sets it to
the empty value (Part 1 §13.8.1), so an enabled platform hierarchy counts as known.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from harness.tpm import properties as PT
from harness.tpm.names import command_code, command_name

TPMA_CC_INDEX = 0x0000FFFF
TPMA_CC_V = 0x20000000  # TPM 2.0 Part 2 §8.9: vendor-specific command

# TPMA_PERMANENT (Part 2 §8.6) and TPMA_STARTUP_CLEAR (§8.7) bits.
OWNER_AUTH_SET = 1 << 0
ENDORSEMENT_AUTH_SET = 1 << 1
LOCKOUT_AUTH_SET = 1 << 2
DISABLE_CLEAR = 1 << 8
IN_LOCKOUT = 1 << 9
PH_ENABLE = 1 << 0
SH_ENABLE = 1 << 1
EH_ENABLE = 1 << 2
PH_ENABLE_NV = 1 << 3
ORDERLY = 1 << 31

HIERARCHIES = ("platform", "owner", "endorsement", "lockout")
RSA_SIZES = (1024, 2048, 3072, 4096)
AES_SIZES = (128, 192, 256)

_PT_BY_NAME = {name.lower(): value for name, value in vars(PT).items()
               if name.isupper() and isinstance(value, int) and not name.startswith(("PT_", "MODES_"))}
_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
            "==": operator.eq, "=": operator.ge}
_PT_NEED = re.compile(r"^([a-z0-9_]+)\s*(>=|<=|==|>|<|=)\s*(0x[0-9a-fA-F]+|\d+)$")
KINDS = ("cc", "alg", "curve", "bank", "rsa", "aes", "hierarchy", "pt")


class NeedError(ValueError):
    """A need string that names nothing the harness knows (a typo in a test)."""


def check_need(need: str) -> None:
    """Raise :class:`NeedError` unless ``need`` is a well-formed need string."""
    kind, sep, arg = need.partition(":")
    if not sep or kind not in KINDS or not arg:
        raise NeedError(f"need {need!r}: expected KIND:VALUE with KIND one of {', '.join(KINDS)}")
    if kind == "cc":
        try:
            command_code(arg)
        except KeyError:
            raise NeedError(f"need {need!r}: unknown TPM command name") from None
    elif kind in ("alg", "bank") and not _known_name("alg", arg):
        raise NeedError(f"need {need!r}: unknown algorithm (TPM 2.0 Part 2 §6.3 names, lower "
                        "case, e.g. sha384, ecdaa)")
    elif kind == "curve" and not _known_name("curve", arg):
        raise NeedError(f"need {need!r}: unknown ECC curve (e.g. nist_p256, bn_p256)")
    elif kind in ("rsa", "aes") and not arg.isdigit():
        raise NeedError(f"need {need!r}: expected a key size in bits")
    elif kind == "hierarchy" and arg not in HIERARCHIES:
        raise NeedError(f"need {need!r}: expected one of {', '.join(HIERARCHIES)}")
    elif kind == "pt":
        match = _PT_NEED.match(arg)
        if not match or match.group(1) not in _PT_BY_NAME:
            raise NeedError(f"need {need!r}: expected pt:NAME>=N with NAME a TPM_PT property "
                            "in lower case without TPM_PT_ (e.g. pt:nv_counters_max>=1)")


def _known_name(kind: str, arg: str) -> bool:
    """A spec name, or the ``alg_0x0042`` / ``curve_0x0042`` form identity gives ids
    without one (a chip may report those)."""
    return arg.lower() in _known(kind) or re.fullmatch(f"{kind}_0x[0-9a-f]{{4}}", arg) is not None


@lru_cache(maxsize=2)
def _known(kind: str) -> frozenset[str]:
    """Algorithm or curve names as :mod:`harness.identity` reports them."""
    from tpm2_pytss.constants import TPM2_ALG, TPM2_ECC

    from harness.identity import _ALG_OVERRIDES, _alg_name, _curve_name

    table, name = (TPM2_ALG, _alg_name) if kind == "alg" else (TPM2_ECC, _curve_name)
    values = {int(getattr(table, n)) for n in dir(table)
              if n.isupper() and isinstance(getattr(table, n), int)}
    extra = set(_ALG_OVERRIDES.values()) if kind == "alg" else set()
    return frozenset({name(v) for v in values} | extra)


def needs_of(marks: Iterable[Any]) -> tuple[str, ...]:
    """The need strings of ``needs`` markers (``item.iter_markers("needs")``), in order."""
    out: list[str] = []
    for mark in marks:
        out.extend(str(a) for a in mark.args)
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Capabilities:
    """The chip's answers to GetCapability/TestParms, plus which hierarchy auth
    values the lab gave (``auth_given``: names from :data:`HIERARCHIES`)."""

    commands: frozenset[str]
    command_codes: frozenset[int]
    vendor_commands: frozenset[int]
    algorithms: frozenset[str]
    curves: frozenset[str]
    banks: Mapping[str, int]
    properties: Mapping[int, int]
    rsa_sizes: frozenset[int] = frozenset()
    aes_sizes: frozenset[int] = frozenset()
    auth_given: frozenset[str] = frozenset()
    command_attributes: Mapping[int, int] = field(default_factory=dict)

    # -- properties -------------------------------------------------------------

    def prop(self, pt: int) -> int | None:
        """Any TPM_PT value the chip reported, or None."""
        return self.properties.get(pt)

    def _size(self, pt: int) -> int:
        return int(self.properties.get(pt, 0))

    @property
    def max_command_size(self) -> int:
        return self._size(PT.MAX_COMMAND_SIZE)

    @property
    def max_response_size(self) -> int:
        return self._size(PT.MAX_RESPONSE_SIZE)

    @property
    def input_buffer(self) -> int:
        """TPM_PT_INPUT_BUFFER: the largest TPM2B_MAX_BUFFER (Hash, SequenceUpdate, ...)."""
        return self._size(PT.INPUT_BUFFER)

    @property
    def nv_buffer_max(self) -> int:
        """TPM_PT_NV_BUFFER_MAX: the most bytes one NV_Read/NV_Write moves."""
        return self._size(PT.NV_BUFFER_MAX)

    @property
    def max_digest(self) -> int:
        return self._size(PT.MAX_DIGEST)

    @property
    def nv_index_max(self) -> int:
        return self._size(PT.NV_INDEX_MAX)

    @property
    def context_gap_max(self) -> int:
        return self._size(PT.CONTEXT_GAP_MAX)

    @property
    def permanent(self) -> int:
        return self._size(PT.PERMANENT)

    @property
    def startup_clear(self) -> int:
        return self._size(PT.STARTUP_CLEAR)

    @property
    def platform_enabled(self) -> bool:
        return bool(self.startup_clear & PH_ENABLE)

    @property
    def owner_enabled(self) -> bool:
        return bool(self.startup_clear & SH_ENABLE)

    @property
    def endorsement_enabled(self) -> bool:
        return bool(self.startup_clear & EH_ENABLE)

    @property
    def owner_auth_set(self) -> bool:
        return bool(self.permanent & OWNER_AUTH_SET)

    @property
    def endorsement_auth_set(self) -> bool:
        return bool(self.permanent & ENDORSEMENT_AUTH_SET)

    @property
    def lockout_auth_set(self) -> bool:
        return bool(self.permanent & LOCKOUT_AUTH_SET)

    @property
    def in_lockout(self) -> bool:
        return bool(self.permanent & IN_LOCKOUT)

    def has_command(self, name_or_code: str | int) -> bool:
        code = name_or_code if isinstance(name_or_code, int) else command_code(name_or_code)
        return code in self.command_codes

    # -- needs ------------------------------------------------------------------

    def missing(self, *needs: str) -> list[str]:
        """What the chip lacks of ``needs``, one sentence each naming the capability.

        Raises:
            NeedError: a need string is malformed (a bug in the test, not the chip).
        """
        out = []
        for need in needs:
            check_need(need)
            reason = self._missing_one(*need.split(":", 1))
            if reason:
                out.append(reason)
        return out

    def require(self, *needs: str) -> None:
        """``pytest.skip`` naming everything of ``needs`` the chip lacks."""
        lacking = self.missing(*needs)
        if lacking:
            import pytest

            pytest.skip("; ".join(lacking))

    def _missing_one(self, kind: str, arg: str) -> str | None:
        if kind == "cc":
            code = command_code(arg)
            return None if code in self.command_codes else (
                f"chip lacks {command_name(code)} (TPM_CAP_COMMANDS)")
        if kind == "alg":
            return None if arg.lower() in self.algorithms else (
                f"chip lacks algorithm {arg} (TPM_CAP_ALGS)")
        if kind == "curve":
            return None if arg.lower() in self.curves else (
                f"chip lacks ECC curve {arg} (TPM_CAP_ECC_CURVES)")
        if kind == "bank":
            return None if self.banks.get(arg.lower(), 0) else (
                f"chip has no active {arg} PCR bank (TPM_CAP_PCRS)")
        if kind in ("rsa", "aes"):
            sizes = self.rsa_sizes if kind == "rsa" else self.aes_sizes
            return None if int(arg) in sizes else (
                f"chip refuses {kind.upper()} {arg}-bit keys (TPM2_TestParms)")
        if kind == "hierarchy":
            return self._hierarchy_missing(arg)
        return self._pt_missing(arg)

    def _hierarchy_missing(self, name: str) -> str | None:
        enabled = {"platform": (self.platform_enabled, "phEnable"),
                   "owner": (self.owner_enabled, "shEnable"),
                   "endorsement": (self.endorsement_enabled, "ehEnable"),
                   "lockout": (True, "")}[name]
        if not enabled[0]:
            return (f"{name} hierarchy disabled (TPM_PT_STARTUP_CLEAR {enabled[1]}=0)")
        auth_set = {"platform": False, "owner": self.owner_auth_set,
                    "endorsement": self.endorsement_auth_set,
                    "lockout": self.lockout_auth_set}[name]
        if auth_set and name not in self.auth_given:
            return (f"{name} auth is set on the chip and not given (TPM_PT_PERMANENT "
                    f"{name}AuthSet; pass --{name}-auth or $TPMHIL_{name.upper()}_AUTH)")
        return None

    def _pt_missing(self, arg: str) -> str | None:
        match = _PT_NEED.match(arg)
        assert match is not None  # check_need ran first
        name, op, bound = match.group(1), match.group(2), int(match.group(3), 0)
        value = self.properties.get(_PT_BY_NAME[name])
        if value is not None and _COMPARE[op](value, bound):
            return None
        op = ">=" if op == "=" else op
        shown = "not reported" if value is None else str(value)
        return f"chip has TPM_PT_{name.upper()} {shown}, test needs {op}{bound} (TPM_CAP_TPM_PROPERTIES)"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (no auth values: only which were given)."""
        return {
            "commands": sorted(self.commands),
            "vendor_commands": [f"0x{c:08x}" for c in sorted(self.vendor_commands)],
            "algorithms": sorted(self.algorithms),
            "curves": sorted(self.curves),
            "banks": dict(sorted(self.banks.items())),
            "rsa_sizes": sorted(self.rsa_sizes),
            "aes_sizes": sorted(self.aes_sizes),
            "max_command_size": self.max_command_size,
            "max_response_size": self.max_response_size,
            "input_buffer": self.input_buffer,
            "nv_buffer_max": self.nv_buffer_max,
            "hierarchies": {h: self._hierarchy_missing(h) is None for h in HIERARCHIES},
            "auth_given": sorted(self.auth_given),
        }


# -- probing ----------------------------------------------------------------------


def list_command_attributes(esapi) -> dict[int, int]:
    """TPM_CAP_COMMANDS as ``{command code: TPMA_CC}``; vendor commands keep TPMA_CC.V
    in their code (Part 2 §8.9: the command code is commandIndex | V << 29)."""
    from tpm2_pytss.constants import TPM2_CAP

    out: dict[int, int] = {}
    cc = 0
    while True:
        more, data = esapi.get_capability(TPM2_CAP.COMMANDS, cc, 254)
        attrs = data.data.command
        page = [int(attrs.commandAttributes[i]) for i in range(attrs.count)]
        for attr in page:
            out[(attr & TPMA_CC_INDEX) | (attr & TPMA_CC_V)] = attr
        if not more or not page:
            return out
        last = page[-1]
        cc = ((last & TPMA_CC_INDEX) | (last & TPMA_CC_V)) + 1


def _accepts(esapi, parms) -> bool:
    from tpm2_pytss import TSS2_Exception

    try:
        esapi.test_parms(parms)
        return True
    except TSS2_Exception:
        return False


def _key_sizes(esapi, has_test_parms: bool, algorithms: frozenset[str]) -> tuple[set, set]:
    """RSA and AES sizes TPM2_TestParms (Part 3 §10.5) accepts."""
    from tpm2_pytss.constants import TPM2_ALG
    from tpm2_pytss.types import (TPMS_RSA_PARMS, TPMS_SYMCIPHER_PARMS, TPMT_PUBLIC_PARMS,
                                  TPMT_SYM_DEF_OBJECT)

    rsa: set[int] = set()
    aes: set[int] = set()
    if not has_test_parms:
        return rsa, aes
    if "rsa" in algorithms:
        for bits in RSA_SIZES:
            parms = TPMT_PUBLIC_PARMS(type=TPM2_ALG.RSA)
            parms.parameters.rsaDetail = TPMS_RSA_PARMS(keyBits=bits)
            parms.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG.NULL
            parms.parameters.rsaDetail.scheme.scheme = TPM2_ALG.NULL
            if _accepts(esapi, parms):
                rsa.add(bits)
    if "aes" in algorithms and "cfb" in algorithms:
        for bits in AES_SIZES:
            parms = TPMT_PUBLIC_PARMS(type=TPM2_ALG.SYMCIPHER)
            sym = TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.AES)
            sym.keyBits.aes = bits
            sym.mode.aes = TPM2_ALG.CFB
            parms.parameters.symDetail = TPMS_SYMCIPHER_PARMS(sym=sym)
            if _accepts(esapi, parms):
                aes.add(bits)
    return rsa, aes


def probe_capabilities(esapi, auth_given: Iterable[str] = ()) -> Capabilities:
    """Ask the chip what it can do (GetCapability, TestParms). Changes nothing on the chip."""
    from harness.identity import (_alg_name, _curve_name, list_algorithms, list_curves,
                                  list_pcr_banks, read_properties)

    attrs = list_command_attributes(esapi)
    library = frozenset(c for c in attrs if not c & TPMA_CC_V)
    algorithms = frozenset(_alg_name(a) for a in list_algorithms(esapi))
    rsa, aes = _key_sizes(esapi, command_code("TestParms") in library, algorithms)
    return Capabilities(
        commands=frozenset(command_name(c) for c in library),
        command_codes=library,
        vendor_commands=frozenset(c for c in attrs if c & TPMA_CC_V),
        algorithms=algorithms,
        curves=frozenset(_curve_name(c) for c in list_curves(esapi)),
        banks=dict(list_pcr_banks(esapi)),
        properties=read_properties(esapi),
        rsa_sizes=frozenset(rsa),
        aes_sizes=frozenset(aes),
        auth_given=frozenset(auth_given),
        command_attributes=attrs,
    )
