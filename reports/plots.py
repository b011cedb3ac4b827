"""Environmental plots for the HTML report (matplotlib, embedded as PNG data URIs).

Plots are built from the telemetry and points tables only, so a report of a
campaign shows the conditions every verdict was taken under.
"""

from __future__ import annotations

import pandas as pd

from harness.plotting import png_data_uri, pyplot


def telemetry_plot(telemetry: pd.DataFrame, title: str,
                   windows: list[tuple[float, float, str]] | None = None) -> str | None:
    """One panel per measured quantity against time since the first sample.

    Args:
        windows: (start, end, label) of each campaign point's suite window, shaded: the
            samples the report's "measured" conditions are taken from.

    Returns:
        A ``data:image/png`` URI, or None when there is no telemetry.
    """
    if telemetry.empty:
        return None
    plt = pyplot()

    groups = sorted(telemetry.groupby(["quantity", "unit"]), key=lambda g: g[0])
    fig, axes = plt.subplots(len(groups), 1, figsize=(8, 2.2 * len(groups)), squeeze=False,
                             sharex=True)
    t0 = float(telemetry["t"].min())
    for ax, ((qty, unit), grp) in zip(axes[:, 0], groups):
        for start, end, _ in windows or []:
            ax.axvspan(start - t0, end - t0, color="#c8e6c9", alpha=0.6, linewidth=0)
        for source, sgrp in sorted(grp.groupby("source"), key=lambda g: g[0]):
            ax.plot(sgrp["t"] - t0, sgrp["value"], marker=".", linewidth=1, label=source)
        ax.set_ylabel(f"{qty} [{unit}]")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=7)
    axes[-1, 0].set_xlabel("time since first sample [s]"
                           + ("; shaded: suite windows (the measured conditions)" if windows else ""))
    axes[0, 0].set_title(title)
    return png_data_uri(fig)


def point_outcome_plot(tests: pd.DataFrame, point_labels: dict[str, str], title: str) -> str | None:
    """Passed / failed tests per campaign point (stacked bars)."""
    tests = tests[tests["point_id"].notna()]
    if tests.empty:
        return None
    plt = pyplot()

    counts = (tests.assign(result=tests["outcome"].map(
        lambda o: "failed" if o in ("failed", "error") else ("passed" if o == "passed" else "other")))
        .groupby(["point_id", "result"]).size().unstack(fill_value=0))
    counts = counts.reindex(sorted(counts.index))
    fig, ax = plt.subplots(figsize=(8, 2.8))
    bottom = None
    colours = {"passed": "#2e7d32", "failed": "#c62828", "other": "#9e9e9e"}
    labels = [point_labels.get(p, p) for p in counts.index]
    for result in ("passed", "failed", "other"):
        if result in counts:
            ax.bar(labels, counts[result], bottom=bottom, label=result, color=colours[result])
            bottom = counts[result] if bottom is None else bottom + counts[result]
    ax.set_ylabel("tests")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", labelrotation=30)
    return png_data_uri(fig)
