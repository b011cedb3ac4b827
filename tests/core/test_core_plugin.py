"""The pytest plugin, run with pytester against a real swtpm."""

import json
import sqlite3

import pytest

pytest_plugins = ["pytester"]

SUITE = '''
import pytest
from tpm2_pytss.constants import TPM2_CAP

@pytest.mark.requirement("IEC62443-4-2:CR 3.3")
@pytest.mark.spec("TPM 2.0 Part 3 §16.1")
def test_random(tpm, chip, identity):
    assert len(tpm.get_random(8)) == 8
    assert chip.name == "swtpm" and identity.manufacturer == "IBM"

def test_leaves_a_key_behind(tpm):
    tpm.create_primary(None, "ecc256")

def test_tpm_is_clean_afterwards(tpm):
    more, data = tpm.get_capability(TPM2_CAP.HANDLES, 0x80000000, 10)
    assert data.data.handles.count == 0

@pytest.mark.destructive
def test_destructive(tpm):
    pass

def test_fails(tpm):
    assert False, "deliberate"
'''


def _store_rows(path, sql):
    conn = sqlite3.connect(path / "store.sqlite")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_records_tests_and_exchanges(pytester, tmp_path):
    pytester.makepyfile(test_suite=SUITE)
    results = tmp_path / "run"
    out = pytester.runpytest_subprocess("--tpm", "swtpm", "--results", str(results), "-p",
                                        "no:cacheprovider")
    out.assert_outcomes(passed=4, failed=1)
    rows = dict(_store_rows(results, "SELECT nodeid, outcome FROM tests"))
    assert rows["test_suite.py::test_random"] == "passed"
    assert rows["test_suite.py::test_fails"] == "failed"
    reqs = _store_rows(results, "SELECT requirements, spec FROM tests WHERE nodeid LIKE '%random'")
    assert json.loads(reqs[0][0]) == ["IEC62443-4-2:CR 3.3"] and "§16.1" in reqs[0][1]
    commands = [r[0] for r in _store_rows(
        results, "SELECT command FROM exchanges WHERE test='test_suite.py::test_random'")]
    assert commands == ["TPM2_GetRandom"]
    flushed = _store_rows(results, "SELECT command FROM exchanges WHERE test LIKE "
                                   "'cleanup:test_suite.py::test_leaves_a_key_behind'")
    assert ("TPM2_FlushContext",) in flushed
    message = _store_rows(results, "SELECT message FROM tests WHERE outcome='failed'")[0][0]
    assert "deliberate" in message
    identity = json.loads((results / "identity.json").read_text())
    assert identity["manufacturer"] == "IBM"


def test_destructive_is_skipped_on_a_device_target(pytester, swtpm_for_plugin):
    pytester.makepyfile(test_suite=SUITE)
    uri = f"swtpm://127.0.0.1:{swtpm_for_plugin.port}"
    out = pytester.runpytest_subprocess("--tpm", uri, "-rs", "-k", "destructive")
    out.assert_outcomes(skipped=1)
    out.stdout.fnmatch_lines([f"*destructive: {uri} is not a disposable target*"])
    out = pytester.runpytest_subprocess("--tpm", uri, "--allow-destructive", uri, "-k", "destructive")
    out.assert_outcomes(passed=1)


def test_malformed_target_is_a_usage_error(pytester):
    pytester.makepyfile(test_suite=SUITE)
    out = pytester.runpytest_subprocess("--tpm", "spi:/bad uri")
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    out.stderr.fnmatch_lines(["*accepted target strings*"])


def test_unreachable_target_fails_each_test_with_one_reason(pytester):
    pytester.makepyfile(test_suite=SUITE)
    out = pytester.runpytest_subprocess("--tpm", "swtpm://127.0.0.1:1", "-k", "random")
    out.assert_outcomes(errors=1)
    out.stdout.fnmatch_lines(["*cannot use target swtpm://127.0.0.1:1*cannot connect*"])


@pytest.fixture(scope="module")
def swtpm_for_plugin():
    from harness.swtpm_process import SwtpmProcess

    proc = SwtpmProcess()
    yield proc
    proc.stop()


def test_two_sessions_into_one_folder_keep_all_exchanges(pytester, tmp_path):
    """seq restarts per session: a second session must not be dropped as duplicates."""
    pytester.makepyfile(test_suite=SUITE)
    results = tmp_path / "run"
    for _ in range(2):
        out = pytester.runpytest_subprocess("--tpm", "swtpm", "--results", str(results),
                                            "-k", "test_random")
        out.assert_outcomes(passed=1)
    rows = _store_rows(results, "SELECT COUNT(DISTINCT worker), COUNT(*) FROM exchanges "
                                "WHERE command='TPM2_GetRandom'")
    assert rows[0] == (2, 2)


