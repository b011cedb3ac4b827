"""Verdict per requirement, from the tests that give evidence for it.

A test gives evidence for a catalogue entry when its ``requirement`` marker
names the entry (by id or alias) or when it carries one of the entry's
evidence markers. Verdicts:

* ``fail``: at least one evidence test failed or errored;
* ``pass``: at least one evidence test passed and none failed;
A test that ran at a campaign point with an event the entry lists (power
cycle, brown-out...) gives evidence for it too: the chip answered correctly
after that event.

Beyond the rated range (a campaign point whose EFP/EFT check event says
``out_of_range``) a chip may stop answering: that is judged by the EFP/EFT
entries only. There, a test counts only for environmental entries that it
names by id; for every other entry it is listed but not judged.

* ``not covered``: no evidence test ran to a verdict (none exists, or all
  were skipped / expected failures). Never counted as passed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reports.catalogue import Catalogue, Requirement
from reports.run_data import RunData

PASS, FAIL, NOT_COVERED = "pass", "fail", "not covered"
_FAILING = {"failed", "error"}
_PASSING = {"passed"}


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


@dataclass
class RequirementVerdict:
    requirement: Requirement
    verdict: str
    tests: list[TestRef] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    note: str = ""
    conditions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Assessment:
    """Verdicts for every catalogue entry, plus ids no entry knows."""

    verdicts: list[RequirementVerdict]
    unknown_ids: dict[str, list[str]]
    untraced_tests: list[TestRef]

    def totals(self) -> dict[str, int]:
        out = {PASS: 0, FAIL: 0, NOT_COVERED: 0}
        for v in self.verdicts:
            out[v.verdict] += 1
        return out


def _verdict(all_tests: list[TestRef]) -> tuple[str, dict[str, int], str]:
    tests = [t for t in all_tests if t.judged]
    beyond = len(all_tests) - len(tests)
    verdict, counts, note = _judge(tests)
    if beyond:
        note += f"; {beyond} tests beyond the rated range not judged here (EFP/EFT judges them)"
    return verdict, counts, note


def _judge(tests: list[TestRef]) -> tuple[str, dict[str, int], str]:
    counts: dict[str, int] = defaultdict(int)
    for t in tests:
        counts[t.outcome] += 1
    failed = sum(counts.get(o, 0) for o in _FAILING)
    passed = sum(counts.get(o, 0) for o in _PASSING)
    if failed:
        return FAIL, dict(counts), f"{failed} of {len(tests)} evidence tests failed"
    if passed:
        return PASS, dict(counts), f"{passed} evidence tests passed"
    if tests:
        return NOT_COVERED, dict(counts), "evidence tests did not run to a verdict (" + \
            ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) + ")"
    return NOT_COVERED, {}, "no test gives evidence for this requirement"


def point_conditions(run: RunData) -> dict[str, dict[str, Any]]:
    """Per campaign point: label, set points and measured telemetry ranges."""
    out: dict[str, dict[str, Any]] = {}
    beyond = beyond_rated_points(run)
    for row in run.points.itertuples(index=False):
        try:
            params = json.loads(row.params or "{}")
        except ValueError:
            params = {"params": row.params}
        out[str(row.point_id)] = {"run_id": run.run_id, "point_id": str(row.point_id),
                                  "seq": int(row.seq), "label": row.label, "status": row.status,
                                  "params": params, "measured": {}}
    tests, ex = run.tests, run.exchanges
    for pid, entry in out.items():
        outcomes = tests[tests["point_id"] == pid]["outcome"].value_counts()
        entry["passed"] = int(outcomes.get("passed", 0))
        entry["failed"] = int(outcomes.get("failed", 0) + outcomes.get("error", 0))
        durations = ex[ex["point_id"] == pid]["duration_s"]
        entry["latency_p50_ms"] = float(durations.median() * 1e3) if len(durations) else None
        entry["events"] = sorted(set(run.events[run.events["point_id"] == pid]["kind"]))
        entry["beyond_rated"] = pid in beyond
    tel = run.telemetry
    if len(tel):
        tel = tel[tel["point_id"].notna()]
        for (pid, qty, unit), grp in tel.groupby(["point_id", "quantity", "unit"]):
            entry = out.setdefault(str(pid), {"run_id": run.run_id, "point_id": str(pid), "seq": 0,
                                              "label": str(pid), "status": "?", "params": {},
                                              "measured": {}, "passed": 0, "failed": 0,
                                              "latency_p50_ms": None, "events": [],
                                              "beyond_rated": str(pid) in beyond})
            entry["measured"][qty] = {"unit": unit, "min": float(grp["value"].min()),
                                      "max": float(grp["value"].max()),
                                      "mean": float(grp["value"].mean()), "samples": len(grp)}
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
    for row in run.tests.itertuples(index=False):
        point = None if pd.isna(row.point_id) else str(row.point_id)
        base = dict(run_id=run.run_id, nodeid=row.nodeid, outcome=row.outcome, point_id=point,
                    message=row.message, duration_s=float(row.duration_s), started=float(row.started))
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
            yield req_id, req, TestRef(via=via, judged=judged, **base)


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
    for req in catalogue:
        tests = sorted(evidence.get(req.id, []), key=lambda t: (t.run_id, t.point_id or "", t.nodeid))
        verdict, counts, note = _verdict(tests)
        keys = sorted({(t.run_id, t.point_id) for t in tests if t.point_id})
        conds = [conditions[k] for k in keys if k in conditions]
        verdicts.append(RequirementVerdict(req, verdict, tests, counts, note, conds))
    return Assessment(verdicts=verdicts,
                      unknown_ids={k: sorted(set(v)) for k, v in sorted(unknown.items())},
                      untraced_tests=sorted(untraced, key=lambda t: (t.run_id, t.nodeid)))
