"""Verdict per requirement, from the tests that give evidence for it.

A test gives evidence for a catalogue entry when its ``requirement`` marker
names the entry (by id or alias) or when it carries one of the entry's
evidence markers, unless the entry excludes it (``excludes``). A test that
ran at a campaign point with an event the entry lists (power cycle,
brown-out...) gives evidence for it too: the chip answered correctly after
that event. Verdicts:

* ``fail``: at least one evidence test failed or errored;
* ``not demonstrated``: the chip's identity lacks what the entry needs
  (``identity_requires``, e.g. the FIPS mode bit), whatever the tests say;
* ``insufficient evidence``: tests passed, but not the ones the entry needs
  (``needs``), or tests can cover only part of the entry (``partial``), or
  only known deviations ran;
* ``pass with deviations``: evidence tests passed and none failed, but some
  are known deviations (xfailed: the chip deviates from the clause the test
  names, for the reason the test gives); each is listed;
* ``pass``: evidence tests passed, none failed, every need is met;
* ``not covered``: no evidence test ran to a verdict (none exists, or all
  were skipped). Never counted as passed.

Beyond the rated range (a campaign point whose EFP/EFT check event says
``out_of_range``) a chip may stop answering: that is judged by the EFP/EFT
entries only. There, a test counts only for environmental entries that it
names by id; for every other entry it is listed but not judged.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reports.catalogue import Catalogue, Requirement
from reports.campaign_view import measured_text
from reports.run_data import RunData

PASS, FAIL, NOT_COVERED = "pass", "fail", "not covered"
PASS_DEVIATIONS = "pass with deviations"
INSUFFICIENT = "insufficient evidence"
NOT_DEMONSTRATED = "not demonstrated"
VERDICTS = (PASS, PASS_DEVIATIONS, INSUFFICIENT, NOT_DEMONSTRATED, FAIL, NOT_COVERED)
_FAILING = {"failed", "error"}
_PASSING = {"passed", "xpassed"}
DEVIATION = "xfailed"


@dataclass(frozen=True)
class TestRef:
    """One test execution behind a requirement."""

    run_id: str
    nodeid: str
    outcome: str
    point_id: str | None
    via: str            # "requirement", "marker <name>" or "event <kind> at point"
    message: str
    duration_s: float
    started: float
    judged: bool = True  # False: ran beyond the rated range, listed but not judged
    row: int = 0         # the test's row in data/<run>/tests.csv (RFC 7111: header is row 1)
    spec: str = ""       # the spec clause the test names
    markers: tuple[str, ...] = ()
    excluded: str = ""   # why the entry does not count this test ("" when it does)

    @property
    def file(self) -> str:
        return self.nodeid.split("::", 1)[0]

    @property
    def row_ref(self) -> str:
        """Where the test's verdict row is: ``data/<run>/tests.csv#row=N``."""
        return f"data/{self.run_id}/tests.csv#row={self.row}"


@dataclass(frozen=True)
class Deviation:
    """A known deviation: an xfailed evidence test, with the clause it names and its reason."""

    requirement_id: str
    test: TestRef

    @property
    def clause(self) -> str:
        return self.test.spec or "no clause named by the test"

    @property
    def reason(self) -> str:
        return self.test.message or "no reason given by the test"


@dataclass
class RequirementVerdict:
    requirement: Requirement
    verdict: str
    tests: list[TestRef] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    note: str = ""
    conditions: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)    # needs no passed test met

    @property
    def deviations(self) -> list[TestRef]:
        return [t for t in self.tests if t.outcome == DEVIATION and t.judged and not t.excluded]


@dataclass
class Assessment:
    """Verdicts for every catalogue entry, plus ids no entry knows."""

    verdicts: list[RequirementVerdict]
    unknown_ids: dict[str, list[str]]
    untraced_tests: list[TestRef]

    def totals(self) -> dict[str, int]:
        out = {v: 0 for v in VERDICTS}
        for v in self.verdicts:
            out[v.verdict] += 1
        return out

    @property
    def deviations(self) -> list[Deviation]:
        """Every known deviation, by requirement then test."""
        return [Deviation(v.requirement.id, t) for v in self.verdicts for t in v.deviations]


def _identity_gap(req: Requirement, identities: list[dict[str, Any]]) -> str:
    """Why the chip identity does not allow this entry to pass ("" when it does)."""
    for name, wanted in req.identity_requires:
        seen = [ident.get(name) for ident in identities]
        if not seen or any(v != wanted for v in seen):
            shown = ", ".join("not recorded" if v is None else str(v).lower() for v in seen) or "not recorded"
            if name == "fips_mode" and any(v is False for v in seen):
                return ("the chip's FIPS 140 mode bit (TPM_PT_MODES) is not set: the chip does not "
                        "claim an approved mode, so no test can demonstrate it")
            return f"chip identity {name} is {shown}, the requirement needs {wanted}"
    return ""


