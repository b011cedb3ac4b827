"""Keep secrets out of every report output.

Failure messages and tracebacks can carry what a test held in local
variables: auth values, HMAC keys, private key PEMs. Everything a report
copies from the results store passes through :func:`redact` first, and
evidence files holding private key material are withheld
(:func:`holds_private_key`).
"""

from __future__ import annotations

import re
from pathlib import Path

REDACTED = "[REDACTED]"

_PEM_PRIVATE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----.*?(?:-----END \1-----|\Z)", re.S)
# name = value / name: value / name=b'..' where the name says it is a secret.
_SECRET_NAME = r"(?:[A-Za-z_]*(?:auth|password|passwd|passphrase|secret|private|priv_key|privkey|" \
               r"hmac_key|sym_key|seed_value|sensitive)[A-Za-z_0-9]*|pin|seed)"
_ASSIGN = re.compile(
    rf"(?P<name>\b{_SECRET_NAME})(?P<op>\s*(?:=|:|->)\s*)"
    r"(?P<value>b?'[^'\n]*'|b?\"[^\"\n]*\"|[^\s,;)\]}]+)",
    re.I)
_PRIVATE_MARKERS = (b"PRIVATE KEY-----",)


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
    return _ASSIGN.sub(lambda m: f"{m.group('name')}{m.group('op')}{REDACTED}", text)


def holds_private_key(path: Path) -> bool:
    """True if the file contains PEM private key material."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return any(marker in data for marker in _PRIVATE_MARKERS)
