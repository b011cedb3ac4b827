"""The advisory catalogue: published TPM weaknesses as data.

The bundled ``advisories.yaml`` is versioned (``catalogue_version``); a lab
adds or overrides entries in a second file of the same schema. Every entry
names the advisory (CVE or vendor id), the manufacturer (TPM_PT_MANUFACTURER,
TPM 2.0 Part 2 §6.13), the product, the affected firmware (exact versions or
``min``/``max`` ranges, each with an optional ``fixed`` version), and which
behavioural check confirms it. A broken file fails with one error naming the
file, the entry and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable


from harness.audit import firmware
from harness.errors import ConfigError
from harness.yaml_file import load_yaml

BUNDLED = Path(__file__).with_name("advisories.yaml")

CHECKS = ("roca", "nonce_timing", "reference_probes", "ek_credentials", "none")
_TOP = {"catalogue_version": str, "updated": str, "advisories": list}
_ENTRY = {"id": str, "title": str, "manufacturer": str, "product": str, "vendor_match": list,
          "firmware_format": str, "affected": list, "check": str, "references": list,
          "behaviour_only": bool, "notes": str}
_ENTRY_REQUIRED = ("id", "title", "manufacturer", "check")
_RANGE = {"versions": list, "min": str, "max": str, "fixed": str}


class CatalogueError(ConfigError):
    """An advisory catalogue file is unreadable or breaks the schema."""


@dataclass(frozen=True)
class AffectedRange:
    """Affected firmware: exact ``versions`` or ``min``..``max`` (inclusive)."""

    versions: tuple[firmware.Version, ...] = ()
    min: firmware.Version | None = None
    max: firmware.Version | None = None
    fixed: firmware.Version | None = None

    def contains(self, v: firmware.Version) -> bool:
        if self.versions:
            return any(firmware.compare(v, x) == 0 for x in self.versions)
        if self.min is not None and firmware.compare(v, self.min) < 0:
            return False
        return self.max is None or firmware.compare(v, self.max) <= 0

    def fixed_by(self, v: firmware.Version) -> bool:
        """Whether ``v`` is the fixing version or later in the same line."""
        if self.fixed is None:
            return False
        same_line = firmware.compare(v, self.fixed[:1]) == 0
        return same_line and firmware.compare(v, self.fixed) >= 0

    def describe(self) -> str:
        show = lambda t: ".".join(map(str, t))  # noqa: E731
        if self.versions:
            text = ", ".join(show(x) for x in self.versions)
        else:
            text = f"{show(self.min) if self.min else ''}..{show(self.max) if self.max else ''}"
        return text + (f" (fixed in {show(self.fixed)})" if self.fixed else "")


@dataclass(frozen=True)
class Advisory:
    """One catalogue entry."""

    id: str
    title: str
    manufacturer: str
    check: str
    source: str
    product: str = ""
    vendor_match: tuple[str, ...] = ()
    firmware_format: str = ""
    affected: tuple[AffectedRange, ...] = ()
    references: tuple[str, ...] = ()
    behaviour_only: bool = False
    notes: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.id, self.manufacturer, self.product)


@dataclass(frozen=True)
class Match:
    """How an advisory relates to a chip.

    Attributes:
        status: ``affected`` (firmware listed), ``fixed`` (a fixing version
            or later of a listed line), ``behavioural`` (no version data; the
            behavioural check decides).
        version: the chip's decoded firmware text.
        range: the catalogue range that matched, if any.
    """

    advisory: Advisory
    status: str
    version: str
    range: AffectedRange | None = None


@dataclass
class Catalogue:
    """Advisories loaded from one or more files."""

    advisories: list[Advisory] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    replaced: list[str] = field(default_factory=list)

    def merge(self, other: "Catalogue") -> "Catalogue":
        """Entries of ``other`` added; same id+manufacturer+product replace."""
        keys = {a.key: i for i, a in enumerate(self.advisories)}
        out = Catalogue(list(self.advisories), {**self.versions, **other.versions},
                        list(self.replaced))
        for adv in other.advisories:
            if adv.key in keys:
                out.advisories[keys[adv.key]] = adv
                out.replaced.append(f"{adv.id} ({adv.manufacturer} {adv.product}) from {adv.source}")
            else:
                out.advisories.append(adv)
        return out

    def lookup(self, manufacturer: str, vendor: str, fv1: int, fv2: int,
               profile_format: str | None = None) -> list[Match]:
        """Advisories that concern a chip reporting these identity values.

        Version entries match by manufacturer and firmware (decoded with the
        entry's rule, else the profile's, else the manufacturer default);
        behaviour-only entries match every chip.
        """
        out: list[Match] = []
        manufacturer = manufacturer.strip()
        for adv in self.advisories:
            if adv.manufacturer != "*" and adv.manufacturer != manufacturer:
                continue
            if adv.vendor_match and not any(re.search(p, vendor) for p in adv.vendor_match):
                continue
            rule = adv.firmware_format or firmware.format_for(manufacturer, profile_format)
            version = firmware.decode(fv1, fv2, rule)
            if adv.behaviour_only or not adv.affected:
                out.append(Match(adv, "behavioural", version.text))
                continue
            for rng in adv.affected:
                if rng.contains(version.parts):
                    out.append(Match(adv, "affected", version.text, rng))
                    break
                if rng.fixed_by(version.parts):
                    out.append(Match(adv, "fixed", version.text, rng))
                    break
        return out


def _where(source: str, index: int | None, entry_id: str | None, fieldname: str) -> str:
    at = f"advisory catalogue {source}"
    if index is not None:
        at += f": entry {index}" + (f" ({entry_id})" if entry_id else "")
    return f"{at}: field '{fieldname}'"


def _version(text: Any, where: str) -> firmware.Version:
    try:
        return firmware.parse_version(str(text))
    except ValueError as exc:
        raise CatalogueError(f"{where}: {exc}") from None


def _check_fields(data: dict, schema: dict, where: Any, prefix: str = "") -> None:
    for key, value in data.items():
        if key not in schema:
            raise CatalogueError(f"{where(prefix + str(key))}: unknown field "
                                 f"(known: {', '.join(sorted(schema))})")
        if not isinstance(value, schema[key]):
            raise CatalogueError(f"{where(prefix + str(key))}: expected {schema[key].__name__}, "
                                 f"got {type(value).__name__} {value!r}")


def _range(raw: Any, where: Any, prefix: str) -> AffectedRange:
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where(prefix)}: expected a mapping with versions or min/max")
    _check_fields(raw, _RANGE, where, prefix + ".")
    if "versions" not in raw and "min" not in raw and "max" not in raw:
        raise CatalogueError(f"{where(prefix)}: needs 'versions' or 'min'/'max'")
    if "versions" in raw and ("min" in raw or "max" in raw):
        raise CatalogueError(f"{where(prefix)}: give either 'versions' or 'min'/'max', not both")
    versions = tuple(_version(v, where(f"{prefix}.versions[{i}]"))
                     for i, v in enumerate(raw.get("versions", [])))
    if "versions" in raw and not versions:
        raise CatalogueError(f"{where(prefix + '.versions')}: empty list")
    lo = _version(raw["min"], where(prefix + ".min")) if "min" in raw else None
    hi = _version(raw["max"], where(prefix + ".max")) if "max" in raw else None
    if lo is not None and hi is not None and lo > hi:
        raise CatalogueError(f"{where(prefix)}: min {raw['min']} is above max {raw['max']}")
    fixed = _version(raw["fixed"], where(prefix + ".fixed")) if "fixed" in raw else None
    return AffectedRange(versions, lo, hi, fixed)


def _entry(raw: Any, index: int, source: str) -> Advisory:
    entry_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    where = lambda f: _where(source, index, entry_id, f)  # noqa: E731
    if not isinstance(raw, dict):
        raise CatalogueError(f"advisory catalogue {source}: entry {index}: expected a mapping, "
                             f"got {type(raw).__name__}")
    _check_fields(raw, _ENTRY, where)
    for key in _ENTRY_REQUIRED:
        if key not in raw:
            raise CatalogueError(f"{where(key)}: is required")
    if raw["check"] not in CHECKS:
        raise CatalogueError(f"{where('check')}: {raw['check']!r} is not one of {', '.join(CHECKS)}")
    rule = raw.get("firmware_format", "")
    if rule and rule not in firmware.formats():
        raise CatalogueError(f"{where('firmware_format')}: unknown rule {rule!r} "
                             f"(known: {', '.join(firmware.formats())})")
    behaviour_only = raw.get("behaviour_only", False)
    if not behaviour_only and not raw.get("affected"):
        raise CatalogueError(f"{where('affected')}: is required unless behaviour_only is true")
    for i, pattern in enumerate(raw.get("vendor_match", [])):
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise CatalogueError(f"{where(f'vendor_match[{i}]')}: bad pattern: {exc}") from None
    return Advisory(
        id=raw["id"], title=raw["title"], manufacturer=raw["manufacturer"].strip(),
        check=raw["check"], source=source, product=raw.get("product", ""),
        vendor_match=tuple(str(p) for p in raw.get("vendor_match", [])),
        firmware_format=rule,
        affected=tuple(_range(r, where, f"affected[{i}]") for i, r in enumerate(raw.get("affected", []))),
        references=tuple(str(r) for r in raw.get("references", [])),
        behaviour_only=behaviour_only, notes=raw.get("notes", ""),
    )


def parse_catalogue(data: Any, source: str) -> Catalogue:
    """Validate parsed YAML and build a :class:`Catalogue`."""
    if not isinstance(data, dict):
        raise CatalogueError(f"advisory catalogue {source}: expected a mapping at the top level")
    _check_fields(data, _TOP, lambda f: _where(source, None, None, f))
    if "advisories" not in data:
        raise CatalogueError(f"{_where(source, None, None, 'advisories')}: is required")
    entries = [_entry(raw, i, source) for i, raw in enumerate(data["advisories"])]
    seen: dict[tuple[str, str, str], int] = {}
    for i, adv in enumerate(entries):
        if adv.key in seen:
            raise CatalogueError(f"{_where(source, i, adv.id, 'id')}: duplicates entry {seen[adv.key]} "
                                 "(same id, manufacturer and product)")
        seen[adv.key] = i
    return Catalogue(entries, {source: str(data.get("catalogue_version", "unversioned"))})


def load_catalogue(path: str | Path) -> Catalogue:
    """Load and check one catalogue file."""
    path = Path(path)
    return parse_catalogue(load_yaml(path, "advisory catalogue", CatalogueError), str(path))


def load_catalogues(extra: Iterable[str | Path] = ()) -> Catalogue:
    """The bundled catalogue merged with a lab's own files, in order."""
    cat = load_catalogue(BUNDLED)
    for path in extra:
        cat = cat.merge(load_catalogue(path))
    return cat
