"""The short verdict table printed at the end of a run."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from harness.results.run_folder import RunFolder


def _area(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    parts = Path(path).parts
    if "suites" in parts:
        parts = parts[parts.index("suites") + 1:]
    return "/".join(parts).removesuffix(".py")


def _row_verdict(r: dict[str, int]) -> str:
    if r["failed"] + r["error"]:
        return "FAIL"
    if r["passed"] + r["xpassed"]:
        return "PASS (deviations)" if r["xfailed"] else "PASS"
    return "DEVIATIONS" if r["xfailed"] else "SKIP"


#: The headline's order: what passed first, then everything that is not a pass.
OUTCOME_ORDER = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "deselected")


def outcome_counts(counts: dict[str, int]) -> str:
    """``"269 passed, 41 skipped, 1 xfailed"``: every outcome with its count, so that a
    skip or a known deviation never reads as a pass."""
    known = [o for o in OUTCOME_ORDER if counts.get(o)]
    other = sorted(o for o in counts if o not in OUTCOME_ORDER and counts[o])
    parts = [f"{counts[o]} {o}" for o in known + other]
    return ", ".join(parts) or "0 passed"


def print_verdict(folder: RunFolder, summary: dict, report_path: Path | None = None) -> None:
    """The table: per suite area passed, failed, error, skipped and xfailed (known deviations)."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    failures, deviations = [], []
    for nodeid, outcome, message in folder.store.query(
            "SELECT nodeid, outcome, message FROM tests ORDER BY id"):
        rows[_area(nodeid)][outcome] += 1
        if outcome in ("failed", "error"):
            failures.append((nodeid, outcome, message))
        elif outcome == "xfailed":
            deviations.append((nodeid, message))
    chip = summary.get("chip") or {}
    print()
    if isinstance(chip, dict):
        print(f"Chip     : {str(chip.get('manufacturer', 'not recorded')).strip()} "
              f"{str(chip.get('vendor', '')).strip()} "
              f"firmware {chip.get('firmware', 'not recorded')} ({chip.get('spec', 'not recorded')})")
    else:
        print(f"Chip     : {chip or 'not recorded'}")
    print(f"Profile  : {summary.get('profile') or 'not recorded'}")
    width = max([len(a) for a in rows] + [10])
    print(f"\n{'area':<{width}}  {'passed':>6} {'failed':>6} {'error':>6} {'skipped':>7} "
          f"{'xfailed':>7}  verdict")
    print("-" * (width + 48))
    for area in sorted(rows):
        r = rows[area]
        print(f"{area:<{width}}  {r['passed']:>6} {r['failed']:>6} {r['error']:>6} "
              f"{r['skipped']:>7} {r['xfailed']:>7}  {_row_verdict(r)}")
    print("-" * (width + 48))
    ex = summary.get("exchanges", {})
    totals: dict[str, int] = defaultdict(int)
    for r in rows.values():
        for outcome, n in r.items():
            totals[outcome] += n
    print(f"{summary['verdict']}: {outcome_counts(totals)} ({summary['tests']} tests), "
          f"{ex.get('count', 0)} TPM exchanges "
          f"({ex.get('error_responses', 0)} error responses, {ex.get('no_response', 0)} unanswered)")
    for nodeid, outcome, message in failures[:20]:
        print(f"  {outcome.upper():5} {nodeid}: {message}")
    if deviations:
        print(f"Known deviations (xfailed, {len(deviations)}): not counted as passes")
    for nodeid, message in deviations[:20]:
        print(f"  XFAIL {nodeid}: {message}")
    print(f"Results  : {folder.path}")
    if report_path is not None:
        print(f"Report   : {report_path}")
