"""Campaign suite selections reach the shipped suites from any working folder."""

from __future__ import annotations

from harness.run_suites import SUITES_DIR, resolve_selection


def test_shipped_suite_paths_resolve_from_another_folder(tmp_path):
    words = ["suites/functional/test_pcr.py::test_extend", "-k", "random", "suites/functional"]
    got = resolve_selection(words, cwd=tmp_path)
    assert got[0] == f"{SUITES_DIR / 'functional' / 'test_pcr.py'}::test_extend"
    assert got[1:3] == ["-k", "random"]
    assert got[3] == str(SUITES_DIR / "functional")


def test_a_labs_own_files_and_missing_paths_are_left_alone(tmp_path):
    own = tmp_path / "suites" / "lab_test.py"
    own.parent.mkdir()
    own.write_text("def test_x(): pass\n")
    words = ["suites/lab_test.py", "suites/functional/no_such_file.py", "tests/x.py"]
    assert resolve_selection(words, cwd=tmp_path) == words
