"""The `tpmhil run` verdict table counts known deviations (xfailed) in their own column."""

from __future__ import annotations

import json

from harness.results.run_folder import RunFolder
from harness.verdict_table import print_verdict


def test_table_has_an_xfail_column_and_lists_deviations(run_dir, capsys) -> None:
    folder = RunFolder(run_dir)
    try:
        print_verdict(folder, json.loads((run_dir / "summary.json").read_text()))
    finally:
        folder.close()
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("area"))
    assert header.split()[1:] == ["passed", "failed", "error", "skipped", "xfailed", "verdict"]
    row = next(line for line in out.splitlines() if line.startswith("robustness/test_malformed"))
    assert row.split()[1:] == ["1", "0", "0", "0", "1", "PASS", "(deviations)"]
    assert "Known deviations (xfailed, 1): not counted as passes" in out
    assert "XFAIL suites/robustness/test_malformed.py::test_bad_tag[0x8003]: known swtpm" in out


def test_headline_counts_each_outcome_so_skips_never_read_as_passes(run_dir, capsys) -> None:
    folder = RunFolder(run_dir)
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        print_verdict(folder, summary)
        rows = folder.store.query("SELECT outcome FROM tests")
    finally:
        folder.close()
    out = capsys.readouterr().out
    headline = next(line for line in out.splitlines() if line.startswith(summary["verdict"] + ":"))
    passed = sum(1 for (o,) in rows if o == "passed")
    assert headline.startswith(f"{summary['verdict']}: {passed} passed, ")
    assert f"({summary['tests']} tests)" in headline
    assert "1 xfailed" in headline


def test_outcome_counts_orders_passes_first() -> None:
    from harness.verdict_table import outcome_counts

    assert (outcome_counts({"xfailed": 1, "skipped": 41, "passed": 269})
            == "269 passed, 41 skipped, 1 xfailed")
