"""Reading a file that came from elsewhere: never more than a limit into memory.

Event logs, IMA lists, tpm2-tools evidence, YAML and results-folder JSON are all
outside input: a file of any size (or ``/dev/zero``) must cost at most ``limit``
bytes and give one line naming the file.
"""

from __future__ import annotations

from pathlib import Path


def _size_text(limit: int) -> str:
    mib = 1024 * 1024
    return f"{limit // mib} MiB" if limit % mib == 0 else f"{limit} bytes"


def read_bounded(path: str | Path, limit: int, what: str, error: type[Exception],
                 allow_empty: bool = True) -> bytes:
    """The bytes of ``path``, at most ``limit`` of them.

    Args:
        path: the file.
        limit: the largest size accepted, in bytes.
        what: what the file is, for messages (``"IMA list"``); '' for none.
        error: the caller's error class, raised with one line naming the file.
        allow_empty: whether a 0-byte file is acceptable.

    Raises:
        error: ``"<what> <path>: cannot read: <reason>"``, ``"...: larger than <limit>;
            not read"`` or ``"...: file is empty"``.
    """
    p = Path(path)
    name = f"{what} {p}" if what else str(p)
    try:
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise error(f"{name}: larger than {_size_text(limit)}; not read")
    if not data and not allow_empty:
        raise error(f"{name}: file is empty")
    return data
