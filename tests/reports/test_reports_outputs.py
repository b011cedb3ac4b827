"""Machine-readable outputs: traceability CSV/XLSX, OSCAL, Allure, and no secrets anywhere."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

from openpyxl import load_workbook

from reports.allure_render import embedded_files
from reports.catalogue import load_catalogue
from reports.pdf import dump_dom
from reports.oscal import OscalError, read_oscal

import pytest


def test_csv_matrix_traces_every_requirement(package: Path) -> None:
    rows = list(csv.DictReader((package / "traceability.csv").open()))
    assert {r["requirement"] for r in rows} == {r.id for r in load_catalogue()}
    (cr12,) = [r for r in rows if r["requirement"] == "IEC62443-4-2:CR 1.2"]
    assert cr12["requirement_verdict"] == "not covered" and cr12["test"] == ""
    nv = [r for r in rows if r["requirement"] == "IEC62443-4-2:CR 4.2"]
    assert [(r["test_outcome"], r["requirement_verdict"]) for r in nv] == [("failed", "fail")]
    # each row points at the test's own verdict row (RFC 7111), and that row is the test
    run_id = nv[0]["run_id"]
    assert nv[0]["evidence"].startswith(f"data/{run_id}/tests.csv#row=")
    assert nv[0]["test_file"] == "suites/nv/test_nv_present.py"
    tests_csv = list(csv.reader((package / "data" / run_id / "tests.csv").open()))
    row = int(nv[0]["evidence"].rsplit("=", 1)[1])
    assert tests_csv[row - 1][tests_csv[0].index("nodeid")] == nv[0]["test"]
    (dev,) = [r for r in rows if r["requirement"] == "IEC62443-4-2:CR 3.5" and r["test_outcome"] == "xfailed"]
    assert dev["requirement_verdict"] == "pass with deviations"
    assert dev["deviation_clause"].startswith("TPM 2.0 Part 3 §5.2")
    assert "TPM_RC_VALUE (0x084)" in dev["deviation_reason"]


def test_verdicts_json_agrees_with_the_matrix(package: Path) -> None:
    data = json.loads((package / "verdicts.json").read_text())
    rows = list(csv.DictReader((package / "traceability.csv").open()))
    by_req = {r["requirement"]: r["requirement_verdict"] for r in rows}
    assert {e["id"]: e["verdict"] for e in data["requirements"]} == by_req
    assert sum(data["totals"].values()) == len(load_catalogue())
    (dev,) = data["deviations"][:1]
    assert dev["clause"].startswith("TPM 2.0 Part 3 §5.2") and dev["evidence"].startswith("data/")
    assert all(e["rationale"] for e in data["requirements"])


def test_xlsx_matches_csv(package: Path) -> None:
    wb = load_workbook(package / "traceability.xlsx", read_only=True)
    reqs = list(wb["requirements"].iter_rows(values_only=True))
    assert reqs[0][:4] == ("standard", "requirement", "title", "verdict")
    assert len(reqs) - 1 == len(load_catalogue())
    devs = list(wb["deviations"].iter_rows(values_only=True))
    assert devs[0][4] == "spec clause" and {d[0] for d in devs[1:]} == {"IEC62443-4-2:CR 3.5",
                                                                        "IEC62443-4-2:CR 3.7"}
    trace = list(wb["traceability"].iter_rows(values_only=True))
    assert len(trace) - 1 == len(list(csv.DictReader((package / "traceability.csv").open())))


def _value(reason) -> str:
    """An OSCAL status reason: a Reason enum model or a plain token."""
    root = getattr(reason, "root", reason)
    return getattr(root, "value", root)


def test_oscal_validates_and_states_each_finding(package: Path) -> None:
    model = read_oscal(package / "assessment-results.json")
    (result,) = model.results
    findings = {f.target.title: f for f in result.findings}
    assert len(findings) == len(load_catalogue())
    assert findings["FIPS140-3:self-tests"].target.status.state.value == "satisfied"
    nc = findings["IEC62443-4-2:CR 1.2"].target.status
    assert nc.state.value == "not-satisfied" and _value(nc.reason) == "other"
    assert _value(findings["IEC62443-4-2:CR 4.2"].target.status.reason) == "fail"
    cr35 = findings["IEC62443-4-2:CR 3.5"]
    assert {p.name: p.value for p in cr35.props}["verdict"] == "pass-with-deviations"
    assert any(p.name == "deviation" and "§5.2" in p.value for p in cr35.props)
    sec = {o.title: {p.name: p.value for p in o.props} for o in result.observations
           if o.title.startswith("security check")}
    assert sec["security check simulated_leak: fail"]["simulation"] == "yes"
    assert sec["security check get_random_timing: pass"]["figure-samples"] == "32"
    assert sec["security check roca: not run"]["check-verdict"] == "not-run"
    meta = {p.name: p.value for p in model.metadata.props}
    assert meta["provenance-recorded"] in ("yes", "no") and "provenance-lab" in meta
    obs = {o.uuid for o in result.observations}
    assert all(r.observation_uuid in obs for f in result.findings for r in f.related_observations or [])
    selected = {c.control_id for c in result.reviewed_controls.control_selections[0].include_controls}
    assert selected == {r.oscal_id for r in load_catalogue()}
    # back-matter lists the raw data and reports with digests that match the files
    resources = {r.title: r.rlinks[0] for r in model.back_matter.resources}
    assert {"report.html", "report.pdf", "traceability.csv"} <= set(resources)
    assert any(t.endswith("/exchanges.csv") for t in resources)
    for title, rlink in resources.items():
        assert rlink.hashes[0].value == hashlib.sha256((package / rlink.href).read_bytes()).hexdigest()


def test_broken_oscal_is_rejected(package: Path, tmp_path: Path) -> None:
    data = json.loads((package / "assessment-results.json").read_text())
    del data["assessment-results"]["results"][0]["reviewed-controls"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(OscalError, match="not valid OSCAL"):
        read_oscal(bad)


def test_allure_environment_categories_and_report(package: Path, run_dir: Path, tmp_path: Path) -> None:
    from reports import allure_env

    written = allure_env.write(run_dir, out=tmp_path / "allure-results")
    props = dict(line.split("=", 1) for line in
                 (written / "environment.properties").read_text().splitlines())
    assert props["chip"].startswith("IBM") and props["chip.firmware"] == "20191023.00163636"
    assert props["bus"] == "socket" and props["harness.version"] and props["rig"]
    cats = json.loads((written / "categories.json").read_text())
    assert {"TPM error response", "Not run on this target"} <= {c["name"] for c in cats}
    report = package / "allure-report"
    assert (report / "index.html").is_file()
    # single file: the data rides inside index.html, nothing for the browser to fetch
    assert not (report / "widgets").exists() and not (report / "data").exists()
    files = embedded_files(report / "index.html")
    results = json.loads(files["widgets/tree.json"]) if "widgets/tree.json" in files else {}
    assert len(json.loads((report / "test-results.json").read_text())["byId"]) == 9
    env = {e["name"]: e["values"] for e in json.loads(files["widgets/allure_environment.json"])}
    assert env["chip.firmware"] == ["20191023.00163636"]
    assert "TPM error response" in files["widgets/categories.json"].decode()
    searchable = json.dumps(results) + "".join(v.decode() for k, v in files.items()
                                               if k.startswith("data/test-results/"))
    assert "CR 4.2 Information persistence" in searchable


def test_allure_report_renders_from_disk(package: Path) -> None:
    """Opened as file:// in headless Chromium, the report shows its tests, not a spinner."""
    dom = dump_dom(package / "allure-report" / "index.html", virtual_time_ms=15000)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<(script|style)[^>]*>.*?</\1>", "", dom)))
    assert "allure-app-loader" not in dom or "Results 9" in text   # the loader gave way
    assert "Results 9" in text and "Failed 2" in text
    assert "test_reserved_index_present" in text and "test_full_selftest" in text


