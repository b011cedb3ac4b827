"""Hostile results folders, stores, packages and keys against ``report`` and ``verify``.

Each test reproduces one finding of issue 16 (evidence trust): before the fix
the crafted input wrote outside the package, deleted a folder, packaged a
linked file, leaked a secret, or verified a re-signed package. Every command
here must answer with one line and exit 2 for bad input (never a traceback),
and never touch the input.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import secrets
from harness.cli.main import main
from harness.results.run_folder import RunFolder
from harness.results.store import TestRecord
from harness.targets.uri import parse_target
from reports.manifest import (MANIFEST, SIGNATURE, PackageError, create_key, public_key_path,
                              sign_package, verify_package, FileSigner, load_key)

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "pw/with@chars-9931"
TARGET_PW = "s3cret@pw-9931"          # '/' would have to be percent-encoded in a URL


def _quiet(line: str) -> None:
    pass


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "lab.pem"
    create_key(path, announce=_quiet)
    return path


def make_folder(base: Path, run_id: str = "20261129-120000-a1b2", *, message: str = "",
                longrepr: str = "") -> Path:
    """A small results folder: one passed and one failed record (input data for the report)."""
    folder = RunFolder.create(base, run_id)
    now = time.time()
    folder.store.add_test(TestRecord("suites/x/test_a.py::test_ok", "passed", 0.1, now, now + 0.1,
                                     ("functional",), ("IEC62443-4-2:CR 3.3",), "", "", "", "main"))
    folder.store.add_test(TestRecord("suites/x/test_a.py::test_bad", "failed", 0.1, now, now + 0.1,
                                     ("functional",), ("IEC62443-4-2:CR 4.1",), "", message,
                                     longrepr, "main"))
    folder.write_json("identity.json", {"manufacturer": "IBM", "vendor": "SW TPM",
                                        "firmware": "1.0"})
    folder.summarize()
    folder.close()
    return folder.path


def _set_meta(store: Path, key: str, value: object) -> None:
    con = sqlite3.connect(store)
    con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))
    con.commit()
    con.close()


def _report(run: Path, out: Path, key: Path, *extra: str) -> int:
    return main(["report", str(run), "-o", str(out), "--no-pdf", "--key", str(key), *extra])


def _one_line_error(capsys, *needles: str) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    err = captured.err.strip().splitlines()
    assert err and all(n in err[-1] for n in needles), captured.err
    return err[-1]


# -- path traversal ----------------------------------------------------------------------------

@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/tpmhil-abs-escape", "a/../../b", ".."])
def test_run_id_in_a_store_cannot_leave_the_package(tmp_path, key, capsys, run_id) -> None:
    run = make_folder(tmp_path / "results")
    _set_meta(run / "store.sqlite", "run_id", run_id)
    out = tmp_path / "deep" / "er" / "pkg"
    assert _report(run, out, key) == 2
    _one_line_error(capsys, "run_id", "not a plain name")
    assert not (tmp_path / "deep" / "escaped").exists()
    assert not Path("/tmp/tpmhil-abs-escape").exists()
    assert not out.exists()


def test_run_id_option_cannot_leave_the_results_base(tmp_path) -> None:
    from harness.results.safe_names import UnsafeNameError

    with pytest.raises(UnsafeNameError, match="run id"):
        RunFolder.create(tmp_path / "results", "../outside")
    assert not (tmp_path / "outside").exists()


# -- symlinks and binary files -----------------------------------------------------------------

def test_links_out_of_the_folder_are_not_packaged(tmp_path, key, capsys) -> None:
    outside = tmp_path / "shadow"
    outside.write_text("root:$6$secret-hash-from-outside:19000:0:99999:7:::\n")
    run = make_folder(tmp_path / "results")
    (run / "evidence").mkdir(exist_ok=True)
    (run / "evidence" / "shadow.txt").symlink_to(outside)
    (run / "notes.log").symlink_to(outside)
    (run / "evidence" / "dir-link").symlink_to(tmp_path, target_is_directory=True)
    (run / "inside.txt").write_text("a file of the run\n")
    (run / "evidence" / "inner-link.txt").symlink_to(run / "inside.txt")
    out = tmp_path / "pkg"
    assert _report(run, out, key) == 0
    text = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert "secret-hash-from-outside" not in text
    assert not any(p.is_symlink() for p in out.rglob("*"))
    withheld = json.loads((out / "data" / run.name / "withheld.json").read_text())
    assert "leading outside" in withheld["evidence/shadow.txt"]
    assert "leading outside" in withheld["notes.log"]
    assert (out / "evidence" / run.name / "inner-link.txt").read_text() == "a file of the run\n"
    assert main(["verify", str(out), "--key", str(public_key_path(key))]) == 0
    capsys.readouterr()


def test_every_file_type_is_scrubbed_or_withheld(tmp_path, key) -> None:
    run = make_folder(tmp_path / "results")
    (run / "pytest-output.dat").write_text(f"connecting postgresql://lab:{PASSWORD}@db/x\n")
    (run / "blob.bin").write_bytes(b"\x00\x01\xff password=hunter2-binary \x00")
    (run / "plain.bin").write_bytes(bytes(range(256)))
    (run / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    out = tmp_path / "pkg"
    assert _report(run, out, key) == 0
    files = out / "data" / run.name / "files"
    assert PASSWORD not in (files / "pytest-output.dat").read_text()
    assert not (files / "blob.bin").exists()
    assert (files / "plain.bin").read_bytes() == bytes(range(256))
    assert (files / "plot.png").is_file()
    withheld = json.loads((out / "data" / run.name / "withheld.json").read_text())
    assert "secret" in withheld["blob.bin"]


# -- -o safety ---------------------------------------------------------------------------------

def test_output_folder_with_a_foreign_manifest_is_left_alone(tmp_path, key, capsys) -> None:
    run = make_folder(tmp_path / "results")
    foreign = tmp_path / "home-folder"
    foreign.mkdir()
    (foreign / MANIFEST).write_text('{"name": "my node project"}')
    (foreign / "thesis.tex").write_text("years of work")
    assert _report(run, foreign, key) == 2
    _one_line_error(capsys, "not a tpm-hil evidence package")
    assert (foreign / "thesis.tex").read_text() == "years of work"


def test_output_package_with_a_foreign_file_is_left_alone(tmp_path, key, capsys) -> None:
    run = make_folder(tmp_path / "results")
    out = tmp_path / "pkg"
    assert _report(run, out, key) == 0
    (out / "my-notes.txt").write_text("mine")
    assert _report(run, out, key) == 2
    _one_line_error(capsys, "not an unmodified tpm-hil evidence package")
    assert (out / "my-notes.txt").exists()
    (out / "my-notes.txt").unlink()
    assert _report(run, out, key) == 0   # an unmodified package of ours is replaced


def test_output_that_is_a_file_is_an_error(tmp_path, key, capsys) -> None:
    run = make_folder(tmp_path / "results")
    target = tmp_path / "report.txt"
    target.write_text("keep")
    assert _report(run, target, key) == 2
    _one_line_error(capsys, "is a file")
    assert target.read_text() == "keep"


def test_output_holding_the_run_is_an_error(tmp_path, key, capsys) -> None:
    run = make_folder(tmp_path / "results")
    assert _report(run, tmp_path / "results", key) == 2
    _one_line_error(capsys, "holds the results folder")
    assert (run / "store.sqlite").is_file()


# -- input stores are never written ------------------------------------------------------------

def test_zero_byte_store_is_refused_and_stays_empty(tmp_path, key, capsys) -> None:
    run = tmp_path / "results" / "empty"
    run.mkdir(parents=True)
    (run / "store.sqlite").write_bytes(b"")
    assert _report(run, tmp_path / "pkg", key) == 2
    _one_line_error(capsys, "not a tpm-hil results store")
    assert (run / "store.sqlite").stat().st_size == 0
    assert sorted(p.name for p in run.iterdir()) == ["store.sqlite"]


def test_foreign_sqlite_and_garbage_store_are_one_line(tmp_path, key, capsys) -> None:
    run = tmp_path / "results" / "foreign"
    run.mkdir(parents=True)
    con = sqlite3.connect(run / "store.sqlite")
    con.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    for table in ("tests", "exchanges", "telemetry", "points", "events", "artifacts"):
        con.execute(f'CREATE TABLE {table} ("x; DROP TABLE meta" TEXT)')
    con.commit()
    con.close()
    before = (run / "store.sqlite").read_bytes()
    assert _report(run, tmp_path / "pkg", key) == 2
    _one_line_error(capsys, "does not have the tpm-hil columns")
    assert (run / "store.sqlite").read_bytes() == before
    (run / "store.sqlite").write_bytes(b"SQLite format 3\x00" + os.urandom(200))
    assert _report(run, tmp_path / "pkg", key) == 2
    _one_line_error(capsys, "store")


def test_report_leaves_the_input_folder_unchanged(tmp_path, key) -> None:
    run = make_folder(tmp_path / "results")
    (run / "allure-results").mkdir()
    (run / "allure-results" / "x-result.json").write_text("{}")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert _report(run, tmp_path / "pkg", key) == 0
    after = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert after == before


# -- keys and verification ---------------------------------------------------------------------

def test_tampered_package_resigned_with_another_key(tmp_path, key, capsys) -> None:
    run = make_folder(tmp_path / "results")
    out = tmp_path / "pkg"
    assert _report(run, out, key) == 0
    verdicts = out / "verdicts.json"
    verdicts.write_text(verdicts.read_text().replace('"fail"', '"pass"'))
    forger = tmp_path / "forger.pem"
    sign_package(out, FileSigner(create_key(forger, announce=_quiet)))
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    out_text = capsys.readouterr().out
    assert "integrity OK, origin NOT checked" in out_text and "Traceback" not in out_text
    assert main(["verify", str(out), "--key", str(public_key_path(key))]) == 1
    assert "not by the pinned key" in capsys.readouterr().out
    os.environ["TPMHIL_LAB_PUBKEY"] = str(public_key_path(key))
    try:
        assert main(["verify", str(out)]) == 1
    finally:
        del os.environ["TPMHIL_LAB_PUBKEY"]


def test_missing_key_paths_are_errors_not_new_keys(tmp_path, capsys, monkeypatch) -> None:
    run = make_folder(tmp_path / "results")
    missing = tmp_path / "no-such" / "lab.pem"
    assert _report(run, tmp_path / "pkg", missing) == 2
    _one_line_error(capsys, "does not exist", "keygen")
    assert not missing.exists() and not (tmp_path / "pkg").exists()
    monkeypatch.setenv("TPMHIL_LAB_KEY", str(missing))
    assert main(["report", str(run), "-o", str(tmp_path / "pkg"), "--no-pdf"]) == 2
    _one_line_error(capsys, "does not exist")
    assert not missing.exists()
    assert main(["verify", str(tmp_path), "--key", str(missing)]) == 2
    capsys.readouterr()


def test_keygen_announces_the_fingerprint_and_never_overwrites(tmp_path, capsys) -> None:
    path = tmp_path / "lab.pem"
    assert main(["keygen", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "fingerprint:     sha256:" in printed and str(public_key_path(path)) in printed
    before = path.read_bytes()
    assert main(["keygen", str(path)]) == 2
    _one_line_error(capsys, "exists already")
    assert path.read_bytes() == before and load_key(path)


def test_report_prints_and_packages_the_signing_fingerprint(tmp_path, key, capsys) -> None:
    run = make_folder(tmp_path / "results")
    out = tmp_path / "pkg"
    assert _report(run, out, key) == 0
    from reports.manifest import fingerprint

    fp = fingerprint(load_key(key).public_key())
    assert f"signed by: ed25519 key {fp}" in capsys.readouterr().out
    assert json.loads((out / MANIFEST).read_text())["signer"]["fingerprint"] == fp
    assert json.loads((out / "provenance.json").read_text())["signing_key"]["fingerprint"] == fp


# -- corrupt manifests -------------------------------------------------------------------------

@pytest.mark.parametrize("files", [
    [], "x", {"../../etc/passwd": {"sha256": "00", "size": 1}},
    {"/etc/passwd": {"sha256": "00", "size": 1}}, {"a": None}, {"a": {"sha256": 1, "size": 1}},
    {"a": {"sha256": "00", "size": "1"}}, {"a\x00b": {"sha256": "00", "size": 1}},
])
def test_corrupt_manifest_entries_are_one_line(tmp_path, capsys, files) -> None:
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "tpm-hil evidence manifest",
                                                 "signature": "ed25519", "files": files}))
    assert main(["verify", str(tmp_path)]) == 2
    _one_line_error(capsys, "manifest.json")


def test_garbage_manifest_and_signature_are_one_line(tmp_path, capsys) -> None:
    (tmp_path / MANIFEST).write_bytes(b"\xff\xfe not json")
    assert main(["verify", str(tmp_path)]) == 2
    _one_line_error(capsys, "no readable manifest.json")
    assert main(["verify", str(tmp_path / "absent")]) == 2
    _one_line_error(capsys, "not a folder")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(manifest=st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                 lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids,
                                                                           max_size=4),
                 max_leaves=12).map(lambda v: json.dumps({"format": "tpm-hil evidence manifest",
                                                          "signature": "ed25519", "files": v}).encode()),
    st.dictionaries(st.text(max_size=30), st.fixed_dictionaries(
        {"sha256": st.text(max_size=64), "size": st.integers()}), max_size=5).map(
        lambda files: json.dumps({"format": "tpm-hil evidence manifest", "files": files}).encode()),
), signature=st.binary(max_size=80))
def test_fuzzed_manifests_never_crash_verify(tmp_path_factory, manifest, signature) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / MANIFEST).write_bytes(manifest)
    (folder / SIGNATURE).write_bytes(base64.b64encode(signature))
    (folder / "lab-key.pub.pem").write_bytes(b"-----BEGIN PUBLIC KEY-----\ngarbage\n")
    try:
        result = verify_package(folder)
    except PackageError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert not result.ok


# -- secrets -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,secret", [
    ("locals {'owner_auth': b'hunter2-owner'}", "hunter2-owner"),
    ("TPM2B_AUTH(b'tpm2b-auth-value')", "tpm2b-auth-value"),
    ('{"password": "json-pw-77"}', "json-pw-77"),
    (f"postgresql://lab:{PASSWORD}@db:5432/results", PASSWORD),
    ("host=db?password=query-pw-5&sslmode=require", "query-pw-5"),
    ("userAuth   = 'local-auth-001'", "local-auth-001"),
    ("TPM2B_SENSITIVE_DATA(buffer=b'sealed-bytes')", "sealed-bytes"),
])
def test_patterns_catch_unregistered_secrets(text, secret) -> None:
    assert secret not in secrets.scrub(text)


def test_registered_secret_is_scrubbed_in_every_form() -> None:
    value = os.urandom(8) + b"sealed-4711"
    secrets.register(value, "sealed data")
    for form in (repr(value)[2:-1], value.hex(), base64.b64encode(value).decode().rstrip("=")):
        assert form not in secrets.scrub(f"AssertionError: {form} != x")


def test_credentials_in_a_target_string_are_redacted(tmp_path) -> None:
    uri = parse_target(f"swtpm://lab:{TARGET_PW}@127.0.0.1:2321")
    assert TARGET_PW not in uri.redacted() and "127.0.0.1:2321" in uri.redacted()
    from harness.targets.registry import open_target

    target = open_target(uri.text)
    assert TARGET_PW not in json.dumps(target.describe()) and TARGET_PW not in repr(target)
    folder = RunFolder.create(tmp_path, "creds")
    folder.store.set_meta("target", uri.text)
    folder.write_json("target.json", {"uri": uri.text})
    folder.summarize()
    folder.close()
    for path in folder.path.rglob("*"):
        if path.is_file():
            assert TARGET_PW.encode() not in path.read_bytes(), path
    with pytest.raises(Exception) as bad:
        parse_target(f"swtpm://lab:{PASSWORD}@127.0.0.1:2321")
    assert "pw" not in str(bad.value).replace("[REDACTED]", "")


def test_credentials_never_reach_a_run_folder_or_stdout(tmp_path) -> None:
    """tpmhil run against a real swtpm named with user:password@: no artefact keeps it."""
    from harness.swtpm_process import SwtpmProcess

    tpm = SwtpmProcess()
    try:
        env = {**os.environ, "TPMHIL_LAB_KEY": "", "HOME": str(tmp_path / "home")}
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli.main", "run", "--tpm",
             f"swtpm://lab:{TARGET_PW}@127.0.0.1:{tpm.port}", "--results", str(tmp_path / "r"),
             "--run-id", "creds", "-k", "test_get_random", "--dut", "BOARD-0042",
             "--operator", "qa-1"],
            capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    finally:
        tpm.stop()
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert TARGET_PW not in done.stdout + done.stderr
    # first use on a fresh machine: the default lab key is created, and that is announced
    assert "created a new lab signing key" in done.stderr and "fingerprint sha256:" in done.stderr
    run = tmp_path / "r" / "creds"
    assert (run / "store.sqlite").is_file(), done.stdout + done.stderr
    leaked = [p for p in run.rglob("*") if p.is_file() and TARGET_PW.encode() in p.read_bytes()]
    assert leaked == []
    prov = json.loads((run / "provenance.json").read_text())
    assert prov["dut"] == "BOARD-0042" and prov["operator"] == "qa-1"
    assert prov["chip"]["ek_public_sha256"] and prov["chip"]["ek_certificate_serial"]
    assert prov["software"]["swtpm"] and prov["harness"]["suites_sha256"]


def test_secrets_in_failure_messages_stay_out_of_every_artefact(tmp_path) -> None:
    """A test that registers sealed data and fails showing it: the terminal (-vv), junit.xml
    and the store see only [REDACTED]; a pattern-only secret too."""
    test_file = tmp_path / "test_leak.py"
    test_file.write_text(
        "from harness import secrets\n\n"
        "def test_unseal():\n"
        "    data = b'unsealed-secret-0451'\n"
        "    secrets.register(data, 'sealed data')\n"
        "    owner = {'owner_auth': b'pattern-only-auth'}\n"
        "    print('captured', data)\n"
        "    assert data == b'something else', owner\n")
    folder = RunFolder.create(tmp_path / "r", "leak")
    folder.close()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-vv", "-p", "no:cacheprovider",
         "--results", str(folder.path), "--junitxml", str(folder.path / "junit.xml"),
         "--alluredir", str(folder.path / "allure-results"),
         "--rootdir", str(tmp_path), "--tpm", "swtpm"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    assert "1 failed" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]
    assert list((folder.path / "allure-results").glob("*-result.json"))
    for secret in ("unsealed-secret-0451", "pattern-only-auth"):
        assert secret not in done.stdout + done.stderr
        leaked = [p.name for p in folder.path.rglob("*")
                  if p.is_file() and secret.encode() in p.read_bytes()]
        assert leaked == [], secret


# -- TPM-resident signing ----------------------------------------------------------------------

def _resign(package: Path, signer, info: dict | None = None) -> None:
    """Manifest and signature again, without rewriting the signer's files (a forger's step)."""
    from reports.manifest import manifest_bytes

    data = manifest_bytes(package, info or signer.info())
    (package / MANIFEST).write_bytes(data)
    (package / SIGNATURE).write_text(base64.b64encode(signer.sign(data)).decode() + "\n")


def test_tpm_signed_package_verifies_against_its_pinned_key(tmp_path, capsys) -> None:
    run = make_folder(tmp_path / "results")
    out = tmp_path / "pkg"
    assert main(["report", str(run), "-o", str(out), "--no-pdf", "--sign-with-tpm", "swtpm"]) == 0
    printed = capsys.readouterr().out
    assert "signed by: tpm-ecdsa-p256 key sha256:" in printed
    binding = json.loads((out / "tpm-signing" / "binding.json").read_text())
    assert binding["ek_public_sha256"] and binding["signing_key_name"].startswith("000b")
    pub = out / "tpm-signing" / "signing-key.pub.pem"
    pinned = tmp_path / "pinned.pub.pem"
    pinned.write_bytes(pub.read_bytes())
    assert main(["verify", str(out), "--key", str(pinned)]) == 0
    text = capsys.readouterr().out
    assert f"EK public sha256 {binding['ek_public_sha256']}" in text and ": OK:" in text
    assert main(["verify", str(out)]) == 1
    assert "origin NOT checked" in capsys.readouterr().out


def test_swapped_tpm_binding_fails_verification(tmp_path, key, capsys) -> None:
    """Two swtpms, A and B: a package signed by A with B's EK certificate, or signed by B
    with A's binding record, does not verify, even though each signature is genuine."""
    import shutil

    from reports.tpm_signing import BINDING, EK_CERT, TpmSigner

    run = make_folder(tmp_path / "results")
    base = tmp_path / "base"
    assert _report(run, base, key) == 0
    for name in ("lab-key.pub.pem", MANIFEST, SIGNATURE):
        (base / name).unlink()
    with TpmSigner("swtpm") as a, TpmSigner("swtpm") as b:
        assert a.fingerprint != b.fingerprint
        signed_a = Path(shutil.copytree(base, tmp_path / "a"))
        sign_package(signed_a, a)
        pinned_a = tmp_path / "a.pub.pem"
        pinned_a.write_bytes((signed_a / "tpm-signing" / "signing-key.pub.pem").read_bytes())
        assert verify_package(signed_a, pinned_a).origin_checked
        b_files = Path(shutil.copytree(base, tmp_path / "b"))
        b.write_files(b_files)

        # 1. A's key claims B's chip: B's EK certificate, re-signed by A
        ek_swap = Path(shutil.copytree(signed_a, tmp_path / "ek-swap"))
        shutil.copyfile(b_files / EK_CERT, ek_swap / EK_CERT)
        _resign(ek_swap, a)
        result = verify_package(ek_swap, pinned_a)
        assert result.signature_ok and not result.ok
        assert any("binding swapped" in p for p in result.problems)
        assert main(["verify", str(ek_swap), "--key", str(pinned_a)]) == 1

        # 2. B's key with A's binding record and EK certificate, signed by B
        key_swap = Path(shutil.copytree(b_files, tmp_path / "key-swap"))
        for rel in (BINDING, EK_CERT):
            shutil.copyfile(signed_a / rel, key_swap / rel)
        _resign(key_swap, b)
        result = verify_package(key_swap)
        assert result.signature_ok and not result.ok
        assert any("binding record names key" in p for p in result.problems)
        assert not verify_package(key_swap, pinned_a).ok
    capsys.readouterr()


