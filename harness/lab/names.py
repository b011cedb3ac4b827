"""Names that become paths: one safe path component, resolved under a base.

A campaign name, a ``--run-id`` or a run id read from a results store ends up
as a folder name. It must not be able to escape the folder it is meant for
(``../x``, ``/etc``, ``a/b``), hide itself (``.x``), or confuse a shell or a
file system (control characters, very long names).
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import ConfigError

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@=-]{0,127}")


def safe_component(name: object, what: str) -> str:
    """``name`` if it is one safe path component, else ConfigError naming ``what``.

    Allowed: 1-128 characters from ``A-Z a-z 0-9 . _ + @ = -``, starting with a
    letter or digit (so never ``.``, ``..`` or a hidden name).
    """
    if not isinstance(name, str) or not _SAFE.fullmatch(name):
        raise ConfigError(f"{what} {name!r} is not a safe folder name: use 1-128 letters, digits "
                          "and . _ + @ = - (starting with a letter or digit), no / or ..")
    return name


def under(base: str | Path, name: str, what: str) -> Path:
    """``base/name`` after checking ``name``; the result is proven to lie inside ``base``."""
    safe_component(name, what)
    root = Path(base).resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise ConfigError(f"{what} {name!r} resolves outside {root}")
    return path
