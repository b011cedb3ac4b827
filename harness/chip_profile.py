"""Chip profiles: what a chip's datasheet and the TCG specs promise.

A profile is a YAML file (``harness/profiles/<name>.yaml`` or any path):
identity (manufacturer, vendor strings), bus, algorithms, curves, key sizes,
PCR banks, NV size, FIPS-mode expectation, interface timeouts, command
durations and latency limits. Conformance checks compare the chip with it.
A broken file fails with a message naming the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from harness.errors import ProfileError
from harness.tpm.durations import CLASSES, CommandDurations, InterfaceTimeouts
from harness.tpm.names import command_code
from harness.yaml_file import load_yaml

PROFILE_DIR = Path(__file__).parent / "profiles"

_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "description": str,
    "manufacturer": str,
    "vendor_strings": list,
    "bus": list,
    "family": str,
    "spec_revision_min": (int, float),
    "algorithms": list,
    "ecc_curves": list,
    "rsa_key_sizes": list,
    "pcr_banks": list,
    "nv_index_max_min": int,
    "nv_memory_min": int,
    "fips_mode": (bool, type(None)),
    "ek_certificates": list,
    "firmware_format": str,
    "timeouts_ms": dict,
    "durations_ms": dict,
    "command_classes": dict,
    "latency_ms": dict,
    "tis": dict,
    "notes": str,
    "reference_behaviours": list,
    "personality": dict,
}
_REQUIRED = ("name", "manufacturer", "algorithms", "pcr_banks", "durations_ms")


@dataclass(frozen=True)
class ChipProfile:
    """A chip's promises, loaded from a profile file.

    Attributes mirror the YAML keys; ``durations`` and ``timeouts`` are the
    ready-to-use objects built from ``durations_ms``/``command_classes`` and
    ``timeouts_ms``.
    """

    name: str
    source: str
    manufacturer: str
    algorithms: tuple[str, ...]
    pcr_banks: tuple[str, ...]
    durations: CommandDurations
    timeouts: InterfaceTimeouts
    description: str = ""
    vendor_strings: tuple[str, ...] = ()
    bus: tuple[str, ...] = ()
    family: str = "2.0"
    spec_revision_min: float = 0
    ecc_curves: tuple[str, ...] = ()
    rsa_key_sizes: tuple[int, ...] = ()
    nv_index_max_min: int = 0
    nv_memory_min: int = 0
    fips_mode: bool | None = None
    ek_certificates: tuple[int, ...] = ()
    firmware_format: str = "major16.minor16"
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    tis: dict[str, Any] = field(default_factory=dict)
    # Behaviours only the TCG reference code guarantees (the spec leaves them to the
    # vendor); suites rely on one only where the chip's profile names it.
    reference_behaviours: tuple[str, ...] = ()
    #: What the part reports and implements, for its virtual chip
    #: (harness.chips.personality); empty for profiles of no virtual chip.
    personality: dict[str, Any] = field(default_factory=dict, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def matches(self, manufacturer: str, vendor: str) -> bool:
        """Whether a probed chip (manufacturer id, vendor string) is this chip."""
        if manufacturer.strip() != self.manufacturer.strip():
            return False
        if not self.vendor_strings:
            return True
        return any(re.search(p, vendor) for p in self.vendor_strings)


def _fail(source: str, fieldname: str, msg: str) -> ProfileError:
    return ProfileError(f"chip profile {source}: field '{fieldname}': {msg}")


def _check_types(data: dict[str, Any], source: str) -> None:
    for key, value in data.items():
        if key not in _FIELDS:
            raise _fail(source, key, f"unknown field (known: {', '.join(sorted(_FIELDS))})")
        want = _FIELDS[key]
        if not isinstance(value, want):
            names = "/".join(t.__name__ for t in (want if isinstance(want, tuple) else (want,)))
            raise _fail(source, key, f"expected {names}, got {type(value).__name__} {value!r}")
    for key in _REQUIRED:
        if key not in data:
            raise _fail(source, key, "is required")


def _durations(data: dict[str, Any], source: str) -> CommandDurations:
    bounds = {}
    for cls, ms in data["durations_ms"].items():
        if cls not in CLASSES:
            raise _fail(source, f"durations_ms.{cls}", f"unknown class (known: {', '.join(CLASSES)})")
        if not isinstance(ms, (int, float)) or ms <= 0:
            raise _fail(source, f"durations_ms.{cls}", f"expected a positive number of ms, got {ms!r}")
        bounds[cls] = ms / 1000.0
    classes = {}
    for name, cls in data.get("command_classes", {}).items():
        if cls not in CLASSES:
            raise _fail(source, f"command_classes.{name}", f"unknown class {cls!r}")
        try:
            classes[command_code(name)] = cls
        except KeyError:
            raise _fail(source, f"command_classes.{name}", "unknown TPM command") from None
    return CommandDurations().with_overrides(bounds, classes)


def _timeouts(data: dict[str, Any], source: str) -> InterfaceTimeouts:
    raw = data.get("timeouts_ms", {})
    kwargs = {}
    for key, ms in raw.items():
        if key not in ("a", "b", "c", "d"):
            raise _fail(source, f"timeouts_ms.{key}", "expected one of a, b, c, d")
        if not isinstance(ms, (int, float)) or ms <= 0:
            raise _fail(source, f"timeouts_ms.{key}", f"expected a positive number of ms, got {ms!r}")
        kwargs[key] = ms / 1000.0
    return InterfaceTimeouts(**kwargs)


def _parse_ints(values: list[Any], source: str, fieldname: str) -> tuple[int, ...]:
    out = []
    for v in values:
        try:
            out.append(int(v, 0) if isinstance(v, str) else int(v))
        except (TypeError, ValueError):
            raise _fail(source, fieldname, f"expected integers, got {v!r}") from None
    return tuple(out)


def profile_from_dict(data: Any, source: str) -> ChipProfile:
    """Validate and build a profile from parsed YAML."""
    if not isinstance(data, dict):
        raise ProfileError(f"chip profile {source}: expected a mapping at the top level, "
                           f"got {type(data).__name__}")
    _check_types(data, source)
    for key in ("latency_ms",):
        for cmd, limits in data.get(key, {}).items():
            if not isinstance(limits, dict) or not set(limits) <= {"median", "worst"}:
                raise _fail(source, f"{key}.{cmd}", "expected {median: ms, worst: ms}")
    return ChipProfile(
        name=data["name"],
        source=source,
        manufacturer=data["manufacturer"],
        algorithms=tuple(a.lower() for a in data["algorithms"]),
        pcr_banks=tuple(b.lower() for b in data["pcr_banks"]),
        durations=_durations(data, source),
        timeouts=_timeouts(data, source),
        description=data.get("description", ""),
        vendor_strings=tuple(data.get("vendor_strings", ())),
        bus=tuple(data.get("bus", ())),
        family=str(data.get("family", "2.0")),
        spec_revision_min=data.get("spec_revision_min", 0),
        ecc_curves=tuple(c.lower() for c in data.get("ecc_curves", ())),
        rsa_key_sizes=_parse_ints(data.get("rsa_key_sizes", []), source, "rsa_key_sizes"),
        nv_index_max_min=data.get("nv_index_max_min", 0),
        nv_memory_min=data.get("nv_memory_min", 0),
        fips_mode=data.get("fips_mode"),
        ek_certificates=_parse_ints(data.get("ek_certificates", []), source, "ek_certificates"),
        firmware_format=data.get("firmware_format", "major16.minor16"),
        latency_ms=data.get("latency_ms", {}),
        tis=data.get("tis", {}),
        reference_behaviours=tuple(data.get("reference_behaviours", ())),
        personality=data.get("personality", {}),
        raw=data,
    )


def load_profile(name_or_path: str) -> ChipProfile:
    """Load a profile by name (``swtpm``, ``st33ktpm2x``...) or by file path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") or path.exists()):
        path = PROFILE_DIR / f"{name_or_path.lower()}.yaml"
        if not path.exists():
            raise ProfileError(f"no chip profile named {name_or_path!r} "
                               f"(known: {', '.join(available_profiles())})")
    return profile_from_dict(load_yaml(path, "chip profile", ProfileError), str(path))


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def profile_for_chip(manufacturer: str, vendor: str) -> ChipProfile | None:
    """The bundled profile matching a probed chip, or None."""
    for name in available_profiles():
        profile = load_profile(name)
        if profile.matches(manufacturer, vendor):
            return profile
    return None
