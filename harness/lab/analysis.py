"""Trends across runs and the difference between two runs.

``trend``: pass rate and TPM command latency by chip model, firmware, bus
(and optionally test) over time. ``diff``: new failures, fixed tests, and
command latency changes beyond the runs' own noise. Both read
:class:`~harness.lab.sources.RunData`, from folders or the lab database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from harness.lab.sources import RunData

FAILED = ("failed", "error")
JUDGED = ("passed", "failed", "error")
PERIODS = {"run": None, "day": "D", "week": "W", "month": "M"}


def trend(data: RunData, by: tuple[str, ...] = ("chip_model", "firmware", "bus"),
          period: str = "day", per_test: bool = False, command: str | None = None) -> pd.DataFrame:
    """Pass rate and latency per group and period.

    Args:
        by: run dimensions to group by (chip_model, firmware, bus, place).
        period: run, day, week or month.
        per_test: also split by test (node id).
        command: latency of this TPM command only (e.g. ``TPM2_Sign``); all if None.

    Returns:
        One row per group and period: runs, tests judged, pass_rate, commands,
        median_ms and p95_ms of command latency.
    """
    runs = data.runs.copy()
    if period == "run":
        runs["period"] = runs["run_id"]
    else:
        stamps = pd.to_datetime(runs["created"], unit="s", utc=True)
        runs["period"] = stamps.dt.tz_localize(None).dt.to_period(PERIODS[period]).astype(str)
    keys = [*by, "period"]
    tests = data.tests[data.tests["outcome"].isin(JUDGED)].merge(runs[["run_id", *keys]], on="run_id")
    exch = data.exchanges.merge(runs[["run_id", *keys]], on="run_id")
    if command:
        exch = exch[exch["command"] == command]
    if per_test:  # exchanges outside a test (cleanup, probing) have no test row
        exch = exch[exch["test"].isin(set(data.tests["nodeid"]))]
        keys = [*keys, "test"]
        tests = tests.rename(columns={"nodeid": "test"})
    tests = tests.assign(passed=tests["outcome"] == "passed")
    verdicts = tests.groupby(keys, dropna=False).agg(
        runs=("run_id", "nunique"), tests=("passed", "size"), pass_rate=("passed", "mean"))
    latency = exch.groupby(keys, dropna=False)["duration_s"].agg(
        commands="size", median_ms=lambda s: s.median() * 1e3, p95_ms=lambda s: s.quantile(0.95) * 1e3)
    out = verdicts.join(latency, how="outer").reset_index()
    out["pass_rate"] = out["pass_rate"].round(4)
    return out.sort_values(keys).reset_index(drop=True)


@dataclass
class LatencyChange:
    """A command whose latency moved beyond both runs' noise."""

    command: str
    median_a_ms: float
    median_b_ms: float
    noise_ms: float
    #: Benjamini-Hochberg adjusted p-value (q) of the Mann-Whitney U test
    p_value: float
    samples: tuple[int, int]

    @property
    def ratio(self) -> float:
        return self.median_b_ms / self.median_a_ms if self.median_a_ms else float("inf")


@dataclass
class RunDiff:
    """What changed from run A to run B."""

    new_failures: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    still_failing: list[str] = field(default_factory=list)
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    slower: list[LatencyChange] = field(default_factory=list)
    faster: list[LatencyChange] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        """New failures or slower commands: CI should stop."""
        return bool(self.new_failures or self.slower)


def _test_outcomes(data: RunData) -> dict[str, str]:
    """Outcome per test key (place, node id, campaign point); the last record wins."""
    tests = data.tests.merge(data.runs[["run_id", "place"]], on="run_id", how="left")
    out = {}
    for place, nodeid, point, outcome in zip(tests["place"].fillna(""), tests["nodeid"],
                                             tests["point_id"], tests["outcome"]):
        key = f"{place}::{nodeid}" if place else nodeid
        if isinstance(point, str) and point:
            key += f" @{point}"
        out[key] = outcome
    return out


