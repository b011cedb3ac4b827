"""``--json``: stdout carries one JSON document and nothing else.

While a command runs with ``--json``, file descriptor 1 points at stderr, so
everything meant for a person (the command's own lines, a pytest child's dots
and tracebacks, a spawned swtpm's chatter) lands on stderr; :func:`emit` writes
the one JSON document to the real stdout. A command that fails prints its one
error line on stderr and nothing on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

_stdout: TextIO | None = None   # the real stdout while json mode is on
emitted = 0   # documents written by emit(): the error document is written only when none was


@contextlib.contextmanager
def json_mode(enabled: bool) -> Iterator[None]:
    """Send fd 1 (and ``sys.stdout``) to stderr for the duration; :func:`emit` still
    reaches the real stdout. Does nothing when ``enabled`` is false."""
    global _stdout
    if not enabled or _stdout is not None:
        yield
        return
    sys.stdout.flush()
    try:
        saved = os.dup(1)
        os.dup2(2, 1)
    except OSError:  # no usable fd 1 (closed, or an embedding without one): Python level only
        _stdout = sys.stdout
        try:
            with contextlib.redirect_stdout(sys.stderr):
                yield
        finally:
            _stdout = None
        return
    _stdout = os.fdopen(saved, "w", encoding="utf-8", closefd=True)
    try:
        yield
    finally:
        sys.stdout.flush()
        _stdout.flush()
        os.dup2(_stdout.fileno(), 1)
        _stdout.close()
        _stdout = None


def emit(document: Any) -> None:
    """Write ``document`` as JSON on the real stdout (plain stdout outside json mode)."""
    text = json.dumps(document, indent=2, sort_keys=True, default=str)
    global emitted
    out = _stdout if _stdout is not None else sys.stdout
    out.write(text + "\n")
    out.flush()
    emitted += 1


def add_json_flag(parser, what: str = "the verdict") -> None:
    """The common ``--json`` option; with it, ``tpmhil`` runs the command in :func:`json_mode`
    and the command writes its document with :func:`emit`."""
    parser.add_argument("--json", action="store_true",
                        help=f"print only one JSON document on stdout ({what}); the human "
                             "lines go to stderr")
    parser.set_defaults(_json_mode=True)


def wanted(args) -> bool:
    """True when the command was given ``--json`` through :func:`add_json_flag`."""
    return bool(getattr(args, "_json_mode", False) and getattr(args, "json", False))
