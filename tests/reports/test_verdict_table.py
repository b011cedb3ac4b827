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
