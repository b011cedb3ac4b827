"""Machine-readable outputs: traceability CSV/XLSX, OSCAL, Allure, and no secrets anywhere."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from openpyxl import load_workbook

from reports.catalogue import load_catalogue
from reports.oscal import OscalError, read_oscal

import pytest


def test_csv_matrix_traces_every_requirement(package: Path) -> None:
    rows = list(csv.DictReader((package / "traceability.csv").open()))
    assert {r["requirement"] for r in rows} == {r.id for r in load_catalogue()}
    (cr12,) = [r for r in rows if r["requirement"] == "IEC62443-4-2:CR 1.2"]
    assert cr12["requirement_verdict"] == "not covered" and cr12["test"] == ""
    nv = [r for r in rows if r["requirement"] == "IEC62443-4-2:CR 4.2"]
    assert [(r["test_outcome"], r["requirement_verdict"]) for r in nv] == [("failed", "fail")]


def test_verdicts_json_agrees_with_the_matrix(package: Path) -> None:
    data = json.loads((package / "verdicts.json").read_text())
    rows = list(csv.DictReader((package / "traceability.csv").open()))
    by_req = {r["requirement"]: r["requirement_verdict"] for r in rows}
    assert {e["id"]: e["verdict"] for e in data["requirements"]} == by_req
    assert sum(data["totals"].values()) == len(load_catalogue())


def test_xlsx_matches_csv(package: Path) -> None:
    wb = load_workbook(package / "traceability.xlsx", read_only=True)
    reqs = list(wb["requirements"].iter_rows(values_only=True))
    assert reqs[0][:4] == ("standard", "requirement", "title", "verdict")
    assert len(reqs) - 1 == len(load_catalogue())
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


def test_allure_environment_categories_and_report(package: Path, run_dir: Path) -> None:
    props = dict(line.split("=", 1) for line in
                 (run_dir / "allure-results" / "environment.properties").read_text().splitlines())
    assert props["chip"].startswith("IBM") and props["chip.firmware"] == "8217.4131"
    assert props["bus"] == "socket" and props["harness.version"] and props["rig"]
    cats = json.loads((run_dir / "allure-results" / "categories.json").read_text())
    assert {"TPM error response", "Not run on this target"} <= {c["name"] for c in cats}
    report = package / "allure-report"
    assert (report / "index.html").is_file()
    assert len(json.loads((report / "test-results.json").read_text())["byId"]) == 7
    env = {e["name"]: e["values"] for e in json.loads((report / "widgets" / "allure_environment.json").read_text())}
    assert env["chip.firmware"] == ["8217.4131"]
    assert "TPM error response" in (report / "widgets" / "categories.json").read_text()
    stories = (report / "widgets" / "tree.json").read_text() if (report / "widgets" / "tree.json").exists() else ""
    searchable = stories + "".join(p.read_text() for p in (report / "data" / "test-results").glob("*.json"))
    assert "CR 4.2 Information persistence" in searchable


def test_no_secret_in_any_file(package: Path, run_dir: Path, lab_key: Path, facts) -> None:
    secret = facts["secret"].encode()
    password = facts["url_password"].encode()
    private = lab_key.read_bytes()
    assert password in (run_dir / "target.json").read_bytes()    # the inputs do hold them
    assert any(secret in p.read_bytes() for p in (run_dir / "allure-results").glob("*-result.json"))
    assert secret in (run_dir / "junit.xml").read_bytes()
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