# -- provenance and mixed chips ----------------------------------------------------------------

def _with_chip(run: Path, maker: str, ek: str | None) -> Path:
    ident = {"manufacturer": maker, "vendor": "X", "firmware": "1.0",
             "endorsement": {"ek_public_sha256": ek} if ek else {}}
    (run / "identity.json").write_text(json.dumps(ident))
    folder = RunFolder(run)
    folder.summarize()
    folder.close()
    return run


def test_runs_of_different_chips_are_not_merged_silently(tmp_path, key, capsys) -> None:
    a = _with_chip(make_folder(tmp_path / "results", "run-a"), "IBM", "aa" * 32)
    b = _with_chip(make_folder(tmp_path / "results", "run-b"), "IBM", "bb" * 32)
    same = _with_chip(make_folder(tmp_path / "results", "run-c"), "IBM", "aa" * 32)
    other_maker = _with_chip(make_folder(tmp_path / "results", "run-d"), "STM", None)
    out = tmp_path / "pkg"
    assert main(["report", str(a), str(b), "-o", str(out), "--no-pdf", "--key", str(key)]) == 2
    _one_line_error(capsys, "different chips", "--allow-mixed-chips", "run-b")
    assert not out.exists()
    assert main(["report", str(a), str(other_maker), "-o", str(out), "--no-pdf",
                 "--key", str(key)]) == 2
    _one_line_error(capsys, "STM")
    assert main(["report", str(a), str(same), "-o", str(out), "--no-pdf", "--key", str(key)]) == 0
    assert main(["report", str(a), str(b), "-o", str(out), "--no-pdf", "--key", str(key),
                 "--allow-mixed-chips"]) == 0
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["mixed_chips"] and set(prov["runs"]) == {"run-a", "run-b"}
    assert prov["runs"]["run-a"]["chip"]["ek_public_sha256"] == "aa" * 32
    capsys.readouterr()


