"""Run-to-run latency gates control the false discovery rate across commands."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from harness.lab.analysis import _latency_changes


def frame(samples: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame([(c, float(d)) for c, ds in samples.items() for d in ds],
                        columns=["command", "duration_s"])


def test_many_unchanged_commands_do_not_make_a_regression_by_chance(monkeypatch):
    rng = np.random.default_rng(7)
    # 200 commands, two runs drawn from the same distribution, but with a few
    # heavy outliers so the effect-size filters alone do not decide.
    a, b = {}, {}
    for i in range(200):
        a[f"TPM2_X{i}"] = rng.lognormal(-6, 0.6, 12)
        b[f"TPM2_X{i}"] = rng.lognormal(-6, 0.6, 12)
    raw = [mannwhitneyu(a[c], b[c]).pvalue for c in a]
    alpha = 0.05
    assert sum(p < alpha for p in raw) >= 3  # uncorrected, chance alone "finds" some
    slower, faster = _latency_changes(frame(a), frame(b), alpha, 0.0, 0.0, 8)
    assert slower == [] and faster == []
    # Without the correction the same data would have flagged a change.
    import scipy.stats

    monkeypatch.setattr(scipy.stats, "false_discovery_control", lambda ps, method: np.asarray(ps))
    assert _latency_changes(frame(a), frame(b), alpha, 0.0, 0.0, 8) != ([], [])


def test_a_real_slowdown_is_still_found_and_reports_its_adjusted_p():
    rng = np.random.default_rng(3)
    a = {f"TPM2_X{i}": rng.normal(1e-3, 1e-5, 30) for i in range(50)}
    b = {k: rng.normal(1e-3, 1e-5, 30) for k in a}
    b["TPM2_X7"] = rng.normal(3e-3, 1e-5, 30)
    slower, faster = _latency_changes(frame(a), frame(b), 1e-3, 0.5, 0.5e-3, 8)
    assert [c.command for c in slower] == ["TPM2_X7"] and faster == []
    raw = mannwhitneyu(a["TPM2_X7"], b["TPM2_X7"]).pvalue
    assert slower[0].p_value >= raw  # the adjusted q, never smaller than the raw p
