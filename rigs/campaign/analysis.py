"""Campaign analysis (pandas) and plots (matplotlib, Agg): pass rate, latency
percentiles and bus retries per condition, failures joined with the
conditions at that moment. Reads only the results store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd

from harness.plotting import pyplot, save
from harness.results.store import STORE_FILE
from rigs.campaign.verdict import classify


def load_frames(store_path: Path) -> dict[str, pd.DataFrame]:
    """The columns the analysis needs, read straight from SQLite."""
    con = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
    try:
        q = lambda sql: pd.read_sql_query(sql, con)  # noqa: E731
        return {
            "points": q("SELECT point_id, seq, label, params, status FROM points"),
            "tests": q("SELECT nodeid, outcome, started, finished, point_id, message FROM tests"),
            "exchanges": q("SELECT t_start, command, rc, duration_s, retries, error, point_id, "
                           "test FROM exchanges"),
            "telemetry": q("SELECT t, quantity, value, point_id FROM telemetry"),
            "events": q("SELECT t, kind, detail, point_id FROM events"),
        }
    finally:
        con.close()


def per_condition(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per point: set and measured conditions, pass rate, latency, retries, EFP verdict."""
    pts = f["points"].copy()
    params = pts["params"].map(json.loads)
    pts["set_temperature_c"] = params.map(lambda p: p.get("temperature_c"))
    pts["set_voltage_v"] = params.map(lambda p: p.get("voltage_v"))
    measured = suite_window_conditions(f)
    measured = measured.rename(columns={"temperature": "temperature_c", "voltage": "voltage_v",
                                        "current": "current_a", "humidity": "humidity_pct"})
    keep = [c for c in ("temperature_c", "voltage_v", "current_a", "humidity_pct") if c in measured]
    tests = classify(f["tests"])
    t = tests.assign(passed=tests.outcome.eq("passed"), failed=tests.chip_failure).groupby(
        "point_id").agg(tests=("outcome", "size"), passed=("passed", "sum"),
                        failed=("failed", "sum"), harness_errors=("harness_error", "sum"))
    t["pass_rate"] = t.passed / t.tests
    ex = f["exchanges"]
    g = ex.groupby("point_id")
    e = pd.DataFrame({
        "exchanges": g.size(),
        "latency_p50_ms": g.duration_s.quantile(0.50) * 1e3,
        "latency_p95_ms": g.duration_s.quantile(0.95) * 1e3,
        "latency_p99_ms": g.duration_s.quantile(0.99) * 1e3,
        "retries": g.retries.sum(),
        "retries_per_exchange": g.retries.mean(),
    })
    flags = ex[["point_id"]].assign(no_response=ex.rc < 0, error_responses=ex.rc > 0)
    e = e.join(flags.groupby("point_id").sum())
    ev = f["events"]
    efp_rows = ev[ev.kind == "efp_check"].set_index("point_id").detail.map(json.loads)
    efp = efp_rows.map(lambda d: d["verdict"])
    beyond = efp_rows.map(lambda d: bool(d.get("out_of_range")))
    stress = efp_rows.map(lambda d: bool(d.get("stressed", d.get("out_of_range"))))
    out = pts[["point_id", "seq", "label", "status", "set_temperature_c", "set_voltage_v"]].set_index("point_id")
    out = out.join(measured[keep]).join(t).join(e)
    out["efp_verdict"] = efp.reindex(out.index)
    out["out_of_range"] = beyond.reindex(out.index)
    out["stressed"] = stress.reindex(out.index)
    return out.sort_values("seq")