def test_provenance_names_people_code_and_times(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TPMHIL_DUT", "SN-77")
    monkeypatch.setenv("TPMHIL_OPERATOR", "alice")
    monkeypatch.setenv("TPMHIL_LAB", "lab-2")
    run = make_folder(tmp_path / "results")
    prov = json.loads((run / "provenance.json").read_text())
    assert (prov["dut"], prov["operator"], prov["lab"]) == ("SN-77", "alice", "lab-2")
    assert prov["format"] == "tpm-hil provenance" and prov["host"]
    assert prov["harness"]["version"] and prov["harness"]["code_sha256"]
    assert prov["software"]["python"] and prov["software"]["tpm2_pytss"]
    assert prov["started_utc"].endswith("+00:00") and prov["finished_utc"] >= prov["started_utc"]
    assert prov["chip"]["manufacturer"] == "IBM"


# -- crafted store contents --------------------------------------------------------------------

CRAFTED_ROWS = {
    "text in a number column": ("UPDATE tests SET finished='abc', duration_s='y'", "number"),
    "empty node id": ("UPDATE tests SET nodeid=''", "nodeid is empty"),
    "string NaN telemetry": ("INSERT INTO telemetry (t, source, quantity, value, unit) "
                             "VALUES (1, 'psu', 'voltage', 'nan', 'V')", "number"),
    "infinite telemetry": ("INSERT INTO telemetry (t, source, quantity, value, unit) "
                           "VALUES (1, 'psu', 'voltage', 1e999, 'V')", "inf"),
    "points params not JSON": ("INSERT INTO points (point_id, seq, label, params, status) "
                               "VALUES ('p', 1, 'l', 'not json', 'done')", "not JSON"),
    "events detail not JSON": ("INSERT INTO events (t, kind, detail) VALUES (1, 'k', '{')",
                               "not JSON"),
    "markers not a list": ("UPDATE tests SET markers='{'", "not a JSON list"),
}


@pytest.mark.parametrize("name", sorted(CRAFTED_ROWS))
def test_crafted_store_values_are_one_line(tmp_path, key, capsys, name) -> None:
    sql, needle = CRAFTED_ROWS[name]
    run = make_folder(tmp_path / "results")
    con = sqlite3.connect(run / "store.sqlite")
    con.execute(sql)
    con.commit()
    con.close()
    assert _report(run, tmp_path / "pkg", key) == 2
    line = _one_line_error(capsys, "store.sqlite", needle)
    assert "unexpected" not in line


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.fixed_dictionaries({
    "nodeid": st.text(max_size=30), "outcome": st.text(max_size=10),
    "finished": st.one_of(st.floats(allow_nan=False, allow_infinity=True), st.text(max_size=5),
                          st.integers(min_value=-2**63, max_value=2**63 - 1)),  # NaN is NULL: NOT NULL
    "markers": st.text(max_size=20), "requirements": st.text(max_size=40),
    "message": st.text(max_size=60)}))
