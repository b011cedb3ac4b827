"""Read the harness's YAML input files (profiles, catalogues, rig set-ups,
campaigns, golden measurements) with one error shape that names the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def load_yaml(path: str | os.PathLike[str], what: str, error: type[Exception]) -> Any:
    """Parse the YAML file at ``path``.

    Args:
        path: the file.
        what: what the file is, for messages, e.g. ``"chip profile"``.
        error: the exception class to raise (the caller's domain error).

    Raises:
        error: ``"<what> <path>: cannot read: <reason>"`` or
            ``"<what> <path>: not valid YAML: <parser message>"``.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise error(f"{what} {path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise error(f"{what} {path}: not valid YAML: {exc}") from exc