def test_no_secret_in_any_file(package: Path, run_dir: Path, lab_key: Path, facts) -> None:
    secret = facts["secret"].encode()
    password = facts["url_password"].encode()
    private = lab_key.read_bytes()
    assert password in (run_dir / "target.json").read_bytes()    # the inputs do hold them
    assert any(secret in p.read_bytes() for p in (run_dir / "allure-results").glob("*-result.json"))
    assert b"[REDACTED]" in (run_dir / "junit.xml").read_bytes()   # the store scrubs what it keeps
    for path in package.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret not in data, path
            assert password not in data, path
            assert b"PRIVATE KEY" not in data, path
            assert private not in data, path
    assert not (package / "evidence" / run_dir.name / "leaked_key.pem").exists()
    assert (package / "evidence" / run_dir.name / "ak_public.pem").exists()


def test_other_run_files_are_carried_redacted(package: Path, run_dir: Path) -> None:
    from xml.dom import minidom

    files = package / "data" / run_dir.name / "files"
    assert sorted(p.name for p in files.iterdir()) == ["command_log.csv", "command_log.parquet",
                                                       "junit.xml"]
    doc = minidom.parse(str(files / "junit.xml"))             # still well-formed after redaction
    (failure, *_) = doc.getElementsByTagName("failure")
    assert "[REDACTED]" in failure.firstChild.data
