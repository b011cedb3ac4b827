"""Pictures of trends and diffs: pass rate over time, latency by command, A against B.

Drawn with :mod:`harness.plotting` (matplotlib, Agg) from the same
:class:`~harness.lab.sources.RunData` frames the tables come from. Run names,
chips and commands come from stores, so they are only ever text on a figure,
never part of a file name: the files have fixed names inside the folder given.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.lab.analysis import JUDGED, RunDiff
from harness.lab.sources import RunData
from harness.plotting import pyplot, save

PASS_RATE_PNG = "pass_rate_over_time.png"
LATENCY_PNG = "latency_by_command.png"
DIFF_PNG = "latency_a_vs_b.png"
#: Most commands (by number of exchanges) and groups shown on one figure.
MAX_COMMANDS = 25
MAX_GROUPS = 6


def _label(text: object, limit: int = 60) -> str:
    """Store text made safe to draw: printable, one line, bounded, no mathtext."""
    s = " ".join(str(text).split())
    s = "".join(c if c.isprintable() else "?" for c in s)[:limit]
    return s.replace("$", r"\$")


def _groups(runs: pd.DataFrame, by: tuple[str, ...]) -> pd.Series:
    """One label per run: its values of the ``by`` dimensions."""
    if not by:
        return pd.Series("all runs", index=runs.index)
    return runs[list(by)].astype(str).agg(" / ".join, axis=1).map(_label)


def _top_commands(exchanges: pd.DataFrame) -> list[str]:
    counts = exchanges["command"].value_counts()
    return sorted(counts.index[:MAX_COMMANDS], key=lambda c: -counts[c])


def pass_rate_over_time(data: RunData, by: tuple[str, ...], path: Path) -> Path | None:
    """Pass rate of each run against its start time, one series per group; None without tests."""
    tests = data.tests[data.tests["outcome"].isin(JUDGED)]
    if tests.empty or data.runs.empty:
        return None
    rate = tests.assign(ok=tests["outcome"] == "passed").groupby("run_id")["ok"].mean()
    runs = data.runs.assign(group=_groups(data.runs, by)).set_index("run_id")
    runs = runs.loc[runs.index.intersection(rate.index)]
    runs = runs.assign(rate=rate.loc[runs.index] * 100,
                       when=pd.to_datetime(runs["created"], unit="s", utc=True).dt.tz_localize(None))
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    groups = list(runs.groupby("group", sort=True))
    for group, rows in groups[:MAX_GROUPS]:
        rows = rows.sort_values("when")
        ax.plot(rows["when"], rows["rate"], marker="o", label=group)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("tests passed (%)")
    ax.set_xlabel("run start (UTC)")
    title = f"Pass rate over time ({len(runs)} runs"
    if len(groups) > MAX_GROUPS:
        title += f"; first {MAX_GROUPS} of {len(groups)} groups shown"
    ax.set_title(title + ")")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, title=" / ".join(by) or None, title_fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return save(fig, path)


def latency_by_command(data: RunData, by: tuple[str, ...], path: Path) -> Path | None:
    """Latency distribution of the busiest commands, one box per group; None without exchanges."""
    exch = data.exchanges
    if exch.empty:
        return None
    labels = _groups(data.runs, by)
    exch = exch.merge(data.runs.assign(group=labels)[["run_id", "group"]], on="run_id")
    commands = _top_commands(exch)
    groups = sorted(exch["group"].unique())[:MAX_GROUPS]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(10, max(3.0, 1.0 + 0.35 * len(commands) * max(1, len(groups) / 2))))
    width = 0.8 / len(groups)
    for gi, group in enumerate(groups):
        rows = exch[exch["group"] == group]
        series = [rows.loc[rows["command"] == c, "duration_s"] * 1e3 for c in commands]
        present = [(i, s) for i, s in enumerate(series) if len(s)]
        if not present:
            continue
        box = ax.boxplot([s for _, s in present], positions=[i + gi * width for i, _ in present],
                         widths=width * 0.9, vert=False, patch_artist=True, showfliers=False)
        color = f"C{gi}"
        for patch in box["boxes"]:
            patch.set_facecolor(color)
            patch.set_alpha(0.6)
        ax.plot([], [], color=color, linewidth=6, alpha=0.6, label=group)
    ax.set_yticks([i + 0.4 - width / 2 for i in range(len(commands))])
    ax.set_yticklabels([_label(c, 40) for c in commands], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale; boxes: quartiles, whiskers: 1.5 IQR)")
    ax.set_title(f"Latency by command ({len(exch)} exchanges, busiest {len(commands)} commands)")
    ax.grid(alpha=0.3, axis="x")
    if len(groups) > 1 or by:
        ax.legend(fontsize=8, title=" / ".join(by) or None, title_fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def trend_plots(data: RunData, by: tuple[str, ...], folder: str | Path) -> list[Path]:
    """Both trend pictures into ``folder`` (created); the files written."""
    pyplot()  # without matplotlib: ModuleNotFoundError before any folder is made
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = [pass_rate_over_time(data, by, folder / PASS_RATE_PNG),
           latency_by_command(data, by, folder / LATENCY_PNG)]
    return [p for p in out if p is not None]


def diff_plot(a: RunData, b: RunData, result: RunDiff, names: tuple[str, str],
              folder: str | Path) -> Path | None:
    """Latency of each command in A beside B (changed commands marked); None without exchanges."""
    if a.exchanges.empty and b.exchanges.empty:
        return None
    plt = pyplot()  # without matplotlib: ModuleNotFoundError before any folder is made
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    both = pd.concat([a.exchanges.assign(side="A"), b.exchanges.assign(side="B")])
    commands = _top_commands(both)
    marks = {c.command: "slower" for c in result.slower} | {c.command: "faster" for c in result.faster}
    fig, ax = plt.subplots(figsize=(10, max(3.0, 1.5 + 0.45 * len(commands))))
    for side, offset, color in (("A", -0.2, "C0"), ("B", 0.2, "C1")):
        rows = both[both["side"] == side]
        series = [(i, rows.loc[rows["command"] == c, "duration_s"] * 1e3)
                  for i, c in enumerate(commands)]
        series = [(i, s) for i, s in series if len(s)]
        if series:
            box = ax.boxplot([s for _, s in series], positions=[i + offset for i, _ in series],
                             widths=0.35, vert=False, patch_artist=True, showfliers=False)
            for patch in box["boxes"]:
                patch.set_facecolor(color)
                patch.set_alpha(0.6)
        ax.plot([], [], color=color, linewidth=6, alpha=0.6,
                label=f"{side}: {_label(names[0 if side == 'A' else 1], 70)}")
    ax.set_yticks(range(len(commands)))
    ax.set_yticklabels([_label(c, 40) + (f"  [{marks[c].upper()}]" if c in marks else "")
                        for c in commands], fontsize=8)
    for tick, command in zip(ax.get_yticklabels(), commands):
        if command in marks:
            tick.set_color("red" if marks[command] == "slower" else "green")
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale; boxes: quartiles, whiskers: 1.5 IQR)")
    verdict = "REGRESSION" if result.regression else "no regression"
    ax.set_title(f"Latency A vs B: {verdict} ({len(result.slower)} slower, "
                 f"{len(result.faster)} faster, {len(result.new_failures)} new failures)")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return save(fig, folder / DIFF_PNG)
