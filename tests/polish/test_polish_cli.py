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
