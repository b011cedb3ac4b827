"""Evidence integrity and origin: a SHA-256 manifest of every file, signed.

``manifest.json`` lists each file of the package (path relative to the
package, size, SHA-256) and names its signer; ``manifest.sig`` holds the
signature of the exact bytes of ``manifest.json``. Two signers exist:

- ``ed25519``: the lab's Ed25519 file key (``lab-key.pub.pem`` in the package);
- ``tpm-ecdsa-p256``: a restricted signing key resident in the lab's TPM
  (:mod:`reports.tpm_signing`), with its EK certificate and binding record.

Trust: a package's own key proves integrity only. Origin is proven only
against a key the verifier pins (``--key LAB.pub`` or ``$TPMHIL_LAB_PUBKEY``);
:func:`verify_package` says which of the two was checked.

Keys are never created silently: an explicit ``--key``/``$TPMHIL_LAB_KEY``
path must exist (``tpmhil keygen PATH`` creates one). Only the default
location (``~/.config/tpm-hil/lab-ed25519.pem``) is created on first use, so
that a fresh machine's first ``make demo`` works, and that creation is
announced with the new key's fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.errors import ConfigError, HarnessError
from harness.results.safe_names import UnsafeNameError, safe_relative

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "lab-key.pub.pem"
FORMAT = "tpm-hil evidence manifest"
KEY_ENV = "TPMHIL_LAB_KEY"
PUBKEY_ENV = "TPMHIL_LAB_PUBKEY"
DEFAULT_KEY = Path.home() / ".config" / "tpm-hil" / "lab-ed25519.pem"
MAX_MANIFEST = 64 << 20
_UNLISTED = {MANIFEST, SIGNATURE}


class PackageError(HarnessError):
    """The package cannot be verified at all (no manifest, unreadable, bad key)."""


def default_key_path() -> Path:
    """``$TPMHIL_LAB_KEY`` or ``~/.config/tpm-hil/lab-ed25519.pem``."""
    return Path(os.environ.get(KEY_ENV) or DEFAULT_KEY)


def public_key_path(key_path: Path) -> Path:
    """Where the public half of a lab key file is written: ``lab.pem`` -> ``lab.pub.pem``."""
    key_path = Path(key_path)
    return key_path.with_name(key_path.name.removesuffix(".pem") + ".pub.pem")


def public_pem(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Any) -> str:
    """``sha256:`` + SHA-256 of the key's DER SubjectPublicKeyInfo, hex (any key type)."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def _announce(line: str) -> None:
    print(f"tpmhil: {line}", file=sys.stderr, flush=True)


def create_key(path: Path, announce: Callable[[str], None] = _announce) -> Ed25519PrivateKey:
    """Create a new Ed25519 lab key at ``path`` (mode 0600) and its public half beside it.

    Raises:
        ConfigError: ``path`` exists already (a key is never overwritten).
    """
    path = Path(path)
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"lab key {path} exists already: a key is never overwritten") from None
    except OSError as exc:
        raise ConfigError(f"lab key {path}: cannot create ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    public_key_path(path).write_bytes(public_pem(key.public_key()))
    announce(f"created a new lab signing key {path} (Ed25519, fingerprint "
             f"{fingerprint(key.public_key())}); give verifiers {public_key_path(path)} "
             "to pin with `tpmhil verify --key`")
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 lab key stored at ``path``.

    Raises:
        ConfigError: missing (never created silently), unreadable, or not an Ed25519 PEM key.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"lab key {path} does not exist (a key is never created silently: "
                          f"`tpmhil keygen {path}` creates one)")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise ConfigError(f"lab key {path}: not a readable unencrypted PEM private key "
                          f"({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"lab key {path}: expected an Ed25519 key, got {type(key).__name__}")
    return key


def signing_key(path: Path | None = None,
                announce: Callable[[str], None] = _announce) -> Ed25519PrivateKey:
    """The key ``report`` signs with: ``path``, else ``$TPMHIL_LAB_KEY`` (both must exist),
    else the default location, created on first use with an announcement."""
    if path:
        return load_key(Path(path))
    if os.environ.get(KEY_ENV):
        return load_key(Path(os.environ[KEY_ENV]))
    if DEFAULT_KEY.exists():
        return load_key(DEFAULT_KEY)
    return create_key(DEFAULT_KEY, announce)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_files(package: Path) -> dict[str, Path]:
    """Every entry of the package except the manifest and its signature, by relative path
    (files and symbolic links, which a package never holds and verify reports)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(package, followlinks=False):
        here = Path(dirpath)
        for name in dirnames + filenames:
            path = here / name
            if path.is_symlink() or name in filenames:
                rel = path.relative_to(package).as_posix()
                if rel not in _UNLISTED:
                    out[rel] = path
    return dict(sorted(out.items()))


def manifest_bytes(package: Path, signer: dict[str, Any]) -> bytes:
    """The manifest of ``package`` as it will be signed."""
    files = {rel: {"sha256": _sha256(p), "size": p.stat().st_size}
             for rel, p in package_files(package).items()}
    manifest = {"format": FORMAT, "version": 1, "algorithm": "sha256",
                "signature": signer["kind"], "public_key_sha256": signer["fingerprint"],
                "signer": signer, "files": files}
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()


class FileSigner:
    """Signs with the lab's Ed25519 file key; ships its public key as ``lab-key.pub.pem``."""

    kind = "ed25519"

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self.key = key
        self.fingerprint = fingerprint(key.public_key())

    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "fingerprint": self.fingerprint, "public_key": PUBLIC_KEY}

    def write_files(self, package: Path) -> None:
        (package / PUBLIC_KEY).write_bytes(public_pem(self.key.public_key()))

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)


