"""The requirement catalogue: IEC 62443-4-2 and FIPS 140-3 entries as data.

The catalogue lives in ``requirements.yaml`` beside this module. Each entry
names a requirement (canonical id such as ``IEC62443-4-2:CR 3.4`` or
``FIPS140-3:self-tests``), its aliases, and the pytest markers whose tests
give evidence for it. :func:`load_catalogue` validates the file and names the
file, entry and field of any problem.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


from harness.errors import ConfigError
from harness.yaml_file import load_yaml

CATALOGUE_FILE = Path(__file__).with_name("requirements.yaml")

_ENTRY_FIELDS = {"id", "aliases", "group", "title", "text", "markers", "commands", "environmental",
                 "events", "rationale", "limits", "partial", "needs", "excludes", "identity_requires"}


def normalise_id(req_id: str) -> str:
    """The form ids are compared in: case-folded, spaces collapsed, no space around ':'."""
    text = re.sub(r"\s+", " ", req_id.strip())
    text = re.sub(r"\s*:\s*", ":", text, count=1)
    return text.casefold()


@dataclass(frozen=True)
class Need:
    """Evidence a requirement cannot pass without: one passed test matching ``tests`` or ``markers``.

    Attributes:
        what: what the evidence shows, in the assessor's words.
        tests: fnmatch patterns on the test node id (parameters stripped).
        markers: pytest markers any of which also satisfies the need.
    """

    what: str
    tests: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()

    def matches(self, nodeid: str, markers: tuple[str, ...] | list[str] = ()) -> bool:
        base = nodeid.split("[", 1)[0]
        return (any(fnmatch.fnmatchcase(base, p) for p in self.tests)
                or any(m in self.markers for m in markers))


@dataclass(frozen=True)
class Exclusion:
    """Tests that name a requirement but are no evidence for it, and why."""

    tests: tuple[str, ...]
    why: str

    def matches(self, nodeid: str) -> bool:
        base = nodeid.split("[", 1)[0]
        return any(fnmatch.fnmatchcase(base, p) for p in self.tests)


@dataclass(frozen=True)
class Requirement:
    """One catalogue entry.

    Attributes:
        id: canonical id, ``<standard>:<clause>``.
        standard: ``IEC62443-4-2`` or ``FIPS140-3``.
        clause: the part after the colon, e.g. ``CR 3.4`` or ``self-tests``.
        group: foundational requirement (IEC) or FIPS area group key.
        group_title: that group's title.
        title: short title.
        text: what an assessor looks for.
        aliases: other ids that name this entry.
        markers: pytest markers whose tests give evidence for this entry.
        commands: TPM commands behind the evidence.
        environmental: True when campaign conditions are part of the evidence.
        events: campaign event kinds (power_cycle, brown_out...): a test that ran
            at a point with such an event gives evidence for this entry.
        rationale: one line: why the mapped tests are evidence for this entry.
        limits: what no test run can show for this entry ("" when tests can).
        partial: tests cover only part of the entry: at best "insufficient evidence".
        needs: evidence without which the entry cannot pass.
        excludes: tests that name the entry but are not counted for it.
        identity_requires: chip identity fields (identity.json) the entry needs,
            e.g. ``{"fips_mode": True}``; otherwise "not demonstrated".
    """

    id: str
    standard: str
    clause: str
    group: str
    group_title: str
    title: str
    text: str
    aliases: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    environmental: bool = False
    events: tuple[str, ...] = ()
    rationale: str = ""
    limits: str = ""
    partial: bool = False
    needs: tuple[Need, ...] = ()
    excludes: tuple[Exclusion, ...] = ()
    identity_requires: tuple[tuple[str, object], ...] = ()

    @property
    def oscal_id(self) -> str:
        """An OSCAL token for the control id, e.g. ``iec62443-4-2_cr-1.5-re-1``."""
        clause = re.sub(r"[^a-z0-9.]+", "-", self.clause.lower()).strip("-")
        return f"{self.standard.lower()}_{clause}"


@dataclass(frozen=True)
class Catalogue:
    """All entries, with lookup by any id or alias."""

    version: int
    standards: dict[str, str]
    requirements: tuple[Requirement, ...]
    _index: dict[str, Requirement] = field(default_factory=dict, repr=False, compare=False)

    def lookup(self, req_id: str) -> Requirement | None:
        """The entry an id (canonical or alias, any case/spacing) names, or None."""
        return self._index.get(normalise_id(req_id))

    def by_marker(self, marker: str) -> list[Requirement]:
        return [r for r in self.requirements if marker in r.markers]

    def by_event(self, kind: str) -> list[Requirement]:
        return [r for r in self.requirements if kind in r.events]

    def __iter__(self):
        return iter(self.requirements)

    def __len__(self) -> int:
        return len(self.requirements)


def _field(entry: dict, name: str, where: str, kind: type, default=None):
    value = entry.get(name, default)
    if value is None:
        raise ConfigError(f"{where}: missing field {name!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _needs(entry: dict, where: str) -> tuple[Need, ...]:
    out = []
    for i, item in enumerate(_field(entry, "needs", where, list, [])):
        at = f"{where}: needs[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("what"), str) \
                or set(item) - {"what", "tests", "markers"}:
            raise ConfigError(f"{at}: expected {{what: text, tests: [patterns], markers: [names]}}")
        need = Need(item["what"], _strings(item.get("tests", []), at), _strings(item.get("markers", []), at))
        if not need.tests and not need.markers:
            raise ConfigError(f"{at}: names no test pattern and no marker")
        out.append(need)
    return tuple(out)


def _excludes(entry: dict, where: str) -> tuple[Exclusion, ...]:
    out = []
    for i, item in enumerate(_field(entry, "excludes", where, list, [])):
        at = f"{where}: excludes[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("why"), str) or set(item) - {"tests", "why"}:
            raise ConfigError(f"{at}: expected {{tests: [patterns], why: text}}")
        out.append(Exclusion(_strings(item.get("tests", []), at), item["why"]))
    return tuple(out)


def _parse_entry(entry: object, index: int, path: Path, standards: dict) -> Requirement:
    where = f"{path}: requirements[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(entry).__name__}")
    unknown = set(entry) - _ENTRY_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
    req_id = _field(entry, "id", where, str)
    where = f"{path}: requirement {req_id!r}"
    standard, sep, clause = req_id.partition(":")
    if not sep or standard not in standards:
        raise ConfigError(f"{where}: field 'id' must start with one of {sorted(standards)} and ':'")
    group = _field(entry, "group", where, str)
    groups = standards[standard].get("groups", {})
    if group not in groups:
        raise ConfigError(f"{where}: field 'group' {group!r} is not a group of {standard}: {sorted(groups)}")
    return Requirement(
        id=req_id, standard=standard, clause=clause.strip(), group=group, group_title=groups[group],
        title=_field(entry, "title", where, str), text=_field(entry, "text", where, str),
        aliases=tuple(_field(entry, "aliases", where, list, [])),
        markers=tuple(_field(entry, "markers", where, list, [])),
        commands=tuple(_field(entry, "commands", where, list, [])),
        environmental=bool(_field(entry, "environmental", where, bool, False)),
        events=tuple(_field(entry, "events", where, list, [])),
        rationale=_field(entry, "rationale", where, str, ""),
        limits=_field(entry, "limits", where, str, ""),
        partial=bool(_field(entry, "partial", where, bool, False)),
        needs=_needs(entry, where), excludes=_excludes(entry, where),
        identity_requires=tuple(sorted(_field(entry, "identity_requires", where, dict, {}).items())),
    )


def parse_catalogue(path: Path) -> Catalogue:
    """Read and validate a catalogue file.

    Raises:
        ConfigError: naming the file, entry and field at fault.
    """
    data = load_yaml(path, "requirement catalogue", ConfigError)
    if not isinstance(data, dict) or not isinstance(data.get("requirements"), list):
        raise ConfigError(f"requirement catalogue {path}: expected a mapping with a 'requirements' list")
    standards = data.get("standards") or {}
    reqs = tuple(_parse_entry(e, i, Path(path), standards) for i, e in enumerate(data["requirements"]))
    index: dict[str, Requirement] = {}
    for req in reqs:
        for name in (req.id, *req.aliases):
            key = normalise_id(name)
            if key in index:
                raise ConfigError(f"requirement catalogue {path}: id {name!r} is used twice "
                                  f"({index[key].id} and {req.id})")
            index[key] = req
    return Catalogue(version=int(data.get("version", 1)),
                     standards={k: v.get("title", k) for k, v in standards.items()},
                     requirements=reqs, _index=index)


@lru_cache(maxsize=4)
def load_catalogue(path: Path | None = None) -> Catalogue:
    """The catalogue shipped with tpm-hil, or the one at ``path``."""
    return parse_catalogue(Path(path) if path else CATALOGUE_FILE)


__all__ = ["CATALOGUE_FILE", "Catalogue", "Exclusion", "Need", "Requirement", "load_catalogue", "normalise_id",
           "parse_catalogue"]
