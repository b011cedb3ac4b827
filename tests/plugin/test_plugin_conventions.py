"""pytest conventions of the plugin: junit.xml traceability, strict markers in the suites,
ini defaults a lab pins, and no two xdist workers on one chip."""

import os
import socket
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

TRACED = '''
import pytest

@pytest.mark.requirement("IEC62443-4-2:CR 3.4", "FIPS140-3:self-tests")
@pytest.mark.spec("TPM 2.0 Part 3 §10.4")
def test_traced():
    pass

def test_untraced():
    pass
'''

USES_TARGET = '''
def test_target(tpm_target):
    assert tpm_target is not None
'''


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("TPMHIL_", "PYTEST_XDIST")):
            monkeypatch.delenv(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_junit_xml_carries_requirement_ids_and_spec_clauses(pytester, clean_env):
    pytester.makepyfile(test_traced=TRACED)
    xml = pytester.path / "junit.xml"
    out = pytester.runpytest_subprocess("--junitxml", str(xml), "-p", "no:cacheprovider")
    out.assert_outcomes(passed=2)
    cases = {c.get("name"): c for c in ET.parse(xml).getroot().iter("testcase")}
    props = [(p.get("name"), p.get("value")) for p in cases["test_traced"].iter("property")]
    assert props == [("requirement", "IEC62443-4-2:CR 3.4"),
                     ("requirement", "FIPS140-3:self-tests"),
                     ("spec", "TPM 2.0 Part 3 §10.4")]
    assert list(cases["test_untraced"].iter("property")) == []


def test_junit_xml_properties_survive_xdist(pytester, clean_env):
    pytester.makepyfile(test_traced=TRACED)
    xml = pytester.path / "junit.xml"
    out = pytester.runpytest_subprocess("-n", "2", "--junitxml", str(xml), "-p",
                                        "no:cacheprovider")
    out.assert_outcomes(passed=2)
    names = [p.get("name") for p in ET.parse(xml).getroot().iter("property")]
    assert names == ["requirement", "requirement", "spec"]


def test_a_misspelt_marker_in_the_suites_is_refused(pytester, clean_env):
    """python -m pytest runs in the pytester folder, so its ``suites`` package is the one
    the plugin treats as the tpm-hil suites."""
    pytester.makepyfile(**{"suites/__init__.py": "",
                           "suites/test_typo.py": TRACED.replace('mark.requirement(',
                                                                 'mark.requirment(')})
    out = pytester.runpytest_subprocess("suites", "-p", "no:cacheprovider")
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    out.stderr.fnmatch_lines(["*markers not registered*",
                              "*suites/test_typo.py::test_traced: unknown marker 'requirment'*"])
    assert "passed" not in out.stdout.str()


def test_registered_markers_in_the_suites_and_a_labs_own_tests_are_not_refused(
        pytester, clean_env):
    pytester.makepyfile(**{"suites/__init__.py": "", "suites/test_ok.py": TRACED,
                           "lab/test_own.py": TRACED.replace("requirement(", "labtag(")})
    out = pytester.runpytest_subprocess("suites", "lab", "-p", "no:cacheprovider")
    out.assert_outcomes(passed=4)  # the lab's own file keeps its own --strict-markers choice


def test_a_lab_pins_its_target_in_pytest_ini_and_the_command_line_wins(pytester, clean_env):
    port = _free_port()  # nothing listens: the pinned target is used, and fails to connect
    pytester.makeini(f"[pytest]\ntpm = swtpm://127.0.0.1:{port}\n")
    pytester.makepyfile(test_target=USES_TARGET)
    pinned = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    pinned.assert_outcomes(errors=1)
    pinned.stdout.fnmatch_lines([f"*cannot use target swtpm://127.0.0.1:{port}*"])
    given = pytester.runpytest_subprocess("--tpm", "swtpm", "-p", "no:cacheprovider")
    given.assert_outcomes(passed=1)


def test_env_target_overrides_the_ini_pin(pytester, clean_env, monkeypatch):
    port = _free_port()
    pytester.makeini(f"[pytest]\ntpm = swtpm://127.0.0.1:{port}\n")
    pytester.makepyfile(test_target=USES_TARGET)
    monkeypatch.setenv("TPMHIL_TARGET", "swtpm")
    out = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    out.assert_outcomes(passed=1)


def test_ini_chip_profile_and_results_are_used(pytester, clean_env, tmp_path):
    results = tmp_path / "pinned-results"
    pytester.makeini(f"[pytest]\ntpm_chip_profile = nosuch\ntpm_results = {results}\n")
    pytester.makepyfile(test_target=USES_TARGET)
    out = pytester.runpytest_subprocess("--tpm", "swtpm", "-p", "no:cacheprovider")
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    out.stderr.fnmatch_lines(["*--chip-profile: no chip profile named 'nosuch'*"])
    ok = pytester.runpytest_subprocess("--tpm", "swtpm", "--chip-profile", "swtpm", "-p",
                                       "no:cacheprovider")
    ok.assert_outcomes(passed=1)
    assert (results / "store.sqlite").exists()


@pytest.mark.parametrize("target", ["swtpm://127.0.0.1:{port}", "device:///dev/tpmrm0",
                                    "swtpm?state={tmp}"])
def test_two_workers_on_one_tpm_are_refused_in_one_line(pytester, clean_env, tmp_path,
                                                         target):
    uri = target.format(port=_free_port(), tmp=tmp_path / "state")
    pytester.makepyfile(test_target=USES_TARGET)
    out = pytester.runpytest_subprocess("-n", "2", "--tpm", uri, "-p", "no:cacheprovider")
    assert out.ret == pytest.ExitCode.USAGE_ERROR
    err = [line for line in out.stderr.lines if line.strip()]
    assert len(err) == 1 and err[0].startswith("ERROR: -n 2: target "), err
    assert "all 2 pytest-xdist workers would drive at once" in err[0]
    assert "bringing up nodes" not in out.stdout.str()  # no worker was started


def test_two_workers_with_their_own_swtpm_each_run(pytester, clean_env):
    pytester.makepyfile(test_target=USES_TARGET + USES_TARGET.replace("test_target",
                                                                        "test_other"))
    out = pytester.runpytest_subprocess("-n", "2", "--tpm", "swtpm", "-p", "no:cacheprovider")
    out.assert_outcomes(passed=2)


def test_per_worker_by_target_kind():
    from tpm_hil_fixtures.xdist_guard import per_worker
    from harness.targets.registry import open_target

    assert per_worker(open_target("swtpm"))
    assert per_worker(open_target("spi+sim://st33ktpm"))
    assert per_worker(open_target("i2c+sim://slb9673"))
    assert not per_worker(open_target("swtpm://127.0.0.1:2321"))
    assert not per_worker(open_target("swtpm://127.0.0.1:2321?disposable=1"))
    assert not per_worker(open_target("device:///dev/tpmrm0"))
    assert not per_worker(open_target("mssim://127.0.0.1:2321"))


def test_the_suites_on_an_external_swtpm_with_two_workers_are_refused(clean_env, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    port = _free_port()
    done = subprocess.run([sys.executable, "-m", "pytest", "suites", "-n", "2", "--tpm",
                           f"swtpm://127.0.0.1:{port}", "-q", "-p", "no:cacheprovider",
                           "--results", str(tmp_path / "run")],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [line for line in lines if line.startswith("ERROR: -n 2: target swtpm://")]
    assert len(lines) == 1 and "own TPM" in lines[0]
    assert not (tmp_path / "run").exists()  # refused before anything was written
