"""Provenance: which chip, who, where and what code produced a results folder.

Every results folder gets ``provenance.json`` (written by
:meth:`harness.results.run_folder.RunFolder.summarize`, so runs, audits,
attestations, campaigns and served sessions all carry it)::

    {"format": "tpm-hil provenance", "version": 1, "run_id", "kind",
     "chip": {"manufacturer", "vendor", "firmware", "ek_certificate_serial",
              "ek_certificate_issuer", "ek_certificate_index", "ek_public_sha256",
              "tis": {"did", "vid", "rid"}, "bus", "clock_hz", "target"},
     "dut", "operator", "host", "lab",
     "harness": {"version", "git_revision", "git_dirty", "code_sha256",
                 "suites": [paths], "suites_sha256"},
     "software": {"swtpm", "libtpms", "tpm2_tss", "tpm2_pytss", "python"},
     "started_utc", "finished_utc"}

Unknown values are ``null``, never guessed. The chip's EK facts come from the
EK certificates in NV, read when the chip is probed (:func:`ek_summary`, kept
in identity.json); ``ek_public_sha256`` is the SHA-256 of the DER
SubjectPublicKeyInfo of the certificate's key. ``--dut``/``--operator``/``--lab``
of ``tpmhil run`` (store meta) override ``$TPMHIL_DUT``/``$TPMHIL_OPERATOR``/
``$TPMHIL_LAB``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import platform
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import harness

PROVENANCE_FILE = "provenance.json"
FORMAT = "tpm-hil provenance"
ENV = {"dut": "TPMHIL_DUT", "operator": "TPMHIL_OPERATOR", "lab": "TPMHIL_LAB"}
_ROOT = Path(harness.__file__).resolve().parent.parent
_TIMEOUT_S = 5.0


def _utc(stamp: Any) -> str | None:
    if not isinstance(stamp, (int, float)) or isinstance(stamp, bool):
        return None
    return dt.datetime.fromtimestamp(float(stamp), dt.timezone.utc).isoformat(timespec="seconds")


def _command(*argv: str) -> str | None:
    """First line of a tool's output (bounded), or None when it is absent or fails."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    out = (done.stdout or "").strip()
    return out.splitlines()[0].strip() if done.returncode == 0 and out else None


