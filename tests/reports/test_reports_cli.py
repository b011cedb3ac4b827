"""``tpmhil report`` end to end on a real results folder."""

from __future__ import annotations

from pathlib import Path

from harness.cli.main import main
from reports.manifest import verify_package


def test_report_command_builds_a_verifiable_package(run_dir: Path, lab_key: Path, tmp_path: Path,
                                                    capsys) -> None:
    out = tmp_path / "pkg"
    assert main(["report", str(run_dir), "-o", str(out), "--no-pdf", "--key", str(lab_key)]) == 0
    printed = capsys.readouterr().out
    assert f"evidence package: {out}" in printed and "not covered" in printed
    for name in ("report.html", "traceability.csv", "traceability.xlsx", "assessment-results.json",
                 "manifest.json", "manifest.sig", "lab-key.pub.pem", "catalogue.yaml"):
        assert (out / name).is_file(), name
    assert not (out / "report.pdf").exists()
    assert verify_package(out).ok
    # rebuilding into the same package folder replaces it cleanly
    assert main(["report", str(run_dir), "-o", str(out), "--no-pdf", "--key", str(lab_key)]) == 0
    assert verify_package(out).ok


def test_report_refuses_a_foreign_folder_and_a_missing_run(run_dir: Path, tmp_path: Path,
                                                           capsys) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert main(["report", str(run_dir), "-o", str(foreign), "--no-pdf"]) == 2
    assert "is not an evidence package" in capsys.readouterr().err
    assert (foreign / "notes.txt").exists()
    assert main(["report", str(tmp_path / "nope"), "--no-pdf"]) == 2
    assert "is not a results folder" in capsys.readouterr().err
