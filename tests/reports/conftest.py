"""A real results folder for the report tests.

A spawned swtpm answers real ESAPI commands through the harness transport;
each "test" below is a real check whose outcome comes from the TPM's
answers, recorded as TestRecords with its exchanges, the way the pytest
plugin records them. One campaign point carries telemetry rows written
into the store as a rig would (values are test input, labelled as such).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import traceback
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tpm2_pytss import TSS2_Exception
from tpm2_pytss.constants import TPM2_ALG

from harness.identity import probe
from harness.results.run_folder import RunFolder
from harness.results.store import TelemetrySample, TestRecord
from harness.targets import open_target
from harness.transports.tcti import open_esapi
from reports.allure_labels import labels_for

PROFILES = Path(__file__).resolve().parents[2] / "harness" / "profiles"
SECRET_AUTH = "tpmhil-secret-auth-0451"
UNKNOWN_REQ = "IEC62443-4-2:CR 9.9"
URL_PASSWORD = "s3cret-coordinator-pw"


def _check_selftest(esapi) -> None:
    esapi.self_test(True)
    _, rc = esapi.get_test_result()
    assert rc == 0, f"GetTestResult rc 0x{rc:x}"


def _check_sha256_kat(esapi) -> None:
    digest, _ = esapi.hash(b"abc", TPM2_ALG.SHA256)
    assert bytes(digest) == hashlib.sha256(b"abc").digest()


def _check_random(esapi) -> None:
    a, b = bytes(esapi.get_random(32)), bytes(esapi.get_random(32))
    assert len(a) == 32 and a != b


class KnownDeviation(Exception):
    """The chip answered as a known deviation from the clause the check names (pytest's xfail)."""


BAD_TAG_CLAUSE = "TPM 2.0 Part 3 §5.2: an unknown tag is TPM_RC_BAD_TAG"


def _check_bad_tag(esapi, transport=None) -> None:
    """TPM2_GetRandom with the unknown tag 0x8003, sent raw: TPM_RC_BAD_TAG (0x01E) expected."""
    response = transport.exchange(bytes.fromhex("8003" "0000000c" "0000017b" "0008"))
    rc = int.from_bytes(response[6:10], "big")
    if rc == 0x084:
        raise KnownDeviation("known swtpm/libtpms deviation: an unknown command tag is answered "
                             "with TPM_RC_VALUE (0x084) instead of TPM_RC_BAD_TAG (0x01E)")
    assert rc == 0x01E, f"expected TPM_RC_BAD_TAG, got 0x{rc:03x}"


def _check_truncated_get_random(esapi, transport=None) -> None:
    """TPM2_GetRandom without its bytesRequested parameter: TPM_RC_INSUFFICIENT, parameter 1 (0x1DA)."""
    response = transport.exchange(bytes.fromhex("8001" "0000000a" "0000017b"))
    rc = int.from_bytes(response[6:10], "big")
    assert rc == 0x1DA, f"expected TPM_RC_INSUFFICIENT (parameter 1), got 0x{rc:03x}"


RAW_CHECKS = (_check_bad_tag, _check_truncated_get_random)


def _check_nv_index_present(esapi) -> None:
    # Fails for real: the test range index 0x01500123 is not defined on a fresh swtpm.
    userAuth = SECRET_AUTH  # noqa: N806 - as pytest --showlocals would show it
    esapi.tr_from_tpmpublic(0x01500123)
    assert userAuth


# nodeid, check, markers, requirement ids, point id
CHECKS = [
    ("suites/startup/test_selftest.py::test_full_selftest", _check_selftest, ["functional"],
     ["FIPS140-3:self-tests", "IEC62443-4-2:CR 3.3"], None),
    ("suites/crypto/test_hash_kat.py::test_sha256_abc", _check_sha256_kat, ["kat"],
     ["FIPS140-3:approved-algorithms"], None),
    ("suites/rng/test_random.py::test_no_repeats", _check_random, ["functional"],
     ["IEC62443-4-2:CR 4.3", UNKNOWN_REQ], None),
    ("suites/nv/test_nv_present.py::test_reserved_index_present", _check_nv_index_present,
     ["functional"], ["IEC62443-4-2:CR 4.2"], None),
    ("suites/robustness/test_malformed.py::test_bad_tag[0x8003]", _check_bad_tag, ["negative"],
     ["IEC62443-4-2:CR 3.5"], None),
    ("suites/robustness/test_malformed.py::test_truncated_get_random_is_insufficient",
     _check_truncated_get_random, ["negative"], ["IEC62443-4-2:CR 3.5"], None),
    ("suites/startup/test_selftest.py::test_full_selftest[cold]", _check_selftest,
     ["environmental"], ["IEC62443-4-2:CR 7.4", "FIPS140-3:self-tests"], "p01-cold"),
    # p02-hot lies beyond the rated range (its EFP/EFT check event says so) and saw a power cycle
    ("rigs/campaign/efp_check.py::efp_eft[p02-hot]", _check_sha256_kat, ["environmental"],
     ["FIPS140-3:EFP/EFT"], "p02-hot"),
    ("suites/nv/test_nv_present.py::test_reserved_index_present[hot]", _check_nv_index_present,
     ["functional"], ["IEC62443-4-2:CR 4.1"], "p02-hot"),
]


def _run_check(folder: RunFolder, esapi, transport, nodeid, check, markers, reqs, point) -> None:
    log = transport.log
    log.activity = nodeid
    t0 = time.time()
    outcome, message, longrepr = "passed", "", ""
    spec = BAD_TAG_CLAUSE if check is _check_bad_tag else "TPM 2.0 Part 3"
    try:
        check(esapi, transport) if check in RAW_CHECKS else check(esapi)
    except KnownDeviation as exc:
        outcome, message = "xfailed", str(exc)
    except (AssertionError, TSS2_Exception) as exc:
        outcome, message = "failed", f"{type(exc).__name__}: {exc}"
        longrepr = traceback.format_exc() + f"\nuserAuth   = '{SECRET_AUTH}'\n"
    t1 = time.time()
    folder.store.add_exchanges(log.drain(), worker="main", point_id=point)
    folder.store.add_test(TestRecord(nodeid, outcome, t1 - t0, t0, t1, tuple(markers), tuple(reqs),
                                     spec, message, longrepr, "main", point))
    _write_allure_result(folder, nodeid, "skipped" if outcome == "xfailed" else outcome, markers, reqs,
                         t0, t1, message, longrepr)


RAMP_C = (20.0, 0.0, -20.0)   # the chamber on its way to the point, before the suite starts


def _add_point_telemetry(store, point: str) -> None:
    """Telemetry as a rig writes it for ``point``: the ramp before its suite, 5 samples during it."""
    (start, end), = store.query("SELECT MIN(started), MAX(finished) FROM tests WHERE point_id = ?", (point,))
    ramp = [TelemetrySample(start - 3 + i, "chamber", "temperature", c, "°C", point)
            for i, c in enumerate(RAMP_C)]
    step = (end - start) / 4
    suite = [TelemetrySample(start + step * i, "chamber", "temperature", -40.0 + 0.1 * i, "°C", point)
             for i in range(5)]
    suite += [TelemetrySample(start + step * i, "psu", "voltage", 3.0, "V", point) for i in range(5)]
    store.add_telemetry(ramp + suite)


def _write_security_figures(folder: RunFolder, transport, esapi) -> None:
    """evidence/security/*.json (contract 5) from a real measurement: 32 timed TPM2_GetRandom.

    One check as measured, one labelled SIMULATION (the same samples plus a modelled delay),
    and one that did not run.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    transport.log.activity = "security::get_random_timing"
    for _ in range(32):
        esapi.get_random(8)
    times = [e.duration_s * 1e6 for e in transport.log.drain()]
    security = folder.evidence_dir / "security"
    security.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.hist(times, bins=12)
    ax.set_xlabel("TPM2_GetRandom duration [µs]")
    fig.savefig(security / "get_random_timing.png", dpi=60)
    plt.close(fig)
    median = sorted(times)[len(times) // 2]
    figures = {"samples": {"value": len(times), "unit": "commands", "meaning": "TPM2_GetRandom timed"},
               "median": {"value": median, "unit": "µs", "meaning": "median command duration"}}
    docs = {
        "get_random_timing": {"check": "get_random_timing", "verdict": "pass", "figures": figures,
                              "plots": ["evidence/security/get_random_timing.png"],
                              "simulation": False, "reason": "every sample answered"},
        "simulated_leak": {"check": "simulated_leak", "verdict": "fail", "simulation": True,
                           "figures": {"effect": {"value": 25.0, "unit": "µs per bit",
                                                  "meaning": "modelled delay per leading zero bit"}},
                           "plots": ["evidence/security/get_random_timing.png"],
                           "reason": "SIMULATION (leaking target): the modelled leak is found"},
        "roca": {"check": "roca", "verdict": "not run", "figures": {}, "plots": [],
                 "simulation": False, "reason": "no RSA key generation in this folder's checks"},
    }
    for name, doc in docs.items():
        (security / f"{name}.json").write_text(json.dumps(doc))


def _write_allure_result(folder, nodeid, outcome, markers, reqs, t0, t1, message, trace) -> None:
    """What allure-pytest writes for a test, with labels from reports.allure_labels."""
    folder.allure_dir.mkdir(exist_ok=True)
    uid = hashlib.sha1(f"{nodeid}{t0}".encode()).hexdigest()
    labels = [{"name": k, "value": v} for k, v in labels_for(reqs, markers)]
    result = {"uuid": uid, "historyId": hashlib.md5(nodeid.encode()).hexdigest(),
              "name": nodeid.split("::")[-1], "fullName": nodeid, "status": outcome,
              "stage": "finished", "start": int(t0 * 1000), "stop": int(t1 * 1000),
              "labels": labels, "statusDetails": {"message": message, "trace": trace} if message else {}}
    (folder.allure_dir / f"{uid}-result.json").write_text(json.dumps(result))


def _write_junit(folder: RunFolder) -> None:
    """junit.xml as pytest writes it, failure text (with its secret) included."""
    from xml.etree import ElementTree as ET

    suite = ET.Element("testsuite", name="pytest")
    for nodeid, outcome, message, longrepr in folder.store.query(
            "SELECT nodeid, outcome, message, longrepr FROM tests ORDER BY id"):
        case = ET.SubElement(suite, "testcase", name=nodeid)
        if outcome == "failed":
            ET.SubElement(case, "failure", message=message).text = longrepr
    ET.ElementTree(suite).write(folder.path / "junit.xml")


def make_run_folder(base: Path, run_id: str = "20261125-120000-beef") -> Path:
    """Create a campaign-kind results folder with real swtpm exchanges."""
    folder = RunFolder.create(base, run_id, kind="campaign")
    target = open_target("swtpm")
    try:
        transport = target.open()
        esapi = open_esapi(transport)
        transport.log.activity = "probe"
        ident = probe(esapi)
        folder.store.add_exchanges(transport.log.drain(), worker="main")
        folder.write_json("identity.json", ident.to_dict())
        # a target reached through a coordinator URL with credentials, as a lab might write it
        # written raw, as a lab's own tooling might: the package must scrub it (write_json would)
        (folder.path / "target.json").write_text(json.dumps(
            {**target.describe(), "coordinator": f"grpc://lab:{URL_PASSWORD}@coord:20408"}))
        shutil.copy(PROFILES / "swtpm.yaml", folder.path / "profile.yaml")
        store = folder.store
        store.set_meta("target", "swtpm")
        store.set_meta("identity_brief", f"{ident.manufacturer} {ident.vendor} {ident.firmware}")
        store.set_meta("profile_name", "swtpm")
        store.set_meta("lab_db", f"postgresql://lab:{URL_PASSWORD}@db/results")
        store.set_meta("rig", "test rig (telemetry rows written by tests/reports)")
        store.start_point("p01-cold", 1, "-40 °C, 3.0 V", {"temperature_C": -40.0, "voltage_V": 3.0})
        store.start_point("p02-hot", 2, "95 °C, 3.3 V", {"temperature_C": 95.0, "voltage_V": 3.3})
        store.add_event("power_cycle", {"off_s": 0.2}, "p02-hot")
        store.add_event("efp_check", {"out_of_range": True, "verdict": "PASS"}, "p02-hot")
        now = time.time()
        for nodeid, check, markers, reqs, point in CHECKS:
            _run_check(folder, esapi, transport, nodeid, check, markers, reqs, point)
        _add_point_telemetry(store, "p01-cold")
        _write_security_figures(folder, transport, esapi)
        store.finish_point("p01-cold", "done")
        store.finish_point("p02-hot", "done")
        store.add_test(TestRecord("suites/da/test_lockout.py::test_lockout_after_max_tries",
                                  "skipped", 0.0, now, now, ("destructive",),
                                  ("IEC62443-4-2:CR 1.11",), "", "destructive test not allowed", "",
                                  "main"))
        esapi.close()
    finally:
        target.close()
    key = ec.generate_private_key(ec.SECP256R1())
    (folder.evidence_dir / "ak_public.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    (folder.evidence_dir / "leaked_key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _write_junit(folder)
    folder.summarize()
    folder.export_command_log()
    folder.close()
    return folder.path


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    return make_run_folder(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="session")
def make_run():
    """The builder itself, for tests that need a second results folder."""
    return make_run_folder


@pytest.fixture(scope="session")
def facts() -> dict[str, str]:
    """What the folder was built with: the secret auth value and the unknown requirement id."""
    return {"secret": SECRET_AUTH, "unknown_req": UNKNOWN_REQ, "url_password": URL_PASSWORD}


@pytest.fixture(scope="session")
def lab_key(tmp_path_factory) -> Path:
    from reports.manifest import create_key

    path = tmp_path_factory.mktemp("labkey") / "lab_ed25519.pem"
    create_key(path, announce=lambda line: None)   # keys are created explicitly, never silently
    return path


@pytest.fixture(scope="session")
def package(run_dir, lab_key) -> Path:
    """The full evidence package of ``run_dir`` (PDF and Allure included), built once."""
    from reports.package import build_package

    return build_package([run_dir], pdf=True, allure=True, key_path=lab_key)


@pytest.fixture
def package_copy(package, tmp_path) -> Path:
    """A private copy of the package for tests that tamper with it."""
    return Path(shutil.copytree(package, tmp_path / "package"))


if __name__ == "__main__":  # build a folder by hand: python tests/reports/conftest.py DIR
    import sys

    print(make_run_folder(Path(sys.argv[1] if len(sys.argv) > 1 else os.getcwd())))
