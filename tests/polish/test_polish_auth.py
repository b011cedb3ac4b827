"""The lab's hierarchy auth reaches ``tpmhil audit`` (options and $TPMHIL_*_AUTH), never printed."""

from __future__ import annotations

import json

import pytest

from harness.cli.main import main

TARGET = "i2c+sim://slb9673?owner_auth=00112233"
SKIP = ["--skip", "nonce_timing", "--skip", "reference_probes", "--skip", "ek_credentials"]


def _audit(capsys, tmp_path, *extra):
    rc = main(["audit", "--tpm", TARGET, "--results", str(tmp_path), "--json", *SKIP, *extra])
    out = capsys.readouterr()
    return rc, json.loads(out.out), out.err


def _roca(doc):
    (roca,) = [c for c in doc["security"] if c["check"] == "roca"]
    return roca


@pytest.mark.parametrize("how", ["env", "option"])
def test_audit_uses_the_labs_owner_auth(capsys, tmp_path, monkeypatch, how):
    monkeypatch.delenv("TPMHIL_OWNER_AUTH", raising=False)
    extra = ()
    if how == "env":
        monkeypatch.setenv("TPMHIL_OWNER_AUTH", "hex:00112233")
    else:
        extra = ("--owner-auth", "hex:00112233")
    rc, doc, err = _audit(capsys, tmp_path, *extra)
    assert _roca(doc)["verdict"] == "pass", err
    assert "authorization failure" not in err and "00112233" not in err
    assert "auth is set and not given" not in err


def test_audit_without_the_owner_auth_says_which_hierarchy(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("TPMHIL_OWNER_AUTH", raising=False)
    rc, doc, err = _audit(capsys, tmp_path)
    assert rc == 1
    lines = [ln for ln in err.splitlines() if "auth is set and not given" in ln]
    assert len(lines) == 1 and "owner" in lines[0] and "$TPMHIL_OWNER_AUTH" in lines[0], err


def test_bad_auth_value_is_one_line_without_the_value(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TPMHIL_OWNER_AUTH", "hex:zz-secret")
    rc = main(["audit", "--tpm", TARGET, "--results", str(tmp_path), *SKIP])
    err = capsys.readouterr().err
    assert rc == 2 and "$TPMHIL_OWNER_AUTH" in err and "zz-secret" not in err
