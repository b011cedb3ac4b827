"""The plugin's bad inputs and a silent chip: one clear line each, with the right exit code."""

import json
import sqlite3

import pytest

pytest_plugins = ["pytester"]

SUITE = '''
def test_one(caps):
    assert caps.commands

def test_two(caps):
    assert caps.commands
'''


def test_results_naming_a_file_is_one_usage_line(pytester, tmp_path):
    pytester.makepyfile(test_suite=SUITE)
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    out = pytester.runpytest_subprocess("--tpm", "swtpm", "--results", str(afile), "-p",
                                        "no:cacheprovider")
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    out.stderr.fnmatch_lines([f"*--results {afile}: a file is in the way*"])
    assert "Traceback" not in out.stderr.str() + out.stdout.str()
    assert afile.read_text() == "not a folder"


def test_unknown_chip_profile_is_one_usage_line_naming_the_known_ones(pytester):
    pytester.makepyfile(test_suite=SUITE)
    out = pytester.runpytest_subprocess("--tpm", "swtpm", "--chip-profile", "nosuch", "-p",
                                        "no:cacheprovider")
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    out.stderr.fnmatch_lines(["*--chip-profile: no chip profile named 'nosuch' (known:*swtpm*"])
    assert "test_one" not in out.stdout.str()  # refused before any test ran


def test_chip_silent_at_session_start_reads_as_the_chip_not_answering(pytester, tmp_path):
    """A stressed campaign point (simulated far past the rated range): the probe gets no
    answer; every test says so, and the campaign verdict counts it as the chip's."""
    from rigs.campaign.verdict import is_harness_error

    state = tmp_path / "conditions.json"
    state.write_text(json.dumps({"simulation": True, "temperature_c": 400.0, "seed": 1}))
    pytester.makepyfile(test_suite=SUITE)
    results = tmp_path / "run"
    out = pytester.runpytest_subprocess("--tpm", "swtpm", "--env-coupling", str(state),
                                        "--results", str(results), "-p", "no:cacheprovider")
    out.assert_outcomes(errors=2)
    text = out.stdout.str()
    assert "assert None is not None" not in text and "AssertionError" not in text
    assert "During handling" not in text  # one line, not a chained traceback
    out.stdout.fnmatch_lines(["*did not answer TPM2_GetCapability at session start; "
                              "capabilities unknown*"])
    conn = sqlite3.connect(results / "store.sqlite")
    try:
        rows = conn.execute("SELECT nodeid, outcome, message FROM tests").fetchall()
    finally:
        conn.close()
    assert len(rows) == 2
    for _nodeid, outcome, message in rows:
        assert outcome == "error" and "capabilities unknown" in message
        assert not is_harness_error(outcome, message), message


def test_unknown_profile_named_by_the_target_is_one_usage_line(pytester):
    pytester.makepyfile(test_suite=SUITE)
    out = pytester.runpytest_subprocess("--tpm", "swtpm?chip=nosuch", "-p", "no:cacheprovider")
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    out.stderr.fnmatch_lines(["*target swtpm?chip=nosuch: no chip profile named 'nosuch'*"])