def _verdict(req: Requirement, all_tests: list[TestRef],
             identities: list[dict[str, Any]]) -> tuple[str, dict[str, int], str, list[str]]:
    tests = [t for t in all_tests if t.judged and not t.excluded]
    beyond = sum(1 for t in all_tests if not t.judged)
    excluded = sum(1 for t in all_tests if t.excluded)
    verdict, counts, note, missing = _judge(req, tests, identities)
    if beyond:
        note += f"; {beyond} tests beyond the rated range not judged here (EFP/EFT judges them)"
    if excluded:
        note += f"; {excluded} tests naming it not counted ({req.excludes[0].why})"
    return verdict, counts, note, missing


def _judge(req: Requirement, tests: list[TestRef],
           identities: list[dict[str, Any]]) -> tuple[str, dict[str, int], str, list[str]]:
    counts: dict[str, int] = defaultdict(int)
    for t in tests:
        counts[t.outcome] += 1
    failed = sum(counts.get(o, 0) for o in _FAILING)
    passed = sum(counts.get(o, 0) for o in _PASSING)
    deviations = counts.get(DEVIATION, 0)
    if failed:
        return FAIL, dict(counts), f"{failed} of {len(tests)} evidence tests failed", []
    if not passed and not deviations:
        if tests:
            return NOT_COVERED, dict(counts), "evidence tests did not run to a verdict (" + \
                ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) + ")", []
        return NOT_COVERED, {}, "no test gives evidence for this requirement", []
    gap = _identity_gap(req, identities)
    if gap:
        return NOT_DEMONSTRATED, dict(counts), f"{passed} evidence tests passed, but {gap}", []
    ok = [t for t in tests if t.outcome in _PASSING]
    missing = [n.what for n in req.needs if not any(n.matches(t.nodeid, t.markers) for t in ok)]
    dev = f", {deviations} known deviations" if deviations else ""
    if not passed:
        return INSUFFICIENT, dict(counts), f"only known deviations ({deviations} xfailed), no test passed", \
            [n.what for n in req.needs]
    if missing:
        return INSUFFICIENT, dict(counts), (f"{passed} evidence tests passed{dev}, but missing: "
                                            + "; ".join(missing)), missing
    if req.partial:
        return INSUFFICIENT, dict(counts), (f"partially covered: {passed} evidence tests passed{dev}; "
                                            + (req.limits or "tests cover only part of it")), []
    if deviations:
        return PASS_DEVIATIONS, dict(counts), f"{passed} evidence tests passed{dev} (listed under Deviations)", []
    return PASS, dict(counts), f"{passed} evidence tests passed", []


def suite_windows(run: RunData) -> dict[str, tuple[float, float]]:
    """Per campaign point: from the first test's start to the last test's end (the suite window)."""
    tests = run.tests[run.tests["point_id"].notna()]
    return {str(pid): (float(grp["started"].min()), float(grp["finished"].max()))
            for pid, grp in tests.groupby("point_id")}


