"""Keep secrets out of every report output.

Failure messages and tracebacks can carry what a test held in local
variables: auth values, HMAC keys, private key PEMs. Everything a report
copies from the results store passes through :func:`redact` first, and
evidence files holding private key material are withheld
(:func:`holds_private_key`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

REDACTED = "[REDACTED]"

_PEM_PRIVATE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----.*?(?:-----END \1-----|\Z)", re.S)
# name = value / name: value / name=b'..' where the name says it is a secret.
_SECRET_NAME = r"(?:[A-Za-z_]*(?:auth|password|passwd|passphrase|secret|private|priv_key|privkey|" \
               r"hmac_key|sym_key|seed_value|sensitive)[A-Za-z_0-9]*|pin|seed)"
_ASSIGN = re.compile(
    rf"(?P<name>\b{_SECRET_NAME})(?P<op>\s*(?:=|:|->)\s*)"
    r"(?P<value>b?'[^'\n]*'|b?\"[^\"\n]*\"|[^\s,;)\]}\"'<>&]+)",
    re.I)
_PRIVATE_MARKERS = (b"PRIVATE KEY-----",)
# user:password@ in URLs (postgresql://, labgrid coordinators, remote targets).
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s\"']+@")


def redact_url_credentials(text: str) -> str:
    """``scheme://user:pass@host`` -> ``scheme://[REDACTED]@host``; safe inside JSON and YAML."""
    return _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{REDACTED}@", text)


def redact(text: str | None) -> str:
    """``text`` with private-key PEM blocks and secret-named values replaced.

    Args:
        text: a failure message, traceback or any free text from the store.

    Returns:
        The text with every secret replaced by ``[REDACTED]``.
    """
    if not text:
        return ""
    text = _PEM_PRIVATE.sub(f"-----{REDACTED} PRIVATE KEY-----", text)
    text = redact_url_credentials(text)
    return _ASSIGN.sub(lambda m: f"{m.group('name')}{m.group('op')}{REDACTED}", text)


def redact_json(value: Any) -> Any:
    """A JSON value with :func:`redact` applied to every string in it."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_json(v) for k, v in value.items()}
    return value


_TEXT_SUFFIXES = {".txt", ".csv", ".log", ".properties", ".yaml", ".yml", ".md", ".xml"}


def copy_redacted(src: Path, dest: Path) -> bool:
    """Copy a file with secrets redacted (JSON strings, text files); withhold private keys.

    Returns:
        False when the file was withheld because it holds private key material.
    """
    if holds_private_key(src):
        return False
    if src.suffix == ".json":
        try:
            data = json.loads(src.read_text(encoding="utf-8"))
        except ValueError:
            data = None
        if data is not None:
            dest.write_text(json.dumps(redact_json(data)), encoding="utf-8")
            return True
    if src.suffix in _TEXT_SUFFIXES:
        dest.write_text(redact(src.read_text(encoding="utf-8", errors="replace")), encoding="utf-8")
        return True
    shutil.copyfile(src, dest)
    return True


def holds_private_key(path: Path) -> bool:
    """True if the file contains PEM private key material."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return any(marker in data for marker in _PRIVATE_MARKERS)
