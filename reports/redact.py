"""Keep secrets out of every report output.

Failure messages and tracebacks can carry what a test held in local
variables: auth values, HMAC keys, private key PEMs. Everything a report
copies from a results folder passes through :func:`harness.secrets.scrub`
(registered secrets of this process, then patterns), whatever its type:

- text files (anything that decodes as UTF-8, whatever its suffix) and JSON
  are scrubbed;
- images (PNG, JPEG, GIF) are copied as they are: plots carry no free text;
- Parquet tables are re-written with their text columns scrubbed;
- any other binary file (SQLite databases, DER structures, event logs) is
  copied as it is only when its bytes, read as Latin-1, hold nothing the
  scrubber would remove; otherwise it is withheld, with the reason listed;
- files holding PEM private-key material, and files over 256 MiB, are withheld.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness.secrets import REDACTED, scrub, scrub_json

__all__ = ["REDACTED", "redact", "redact_json", "redact_url_credentials", "copy_redacted",
           "holds_private_key", "withhold_reason"]

_PRIVATE_MARKERS = (b"PRIVATE KEY-----",)
_IMAGES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
_PARQUET = b"PAR1"
MAX_COPY = 256 << 20


def redact(text: str | None) -> str:
    """``text`` with private-key PEM blocks, registered secrets and secret-named values replaced."""
    return scrub(text)


def redact_url_credentials(text: str) -> str:
    """Kept for callers of the old name: the full scrubber (URL userinfo included)."""
    return scrub(text)


def redact_json(value: Any) -> Any:
    """A JSON value with every string scrubbed and secret-named members replaced."""
    return scrub_json(value)


def _copy_parquet(src: Path, dest: Path) -> str | None:
    try:
        import pandas as pd

        df = pd.read_parquet(src)
        for col in df.columns:
            if df[col].dtype == object:
                df[col] = [scrub(v) if isinstance(v, str) else v for v in df[col]]
        df.to_parquet(dest, index=False)
    except Exception as exc:  # no pyarrow, or not a Parquet file after all
        return f"Parquet table that could not be scrubbed ({type(exc).__name__})"
    return None


def withhold_reason(src: Path) -> str | None:
    """Why ``src`` may not travel in a package as it is, or None."""
    data = src.read_bytes()
    if any(marker in data for marker in _PRIVATE_MARKERS):
        return "holds private key material"
    return None


def copy_redacted(src: Path, dest: Path) -> str | None:
    """Copy one file into a package with its secrets scrubbed.

    Args:
        src: a regular file of the results folder (never a symlink: the caller checks).
        dest: where it goes in the package.

    Returns:
        None when copied, else the reason it was withheld.
    """
    size = src.stat().st_size
    if size > MAX_COPY:
        return f"larger than {MAX_COPY >> 20} MiB ({size >> 20} MiB): not read into a package"
    data = src.read_bytes()
    reason = withhold_reason(src)
    if reason:
        return reason
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        if src.suffix == ".json":
            try:
                dest.write_text(json.dumps(scrub_json(json.loads(text))), encoding="utf-8")
                return None
            except ValueError:
                pass
        dest.write_text(scrub(text), encoding="utf-8")
        return None
    if data.startswith(_IMAGES):
        shutil.copyfile(src, dest)
        return None
    if data.startswith(_PARQUET):
        return _copy_parquet(src, dest)
    latin = data.decode("latin-1")
    if scrub(latin) != latin:
        return "binary file holding text that looks like a secret (cannot be scrubbed in place)"
    shutil.copyfile(src, dest)
    return None


def holds_private_key(path: Path) -> bool:
    """True if the file contains PEM private key material."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return any(marker in data for marker in _PRIVATE_MARKERS)