def _measured(samples: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """min/max/mean per measured quantity (the chamber's set point is a setting, not a measurement)."""
    out = {}
    samples = samples[samples["quantity"] != "set_point"]
    for (qty, unit), grp in sorted(samples.groupby(["quantity", "unit"]), key=lambda g: g[0]):
        out[str(qty)] = {"unit": unit, "min": float(grp["value"].min()), "max": float(grp["value"].max()),
                         "mean": float(grp["value"].mean()), "samples": len(grp)}
        out[str(qty)]["text"] = measured_text(out[str(qty)])   # mA, 2-decimal V (campaign_view)
    return out


def point_conditions(run: RunData) -> dict[str, dict[str, Any]]:
    """Per campaign point: label, set points and the conditions measured while its suite ran.

    "measured" holds only telemetry samples inside the point's suite window
    (first test start to last test end), so the ramp to the point does not
    pull the figures towards the previous point; a point where no test ran
    falls back to every sample tagged with it ("window": "whole point").
    """
    out: dict[str, dict[str, Any]] = {}
    beyond = beyond_rated_points(run)
    windows = suite_windows(run)
    for row in run.points.itertuples(index=False):
        try:
            params = json.loads(row.params or "{}")
        except ValueError:
            params = {"params": row.params}
        out[str(row.point_id)] = {"run_id": run.run_id, "point_id": str(row.point_id),
                                  "seq": int(row.seq), "label": row.label, "status": row.status,
                                  "params": params, "measured": {}}
    tests, ex, tel = run.tests, run.exchanges, run.telemetry
    for pid in sorted(set(windows) | {str(p) for p in tel["point_id"].dropna()}):
        out.setdefault(pid, {"run_id": run.run_id, "point_id": pid, "seq": 0, "label": pid,
                             "status": "not recorded", "params": {}, "measured": {}})
    for pid, entry in out.items():
        outcomes = tests[tests["point_id"] == pid]["outcome"].value_counts()
        entry["passed"] = int(outcomes.get("passed", 0))
        entry["failed"] = int(outcomes.get("failed", 0) + outcomes.get("error", 0))
        durations = ex[ex["point_id"] == pid]["duration_s"]
        entry["latency_p50_ms"] = float(durations.median() * 1e3) if len(durations) else None
        entry["events"] = sorted(set(run.events[run.events["point_id"] == pid]["kind"]))
        entry["beyond_rated"] = pid in beyond
        if pid in windows:
            start, end = windows[pid]
            samples = tel[(tel["t"] >= start) & (tel["t"] <= end)]
            entry["window"] = {"start": start, "end": end, "kind": "suite"}
            if samples.empty:   # sampled slower than the suite ran: the last sample before it
                samples = tel[tel["t"] <= start].sort_values("t").groupby(["quantity", "source"]).tail(1)
                entry["window"]["kind"] = "last sample before the suite"
        else:
            samples = tel[tel["point_id"] == pid]
            entry["window"] = {"start": None, "end": None, "kind": "whole point"}
        entry["measured"] = _measured(samples)
    return out


def beyond_rated_points(run: RunData) -> set[str]:
    """Campaign points the EFP/EFT check marked as beyond the chip's rated range."""
    out = set()
    for row in run.events[run.events["kind"] == "efp_check"].itertuples(index=False):
        try:
            if json.loads(row.detail or "{}").get("out_of_range"):
                out.add(str(row.point_id))
        except (ValueError, AttributeError):
            continue
    return out


def _point_events(run: RunData) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for row in run.events.itertuples(index=False):
        if row.point_id is not None and not pd.isna(row.point_id):
            out[str(row.point_id)].add(row.kind)
    return out


def _test_refs(run: RunData, catalogue: Catalogue):
    """Yield (requirement id, requirement or None, TestRef) for each test and entry it supports."""
    events = _point_events(run)
    beyond = beyond_rated_points(run)
    for index, row in enumerate(run.tests.itertuples(index=False)):
        point = None if pd.isna(row.point_id) else str(row.point_id)
        base = dict(run_id=run.run_id, nodeid=row.nodeid, outcome=row.outcome, point_id=point,
                    message=row.message, duration_s=float(row.duration_s), started=float(row.started),
                    row=index + 2, spec=str(getattr(row, "spec", "") or ""),
                    markers=tuple(row.markers_list))
        linked: dict[str, str] = {}
        for req_id in row.requirements_list:
            req = catalogue.lookup(req_id)
            if req is None:
                yield req_id, None, TestRef(via="requirement", **base)
            else:
                linked.setdefault(req.id, "requirement")
        for marker in row.markers_list:
            for req in catalogue.by_marker(marker):
                linked.setdefault(req.id, f"marker {marker}")
        for kind in sorted(events.get(point or "", ())):
            for req in catalogue.by_event(kind):
                linked.setdefault(req.id, f"event {kind} at point")
        if not linked and not row.requirements_list:
            yield None, None, TestRef(via="", **base)
        for req_id, via in linked.items():
            req = catalogue.lookup(req_id)
            judged = point not in beyond or (req.environmental and via == "requirement")
            why = next((x.why for x in req.excludes if x.matches(row.nodeid)), "")
            yield req_id, req, TestRef(via=via, judged=judged, excluded=why, **base)


def assess(catalogue: Catalogue, runs: list[RunData]) -> Assessment:
    """Judge every catalogue entry from the tests of ``runs``."""
    evidence: dict[str, list[TestRef]] = defaultdict(list)
    unknown: dict[str, list[str]] = defaultdict(list)
    untraced: list[TestRef] = []
    conditions: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        for pid, cond in point_conditions(run).items():
            conditions[(run.run_id, pid)] = cond
        for req_id, req, ref in _test_refs(run, catalogue):
            if req is not None:
                evidence[req.id].append(ref)
            elif req_id is not None:
                unknown[req_id].append(ref.nodeid)
            else:
                untraced.append(ref)
    verdicts = []
    identities = [r.identity for r in runs if r.identity]
    for req in catalogue:
        tests = sorted(evidence.get(req.id, []), key=lambda t: (t.run_id, t.point_id or "", t.nodeid))
        verdict, counts, note, missing = _verdict(req, tests, identities)
        keys = sorted({(t.run_id, t.point_id) for t in tests if t.point_id})
        conds = [conditions[k] for k in keys if k in conditions]
        verdicts.append(RequirementVerdict(req, verdict, tests, counts, note, conds, missing))
    return Assessment(verdicts=verdicts,
                      unknown_ids={k: sorted(set(v)) for k, v in sorted(unknown.items())},
                      untraced_tests=sorted(untraced, key=lambda t: (t.run_id, t.nodeid)))