def suite_window_conditions(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean of each quantity per point over its suite window (first test start to last test end).

    The ramp to a point is outside the window, so an 85 °C point reads ~85 °C, not the
    average of the ramp; a point without tests falls back to the conditions at its exchanges.
    """
    tests = f["tests"].dropna(subset=["point_id"])
    tel = f["telemetry"]
    fallback = conditions_at_exchanges(f).groupby("point_id").mean(numeric_only=True)
    if tests.empty or tel.empty or "started" not in tests:
        return fallback
    rows = {}
    for pid, grp in tests.groupby("point_id"):
        start, end = grp["started"].min(), grp["finished"].max()
        inside = tel[(tel.t >= start) & (tel.t <= end) & (tel.quantity != "set_point")]
        if inside.empty:
            continue
        rows[pid] = inside.groupby("quantity").value.mean()
    window = pd.DataFrame(rows).T
    return window.combine_first(fallback.drop(columns=["t_start"], errors="ignore"))


def _wide_telemetry(tel: pd.DataFrame) -> pd.DataFrame:
    return (tel.pivot_table(index="t", columns="quantity", values="value")
            .sort_index().ffill().reset_index())


def conditions_at_exchanges(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each exchange with the latest telemetry at its start (the conditions the chip saw)."""
    ex = f["exchanges"][["t_start", "point_id"]].sort_values("t_start")
    wide = _wide_telemetry(f["telemetry"])
    if ex.empty or wide.empty:
        return ex
    return pd.merge_asof(ex, wide.drop(columns=["set_point"], errors="ignore"),
                         left_on="t_start", right_on="t", direction="backward").drop(columns=["t"])


def failures_with_conditions(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each failing exchange joined with the latest telemetry at its start time.

    Failing: no answer (a transport error), or an error response inside a test that
    failed or errored. An error response a passing test asked for (a negative test's
    expected TPM_RC_*) is not a failure. ``test_outcome`` names the test's outcome,
    ``rc_hex``/``rc_name`` the response code as the TCG writes it.
    """
    from harness.tpm.names import rc_name

    ex = f["exchanges"]
    if "test" in ex:
        tests = f["tests"].drop_duplicates(["nodeid", "point_id"], keep="last")
        outcome = {(n, p): o for n, p, o in zip(tests.nodeid, tests.point_id, tests.outcome)}
        ex = ex.assign(test_outcome=[outcome.get((t, p), "") for t, p in zip(ex.test, ex.point_id)])
    else:
        ex = ex.assign(test_outcome="")
    unanswered = (ex.rc < 0) | (ex.error != "")
    failed_test = ex.test_outcome.isin(["failed", "error"])
    bad = ex[unanswered | ((ex.rc != 0) & failed_test)].sort_values("t_start")
    bad = bad.assign(rc_hex=[f"0x{int(rc):03x}" if rc >= 0 else "" for rc in bad.rc],
                     rc_name=[rc_name(int(rc)) if rc >= 0 else "no response" for rc in bad.rc])
    tel = f["telemetry"]
    wide = _wide_telemetry(tel)
    if bad.empty or wide.empty:
        return bad
    return pd.merge_asof(bad, wide, left_on="t_start", right_on="t", direction="backward")


def plot(table: pd.DataFrame, f: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    """Latency and failures against temperature and voltage; the telemetry timeline."""
    plt = pyplot()

    paths = []
    for x, unit in (("temperature_c", "°C"), ("voltage_v", "V")):
        if x not in table or table[x].isna().all():
            continue
        d = table.sort_values(x)
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
        a1.plot(d[x], d.latency_p50_ms, "o-", label="p50")
        a1.plot(d[x], d.latency_p95_ms, "s--", label="p95")
        a1.set_ylabel("TPM command latency (ms)")
        a1.legend()
        a2.bar(d[x], 1 - d.pass_rate.fillna(1), width=max(0.5, (d[x].max() - d[x].min()) / 40 or 0.5),
               label="test failure rate")
        a2.plot(d[x], d.retries_per_exchange.fillna(0), "k^", label="bus retries / exchange")
        a2.set_xlabel(f"measured {x.split('_')[0]} ({unit})")
        a2.legend()
        fig.suptitle(f"Latency and failures against {x.split('_')[0]}")
        p = out_dir / f"campaign_vs_{x.split('_')[0]}.png"
        save(fig, p)
        paths.append(p)
    tel = f["telemetry"]
    if not tel.empty:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        for q in ("temperature", "set_point"):
            s = tel[tel.quantity == q]
            ax.plot(s.t - tel.t.min(), s.value, label=q)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("°C")
        ax.legend()
        p = out_dir / "campaign_telemetry.png"
        save(fig, p)
        paths.append(p)
    return paths


def analyze(folder: Path, plots: bool = True) -> pd.DataFrame:
    """Write campaign_conditions.csv, campaign_failures.csv and the plots into ``folder``."""
    folder = Path(folder)
    f = load_frames(folder / STORE_FILE)
    table = per_condition(f)
    table.to_csv(folder / "campaign_conditions.csv")
    failures_with_conditions(f).to_csv(folder / "campaign_failures.csv", index=False)
    if plots:
        plot(table, f, folder)
    return table
