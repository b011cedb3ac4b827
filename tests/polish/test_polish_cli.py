"""QA walk-through defects of the ``tpmhil`` command line: one clear line, exit 2."""

from __future__ import annotations

from harness.cli.main import main


def _err(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_run_results_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "x.txt"
    f.write_text("not a folder")
    rc, out, err = _err(capsys, "run", "--tpm", "swtpm", "--results", str(f), "--no-report")
    assert rc == 2
    assert err.strip().splitlines() == [f"tpmhil run: error: --results {f} is a file, not a folder"]
    assert f.read_text() == "not a folder"


def test_run_negative_workers_is_refused(tmp_path, capsys):
    rc, out, err = _err(capsys, "run", "--tpm", "swtpm", "-n", "-1", "--results", str(tmp_path))
    assert rc == 2 and "-n -1" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_run_bad_auth_value_is_refused_without_the_value(tmp_path, capsys):
    rc, out, err = _err(capsys, "run", "--tpm", "swtpm", "--owner-auth", "hex:nothex-s3cret",
                        "--results", str(tmp_path))
    assert rc == 2 and "--owner-auth" in err and "s3cret" not in err


def test_run_hands_the_auth_to_pytest_in_its_environment_not_argv(tmp_path, monkeypatch):
    import argparse

    from harness.cli import cmd_run
    from harness.run_suites import SuiteRun

    seen = {}

    def fake_run(self):
        seen["env"], seen["argv"] = dict(self.env), self.command()
        return 5

    monkeypatch.setattr(SuiteRun, "run", fake_run)
    monkeypatch.setattr(cmd_run, "check_setup", lambda *a: None)
    p = argparse.ArgumentParser()
    cmd_run.add_arguments(p)
    args = p.parse_args(["--tpm", "swtpm", "--owner-auth", "hex:00112233", "--no-report",
                         "--results", str(tmp_path)])
    cmd_run.run(args)
    assert seen["env"] == {"TPMHIL_OWNER_AUTH": "hex:00112233"}
    assert not any("00112233" in a for a in seen["argv"])


def test_json_usage_error_is_a_json_document_on_stdout(capsys):
    import json

    import pytest

    with pytest.raises(SystemExit) as exc:
        main(["run", "--tpm", "swtpm", "-n", "x", "--json"])
    out = capsys.readouterr()
    assert exc.value.code == 2
    doc = json.loads(out.out)
    assert doc["exit"] == 2 and "invalid int value: 'x'" in doc["error"]
    assert "invalid int value" in out.err


def test_json_target_error_is_a_json_document_on_stdout(capsys):
    import json

    rc, out, err = _err(capsys, "probe", "--tpm", "bogus://", "--json")
    doc = json.loads(out)
    assert rc == 2 and doc == {"error": err.splitlines()[0], "exit": 2}
    assert "unknown target kind 'bogus'" in doc["error"]


def test_json_error_also_for_a_commands_own_json_flag(capsys):
    import json

    rc, out, err = _err(capsys, "audit", "--json", "--samples", "5")
    assert rc == 2 and json.loads(out)["exit"] == 2   # audit's own --json too


def test_target_error_lists_the_forms_one_per_line(capsys):
    rc, out, err = _err(capsys, "probe", "--tpm", "bogus://")
    lines = err.splitlines()
    assert rc == 2 and lines[0].startswith("tpmhil probe: error: unknown target kind 'bogus'")
    assert lines[1] == "accepted target strings:"
    assert any(ln.strip().startswith("swtpm ") for ln in lines[2:])
    assert max(len(ln) for ln in lines) < 160


def test_bad_port_is_named_as_not_a_number(capsys):
    rc, out, err = _err(capsys, "probe", "--tpm", "mssim://127.0.0.1:notaport")
    assert rc == 2
    assert "port 'notaport' is not a number" in err.splitlines()[0]
    assert "could not be cast" not in err


def test_verify_of_a_results_folder_names_its_package(tmp_path, capsys):
    from harness.results.run_folder import RunFolder

    folder = RunFolder.create(tmp_path, "r1")
    folder.close()
    run = tmp_path / "r1"
    rc, out, err = _err(capsys, "verify", str(run))
    assert rc == 2 and "is a results folder" in err and f"tpmhil report {run}" in err
    (run / "report").mkdir()
    (run / "report" / "manifest.json").write_text("{}")
    rc, out, err = _err(capsys, "verify", str(run))
    assert rc == 2
    assert err.strip() == (f"tpmhil verify: error: {run} is a results folder; the package is "
                           f"{run / 'report'} (tpmhil verify {run / 'report'})")


def test_report_stage_lines_have_the_same_prefix_in_run_and_report(capsys):
    from harness.cli import cmd_report, cmd_run

    cmd_run._report_progress("[   0.1 s] rendering report.html")
    cmd_report._progress("[   0.1 s] rendering report.html")
    assert capsys.readouterr().err.splitlines() == [
        "tpmhil run: [   0.1 s] rendering report.html",
        "tpmhil report: [   0.1 s] rendering report.html"]
