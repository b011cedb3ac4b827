"""Names that become paths: one safe path component, resolved under a base.

A campaign name, a ``--run-id`` or a run id read from a results store ends up
as a folder name. It must not be able to escape the folder it is meant for
(``../x``, ``/etc``, ``a/b``), hide itself (``.x``), or confuse a shell or a
file system (control characters, very long names).
"""

from __future__ import annotations

from pathlib import Path

from harness.results.safe_names import inside
from harness.results.safe_names import safe_component as _safe_component


def safe_component(name: object, what: str) -> str:
    """``name`` if it is one safe path component (the project's one rule,
    :mod:`harness.results.safe_names`), else UnsafeNameError naming ``what``."""
    return _safe_component(name, what)


def under(base: str | Path, name: str, what: str) -> Path:
    """``base/name`` after checking ``name``; the result is proven to lie inside ``base``."""
    return inside(Path(base), safe_component(name, what), what=what)


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