def sign_package(package: Path, signer: Any) -> str:
    """Write the signer's files, ``manifest.json`` and ``manifest.sig``; return the fingerprint."""
    signer.write_files(package)
    info = signer.info()
    data = manifest_bytes(package, info)
    (package / MANIFEST).write_bytes(data)
    (package / SIGNATURE).write_text(base64.b64encode(signer.sign(data)).decode() + "\n")
    return str(info["fingerprint"])


def file_signer(key_path: Path | None, package: Path | None = None,
                announce: Callable[[str], None] = _announce) -> FileSigner:
    """The Ed25519 signer for ``report`` (see :func:`signing_key`).

    Raises:
        ConfigError: the key is missing, unreadable, or inside the package.
    """
    if key_path and package is not None and \
            Path(key_path).resolve().is_relative_to(Path(package).resolve()):
        raise ConfigError(f"lab key {key_path} is inside the package {package}: keep it outside")
    return FileSigner(signing_key(key_path, announce))


def write_manifest(package: Path, key_path: Path | None = None, *,
                   announce: Callable[[str], None] = _announce) -> str:
    """Sign ``package`` with the lab's Ed25519 file key; return the key's fingerprint."""
    return sign_package(package, file_signer(key_path, package, announce))


@dataclass
class Verification:
    """What :func:`verify_package` found.

    ``ok`` means integrity: every file matches and the signature holds under the
    package's signer. ``origin_checked`` says whether that signer is a key the
    verifier pinned; only ``ok and origin_checked`` proves who made the package.
    """

    package: Path
    signature_ok: bool = False
    signer: str = ""
    key_source: str = ""
    key_fingerprint: str = ""
    origin_checked: bool = False
    tpm: dict[str, Any] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.signature_ok and not (self.changed or self.missing or self.added or self.problems)


def load_public_key(source: Path) -> Any:
    """A public key from a PEM file (a private key file gives its public half)."""
    try:
        data = Path(source).read_bytes()
        if b"PRIVATE KEY" in data:
            return serialization.load_pem_private_key(data, password=None).public_key()
        return serialization.load_pem_public_key(data)
    except (OSError, ValueError, TypeError) as exc:
        raise PackageError(f"public key {source}: not a readable PEM key "
                           f"({type(exc).__name__})") from None


