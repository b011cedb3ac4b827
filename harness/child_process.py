"""Start helper processes (swtpm, campaign suites) that die with the harness.

The parent-death signal is set by util-linux's ``setpriv --pdeathsig`` in the
child, not by a Python ``preexec_fn``: a preexec_fn forces a real fork() and
runs Python between fork and exec, where libraries with fork handlers (gRPC,
loaded by labgrid's pytest plugin in every pytest process) can abort the
child. Without it, subprocess uses vfork() and nothing runs before exec.
"""

from __future__ import annotations

import shutil

_SETPRIV = shutil.which("setpriv")


def dying_with_parent(cmd: list[str], signal_name: str = "TERM") -> list[str]:
    """``cmd`` prefixed so the child gets ``signal_name`` when the harness dies.

    Where setpriv is missing the command is returned unchanged; the harness
    still stops its children on every orderly exit.
    """
    if _SETPRIV is None:
        return list(cmd)
    return [_SETPRIV, f"--pdeathsig={signal_name}", "--", *cmd]