def test_fuzzed_test_rows_never_crash_report(tmp_path_factory, row) -> None:
    from harness.errors import HarnessError
    from reports.package import build_package

    base = tmp_path_factory.mktemp("fuzzrun")
    run = make_folder(base / "results")
    con = sqlite3.connect(run / "store.sqlite")
    con.execute("INSERT INTO tests (nodeid, outcome, duration_s, started, finished, markers, "
                "requirements, spec, message, longrepr, worker) VALUES (?, ?, 0, 0, ?, ?, ?, '', ?, "
                "'', 'w')", (row["nodeid"], row["outcome"], row["finished"], row["markers"],
                             row["requirements"], row["message"]))
    con.commit()
    con.close()
    key = base / "k.pem"
    create_key(key, announce=_quiet)
    try:
        build_package([run], base / "pkg", pdf=False, key_path=key)
    except HarnessError as exc:
        assert "\n" not in str(exc).strip()


def test_live_tpm_check_tells_the_signing_tpm_from_another(tmp_path, capsys) -> None:
    """verify --tpm re-derives the key in the TPM at hand: the signing TPM passes, another fails."""
    from harness.swtpm_process import SwtpmProcess

    run = make_folder(tmp_path / "results")
    signer_tpm, other_tpm = SwtpmProcess(), SwtpmProcess()
    try:
        out = tmp_path / "pkg"
        uri = f"swtpm://127.0.0.1:{signer_tpm.port}"
        assert main(["report", str(run), "-o", str(out), "--no-pdf", "--sign-with-tpm", uri]) == 0
        pinned = tmp_path / "pinned.pem"
        pinned.write_bytes((out / "tpm-signing" / "signing-key.pub.pem").read_bytes())
        assert main(["verify", str(out), "--key", str(pinned), "--tpm", uri]) == 0
        assert "live check: the lab TPM re-derived" in capsys.readouterr().out
        other = f"swtpm://127.0.0.1:{other_tpm.port}"
        assert main(["verify", str(out), "--key", str(pinned), "--tpm", other]) == 1
        assert "not signed by this TPM" in capsys.readouterr().out
    finally:
        signer_tpm.stop()
        other_tpm.stop()


