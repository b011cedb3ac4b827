"""Progress of report building: one line per stage, with the time since the build began.

Building a package (copy, render, print with Chromium, Allure, sign) takes
seconds to minutes; the stage lines say what it is doing and how long it has
taken, on stderr so that stdout stays the command's own output.
"""

from __future__ import annotations

import sys
import time
from typing import Callable


def _stderr(line: str) -> None:
    print(f"tpmhil report: {line}", file=sys.stderr, flush=True)


def timed(sink: Callable[[str], None] | None = None) -> Callable[[str], None]:
    """A progress callback that prefixes each stage line with the seconds elapsed.

    Args:
        sink: where lines go (default: stderr, prefixed ``tpmhil report:``).
    """
    start = time.monotonic()
    out = sink or _stderr

    def emit(line: str) -> None:
        out(f"[{time.monotonic() - start:6.1f} s] {line}")

    return emit
