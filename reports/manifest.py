"""Evidence integrity: a SHA-256 manifest of every file, signed with an Ed25519 lab key.

``manifest.json`` lists each file of the package (path relative to the
package, size, SHA-256); ``manifest.sig`` holds the Ed25519 signature of the
exact bytes of ``manifest.json``; ``lab-key.pub.pem`` is the public key.
:func:`verify_package` recomputes every digest and reports changed, missing
and added files and whether the signature holds (against the key in the
package, or against a lab key the verifier trusts).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.errors import ConfigError, HarnessError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "lab-key.pub.pem"
KEY_ENV = "TPMHIL_LAB_KEY"
DEFAULT_KEY = Path.home() / ".config" / "tpm-hil" / "lab-ed25519.pem"
_UNLISTED = {MANIFEST, SIGNATURE}


class PackageError(HarnessError):
    """The package cannot be verified at all (no manifest, unreadable, bad key)."""


def default_key_path() -> Path:
    """``$TPMHIL_LAB_KEY`` or ``~/.config/tpm-hil/lab-ed25519.pem``."""
    return Path(os.environ.get(KEY_ENV) or DEFAULT_KEY)


def load_or_create_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The lab's Ed25519 signing key; generated (mode 0600) if the file does not exist.

    Raises:
        ConfigError: the file exists but is not an unencrypted Ed25519 PEM private key.
    """
    path = Path(path) if path else default_key_path()
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError) as exc:
            raise ConfigError(f"lab key {path}: not a readable unencrypted PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"lab key {path}: expected an Ed25519 key, got {type(key).__name__}")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_files(package: Path) -> dict[str, Path]:
    """Every file of the package except the manifest and its signature, by relative path."""
    out = {}
    for path in sorted(package.rglob("*")):
        if path.is_file() or path.is_symlink():
            rel = path.relative_to(package).as_posix()
            if rel not in _UNLISTED:
                out[rel] = path
    return out


def write_manifest(package: Path, key_path: Path | None = None) -> Path:
    """Write the public key, ``manifest.json`` and its signature into ``package``.

    Raises:
        ConfigError: the signing key would land inside the package.
    """
    key_path = Path(key_path) if key_path else default_key_path()
    if key_path.resolve().is_relative_to(package.resolve()):
        raise ConfigError(f"lab key {key_path} is inside the package {package}: keep it outside")
    key = load_or_create_key(key_path)
    (package / PUBLIC_KEY).write_bytes(public_pem(key.public_key()))
    files = {rel: {"sha256": _sha256(p), "size": p.stat().st_size}
             for rel, p in package_files(package).items()}
    manifest = {"format": "tpm-hil evidence manifest", "version": 1, "algorithm": "sha256",
                "signature": "ed25519", "public_key_sha256": fingerprint(key.public_key()),
                "files": files}
    data = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    (package / MANIFEST).write_bytes(data)
    (package / SIGNATURE).write_text(base64.b64encode(key.sign(data)).decode() + "\n")
    return package / MANIFEST


@dataclass
class Verification:
    """What :func:`verify_package` found."""

    package: Path
    signature_ok: bool = False
    key_source: str = ""
    key_fingerprint: str = ""
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.signature_ok and not (self.changed or self.missing or self.added or self.problems)


def _public_key(package: Path, trusted: Path | None, result: Verification) -> Ed25519PublicKey:
    source = trusted or package / PUBLIC_KEY
    try:
        data = Path(source).read_bytes()
        if b"PRIVATE KEY" in data:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (OSError, ValueError, TypeError) as exc:
        raise PackageError(f"public key {source}: not readable ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PackageError(f"public key {source}: expected Ed25519, got {type(key).__name__}")
    result.key_source = f"trusted key {source}" if trusted else f"key shipped in the package ({PUBLIC_KEY})"
    result.key_fingerprint = fingerprint(key)
    return key


def verify_package(package: Path, trusted_key: Path | None = None) -> Verification:
    """Check every digest and the signature of a package.

    Args:
        package: the package folder.
        trusted_key: the lab's public (or private) key file; without it the key
            shipped in the package is used, which proves integrity but not origin.

    Raises:
        PackageError: no manifest, or a manifest or key that cannot be read.
    """
    package = Path(package)
    result = Verification(package)
    try:
        data = (package / MANIFEST).read_bytes()
        manifest = json.loads(data)
        listed: dict[str, dict] = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PackageError(f"{package}: no readable {MANIFEST} ({exc})") from exc
    key = _public_key(package, trusted_key, result)
    try:
        key.verify(base64.b64decode((package / SIGNATURE).read_text().strip(), validate=True), data)
        result.signature_ok = True
    except (OSError, ValueError, InvalidSignature) as exc:
        result.problems.append(f"{SIGNATURE}: signature does not match {MANIFEST} under the "
                               f"{result.key_source} ({type(exc).__name__})")
    if manifest.get("public_key_sha256") not in (None, result.key_fingerprint):
        result.problems.append("the manifest names another signing key than the one used to verify")
    present = package_files(package)
    for rel, entry in sorted(listed.items()):
        if rel not in present:
            result.missing.append(rel)
        elif _sha256(present[rel]) != entry.get("sha256"):
            result.changed.append(rel)
        result.checked += 1
    result.added = sorted(set(present) - set(listed))
    return result