def _latency_changes(a: pd.DataFrame, b: pd.DataFrame, alpha: float, min_rel: float,
                     min_abs_s: float, min_samples: int) -> tuple[list, list]:
    """Commands whose latency moved, with Benjamini-Hochberg control of the false
    discovery rate over every command compared (one test per command: with dozens
    of commands, an uncorrected alpha would flag some by chance alone)."""
    from scipy.stats import false_discovery_control, mannwhitneyu

    groups_a = dict(tuple(a.groupby("command")["duration_s"]))
    compared = []
    for command, sb in b.groupby("command")["duration_s"]:
        sa = groups_a.get(command)
        if sa is None or len(sa) < min_samples or len(sb) < min_samples:
            continue
        p = float(mannwhitneyu(sa, sb, alternative="two-sided").pvalue)
        compared.append((command, sa, sb, p))
    if not compared:
        return [], []
    adjusted = false_discovery_control([p for *_, p in compared], method="bh")
    slower, faster = [], []
    for (command, sa, sb, _), q in zip(compared, adjusted):
        ma, mb = sa.median(), sb.median()
        # Noise: the wider of the two runs' interquartile ranges for this command.
        noise = max(sa.quantile(0.75) - sa.quantile(0.25), sb.quantile(0.75) - sb.quantile(0.25))
        delta = abs(mb - ma)
        if delta <= max(noise, min_abs_s) or delta < min_rel * min(ma, mb) or q >= alpha:
            continue
        change = LatencyChange(command, ma * 1e3, mb * 1e3, noise * 1e3, float(q), (len(sa), len(sb)))
        (slower if mb > ma else faster).append(change)
    return sorted(slower, key=lambda c: -c.ratio), sorted(faster, key=lambda c: c.ratio)


def diff(a: RunData, b: RunData, alpha: float = 1e-3, min_rel: float = 0.5,
         min_abs_ms: float = 0.5, min_samples: int = 8) -> RunDiff:
    """Compare run B with run A.

    A latency change counts only when it exceeds the wider interquartile range
    of the two runs, ``min_rel`` of the smaller median and ``min_abs_ms``, and
    a Mann-Whitney U test gives a Benjamini-Hochberg adjusted p (q) < ``alpha``
    over all commands compared: one busy host, or many commands, do not make a
    regression by chance.
    """
    oa, ob = _test_outcomes(a), _test_outcomes(b)
    out = RunDiff()
    for key in sorted(set(oa) | set(ob)):
        if key not in ob:
            out.only_in_a.append(key)
            continue
        if key not in oa:
            out.only_in_b.append(key)
            if ob[key] in FAILED:
                out.new_failures.append(key)
            continue
        if ob[key] in FAILED:
            (out.still_failing if oa[key] in FAILED else out.new_failures).append(key)
        elif oa[key] in FAILED and ob[key] == "passed":
            out.fixed.append(key)
    out.slower, out.faster = _latency_changes(a.exchanges, b.exchanges, alpha, min_rel,
                                              min_abs_ms / 1e3, min_samples)
    return out


def run_names(data: RunData) -> list[dict[str, str]]:
    """Each run's id, chip, firmware and bus (a fan-out has one per place)."""
    cols = ["run_id", "chip_model", "firmware", "bus", "place"]
    runs = data.runs.reindex(columns=cols).fillna("")
    return [{k: str(v) for k, v in row.items()} for row in runs.to_dict("records")]


def name_line(data: RunData) -> str:
    """``A1 (chip IBM SW TPM, firmware 1.2, bus swtpm)``; places joined by ``; ``."""
    return "; ".join(f"{r['run_id']} (chip {r['chip_model'] or 'unknown'}, firmware "
                     f"{r['firmware'] or 'unknown'}, bus {r['bus'] or 'unknown'})"
                     for r in run_names(data)) or "no runs"


def comparability_warnings(a: RunData, b: RunData) -> list[str]:
    """Why a difference may be the set-up, not the change: another chip or another bus."""
    out = []
    for column, what in (("chip_model", "chip"), ("bus", "bus")):
        va = sorted(set(a.runs[column].fillna("unknown").astype(str)))
        vb = sorted(set(b.runs[column].fillna("unknown").astype(str)))
        if va != vb:
            out.append(f"the runs differ in {what}: A {', '.join(va)} vs B {', '.join(vb)}; "
                       f"latency and failures may come from the {what}, not the change")
    return out