def test_packages_signed_before_provenance_still_verify(tmp_path) -> None:
    """A package from before the signer block (raw-key fingerprint) keeps verifying."""
    import hashlib

    from cryptography.hazmat.primitives import serialization

    from reports.manifest import _sha256, public_pem

    key = create_key(tmp_path / "k.pem", announce=_quiet)
    pkg = tmp_path / "old"
    pkg.mkdir()
    (pkg / "a.txt").write_text("x")
    (pkg / "lab-key.pub.pem").write_bytes(public_pem(key.public_key()))
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    files = {r: {"sha256": _sha256(pkg / r), "size": (pkg / r).stat().st_size}
             for r in ("a.txt", "lab-key.pub.pem")}
    data = (json.dumps({"format": "tpm-hil evidence manifest", "version": 1, "algorithm": "sha256",
                        "signature": "ed25519", "public_key_sha256": hashlib.sha256(raw).hexdigest(),
                        "files": files}, indent=1, sort_keys=True) + "\n").encode()
    (pkg / MANIFEST).write_bytes(data)
    (pkg / SIGNATURE).write_text(base64.b64encode(key.sign(data)).decode())
    result = verify_package(pkg, public_key_path(tmp_path / "k.pem"))
    assert result.ok and result.origin_checked


def test_a_link_planted_in_a_package_fails_verification(tmp_path, key, capsys) -> None:
    run = make_folder(tmp_path / "results")
    out = tmp_path / "pkg"
    assert _report(run, out, key) == 0
    target = out / "verdicts.json"
    real = tmp_path / "elsewhere.json"
    real.write_bytes(target.read_bytes())          # same bytes, so the digest still matches
    target.unlink()
    target.symlink_to(real)
    result = verify_package(out, public_key_path(key))
    assert not result.ok and any("not a regular file" in p for p in result.problems)
    assert main(["verify", str(out), "--key", str(public_key_path(key))]) == 1
    capsys.readouterr()


