"""Replay an event log into PCR values and compare them with the chip.

Replay (TPM 2.0 Part 1 §17.2, PFP §10.2): each PCR starts at its reset value
(zeros; ``ff..ff`` for PCRs 17-22; PCR 0 ends in the StartupLocality when
the log carries that event) and every non-EV_NO_ACTION event extends it:
``PCR = H(PCR || digest)``, bank by bank.

When a replayed PCR differs from the chip, the report names the first event
that explains it, in this order of certainty:

1. the chip equals an intermediate replay value: the events after it were
   never extended (extra, missing or reordered events);
2. an event whose digest must be the hash of its own data (separators,
   EFI variables, EFI actions, CRTM version) and is not;
3. otherwise the first event of that PCR whose digest cannot be recomputed
   from the log and is not vouched for by a golden value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.attest.eventlog import Event, EventLog, hash_bytes

# Event types whose digest is, per PFP §10.4, the hash of the event data itself.
DATA_HASHED_TYPES = {
    "EV_SEPARATOR", "EV_S_CRTM_VERSION", "EV_EFI_ACTION", "EV_ACTION",
    "EV_EFI_VARIABLE_DRIVER_CONFIG", "EV_EFI_VARIABLE_BOOT2", "EV_EFI_VARIABLE_AUTHORITY",
    "EV_EFI_GPT_EVENT",
}


def can_replay(bank: str) -> bool:
    try:
        hash_bytes(bank, b"")
        return True
    except ValueError:
        return False


def reset_value(bank_size: int, pcr: int, locality: int = 0) -> bytes:
    """PCR value after TPM2_Startup(CLEAR) (PC Client PTP: PCRs 17-22 reset to all ones)."""
    if 17 <= pcr <= 22:
        return b"\xff" * bank_size
    if pcr == 0 and locality:
        return b"\x00" * (bank_size - 1) + bytes([locality])
    return b"\x00" * bank_size


@dataclass
class Replay:
    """Replayed PCR values and, per PCR, the value after each event."""

    values: dict[str, dict[int, bytes]] = field(default_factory=dict)
    history: dict[str, dict[int, list[tuple[Event, bytes]]]] = field(default_factory=dict)
    initial: dict[str, dict[int, bytes]] = field(default_factory=dict)
    unreplayable: list[str] = field(default_factory=list)


def replay(log: EventLog) -> Replay:
    """Replay every bank the log carries."""
    out = Replay()
    locality = log.startup_locality()
    sizes = {bank: size for bank, (_a, size) in zip(log.banks, log.spec_id.algorithms)}
    for bank in log.banks:
        if not can_replay(bank):
            out.unreplayable.append(bank)
            continue
        values: dict[int, bytes] = {}
        history: dict[int, list[tuple[Event, bytes]]] = {}
        initial: dict[int, bytes] = {}
        for e in log.events:
            if not e.extends:
                continue
            if e.pcr not in values:
                initial[e.pcr] = values[e.pcr] = reset_value(sizes[bank], e.pcr, locality)
                history[e.pcr] = []
            values[e.pcr] = hash_bytes(bank, values[e.pcr] + e.digests[bank])
            history[e.pcr].append((e, values[e.pcr]))
        out.values[bank], out.history[bank], out.initial[bank] = values, history, initial
    return out


# PCRs the PC Client firmware (SRTM) measures into; a verifier checks them even
# when the log has no event for one (then it must still be at its reset value).
SRTM_PCRS = tuple(range(8))


def expected_values(log: EventLog, rep: Replay, pcrs: list[int]) -> dict[str, dict[int, bytes]]:
    """Replayed value of every PCR in ``pcrs`` (reset value where the log has no event)."""
    sizes = {bank: size for bank, (_a, size) in zip(log.banks, log.spec_id.algorithms)}
    locality = log.startup_locality()
    return {bank: {p: values.get(p, reset_value(sizes[bank], p, locality)) for p in pcrs}
            for bank, values in rep.values.items()}


@dataclass(frozen=True)
class DataCheck:
    """An event whose digest in ``bank`` is not the hash of its own data."""

    event: Event
    bank: str

    def message(self) -> str:
        return (f"{self.event.label()}: the {self.bank} digest "
                f"{self.event.digests[self.bank].hex()} is not the hash of the event data "
                f"({hash_bytes(self.bank, self.event.data).hex()})")


def data_hashed(event: Event) -> bool:
    return event.type_name in DATA_HASHED_TYPES


def check_event_data(log: EventLog) -> list[DataCheck]:
    """Events whose digest must equal the hash of their data and does not."""
    bad: list[DataCheck] = []
    for e in log.events:
        if not (e.extends and data_hashed(e)):
            continue
        for bank, digest in e.digests.items():
            if can_replay(bank) and hash_bytes(bank, e.data) != digest:
                bad.append(DataCheck(e, bank))
    return bad


@dataclass
class PcrRow:
    """One line of the replay table."""

    bank: str
    pcr: int
    replayed: bytes | None
    chip: bytes | None
    events: int
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.replayed is not None and self.replayed == self.chip

    def to_dict(self) -> dict[str, object]:
        return {"bank": self.bank, "pcr": self.pcr, "events": self.events,
                "replayed": self.replayed.hex() if self.replayed is not None else None,
                "chip": self.chip.hex() if self.chip is not None else None,
                "match": self.ok, "note": self.note}


@dataclass
class ReplayReport:
    """The result of comparing a replayed log with PCR values from the chip."""

    against: str
    rows: list[PcrRow]
    divergences: list[str]
    first_event: Event | None
    data_errors: list[DataCheck]

    @property
    def ok(self) -> bool:
        return not self.divergences and all(r.ok for r in self.rows)

    def summary(self) -> str:
        if self.ok:
            return (f"{len(self.rows)} PCR values in {len({r.bank for r in self.rows})} banks "
                    f"match {self.against}")
        return self.divergences[0]


def _explain(pcr: int, bank: str, chip: bytes, rep: Replay, data_errors: list[DataCheck],
             trusted: set[int], matching_banks: list[str]) -> tuple[str, Event | None]:
    steps = rep.history[bank][pcr]
    head = (f"PCR {pcr} {bank}: replay {steps[-1][1].hex()[:16]}... != {{against}} "
            f"{chip.hex()[:16]}...")
    if chip == rep.initial[bank][pcr]:
        first = steps[0][0]
        return (f"{head}; the chip's PCR is at its reset value: first divergent "
                f"{first.label()} was never extended on the chip", first)
    for k, (_event, value) in enumerate(steps[:-1]):
        if value == chip:
            nxt = steps[k + 1][0]
            return (f"{head}; the chip matches the replay up to {steps[k][0].label()}: first "
                    f"divergent {nxt.label()} (an extra, missing or reordered event)", nxt)
    for check in data_errors:
        if check.event.pcr == pcr and check.bank == bank:
            return f"{head}; first divergent {check.message()}", check.event
    suspects = [e for e, _v in steps if not data_hashed(e) and e.index not in trusted]
    also = (f"; banks {', '.join(matching_banks)} of PCR {pcr} match, so the event order is "
            f"right and the {bank} digest is wrong") if matching_banks else \
        f"; a missing, extra or reordered event in PCR {pcr} gives the same result"
    if suspects:
        others = ", ".join(f"#{e.index}" for e in suspects[1:])
        rest = f" (other unverifiable events in PCR {pcr}: {others})" if others else ""
        return (f"{head}; first divergent {suspects[0].label()}: its {bank} digest "
                f"{suspects[0].digests[bank].hex()} cannot be recomputed from the log{rest}"
                f"{also}", suspects[0])
    return f"{head}; every event of PCR {pcr} checks against its data{also}", steps[0][0]


def compare(log: EventLog, chip: dict[str, dict[int, bytes]], against: str = "PCR_Read",
            trusted: set[int] | None = None, active_banks: list[str] | None = None,
            only_pcrs: list[int] | None = None) -> ReplayReport:
    """Compare the replayed log with PCR values from the chip.

    Args:
        log: the parsed event log.
        chip: bank -> PCR -> value, as read from the chip (PCR_Read) or
            recovered from a quote.
        against: how to name the chip's values in messages.
        trusted: indices of events whose digests a golden file vouches for.
        active_banks: the chip's active banks, if known (a log bank the chip
            does not have is a divergence).
        only_pcrs: judge only these PCRs (e.g. leave out PCRs the OS extends
            after boot without logging to this log).
    """
    rep = replay(log)
    data_errors = check_event_data(log)
    trusted = trusted or set()
    rows: list[PcrRow] = []
    divergences: list[str] = []
    first: Event | None = None
    for bank in rep.unreplayable:
        divergences.append(f"bank {bank}: the log carries it but no hash implementation is "
                           "available to replay it")
    for bank in log.banks:
        if bank in rep.unreplayable:
            continue
        if active_banks is not None and bank not in active_banks:
            divergences.append(f"bank {bank}: the log carries it but the chip has no active "
                               f"{bank} PCR bank (active: {', '.join(active_banks)})")
            continue
        size = dict(zip(log.banks, (sz for _a, sz in log.spec_id.algorithms)))[bank]
        judged = set(rep.values[bank]) | set(chip.get(bank, {}))
        if only_pcrs is not None:
            judged &= set(only_pcrs)
        for pcr in sorted(judged):
            chip_value = chip.get(bank, {}).get(pcr)
            if pcr not in rep.values[bank]:
                value = reset_value(size, pcr, log.startup_locality() if pcr == 0 else 0)
                rows.append(PcrRow(bank, pcr, value, chip_value, 0))
                if chip_value != value:
                    rows[-1].note = "no event in the log"
                    divergences.append(
                        f"PCR {pcr} {bank}: the log has no event for it, but {against} is "
                        f"{chip_value.hex()[:16]}..., not its reset value: measurements are "
                        "missing from the log")
                continue
            value = rep.values[bank][pcr]
            n = len(rep.history[bank][pcr])
            if chip_value is None:
                rows.append(PcrRow(bank, pcr, value, None, n, f"not read from {against}"))
                divergences.append(f"PCR {pcr} {bank}: no value from {against}")
                continue
            rows.append(PcrRow(bank, pcr, value, chip_value, n))
    by_key = {(r.bank, r.pcr): r for r in rows}
    bad_rows = [r for r in rows if not r.ok and r.chip is not None and r.events]
    explained: list[tuple[int, str]] = []
    for row in bad_rows:
        matching = [b for b in log.banks if b != row.bank and (b, row.pcr) in by_key
                    and by_key[(b, row.pcr)].ok]
        text, event = _explain(row.pcr, row.bank, row.chip, rep, data_errors, trusted, matching)
        text = text.replace("{against}", against)
        row.note = f"first divergent event #{event.index}" if event else "diverges"
        explained.append((event.index if event else 1 << 30, text))
        if event is not None and (first is None or event.index < first.index):
            first = event
    divergences.extend(text for _i, text in sorted(explained, key=lambda t: t[0]))
    return ReplayReport(against, rows, divergences, first, data_errors)


def format_table(report: ReplayReport) -> str:
    """The replay table as aligned text (bank, PCR, events, match, replayed value)."""
    lines = [f"{'bank':<8} {'PCR':>3} {'events':>6}  {'match':<5} replayed / {report.against}"]
    for r in report.rows:
        mark = "yes" if r.ok else "NO"
        lines.append(f"{r.bank:<8} {r.pcr:>3} {r.events:>6}  {mark:<5} "
                     f"{r.replayed.hex() if r.replayed else '-'}")
        if not r.ok:
            lines.append(f"{'':<27}{r.chip.hex() if r.chip else '-'}  <- chip; {r.note}")
    return "\n".join(lines)
