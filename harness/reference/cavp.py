"""NIST CAVP response files (``.rsp``) from the ``cryptography-vectors`` package.

The known-answer suites read SHA-2, AES-CFB, ECDSA and RSA vectors through
:func:`load`; a missing package or file is one clear error.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError


def vectors_root() -> Path:
    """The folder of the installed ``cryptography_vectors`` package.

    Raises:
        HarnessError: the package is not installed.
    """
    try:
        import cryptography_vectors
    except ImportError as exc:
        raise HarnessError(
            "known-answer tests need the 'cryptography-vectors' package "
            "(pip install cryptography-vectors)") from exc
    return Path(cryptography_vectors.__file__).parent


def load(relative: str) -> list[dict[str, str]]:
    """Parse one ``.rsp`` file into records.

    Each record is a dict of its ``KEY = value`` lines plus ``"section"`` (the
    last ``[...]`` header seen, e.g. ``"P-256,SHA-256"`` or ``"ENCRYPT"``) and,
    for files that set parameters in headers (``[mod = 2048]``), those too.
    Lines that are not ``KEY = value`` (comments, indented notes) are skipped.

    Raises:
        HarnessError: the file does not exist.
    """
    path = vectors_root() / relative
    if not path.is_file():
        raise HarnessError(f"CAVP vector file {path} not found in cryptography-vectors")
    records: list[dict[str, str]] = []
    header: dict[str, str] = {"section": ""}
    current: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or raw[:1] in ("\t",):
            if not line and current:
                records.append({**header, **current})
                current = {}
            continue
        if line.startswith("[") and line.endswith("]"):
            if current:
                records.append({**header, **current})
                current = {}
            body = line[1:-1]
            if "=" in body:
                key, value = (part.strip() for part in body.split("=", 1))
                header[key] = value
            else:
                header = {"section": body}
            continue
        if "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            if key in current:  # a new record starts without a blank line
                records.append({**header, **current})
                current = {}
            current[key] = value
    if current:
        records.append({**header, **current})
    return records
