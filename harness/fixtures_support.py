"""Open a target and an ESAPI context on it for one-shot commands (probe, audit...)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from harness.chip_profile import load_profile
from harness.results.exchange_log import ExchangeLog
from harness.targets.base import Target
from harness.targets.registry import open_target
from harness.tpm.durations import CLASSES, CommandDurations
from harness.tpm.startup import ensure_started
from harness.transports.tcti import open_esapi


@contextmanager
def open_session_esapi(uri: str | None, log: ExchangeLog | None = None) -> Iterator[tuple[Target, object]]:
    """Start the target, make sure the TPM is started, yield (target, ESAPI)."""

    target = open_target(uri)
    try:
        durations = (load_profile(target.profile_hint).durations if target.profile_hint
                     else CommandDurations(bounds={c: 30.0 for c in CLASSES}))
        transport = target.open(durations, log if log is not None else ExchangeLog())
        esapi = open_esapi(transport)
        try:
            ensure_started(esapi)
            yield target, esapi
        finally:
            esapi.close()
    finally:
        target.close()
