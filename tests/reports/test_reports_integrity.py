"""``tpmhil verify``: every change to a signed package is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.main import main
from reports.manifest import PackageError, create_key, load_key, public_key_path, verify_package


def test_untouched_package_verifies(package: Path, lab_key: Path, capsys) -> None:
    result = verify_package(package)
    assert result.ok and result.checked > 20 and not result.origin_checked
    pub = public_key_path(lab_key)
    pinned = verify_package(package, pub)
    assert pinned.ok and pinned.origin_checked
    assert main(["verify", str(package), "--key", str(pub)]) == 0
    out = capsys.readouterr().out
    assert ": OK:" in out and pinned.key_fingerprint in out and pinned.key_fingerprint.startswith("sha256:")


def test_one_byte_change_is_caught(package_copy: Path, capsys) -> None:
    target = package_copy / "report.pdf"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    result = verify_package(package_copy)
    assert result.changed == ["report.pdf"] and not result.ok
    assert main(["verify", str(package_copy)]) == 1
    assert "changed: report.pdf" in capsys.readouterr().out


def test_added_and_removed_files_are_caught(package_copy: Path) -> None:
    (package_copy / "evidence" / "note.txt").write_text("added later")
    removed = next((package_copy / "data").rglob("exchanges.csv"))
    removed.unlink()
    result = verify_package(package_copy)
    assert result.added == ["evidence/note.txt"]
    assert result.missing == [removed.relative_to(package_copy).as_posix()]
    assert not result.ok


def test_edited_manifest_breaks_the_signature(package_copy: Path) -> None:
    manifest = package_copy / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"version": 1', '"version": 2'))
    result = verify_package(package_copy)
    assert not result.signature_ok and not result.ok


def test_other_lab_key_is_refused(package: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    create_key(other, announce=lambda line: None)
    result = verify_package(package, other)
    assert result.signature_ok and not result.ok and not result.origin_checked
    assert any("not by the pinned key" in p for p in result.problems)
    assert oct(other.stat().st_mode & 0o777) == "0o600"
    assert load_key(other).public_key() is not None


def test_not_a_package_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no readable manifest.json"):
        verify_package(tmp_path)
