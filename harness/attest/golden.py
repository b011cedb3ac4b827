"""Golden measurements per board type, and a verdict per boot stage.

A lab keeps one YAML file per board type::

    board: synthetic-uefi
    strict: true            # an event in a covered PCR that no entry expects fails
    measurements:
      - stage: crtm                        # stages group entries; one verdict per stage
        pcr: 0
        event_type: EV_S_CRTM_VERSION
        description: "^tpm-hil synthetic"  # regex on the decoded event data (optional)
      - stage: firmware
        pcr: 0
        event_type: EV_EFI_PLATFORM_FIRMWARE_BLOB2
        digests: {sha256: "df0684..."}     # expected digests per bank (optional)

Entries are matched in log order: each takes the first not yet matched event
with its PCR and event type, so two identical entries match two events.
``tpmhil eventlog synth --golden-out FILE`` writes such a file for the
synthetic board; CI judges the synthetic boot against a file written down
independently (``suites/attestation/golden/synthetic-uefi.yaml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


from harness.attest.describe import describe_event
from harness.attest.eventlog import Event, EventLog, event_type_code, event_type_name
from harness.errors import ConfigError
from harness.yaml_file import load_yaml

_ENTRY_KEYS = {"stage", "pcr", "event_type", "digests", "description"}


class GoldenError(ConfigError):
    """A golden file is unreadable or has a bad field (named in the message)."""


@dataclass(frozen=True)
class Expected:
    stage: str
    pcr: int
    event_type: int | None
    digests: dict[str, bytes]
    description: re.Pattern[str] | None
    where: str

    def label(self) -> str:
        kind = event_type_name(self.event_type) if self.event_type is not None else "any event"
        return f"{kind} in PCR {self.pcr}"


@dataclass
class Golden:
    board: str
    strict: bool
    entries: list[Expected]
    source: str = "<golden>"


@dataclass
class StageVerdict:
    stage: str
    ok: bool
    details: list[str] = field(default_factory=list)
    summary: str = ""


@dataclass
class GoldenResult:
    board: str
    stages: list[StageVerdict]
    trusted: set[int]  # events whose digests the golden file vouches for

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stages)


def load_golden(path: str | Path) -> Golden:
    """Read and validate a golden file.

    Raises:
        GoldenError: naming the file and the field that is wrong.
    """
    p = Path(path)
    return parse_golden(load_yaml(p, "golden file", GoldenError), str(p))


def parse_golden(doc: object, source: str = "<golden>") -> Golden:
    def bad(where: str, problem: str) -> GoldenError:
        return GoldenError(f"golden file {source}: {where}: {problem}")

    if not isinstance(doc, dict):
        raise bad("top level", "must be a mapping with 'board' and 'measurements'")
    unknown = set(doc) - {"board", "strict", "measurements"}
    if unknown:
        raise bad("top level", f"unknown field(s) {', '.join(sorted(unknown))}")
    board = doc.get("board")
    if not isinstance(board, str) or not board:
        raise bad("board", "must name the board type")
    items = doc.get("measurements")
    if not isinstance(items, list) or not items:
        raise bad("measurements", "must be a non-empty list")
    entries = []
    for i, item in enumerate(items):
        where = f"measurements[{i}]"
        if not isinstance(item, dict):
            raise bad(where, "must be a mapping")
        extra = set(item) - _ENTRY_KEYS
        if extra:
            raise bad(where, f"unknown field(s) {', '.join(sorted(extra))}")
        pcr = item.get("pcr")
        if not isinstance(pcr, int) or not 0 <= pcr <= 23:
            raise bad(f"{where}.pcr", f"must be an integer 0-23, got {pcr!r}")
        etype = None
        if item.get("event_type") is not None:
            try:
                etype = event_type_code(item["event_type"])
            except ValueError as exc:
                raise bad(f"{where}.event_type", str(exc)) from None
        digests = {}
        for bank, value in (item.get("digests") or {}).items():
            try:
                digests[str(bank)] = bytes.fromhex(str(value))
            except ValueError:
                raise bad(f"{where}.digests.{bank}", f"not hex: {value!r}") from None
        pattern = None
        if item.get("description") is not None:
            try:
                pattern = re.compile(str(item["description"]))
            except re.error as exc:
                raise bad(f"{where}.description", f"bad regular expression: {exc}") from None
        if not digests and pattern is None and etype is None:
            raise bad(where, "gives neither event_type, digests nor description")
        entries.append(Expected(str(item.get("stage") or f"PCR {pcr}"), pcr, etype, digests,
                                pattern, where))
    return Golden(board, bool(doc.get("strict", False)), entries, source)


def restricted_to(golden: Golden, banks: list[str]) -> Golden:
    """The golden file with digests kept only for ``banks`` (a board whose chip has
    fewer banks than the file lists); an entry left with no digest keeps its type and
    description checks.

    Raises:
        GoldenError: no bank of the file is among ``banks``.
    """
    listed = {b for e in golden.entries for b in e.digests}
    if listed and not listed & set(banks):
        raise GoldenError(f"golden file {golden.source}: lists digests in "
                          f"{', '.join(sorted(listed))}, the log carries {', '.join(banks)}")
    entries = [Expected(e.stage, e.pcr, e.event_type,
                        {b: d for b, d in e.digests.items() if b in banks}, e.description,
                        e.where) for e in golden.entries]
    return Golden(golden.board, golden.strict, entries, golden.source)


def evaluate(golden: Golden, log: EventLog) -> GoldenResult:
    """Match the log against the golden file; one verdict per stage."""
    stages: dict[str, StageVerdict] = {}
    used: set[int] = set()
    trusted: set[int] = set()
    for exp in golden.entries:
        verdict = stages.setdefault(exp.stage, StageVerdict(exp.stage, True))
        candidates = [e for e in log.events if e.extends and e.pcr == exp.pcr
                      and e.index not in used
                      and (exp.event_type is None or e.event_type == exp.event_type)]
        if exp.description is not None:
            described = [e for e in candidates if exp.description.search(describe_event(e))]
            if not described and candidates:
                verdict.ok = False
                verdict.details.append(
                    f"{exp.label()}: no event matches /{exp.description.pattern}/; first "
                    f"candidate {candidates[0].label()} is '{describe_event(candidates[0])}'")
                used.add(candidates[0].index)
                continue
            candidates = described
        if not candidates:
            verdict.ok = False
            verdict.details.append(f"{exp.label()}: expected by {exp.where}, not in the log")
            continue
        event: Event = candidates[0]
        used.add(event.index)
        wrong = []
        for bank, want in exp.digests.items():
            got = event.digests.get(bank)
            if got is None:
                wrong.append(f"the log has no {bank} digest")
            elif got != want:
                wrong.append(f"{bank} digest {got.hex()} != golden {want.hex()}")
        if wrong:
            verdict.ok = False
            verdict.details.append(f"{event.label()}: " + "; ".join(wrong))
        else:
            if exp.digests:
                trusted.add(event.index)
            verdict.details.append(f"{event.label()} '{describe_event(event)}' matches")
    out = list(stages.values())
    if golden.strict:
        covered = {e.pcr for e in golden.entries}
        extra = [e for e in log.events if e.extends and e.pcr in covered and e.index not in used]
        out.append(StageVerdict("unexpected events", not extra,
                                [f"{e.label()} '{describe_event(e)}' is not in the golden file"
                                 for e in extra],
                                "" if extra else f"no event in PCRs {sorted(covered)} outside "
                                                 "the golden file"))
    return GoldenResult(golden.board, out, trusted)