def _libtpms() -> str | None:
    """libtpms's version from the library swtpm links (``libtpms.so.0.9.2`` -> 0.9.2)."""
    swtpm = shutil.which("swtpm")
    if swtpm is None:
        return None
    try:
        done = subprocess.run(["ldd", swtpm], capture_output=True, text=True, timeout=_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(?m)^\s*libtpms\.so[.\d]* => (\S+)", done.stdout or "")
    if not found:
        return None
    real = os.path.realpath(found.group(1))
    version = re.search(r"libtpms\.so\.(\d+(?:\.\d+)+)$", real)
    return version.group(1) if version else None


@functools.lru_cache(maxsize=1)
def software_versions() -> dict[str, str | None]:
    """Versions of the TPM software stack on this host (cached per process)."""
    from importlib import metadata

    try:
        pytss = metadata.version("tpm2-pytss")
    except metadata.PackageNotFoundError:
        pytss = None
    swtpm = _command("swtpm", "--version")
    found = re.search(r"version (\S+?),?\s", swtpm + " ") if swtpm else None
    return {
        "swtpm": found.group(1) if found else swtpm,
        "libtpms": _libtpms(),
        "tpm2_tss": _command("pkg-config", "--modversion", "tss2-esys"),
        "tpm2_pytss": pytss,
        "python": platform.python_version(),
    }


def _git(*args: str) -> str | None:
    if not (_ROOT / ".git").exists():
        return None
    return _command("git", "-C", str(_ROOT), *args)


def tree_sha256(paths: list[Path], base: Path = _ROOT) -> str | None:
    """SHA-256 over the Python and YAML files under ``paths`` (name and content, sorted)."""
    files: set[Path] = set()
    for p in paths:
        p = Path(p)
        if p.is_file():
            files.add(p.resolve())
        elif p.is_dir():
            files.update(f.resolve() for f in p.rglob("*")
                         if f.is_file() and f.suffix in (".py", ".yaml", ".yml", ".json", ".ini"))
    if not files:
        return None
    h = hashlib.sha256()
    for f in sorted(files):
        rel = f.relative_to(base).as_posix() if f.is_relative_to(base) else f.as_posix()
        h.update(rel.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def harness_facts() -> dict[str, Any]:
    """Harness version, git revision (when run from a checkout), hash of its own code."""
    revision = _git("rev-parse", "HEAD")
    dirty = None
    if revision:
        status = subprocess.run(["git", "-C", str(_ROOT), "status", "--porcelain", "--",
                                 "harness", "fixtures", "reports", "suites", "rigs"],
                                capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    code = [_ROOT / d for d in ("harness", "fixtures", "reports", "rigs")]
    return {"version": harness.__version__, "git_revision": revision, "git_dirty": dirty,
            "code_sha256": tree_sha256(code)}


def ek_summary(esapi: Any, indices: list[int]) -> dict[str, Any]:
    """The first readable EK certificate's serial, issuer and public key hash.

    Args:
        esapi: an open ESAPI.
        indices: the EK certificate NV indices the chip has (TCG EK Credential
            Profile §2.2.1.4), in order of preference.

    Returns:
        {} when the chip holds no readable EK certificate.
    """
    from harness.ek import load_certificate, read_nv
    from harness.errors import HarnessError

    for index in indices:
        try:
            cert = load_certificate(read_nv(esapi, index))
        except (HarnessError, ValueError, Exception):  # unreadable or malformed: try the next
            continue
        return certificate_facts(cert, index)
    return {}


def certificate_facts(cert: Any, index: int | None = None) -> dict[str, Any]:
    """Serial, issuer and SHA-256 of the public key of an EK certificate."""
    from cryptography.hazmat.primitives import serialization

    der = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"ek_certificate_serial": format(cert.serial_number, "x"),
            "ek_certificate_issuer": cert.issuer.rfc4514_string(),
            "ek_certificate_index": f"0x{index:08x}" if index is not None else None,
            "ek_public_sha256": hashlib.sha256(der).hexdigest()}


def _uri_clock(uri: str) -> int | None:
    """The bus clock a target string asks for (``?hz=`` SPI/I2C, ``?bitrate=`` CAN)."""
    from harness.errors import HarnessError
    from harness.targets.uri import parse_target

    try:
        parsed = parse_target(uri)
        for name in ("hz", "bitrate"):
            value = parsed.int_param(name)
            if value is not None:
                return value
    except HarnessError:
        return None
    return None


def _chip(identity: dict[str, Any], target: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    brief = meta.get("identity_brief") if isinstance(meta.get("identity_brief"), dict) else {}
    ident = identity or brief
    ek = identity.get("endorsement") if isinstance(identity.get("endorsement"), dict) else {}
    ek = ek or (meta.get("endorsement") if isinstance(meta.get("endorsement"), dict) else {})
    tis = {k: target.get(k) for k in ("did", "vid", "rid") if target.get(k) is not None}
    if not tis and isinstance(target.get("tis"), dict):
        tis = {k: target["tis"].get(k) for k in ("did", "vid", "rid")}
    clock = next((target.get(k) for k in ("clock_hz", "speed_hz", "hz", "bitrate", "clock")
                  if target.get(k) is not None), None)
    if clock is None and isinstance(target.get("uri"), str):
        clock = _uri_clock(target["uri"])
    return {
        "manufacturer": ident.get("manufacturer"), "vendor": str(ident.get("vendor") or "").strip()
        or None, "firmware": ident.get("firmware"),
        "ek_certificate_serial": ek.get("ek_certificate_serial"),
        "ek_certificate_issuer": ek.get("ek_certificate_issuer"),
        "ek_certificate_index": ek.get("ek_certificate_index"),
        "ek_public_sha256": ek.get("ek_public_sha256"),
        "tis": tis or None, "bus": target.get("bus"), "clock_hz": clock,
        "target": target.get("uri") or (meta.get("target") if isinstance(meta.get("target"), str)
                                        else None),
    }


def build(meta: dict[str, Any], identity: dict[str, Any], target: dict[str, Any],
          finished: float | None = None) -> dict[str, Any]:
    """The provenance record of a results folder from its store meta and JSON files."""
    suites = meta.get("suites") if isinstance(meta.get("suites"), list) else []
    people = {k: (meta.get(k) or os.environ.get(env) or None) for k, env in ENV.items()}
    return {
        "format": FORMAT, "version": 1,
        "run_id": meta.get("run_id"), "kind": meta.get("kind"),
        "chip": _chip(identity, target, meta),
        **people,
        "host": socket.gethostname(),
        "harness": {**harness_facts(), "suites": [str(s) for s in suites],
                    "suites_sha256": tree_sha256([_ROOT / s if not Path(s).is_absolute() else
                                                  Path(s) for s in suites]) if suites else None},
        "software": software_versions(),
        "started_utc": _utc(meta.get("created")),
        "finished_utc": _utc(finished),
    }


def chip_key(provenance: dict[str, Any], identity: dict[str, Any] | None = None) -> tuple | None:
    """What makes two runs the same chip: the EK public hash, else manufacturer + firmware."""
    chip = provenance.get("chip") if isinstance(provenance.get("chip"), dict) else {}
    if chip.get("ek_public_sha256"):
        return ("EK public sha256", chip["ek_public_sha256"])
    ident = identity or {}
    maker = chip.get("manufacturer") or ident.get("manufacturer")
    firmware = chip.get("firmware") or ident.get("firmware")
    if maker or firmware:
        return ("manufacturer+firmware", f"{maker} {firmware}")
    return None
