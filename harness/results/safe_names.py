"""Names read from results folders, stores and manifests are data, never paths.

A run id, a campaign name or a file name listed in a store or a manifest may
come from a folder someone else wrote. Before such a name becomes part of a
path it must be one safe path component (:func:`safe_component`), and a path
built from it must stay under the folder it was meant for (:func:`inside`).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from harness.errors import HarnessError

MAX_COMPONENT = 200
# Letters, digits and a few punctuation marks; first character alphanumeric (no '.', '-', '~').
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@=,~-]*")


class UnsafeNameError(HarnessError):
    """A name read from an input would escape the folder it is meant for."""


def safe_component(name: object, what: str) -> str:
    """``name`` if it is one safe path component, else UnsafeNameError naming ``what``.

    Args:
        name: the value read from the input (a store's run_id, a campaign name...).
        what: what the name is, for the error message (e.g. "run_id in store.sqlite").

    Raises:
        UnsafeNameError: not a string, empty, too long, '.'/'..', a separator, a
            control character, or a character outside ``[A-Za-z0-9._+@=,~-]``.
    """
    if not isinstance(name, str):
        raise UnsafeNameError(f"{what}: expected a name, got {type(name).__name__} {name!r:.80}")
    if len(name) > MAX_COMPONENT:
        raise UnsafeNameError(f"{what}: name of {len(name)} characters (at most {MAX_COMPONENT})")
    if not _SAFE.fullmatch(name) or name in (".", ".."):
        raise UnsafeNameError(f"{what}: {name!r:.120} is not a plain name (one path component of "
                              "letters, digits and ._+@=,~- not starting with a dot or dash)")
    return name


def safe_relative(rel: object, what: str) -> PurePosixPath:
    """A relative POSIX path whose every component is safe (manifest and store entries)."""
    if not isinstance(rel, str) or not rel:
        raise UnsafeNameError(f"{what}: expected a relative path, got {rel!r:.80}")
    if rel.startswith("/") or "\\" in rel or "\x00" in rel:
        raise UnsafeNameError(f"{what}: {rel!r:.120} is not a relative path inside the folder")
    parts = rel.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafeNameError(f"{what}: {rel!r:.120} is not a plain relative path")
        if any(ord(c) < 32 or ord(c) == 127 for c in part) or len(part) > 255:
            raise UnsafeNameError(f"{what}: {rel!r:.120} holds control characters or a long part")
    return PurePosixPath(*parts)


def inside(base: Path, *parts: str | PurePosixPath, what: str = "path") -> Path:
    """``base / parts`` resolved, or UnsafeNameError if it leaves ``base``."""
    root = Path(base).resolve()
    path = root.joinpath(*[str(p) for p in parts]).resolve()
    if path != root and not path.is_relative_to(root):
        raise UnsafeNameError(f"{what}: {'/'.join(map(str, parts))!r:.120} leads outside {base}")
    return path
