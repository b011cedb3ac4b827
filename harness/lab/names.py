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


def positive_seconds(text: str) -> float:
    """argparse type: a finite number above 0 (NaN and inf are refused, e.g. ``--lease nan``)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number above 0")
    return value


def fraction(text: str) -> float:
    """argparse type: a finite number in (0, 1] (a significance level)."""
    import argparse

    value = positive_seconds(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 1]")
    return value


def non_negative(text: str) -> float:
    """argparse type: a finite number >= 0."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number, 0 or above")
    return value
