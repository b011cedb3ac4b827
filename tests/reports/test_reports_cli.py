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


def test_one_package_from_several_runs(run_dir: Path, lab_key: Path, tmp_path: Path,
                                      make_run) -> None:
    from reports.assessment import assess
    from reports.catalogue import load_catalogue
    from reports.package import build_package
    from reports.run_data import load_runs

    second = make_run(tmp_path / "results", "20261125-130000-cafe")
    out = build_package([run_dir, second], tmp_path / "both", pdf=False, key_path=lab_key,
                        allow_mixed_chips=True)   # two spawned swtpms: two chips
    assert {p.name for p in (out / "data").iterdir()} == {run_dir.name, second.name}
    one = {v.requirement.id: len(v.tests) for v in assess(load_catalogue(), load_runs([run_dir])).verdicts}
    both = {v.requirement.id: len(v.tests) for v in
            assess(load_catalogue(), load_runs([run_dir, second])).verdicts}
    assert all(both[k] == 2 * one[k] for k in one)
    assert main(["verify", str(out), "--key", str(lab_key)]) == 0


def test_the_same_run_twice_is_refused(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["report", str(run_dir), str(run_dir), "-o", str(tmp_path / "x"), "--no-pdf"]) == 2
    assert "appears twice" in capsys.readouterr().err



def test_failed_build_leaves_the_previous_package_alone(run_dir: Path, lab_key: Path,
                                                       tmp_path: Path) -> None:
    import shutil

    import pytest

    from reports.allure_render import AllureError
    from reports.package import build_package

    bare = Path(shutil.copytree(run_dir, tmp_path / run_dir.name,
                                ignore=shutil.ignore_patterns("allure-results", "report")))
    out = tmp_path / "pkg"
    build_package([bare], out, pdf=False, key_path=lab_key)
    with pytest.raises(AllureError, match="none of the runs has test results"):
        build_package([bare], out, pdf=False, allure=True, key_path=lab_key)
    assert verify_package(out).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([bare.name, "pkg"])


def test_broken_run_file_is_one_clear_error(run_dir: Path, tmp_path: Path, capsys) -> None:
    import shutil

    broken = Path(shutil.copytree(run_dir, tmp_path / "broken",
                                  ignore=shutil.ignore_patterns("report", "allure-results")))
    (broken / "identity.json").write_text('{"manufacturer": "IBM",')
    assert main(["report", str(broken), "--no-pdf"]) == 2
    err = capsys.readouterr().err
    assert "identity.json: not readable JSON" in err and str(broken) in err
    assert not (broken / "report").exists()


def test_relative_paths_with_allure(run_dir: Path, lab_key: Path, tmp_path: Path, monkeypatch,
                                    capsys) -> None:
    monkeypatch.chdir(run_dir.parent)
    out = Path("pkg-relative")
    assert main(["report", run_dir.name, "-o", str(out), "--allure", "--no-pdf",
                 "--key", str(lab_key)]) == 0, capsys.readouterr().err
    assert (out / "allure-report" / "index.html").is_file()
    assert main(["verify", str(out), "--key", str(lab_key)]) == 0
