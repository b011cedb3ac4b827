"""IMA runtime measurements: both list formats, template hashes, PCR 10 replay (per-bank
and the old padded-SHA-1 rule, violations as ff), boot_aggregate and the allowlist."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.attest import ima as imalib
from harness.attest.ima_policy import (AllowlistError, judge_allowlist, load_allowlist,
                                       parse_allowlist)
from tests.attest import ima_lists as il


def _ascii(entries, bank="sha1") -> bytes:
    return ("\n".join(m.ascii(bank) for m in entries) + "\n").encode()


def _binary(entries, bank="sha1") -> bytes:
    return b"".join(m.binary(bank) for m in entries)


@pytest.fixture
def entries():
    return il.sample(il.boot_aggregate([bytes(32)] * 10, "sha256"))


def test_ascii_and_binary_lists_read_alike_and_their_template_hashes_verify(entries, tmp_path):
    (tmp_path / "ascii_runtime_measurements").write_bytes(_ascii(entries))
    (tmp_path / "binary_runtime_measurements").write_bytes(_binary(entries))
    a = imalib.read_ima_list(tmp_path / "ascii_runtime_measurements")
    b = imalib.read_ima_list(tmp_path / "binary_runtime_measurements")
    assert [(e.template, e.path, e.file_alg, e.file_hash, e.template_hash, e.fields)
            for e in a.entries] == \
        [(e.template, e.path, e.file_alg, e.file_hash, e.template_hash, e.fields)
         for e in b.entries]
    assert [e.path for e in a.entries] == [m.path for m in entries]
    assert [e.template for e in a.entries][:6] == ["ima-ng", "ima-ng", "ima-ng", "ima-sig",
                                                   "ima-sig", "ima"]
    for lst in (a, b):
        tc = imalib.check_template_hashes(lst)
        assert not tc.bad and [e.path for e in tc.violations] == ["/var/lib/app/state.db"]


def test_sha256_template_hash_lists(entries, tmp_path):
    (tmp_path / "ascii_runtime_measurements_sha256").write_bytes(_ascii(entries, "sha256"))
    (tmp_path / "binary_runtime_measurements_sha256").write_bytes(_binary(entries, "sha256"))
    for name in ("ascii_runtime_measurements_sha256", "binary_runtime_measurements_sha256"):
        lst = imalib.read_ima_list(tmp_path / name)
        assert lst.template_hash_alg == "sha256"
        assert not imalib.check_template_hashes(lst).bad
        assert imalib.replay_pcr(lst, "sha256") == il.pcr10(entries, "sha256")


@pytest.mark.parametrize("bank", ["sha1", "sha256", "sha384"])
def test_replay_into_pcr10_with_violations_as_ff(entries, bank):
    lst = imalib.parse_ascii(_ascii(entries))
    assert imalib.replay_pcr(lst, bank) == il.pcr10(entries, bank)


def test_legacy_kernels_padded_sha1_rule(entries):
    """Before 5.8 every bank got the SHA-1 template digest zero-padded (ff.. for violations)."""
    import hashlib

    lst = imalib.parse_ascii(_ascii(entries))
    value = bytes(32)
    for m in entries:
        d = b"\xff" * 20 if m.content is None else m.template_data("sha1")
        value = hashlib.sha256(value + d + bytes(12)).digest()
    assert imalib.replay_pcr(lst, "sha256", legacy=True) == value != il.pcr10(entries, "sha256")


def test_one_changed_file_hash_fails_naming_the_file(entries, tmp_path):
    doc = il.allowlist(entries)
    doc["files"]["/usr/sbin/plc-runtime"] = ["sha256:" + "ab" * 32]
    (tmp_path / "allow.yaml").write_text(yaml.safe_dump(doc))
    changed, unknown = judge_allowlist(imalib.parse_ascii(_ascii(entries)),
                                       load_allowlist(tmp_path / "allow.yaml"))
    assert unknown == [] and len(changed) == 1
    assert changed[0].startswith("/usr/sbin/plc-runtime: sha256:")


def test_unknown_files_excludes_and_keylime_hashes_key(entries, tmp_path):
    doc = il.allowlist(entries)
    del doc["files"]["/usr/bin/modbus-gw"]
    keylime = {"meta": {"version": 1}, "hashes": doc["files"], "exclude": ["^/opt/vendor/"]}
    (tmp_path / "policy.json").write_text(json.dumps(keylime))
    allow = load_allowlist(tmp_path / "policy.json")
    changed, unknown = judge_allowlist(imalib.parse_ascii(_ascii(entries)), allow)
    assert changed == [] and len(unknown) == 1 and unknown[0].startswith("/usr/bin/modbus-gw (")
    assert allow.unknown_fails


@pytest.mark.parametrize("doc, field", [
    ([], "top level"), ({"files": []}, "files"), ({"files": {"/a": []}}, "files['/a']"),
    ({"files": {"/a": ["sha256:zz"]}}, "files['/a']"), ({"files": {}, "unknown": "x"}, "unknown"),
    ({"files": {}, "exclude": ["("]}, "exclude[0]"),
])
def test_bad_allowlist_names_the_field(doc, field):
    with pytest.raises(AllowlistError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_allowlist(doc, "lab.yaml")


@pytest.mark.parametrize("damage, words", [
    (lambda t: t.replace(b" ima-ng ", b" ima-xx ", 1), ["entry #0 (line 1)", "ima-xx"]),
    (lambda t: t.replace(b"10 ", b"99 ", 1), ["PCR '99'"]),
    (lambda t: t + b"10 abcd ima-ng sha256:00 /x\n", ["entry #8 (line 9)", "template hash of 2"]),
    (lambda t: t + b"10 " + b"0" * 40 + b" ima-ng sha256:0011 /x\n", ["sha256 file digest is 2"]),
    (lambda t: t + b"10 x\n", ["2 fields"]),
])
def test_malformed_ascii_list_is_one_line(entries, damage, words):
    with pytest.raises(imalib.ImaListError) as info:
        imalib.parse_ascii(damage(_ascii(entries)), "ima.txt")
    text = str(info.value)
    assert text.startswith("IMA list ima.txt: entry #") and "\n" not in text
    assert all(w in text for w in words), text


@pytest.mark.parametrize("cut", [3, 10, 30, 60, 100, -1])
def test_truncated_binary_list_names_entry_and_offset(entries, cut):
    data = _binary(entries)
    with pytest.raises(imalib.ImaListError, match=r"entry #\d+ at offset 0x[0-9a-f]+: "):
        imalib.parse_binary(data[:cut], "ima.bin")


def test_eventlog_ima_command(entries, tmp_path, capsys):
    from harness.cli.main import main

    (tmp_path / "ascii_runtime_measurements").write_bytes(_ascii(entries))
    doc = il.allowlist(entries)
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump(doc))
    doc["files"]["/usr/bin/bash"] = ["sha256:" + "00" * 32]
    (tmp_path / "changed.yaml").write_text(yaml.safe_dump(doc))
    lst = str(tmp_path / "ascii_runtime_measurements")
    capsys.readouterr()
    assert main(["eventlog", "ima", lst, "--allowlist", str(tmp_path / "ok.yaml")]) == 0
    out = capsys.readouterr().out
    assert "8 measurements, sha1 template hashes, 1 violation(s)" in out
    assert il.pcr10(entries, "sha256").hex() in out and "VERDICT: PASS" in out
    assert main(["eventlog", "ima", lst, "--allowlist", str(tmp_path / "changed.yaml")]) == 1
    out = capsys.readouterr().out
    assert "CHANGED: /usr/bin/bash: sha256:" in out and "VERDICT: FAIL" in out
    (tmp_path / "bad").write_bytes(_ascii(entries)[:-40] + b"zz\n")
    assert main(["eventlog", "ima", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "entry #7 (line 8)" in err


def test_ascii_line_and_ng_entry_round_trip(entries):
    lst = imalib.parse_ascii(_ascii(entries))
    assert [e.ascii_line() for e in lst.entries] == [m.ascii() for m in entries]
    made = imalib.ng_entry(0, "/usr/bin/x", "sha256", bytes(range(32)))
    again = imalib.parse_ascii(made.ascii_line().encode()).entries[0]
    assert again.fields == made.fields and not imalib.check_template_hashes(
        imalib.ImaList("x", [again])).bad