def read_manifest(package: Path) -> tuple[bytes, dict[str, Any]]:
    """The manifest's bytes and its checked content.

    Raises:
        PackageError: missing, too large, not JSON, not ours, or entries of the wrong shape.
    """
    path = Path(package) / MANIFEST
    try:
        if path.is_symlink() or not path.is_file():
            raise PackageError(f"{package}: no readable {MANIFEST} (not a regular file)")
        if path.stat().st_size > MAX_MANIFEST:
            raise PackageError(f"{package}: {MANIFEST} larger than {MAX_MANIFEST} bytes")
        data = path.read_bytes()
        manifest = json.loads(data.decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise PackageError(f"{package}: no readable {MANIFEST} ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise PackageError(f"{package}: {MANIFEST} is not a tpm-hil evidence manifest")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise PackageError(f"{package}: {MANIFEST} has no file list")
    for rel, entry in files.items():
        try:
            safe_relative(rel, f"{MANIFEST} entry")
        except UnsafeNameError as exc:
            raise PackageError(f"{package}: {exc}") from None
        if (not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str)
                or not isinstance(entry.get("size"), int) or isinstance(entry.get("size"), bool)):
            raise PackageError(f"{package}: {MANIFEST} entry {rel!r:.120} is not "
                               "{'sha256': hex, 'size': integer}")
    return data, manifest


def _pinned_key(trusted: Path | None) -> tuple[Any, str] | None:
    source = trusted or (Path(os.environ[PUBKEY_ENV]) if os.environ.get(PUBKEY_ENV) else None)
    if source is None:
        return None
    if not Path(source).is_file():
        raise PackageError(f"pinned key {source} does not exist"
                           + (f" (${PUBKEY_ENV})" if not trusted else ""))
    label = f"pinned key {source}" + ("" if trusted else f" (${PUBKEY_ENV})")
    return load_public_key(Path(source)), label


def _legacy(key: Any) -> str | None:
    """The fingerprint packages made before 0.1 provenance carried: SHA-256 of the raw Ed25519 key."""
    if not isinstance(key, Ed25519PublicKey):
        return None
    return hashlib.sha256(key.public_bytes(serialization.Encoding.Raw,
                                           serialization.PublicFormat.Raw)).hexdigest()


def _check_signature(package: Path, data: bytes, manifest: dict[str, Any],
                     pinned: tuple[Any, str] | None, result: Verification) -> None:
    kind = manifest.get("signature", "ed25519")
    result.signer = str(kind)
    try:
        signature = base64.b64decode((package / SIGNATURE).read_text().strip(), validate=True)
    except (OSError, ValueError) as exc:
        result.problems.append(f"{SIGNATURE}: missing or not base64 ({type(exc).__name__})")
        return
    if kind == "tpm-ecdsa-p256":
        from reports.tpm_signing import verify_tpm_signature

        key = verify_tpm_signature(package, data, signature, result)
    elif kind == "ed25519":
        key = load_public_key(package / PUBLIC_KEY)
        if not isinstance(key, Ed25519PublicKey):
            raise PackageError(f"{package / PUBLIC_KEY}: expected Ed25519, got {type(key).__name__}")
        try:
            key.verify(signature, data)
            result.signature_ok = True
        except InvalidSignature:
            result.problems.append(f"{SIGNATURE}: signature does not match {MANIFEST} under "
                                   f"the package's key {PUBLIC_KEY}")
    else:
        raise PackageError(f"{package}: unknown signature kind {str(kind)!r:.40} in {MANIFEST}")
    if key is None:
        return
    result.key_fingerprint = fingerprint(key)
    if manifest.get("public_key_sha256") not in (None, result.key_fingerprint, _legacy(key)):
        result.problems.append("the manifest names another signing key than the one it carries")
    if pinned is None:
        result.key_source = "the package's own key (integrity only: origin NOT checked)"
        return
    pinned_key, label = pinned
    result.key_source = label
    if fingerprint(pinned_key) != result.key_fingerprint:
        result.problems.append(f"signed by {result.key_fingerprint}, not by the {label} "
                               f"({fingerprint(pinned_key)})")
        return
    result.origin_checked = result.signature_ok


def verify_package(package: Path, trusted_key: Path | None = None) -> Verification:
    """Check every digest and the signature of a package.

    Args:
        package: the package folder.
        trusted_key: the lab's pinned public key (PEM; a private key file works
            too). Without it ``$TPMHIL_LAB_PUBKEY`` is used; without either only
            integrity is checked (``origin_checked`` stays False).

    Raises:
        PackageError: no manifest, or a manifest or key that cannot be read.
    """
    package = Path(package)
    if not package.is_dir():
        raise PackageError(f"{package}: not a folder")
    result = Verification(package)
    data, manifest = read_manifest(package)
    _check_signature(package, data, manifest, _pinned_key(trusted_key), result)
    present = package_files(package)
    for rel, entry in sorted(manifest["files"].items()):
        path = present.get(rel)
        if path is None:
            result.missing.append(rel)
        elif path.is_symlink() or not path.is_file():
            result.problems.append(f"{rel}: not a regular file (a package holds no links)")
        elif _sha256(path) != entry["sha256"]:
            result.changed.append(rel)
        result.checked += 1
    result.added = sorted(set(present) - set(manifest["files"]))
    return result