def test_tpm_signing_uses_the_labs_endorsement_auth(tmp_path, capsys, monkeypatch) -> None:
    """A lab TPM whose endorsement hierarchy has an auth value: signing needs
    $TPMHIL_ENDORSEMENT_AUTH; without it, one line naming the TPM error, no package."""
    from tpm2_pytss.constants import ESYS_TR

    from harness.fixtures_support import open_session_esapi
    from harness.swtpm_process import SwtpmProcess

    run = make_folder(tmp_path / "results")
    tpm = SwtpmProcess()
    try:
        uri = f"swtpm://127.0.0.1:{tpm.port}"
        with open_session_esapi(uri) as (_t, esapi):
            esapi.hierarchy_change_auth(ESYS_TR.ENDORSEMENT, b"eh-auth-7781")
        out = tmp_path / "pkg"
        monkeypatch.delenv("TPMHIL_ENDORSEMENT_AUTH", raising=False)
        assert main(["report", str(run), "-o", str(out), "--no-pdf", "--sign-with-tpm", uri]) == 2
        _one_line_error(capsys, "--sign-with-tpm")
        assert not out.exists()
        monkeypatch.setenv("TPMHIL_ENDORSEMENT_AUTH", "eh-auth-7781")
        assert main(["report", str(run), "-o", str(out), "--no-pdf", "--sign-with-tpm", uri]) == 0
        assert b"eh-auth-7781" not in b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    finally:
        tpm.stop()
    capsys.readouterr()