def test_a_chip_that_stops_answering_is_one_reason_not_a_pile(pytester):
    """After a failing test the plugin asks GetTestResult; a silent chip makes every
    later test fail with that one reason."""
    pytester.makepyfile(test_dies='''
def test_kills_the_tpm(tpm, tpm_target):
    tpm_target.process.proc.kill()
    tpm_target.process.proc.wait()
    assert False, "the chip went away"

def test_later_one(tpm):
    tpm.get_random(8)

def test_later_two(tpm_raw):
    pass
''')
    out = pytester.runpytest_subprocess("--tpm", "swtpm", "-p", "no:cacheprovider")
    out.assert_outcomes(failed=1, errors=2)
    out.stdout.fnmatch_lines(["*not run: the TPM stopped answering after "
                              "test_dies.py::test_kills_the_tpm*"])


NEEDS_SUITE = '''
import pytest
from tpm2_pytss.constants import ESYS_TR

@pytest.mark.needs("cc:TPM2_GetRandom", "alg:sha256", "hierarchy:owner")
def test_has_it(caps, tpm):
    assert "TPM2_GetRandom" in caps.commands and caps.max_command_size >= 1024
    assert caps.owner_auth_set and caps.auth_given == {"owner"}

@pytest.mark.needs("cc:TPM2_ACT_SetTimeout", "pt:nv_counters_max>=100000")
def test_lacks_it(tpm):
    raise AssertionError("must not run")

@pytest.mark.verifies("ACT_SetTimeout")
def test_verifies_what_it_lacks(tpm):
    raise AssertionError("must not run")

def test_fixture_knows_lab_owner_auth(tpm):
    tpm.create_primary(None, "ecc256")

@pytest.mark.needs("hierarchy:lockout")
def test_lockout_auth_given_but_chip_has_none(tpm, hierarchy_auth):
    assert hierarchy_auth.get_auth("lockout") == b""  # a stray value is never sent
    tpm.dictionary_attack_lock_reset(ESYS_TR.LOCKOUT)
'''


@pytest.fixture
def owner_auth_set(swtpm_for_plugin):
    """The module's swtpm with an owner auth value set by "the lab", removed afterwards."""
    from tpm2_pytss.constants import ESYS_TR

    from harness.transports.swtpm import SwtpmTransport
    from harness.transports.tcti import open_esapi

    def change(old: bytes, new: bytes) -> None:
        transport = SwtpmTransport("127.0.0.1", swtpm_for_plugin.port)
        esapi = open_esapi(transport)
        try:
            esapi.tr_set_auth(ESYS_TR.OWNER, old)
            esapi.hierarchy_change_auth(ESYS_TR.OWNER, new)
        finally:
            esapi.close()
            transport.close()

    change(b"", b"lab-owner-pw")
    yield f"swtpm://127.0.0.1:{swtpm_for_plugin.port}"
    change(b"lab-owner-pw", b"")


def test_needs_marker_skips_naming_the_missing_capability(pytester, tmp_path, owner_auth_set,
                                                          monkeypatch):
    pytester.makepyfile(test_needs=NEEDS_SUITE)
    results = tmp_path / "run"
    monkeypatch.setenv("TPMHIL_LOCKOUT_AUTH", "stray-lockout-pw")
    out = pytester.runpytest_subprocess("--tpm", owner_auth_set, "-rs", "-p", "no:cacheprovider",
                                        "--results", str(results),
                                        "--owner-auth", "lab-owner-pw")
    out.assert_outcomes(passed=3, skipped=2)
    out.stdout.fnmatch_lines(["*test_needs.py:*: chip lacks TPM2_ACT_SetTimeout (TPM_CAP_COMMANDS); "
                              "chip has TPM_PT_NV_COUNTERS_MAX *, test needs >=100000*",
                              "*test_needs.py:*: chip lacks TPM2_ACT_SetTimeout (TPM_CAP_COMMANDS)"])
    for secret in ("lab-owner-pw", "stray-lockout-pw"):
        assert secret not in out.stdout.str() + out.stderr.str()
        for path in results.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), path
    caps = json.loads((results / "capabilities.json").read_text())
    assert caps["auth_given"] == ["owner"] and "TPM2_GetRandom" in caps["commands"]


def test_malformed_needs_marker_is_a_usage_error(pytester):
    pytester.makepyfile(test_bad='''
import pytest

@pytest.mark.needs("cc:TPM2_NoSuchCommand")
def test_x():
    pass
''')
    out = pytester.runpytest_subprocess("--tpm", "swtpm", "-p", "no:cacheprovider")
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    out.stderr.fnmatch_lines(["*test_bad.py::test_x: need 'cc:TPM2_NoSuchCommand'*"])