def test_odd_file_names_and_special_files_are_withheld(tmp_path, key, capsys) -> None:
    """Non-UTF-8 names, names with control characters and FIFOs (which would block a reader)."""
    run = make_folder(tmp_path / "results")
    raw = bytes(run)
    with open(os.path.join(raw, b"\xff\xfename.txt"), "w") as fh:
        fh.write("x\n")
    with open(os.path.join(raw, b"line\nbreak.txt"), "w") as fh:
        fh.write("x\n")
    os.mkfifo(run / "pipe")
    out = tmp_path / "pkg"
    assert _report(run, out, key) == 0
    withheld = json.loads((out / "data" / run.name / "withheld.json").read_text())
    assert withheld == {"\\xff\\xfename.txt": "file name is not UTF-8",
                        "line\\x0abreak.txt": "file name holds control characters",
                        "pipe": "not a regular file"}
    assert main(["verify", str(out), "--key", str(public_key_path(key))]) == 0
    capsys.readouterr()


def test_huge_files_are_not_read_into_a_package(tmp_path, key, monkeypatch) -> None:
    import reports.redact

    monkeypatch.setattr(reports.redact, "MAX_COPY", 1 << 20)
    run = make_folder(tmp_path / "results")
    with open(run / "huge.log", "wb") as fh:
        fh.truncate(3 << 20)                      # sparse: 3 MiB of zeros
    out = tmp_path / "pkg"
    assert _report(run, out, key) == 0
    withheld = json.loads((out / "data" / run.name / "withheld.json").read_text())
    assert "larger than 1 MiB" in withheld["huge.log"]


def test_unreachable_target_with_credentials_is_one_line_without_them(tmp_path, capsys) -> None:
    from harness.ports import free_port_pair

    port = free_port_pair()
    assert main(["run", "--tpm", f"swtpm://lab:{TARGET_PW}@127.0.0.1:{port}",
                 "--results", str(tmp_path / "r"), "--no-report"]) == 2
    captured = capsys.readouterr()
    assert TARGET_PW not in captured.out + captured.err and "Traceback" not in captured.err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_prose_about_authorization_is_not_redacted_but_credentials_are() -> None:
    """Spec text in a failure message stays readable; auth values and HTTP
    credentials do not survive."""
    from harness.secrets import scrub

    prose = "TPM_RC_BAD_AUTH (Part 1 §19.6.4): platform authorization: owner handle refused"
    assert scrub(prose) == prose
    assert scrub("the authority: x; authenticated: yes") == "the authority: x; authenticated: yes"
    assert "hunter2" not in scrub("owner_auth: hunter2, auth=hunter2")
    assert "s3cr3t" not in scrub("Authorization: Bearer s3cr3t")
